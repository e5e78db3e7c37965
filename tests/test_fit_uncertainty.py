"""Bootstrap CIs (vs Epoch's published ones), sandwich SEs, identification warnings, CI coverage (slow)."""
from __future__ import annotations

from pathlib import Path

import os
import numpy as np
import pandas as pd
import pytest

from harness.fit import fit_law
from harness.fit.datasets import load_dataset
from harness.fit.simulate import recovery, simulate, sweep_grid

EXTERNAL = Path(__file__).resolve().parents[2] / "shared" / "external"
OPTIMUM = {"E": 1.8172, "A": 477.8, "B": 2143.0, "alpha": 0.3473, "beta": 0.3672}
TRUE = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}


def test_bootstrap_ci_matches_epoch():
    if not EXTERNAL.is_dir():   # as in test_fit_golden: loud, never a silent skip
        if os.environ.get("HARNESS_SKIP_GOLDEN") == "1" and not os.environ.get("CI"):
            pytest.skip(f"golden data not found at {EXTERNAL} (HARNESS_SKIP_GOLDEN=1)")
        pytest.fail(f"golden data not found at {EXTERNAL}: check it out or set HARNESS_SKIP_GOLDEN=1 outside CI")
    table = load_dataset("chinchilla-epoch", EXTERNAL / "epoch_chinchilla")
    fit = fit_law(table, starts=OPTIMUM, bootstrap=1000, seed=1, bootstrap_method="pairs", ci_method="percentile")
    published = {"E": (1.769, 1.871), "alpha": (0.317, 0.373), "beta": (0.331, 0.415)}
    for name, (lo, hi) in published.items():
        assert fit.ci[name][0] == pytest.approx(lo, abs=0.012), name
        assert fit.ci[name][1] == pytest.approx(hi, abs=0.012), name
    assert fit.ci["A"][0] == pytest.approx(285.2, rel=0.1) and fit.ci["B"][0] == pytest.approx(1042.4, rel=0.1)
    assert fit.ci["a"][0] < 0.513 < fit.ci["a"][1]
    assert len(fit.samples["alpha"]) == 1000
    # A and alpha correlate (+0.99) but both are bounded: no confounding warning that users learn to ignore
    assert not any("confounded" in w for w in fit.warnings), fit.warnings
    assert all(fit.identified.values()) and fit.profile_bounds == {}
    assert fit.bootstrap == {"requested": 1000, "used": 1000, "failed": 0, "method": "pairs"}
    epoch = {"bootstrap": 50, "seed": 1, "bootstrap_method": "pairs", "ci_method": "percentile"}
    assert fit_law(table, starts=OPTIMUM, **epoch).ci == fit_law(table, starts=OPTIMUM, **epoch).ci


def test_sandwich_se_is_finite_and_positive():
    n, d = sweep_grid(np.geomspace(1e7, 1e9, 6), [5, 10, 20, 40])
    fit = fit_law(simulate("chinchilla", TRUE, N=n, D=d, noise=0.01, seed=2), starts=TRUE)
    assert all(np.isfinite(v) and v > 0 for v in fit.se.values())


def test_warns_on_few_distinct_sizes():
    n, d = sweep_grid([1e8, 1e9], [5, 10, 20, 40, 80, 160])
    fit = fit_law(simulate("chinchilla", TRUE, N=n, D=d, noise=0.01, seed=0), starts=TRUE)
    assert any("only 2 distinct N" in w for w in fit.warnings)
    # two sizes cannot fix E, A and alpha: the Hessian is singular, said so, with no made-up correlations or SEs
    assert any("Hessian is singular" in w for w in fit.warnings)
    assert not any("correlation" in w for w in fit.warnings) and np.isnan(fit.se["alpha"])


def test_warns_at_bounds():
    n, d = sweep_grid(np.geomspace(1e7, 1e9, 5), [5, 10, 20, 40])
    flat = simulate("chinchilla", TRUE, N=n, D=d, noise=0.0)
    flat["loss"] = 3.0 + 0.001 * np.random.default_rng(0).standard_normal(len(flat))
    fit = fit_law(flat, starts={**TRUE, "alpha": 0.01})
    assert any("bounds" in w or "flat direction" in w or "singular" in w for w in fit.warnings)


GRID_TRUE = {"E": 2.0, "A": 400.0, "B": 1500.0, "alpha": 0.34, "beta": 0.28}


def _nine_runs(seed: int = 5):
    n, d = sweep_grid([1e7, 1e8, 1e9], [5, 20, 80])
    return simulate("chinchilla", GRID_TRUE, N=n, D=d, noise=0.01, seed=seed)


def test_unidentified_floor_gets_a_one_sided_profile_bound_and_no_interval():
    """Three sizes cannot bound E from below: no two-sided CI or SE for it, a profile bound above, a warning."""
    fit = fit_law(_nine_runs(), bootstrap=200)
    assert fit.identified["E"] is False and fit.identified["beta"] is True
    low, high = fit.profile_bounds["E"]
    assert low is None and fit.params["E"] < high < 3.0
    assert "E" not in fit.ci and np.isnan(fit.se["E"]) and "beta" in fit.ci
    assert any("not identified by this sweep: E" in w for w in fit.warnings)
    assert any("confounded" in w for w in fit.warnings)          # a truly confounded design still warns
    assert fit.bootstrap["used"] + fit.bootstrap["failed"] == 200 == fit.bootstrap["requested"]
    assert len(fit.samples["beta"]) == fit.bootstrap["used"]
    out = fit.to_dict()
    assert out["identified"] == fit.identified and out["profile_bounds"]["E"] == [None, high]


def test_profile_walks_on_two_processes_give_the_numbers_of_one():
    """The profile's walks are dealt to forked workers: every bound, both sides of every parameter, as in one process
    (the nine-run design has an unbounded side, so the reassembly order matters)."""
    from harness.fit.estimate import Objective, Problem
    from harness.fit.laws import get_law
    from harness.fit.profile import profile_bounds

    table, law = _nine_runs(), get_law("chinchilla")
    problem = Problem(law, {"N": table["N"].to_numpy(), "D": table["D"].to_numpy()}, table["loss"].to_numpy(),
                      Objective())
    theta = law.from_natural(fit_law(table, profile=False, starts=GRID_TRUE).params)
    args = (problem, theta, np.ones(len(table)), np.full(5, 0.05))
    one, two = profile_bounds(*args, workers=1), profile_bounds(*args, workers=2)
    assert two.bounds == one.bounds and two.threshold == one.threshold
    assert [None in sides for sides in one.bounds] == [False, False, True, False, False]   # E: (theta order a b e α β)


def test_well_designed_sweep_identifies_everything():
    n, d = sweep_grid(np.geomspace(2e7, 2e9, 5))
    fit = fit_law(simulate("chinchilla", GRID_TRUE, N=n, D=d, noise=0.01, seed=3), starts=GRID_TRUE)
    assert all(fit.identified.values()) and set(fit.identified) == {"E", "A", "B", "alpha", "beta"}
    assert fit.profile_bounds == {} and not any("confounded" in w for w in fit.warnings)


def test_bootstrap_se_and_interval_match_the_spread_over_simulated_sweeps():
    """The reported SE (bootstrap SD) and the 95 % interval's width against the SD of the estimates over 40 simulated
    sweeps of the same design: an SE 10x too large (or small) fails."""
    n, d = sweep_grid(np.geomspace(2e7, 2e9, 5))
    sims = [simulate("chinchilla", GRID_TRUE, N=n, D=d, noise=0.01, seed=100 + i) for i in range(40)]
    estimates = [fit_law(t, starts=GRID_TRUE, profile=False).params for t in sims]
    fit = fit_law(sims[0], starts=GRID_TRUE, bootstrap=300, profile=False)
    assert fit.se_method == "bootstrap"
    for name in ("alpha", "beta"):
        spread = np.std([e[name] for e in estimates], ddof=1)
        assert 0.6 * spread < fit.se[name] < 1.6 * spread, (name, fit.se[name], spread)
        width = fit.ci[name][1] - fit.ci[name][0]
        assert 0.6 * 3.92 * spread < width < 1.6 * 3.92 * spread, (name, width, spread)


COVERAGE_FIT = {"starts": GRID_TRUE, "bootstrap": 200, "profile": False}   # default bootstrap and interval methods


@pytest.mark.slow
def test_default_intervals_cover_the_truth_93_to_97_percent():
    """Issue 9's design (5 x 5 grid, 1 % lognormal noise), 200 simulated sweeps: the default 95 % intervals of E,
    alpha and beta cover the truth in 93-97 % of them (Monte-Carlo SE 1.5 points); scripts/bench_coverage.py prints
    the table for every method."""
    n, d = sweep_grid(np.geomspace(2e7, 2e9, 5))
    table = recovery("chinchilla", GRID_TRUE, 200, fit_kwargs=COVERAGE_FIT, seed=10_000, N=n, D=d, noise=0.01)
    coverage = table[table["param"].isin(["E", "alpha", "beta"])].groupby("param")["covered"].mean()
    assert ((coverage >= 0.93) & (coverage <= 0.97)).all(), coverage.to_dict()


def test_few_distinct_sizes_are_flagged():
    """Three model sizes leave alpha weakly identified: the warning counts the distinct values (not the rows)."""
    n, d = sweep_grid([1e7, 1e8, 1e9], [5, 10, 20, 40, 80])
    table = simulate("chinchilla", TRUE, N=np.repeat(n, 2), D=np.repeat(d, 2), noise=0.01, seed=4)
    warnings = fit_law(table, profile=False).warnings
    assert any("only 3 distinct N values" in w for w in warnings)
    assert not any("distinct D values" in w for w in warnings)


def _step_in_n_sweep() -> pd.DataFrame:
    """A 3 x 4 grid whose loss is E + B/D^beta exactly, plus 0.01 nats at the smallest N only: the best Chinchilla
    fit makes A/N^alpha a step (A and alpha run up the ridge to the search box), so alpha's upper side is bounded
    only by A's box, not by the data; beta is pinned by the D-dependence."""
    n, d = np.meshgrid([3e4, 6e4, 1.5e5], [2.5e5, 5e5, 1e6, 2e6])
    loss = 3.0 + 5.0 * d ** -0.2 + np.where(n == 3e4, 0.01, 0.0)
    wiggle = 1.0 + 1e-3 * np.sin(np.arange(n.size))            # deterministic "noise" so residuals are not 0
    return pd.DataFrame({"N": n.ravel(), "D": d.ravel(), "loss": loss.ravel() * wiggle})


def test_a_crossing_made_by_the_search_box_does_not_identify():
    fit = fit_law(_step_in_n_sweep(), fixed={"E": 3.0}, bootstrap=100, seed=0)
    assert "A" in fit.profile_bounds and fit.params["A"] > 1e10       # A runs up the ridge towards its box
    assert fit.identified["alpha"] is False and "alpha" not in fit.ci   # was [~0.4, ~8.3]: 8.3 was A's box
    assert fit.profile_bounds["alpha"][1] is None
    assert fit.identified["beta"] is True and fit.ci["beta"][0] < 0.2 < fit.ci["beta"][1]
    # quantities computed from alpha (a, b, N_opt, ...) have no interval either; halve_factor_D (beta only) has one
    assert not {"a", "b", "G", "N_opt@1e+21", "tokens_per_param@1e+21", "halve_factor_N"} & set(fit.ci)
    assert "halve_factor_D" in fit.ci
