"""Fits per family and the side-by-side comparison: verdicts from bootstrap draws of both fits."""
import numpy as np
import pandas as pd
import pytest

from harness.errors import ConfigError
from harness.families import compare_families, fit_by_family, frontier_key, side_by_side, verdict
from harness.fit.simulate import simulate, sweep_grid

TRUE = {"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.37}
BUDGET = 1e18


def _two_families(alpha_b: float, noise: float = 0.005) -> pd.DataFrame:
    n, d = sweep_grid([1e6, 4e6, 1.6e7, 6.4e7], [5, 15, 45, 135])
    a = simulate("chinchilla", TRUE, N=n, D=d, noise=noise, seed=1).assign(family="gpt2")
    b = simulate("chinchilla", {**TRUE, "alpha": alpha_b}, N=n, D=d, noise=noise, seed=2).assign(family="mamba")
    return pd.concat([a, b], ignore_index=True)


def _fits(table):
    return fit_by_family(table, bootstrap=40, seed=0, budgets=(BUDGET,), profile=False, workers=1)


@pytest.fixture(scope="module")
def clear():
    return _fits(_two_families(alpha_b=0.24))


def test_clear_difference_gets_a_direction_and_an_interval(clear):
    fits = clear
    assert list(fits) == ["gpt2", "mamba"]
    diffs = compare_families(fits, BUDGET).set_index("quantity")
    alpha = diffs.loc["alpha"]
    assert alpha["estimate"] == pytest.approx(fits["mamba"].params["alpha"] - fits["gpt2"].params["alpha"])
    assert alpha["ci_high"] < 0 and alpha["estimate"] == pytest.approx(-0.10, abs=0.03)
    assert alpha["verdict"].startswith("Mamba's α is lower than GPT-2's by")
    n_opt = diffs.loc[frontier_key(BUDGET)]
    assert n_opt["measure"] == "ratio" and n_opt["estimate"] > 0


def test_same_law_cannot_tell():
    fits = _fits(_two_families(alpha_b=TRUE["alpha"], noise=0.02))
    alpha = compare_families(fits, BUDGET).set_index("quantity").loc["alpha"]
    assert alpha["ci_low"] < 0 < alpha["ci_high"]
    assert alpha["verdict"].startswith("cannot tell whether Mamba's α differs from GPT-2's")
    side = side_by_side(fits, BUDGET)
    assert set(side["family"]) == {"gpt2", "mamba"} and set(side["quantity"]) >= {"alpha", "beta", "E", "a"}


def test_verdict_lines():
    assert verdict("mamba", "gpt2", "alpha", -0.05, -0.08, -0.02) == "Mamba's α is lower than GPT-2's by 0.05 [-0.08, -0.02]"
    assert verdict("llama", "gpt2", "E", 0.1, 0.02, 0.2).startswith("Llama's E is higher than GPT-2's by 0.1")
    assert verdict("mamba", "gpt2", "N_opt@1e+18", 2.0, 0.5, 3.0, ratio=True).startswith("cannot tell")
    assert "no bootstrap draws" in verdict("mamba", "gpt2", "alpha", 0.1, np.nan, np.nan)
    assert "do not bracket the estimate" in verdict("mamba", "gpt2", "beta", -0.05, -9.9, -8.0)


def test_errors_name_the_option(clear):
    table = _two_families(0.3).drop(columns="family")
    with pytest.raises(ConfigError, match="--by: the runs have no column 'family'"):
        fit_by_family(table)
    with pytest.raises(ConfigError, match="--reference: no runs of family 'llama'"):
        compare_families(clear, BUDGET, reference="llama")


def test_report_has_a_families_section_only_with_several_families(clear):
    from harness.report.html import families_section

    assert families_section(_two_families(0.3).query("family == 'gpt2'")) is None
    section = families_section(_two_families(0.24), bootstrap=40)
    assert any(line.startswith("Mamba's α is lower than GPT-2's") for line in section["verdicts"])
    assert 'id="families-table"' in str(section["table"])


def test_unidentified_parameters_mean_cannot_tell(clear):
    import dataclasses

    flat = {**clear, "mamba": dataclasses.replace(clear["mamba"], identified={**clear["mamba"].identified, "alpha": False})}
    diffs = compare_families(flat, BUDGET).set_index("quantity")
    assert diffs.loc["alpha", "verdict"].endswith("alpha not identified by this sweep")
    assert diffs.loc["a", "verdict"].startswith("cannot tell") and diffs.loc["beta", "verdict"] == \
        compare_families(clear, BUDGET).set_index("quantity").loc["beta", "verdict"]


def test_transformer_is_the_reference_whatever_the_row_order():
    from harness.families import split_by

    table = _two_families(0.3).iloc[::-1]
    assert list(split_by(table, "family")) == ["gpt2", "mamba"]
