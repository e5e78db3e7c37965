"""Bench: how often 95 % intervals cover the truth on simulated sweeps, per interval method and parameter.

The design of issue 9: E 2.0, A 400, B 1500, alpha .34, beta .28 on a 5 x 5 grid (N 2e7..2e9, 5..80 tokens per
parameter), 1 % lognormal noise, fitted with the default objective (Huber, delta 1e-3, log residuals, summed).
Methods, all from the same fits and draws:
  residual-pct  residual bootstrap (fit_law's bootstrap_method='residual'), percentile interval
  residual-bca  the same draws, BCa interval (acceleration from the leave-one-run-out jackknife)
  pairs-bca     pairs draws, BCa (fit_law's default: measured closest to 95 %)
  residual-basic  the same draws, basic (reflected) interval 2 theta_hat - quantiles
  pairs-pct     pairs bootstrap (Epoch's replication), percentile interval
  sandwich-t    theta_hat +- t(n - q) x the sandwich SE (HC1: scaled by sqrt(n / (n - q)); delta method)
  boot-se-t     theta_hat +- t(n - q) x the residual-bootstrap SD
Printed: coverage and its Monte-Carlo SE sqrt(p (1 - p) / sweeps), the median interval width, and the empirical
SD of the estimates beside the median reported SE.

usage: PYTHONPATH=. .venv/bin/python scripts/bench_coverage.py [--sweeps 200] [--resamples 400] [--grid-starts]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.stats import t as t_dist

from harness.fit.estimate import Objective, Problem, distinct_optima, multistart
from harness.fit.fitting import _natural
from harness.fit.laws import get_law
from harness.fit.simulate import simulate, sweep_grid
from harness.fit.uncertainty import bca_ci, bootstrap_thetas, hessian_se, jackknife_thetas

TRUE = {"E": 2.0, "A": 400.0, "B": 1500.0, "alpha": 0.34, "beta": 0.28}
NAMES = ("E", "alpha", "beta")
METHODS = ("residual-pct", "residual-bca", "residual-basic", "pairs-pct", "pairs-bca", "sandwich-t", "boot-se-t")


def design() -> tuple[np.ndarray, np.ndarray]:
    """The 5 x 5 grid of (N, D)."""
    return sweep_grid(np.geomspace(2e7, 2e9, 5))


def one_sweep(seed: int, resamples: int, grid_starts: bool) -> dict:
    """{(method, name): (low, high)}, plus ("estimate", name) and ("se", name) for one simulated sweep."""
    law = get_law("chinchilla")
    n, d = design()
    table = simulate("chinchilla", TRUE, N=n, D=d, noise=0.01, seed=seed)
    x, y = {"N": table["N"].to_numpy(), "D": table["D"].to_numpy()}, table["loss"].to_numpy()
    problem, w = Problem(law, x, y, Objective()), np.ones(len(y))
    starts = law.grid(x, y) if grid_starts else law.from_natural(TRUE)[None, :]
    sol = multistart(problem, starts, w)
    theta = sol.theta[int(np.argmin(sol.value))]
    basins = distinct_optima(sol) if grid_starts else theta[None, :]
    est = {k: float(v[0]) for k, v in _natural(problem, theta).items()}
    df = len(y) - problem.n_free
    tq = t_dist.ppf(0.975, df)
    se, _ = hessian_se(problem, theta, w, law.param_names)
    out = {}
    jack = _natural(problem, jackknife_thetas(problem, theta, w))
    for method in ("residual", "pairs"):
        draws, ok = bootstrap_thetas(problem, theta, w, resamples, seed, method=method, basins=basins)
        nat = _natural(problem, draws[ok])
        for k in NAMES:
            lo, hi = np.percentile(nat[k], [2.5, 97.5])
            out[(f"{method}-pct", k)] = (lo, hi)
            out[(f"{method}-bca", k)] = tuple(bca_ci(nat[k], est[k], jack[k]))
            if method == "residual":
                out[("residual-basic", k)] = (2 * est[k] - hi, 2 * est[k] - lo)
                sd = float(np.std(nat[k], ddof=1))
                out[("boot-se-t", k)] = (est[k] - tq * sd, est[k] + tq * sd)
                out[("se", k)] = sd
    for k in NAMES:
        s = se[k]                                  # sandwich_cov includes the n / (n - q) factor
        out[("sandwich-t", k)] = (est[k] - tq * s, est[k] + tq * s)
        out[("estimate", k)] = est[k]
    return out


def table(runs: list, seconds: float, args) -> None:
    """Print the coverage table of the sweeps so far."""
    s = len(runs)
    print(f"{s} sweeps, {args.resamples} resamples, {'grid' if args.grid_starts else 'true'} starts, "
          f"{seconds:.0f} s; coverage of nominal 95 % (Monte-Carlo SE), median width")
    print(f"{'method':<16}" + "".join(f"{k:>30}" for k in NAMES))
    for method in METHODS:
        cells = []
        for k in NAMES:
            lo, hi = np.array([r[(method, k)] for r in runs]).T
            p = float(np.mean((lo <= TRUE[k]) & (TRUE[k] <= hi)))
            cells.append(f"{p:6.3f} ({np.sqrt(p * (1 - p) / s):.3f}) w {np.median(hi - lo):8.4f}")
        print(f"{method:<16}" + "".join(f"{c:>30}" for c in cells))
    sd = {k: np.std([r[("estimate", k)] for r in runs], ddof=1) for k in NAMES}
    print("SD of estimates  " + "  ".join(f"{k} {sd[k]:.4f}" for k in NAMES))
    print("median boot SD   " + "  ".join(f"{k} {np.median([r[('se', k)] for r in runs]):.4f}" for k in NAMES),
          flush=True)


def main() -> None:
    """Simulate, fit, tabulate coverage per method and parameter (a partial table every ``--every`` sweeps)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sweeps", type=int, default=200)
    parser.add_argument("--resamples", type=int, default=400)
    parser.add_argument("--grid-starts", action="store_true", help="Epoch's 4500 starts (default: start at truth)")
    parser.add_argument("--seed", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=50)
    args = parser.parse_args()
    t0 = time.perf_counter()
    runs = []
    for i in range(args.sweeps):
        runs.append(one_sweep(args.seed + i, args.resamples, args.grid_starts))
        if len(runs) % args.every == 0 or len(runs) == args.sweeps:
            table(runs, time.perf_counter() - t0, args)


if __name__ == "__main__":
    main()
