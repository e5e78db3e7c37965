"""Approaches 1 and 2 on simulated sweeps with known frontiers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.errors import ConfigError
from harness.fit.derived import compute_optimal
from harness.fit.isoflop import envelope_fit, group_budgets, isoflop_fit, parabola
from harness.fit.simulate import simulate

TRUE = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
A_TRUE = 0.37 / 0.72


def _isoflop_table(budgets=(1e18, 1e19, 1e20, 1e21), span=(0.1, 10.0), k=9):
    rows = []
    for c in budgets:
        n_opt, _ = compute_optimal(TRUE, c)
        n = n_opt * np.geomspace(*span, k)
        rows.append(simulate("chinchilla", TRUE, N=n, D=c / (6 * n), noise=0.0))
    return pd.concat(rows, ignore_index=True)


def test_parabola_minimum_interior_and_edge():
    assert parabola([1, 10, 100], [3.0, 2.0, 3.0])["n_opt"] == pytest.approx(10.0)
    assert not parabola([1, 10, 100], [3.0, 2.5, 2.2])["interior"]


def test_isoflop_recovers_exponent():
    result = isoflop_fit(_isoflop_table(), bootstrap=100)
    assert result.n_opt.exponent == pytest.approx(A_TRUE, abs=0.02)
    assert result.n_opt.exponent + result.d_opt.exponent == pytest.approx(1.0, abs=1e-9)
    assert not result.warnings and len(result.to_dict()["isoflop_minima"]) == 4


def test_isoflop_flags_minimum_outside_sampled_sizes():
    table = _isoflop_table()
    off = _isoflop_table(budgets=(1e22,), span=(2.0, 40.0))
    result = isoflop_fit(pd.concat([table, off]), bootstrap=0)
    assert any("outside the sampled sizes" in w for w in result.warnings)
    assert [p["used"] for p in result.parabolas] == [True, True, True, True, False]


def test_group_budgets_tolerates_jitter():
    labels = group_budgets([1e19, 1.05e19, 0.98e19, 1e20, 1.02e20])
    assert len(np.unique(labels)) == 2


def test_isoflop_needs_two_budgets():
    with pytest.raises(ConfigError):
        isoflop_fit(_isoflop_table(budgets=(1e19,)), bootstrap=0)


def test_envelope_recovers_frontier():
    sizes = np.geomspace(1e7, 3e9, 14)
    tokens = np.geomspace(1e8, 3e12, 80)
    n, d = np.meshgrid(sizes, tokens, indexing="ij")
    loss = simulate("chinchilla", TRUE, N=n.ravel(), D=d.ravel(), noise=0.0)["loss"]
    metrics = pd.DataFrame({"run_id": [f"r{i}" for i in range(len(sizes)) for _ in tokens], "tokens": d.ravel(),
                            "eval_loss": loss.to_numpy()})
    out = envelope_fit(metrics, {f"r{i}": s for i, s in enumerate(sizes)}, n_bins=12, bootstrap=50)
    assert out["a"] == pytest.approx(A_TRUE, abs=0.08)
