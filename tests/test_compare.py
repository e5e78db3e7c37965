"""Comparison with published fits, on a fit whose numbers are known: Epoch's refit of Chinchilla (Besiroglu 2024)."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from harness.compare import (Context, compare_fit, context_from, entry_verdicts, format_comparison, frontier_table,
                             like_for_like, our_estimates, records)
from harness.published import load_registry

# Besiroglu et al. 2024 (arXiv 2404.10102), headline refit and 95% bootstrap CIs; a = 0.513 ± 0.020.
EPOCH_FIT = {
    "law": "chinchilla", "objective": "huber",
    "params": {"E": 1.817, "A": 482.01, "B": 2085.43, "alpha": 0.348, "beta": 0.366},
    "ci": {"E": [1.769, 1.871], "A": [285, 744], "B": [1042, 5810], "alpha": [0.317, 0.373], "beta": [0.331, 0.415],
           "a": [0.513 - 1.96 * 0.020, 0.513 + 1.96 * 0.020]},
    "derived": {"a": 0.513}, "n_convention": "with_head", "objective_value": 0.001, "n_points": 240, "warnings": [],
    "dataset": "MassiveText", "tokenizer": "SentencePiece (32k)",
    "ranges": {"N": [5.7e7, 1.6e10], "D": [2.5e8, 3.2e11], "C": [1.4e18, 1.3e22]},
}


@pytest.fixture(scope="module")
def rows():
    return compare_fit(EPOCH_FIT)


def _row(rows, quantity, entry):
    match = rows[(rows["quantity"] == quantity) & (rows["entry"] == entry)]
    assert len(match) == 1, (quantity, entry)
    return match.iloc[0]


def test_hoffmann_a3_inconsistent_besiroglu_consistent(rows):
    verdicts = entry_verdicts(rows).set_index("entry")["verdict"]
    assert verdicts["hoffmann2022_a3"] == "inconsistent" and verdicts["hoffmann2022_a3_unrounded"] == "inconsistent"
    assert verdicts["besiroglu2024"] == "consistent"
    beta = _row(rows, "beta", "hoffmann2022_a3")
    # (0.366 − 0.28) / σ, σ = (0.415 − 0.331)/(2·1.96) from our CI; Hoffmann prints no interval for β.
    assert beta["z"] == pytest.approx((0.366 - 0.28) / ((0.415 - 0.331) / 3.92), rel=1e-3)
    a = _row(rows, "a", "hoffmann2022_a3")
    assert a["verdict"] == "inconsistent" and a["z"] == pytest.approx((0.513 - 0.46) / math.hypot(0.020, 0.001 / 2.5631), rel=1e-2)
    assert _row(rows, "alpha", "hoffmann2022_a3")["verdict"] == "consistent"  # α alone does not separate them
    assert (rows[rows["entry"] == "besiroglu2024"]["z"].dropna().abs() < 0.05).all()  # b: 1 − 0.513 vs α/(α+β)


def test_like_for_like_column(rows):
    assert _row(rows, "E", "besiroglu2024")["like_for_like"] == "yes"
    e_muen = _row(rows, "E", "muennighoff2023")
    assert e_muen["like_for_like"] == "no" and "data set and tokenizer" in e_muen["caveats"]
    # Exponents do not depend on the data set the way E, A, B do: only the N convention separates these.
    alpha_muen = _row(rows, "alpha", "muennighoff2023")
    assert alpha_muen["like_for_like"] == "approx" and "data set" not in alpha_muen["caveats"]
    kaplan = _row(rows, "a", "kaplan2020")
    assert kaplan["like_for_like"] == "no" and "N convention" in kaplan["caveats"]
    deepseek = _row(rows, "a", "deepseek2024")
    assert "loss unit" in deepseek["caveats"]


def test_scale_ranges_must_overlap():
    tiny = Context(n_convention="with_head", ranges={"N": (1e4, 1e6), "D": (1e6, 1e8), "C": (1e11, 1e14)})
    verdict, reasons = like_for_like("alpha", tiny, load_registry()["besiroglu2024"])
    assert verdict == "no" and any("N ranges do not overlap" in r for r in reasons)


def test_unknown_dataset_never_compares_constants_silently():
    fit = {**EPOCH_FIT, "dataset": None, "tokenizer": None}
    row = _row(compare_fit(fit), "E", "besiroglu2024")
    assert row["like_for_like"] == "no" and "unknown/unknown" in row["caveats"]


def test_conversion_to_non_embedding_counting(rows):
    # Pearce & Song: the Epoch law, counted without embeddings over Kaplan's range, gives a ≈ 0.78 (vs Kaplan 0.73).
    kaplan = _row(rows, "a", "kaplan2020")
    assert kaplan["converted"] == pytest.approx(0.775, abs=0.005) and "non-embedding" in kaplan["conversion"]
    assert abs(kaplan["z_converted"]) < abs(kaplan["z"])
    assert math.isnan(_row(rows, "a", "besiroglu2024")["converted"])  # same convention: nothing to convert
    ours_nonembed = {**EPOCH_FIT, "n_convention": "non_embedding"}
    row = _row(compare_fit(ours_nonembed), "a", "hoffmann2022_a3_unrounded")
    assert 0.456 < row["converted"] < 0.75 and "theirs" in row["conversion"]


def test_tokens_per_param_and_frontier(rows):
    tpp = _row(rows, "tokens_per_param@5.76e+23", "hoffmann2022_a3_unrounded")
    assert tpp["theirs"] == pytest.approx(59, abs=0.5)  # published_fits.md: D/N = 59 at 5.76e23
    assert tpp["ours"] == pytest.approx(18.4, abs=0.5)  # Besiroglu: D/N ≈ 18–26
    table = frontier_table(EPOCH_FIT, budgets=[5.76e23])
    assert set(table["source"]) >= {"ours", "kaplan2020", "hoffmann2022_a1", "hoffmann2022_a3_unrounded"}
    n = table.set_index("source")["N_opt"]
    assert n["hoffmann2022_a3_unrounded"] == pytest.approx(40.4e9, rel=0.01)
    assert n["ours"] == pytest.approx(load_registry()["besiroglu2024"].optimal_n(5.76e23), rel=1e-6)


def test_bootstrap_samples_give_derived_intervals():
    samples = {"E": [1.8] * 4, "A": [400, 480, 560, 500], "B": [1800, 2100, 2400, 2000],
               "alpha": [0.34, 0.35, 0.36, 0.35], "beta": [0.36, 0.37, 0.37, 0.36]}
    est = our_estimates({**EPOCH_FIT, "samples": samples}, budgets=[1e21])["tokens_per_param@1e+21"]
    assert est.lo < est.hi and est.sigma() > 0
    assert our_estimates(EPOCH_FIT)["b"].lo == pytest.approx(1 - EPOCH_FIT["ci"]["a"][1])


def test_context_from_table_uses_done_runs_in_the_fit_convention():
    table = pd.DataFrame({"status": ["done", "done", "diverged"], "N_total": [1e5, 1e6, 1e9],
                          "N_nonembed": [5e4, 8e5, 9e8], "D": [1e7, 1e8, 1e9], "C": [6e12, 6e14, 6e18]})
    ctx = context_from({"n_convention": "non_embedding"}, table)
    assert ctx.ranges["N"] == (5e4, 8e5) and ctx.ranges["C"] == (6e12, 6e14) and ctx.dataset == "unknown"


def test_text_and_json_outputs(rows):
    text = format_comparison(rows)
    assert "besiroglu2024" in text and "inconsistent" in text and "(M)" in text
    out = records(rows)
    assert all(v is None or not (isinstance(v, float) and math.isnan(v)) for r in out for v in r.values())
