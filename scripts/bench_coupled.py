"""Bench: the coupled law's fit (harness.fit.laws.coupled_law) on the committed ground-truth runs, two ways.

1. Derivatives: its closed-form derivatives beside the same law differentiated by the estimator's central
   differences (``derivatives`` removed), in this process: wall time of the multi-start fit plus ``--bootstrap``
   resamples, the ratio, and the largest parameter difference (the closed form must not change the fit).
2. Starts: its 1296-point grid beside Chinchilla's 4500-point grid times gamma in {1/2, 1, 2} (13500 starts), on
   the real runs and on ``--sims`` sweeps drawn from the law fitted with E at the floor (log-normal noise of
   ``--noise``), with E free and held: the largest relative objective difference (positive: the small grid missed
   the optimum) and the wall-time ratio.

usage: PYTHONPATH=. .venv/bin/python scripts/bench_coupled.py [RECORDS_DIR ...] [--bootstrap 50] [--repeats 1]
           [--sims 10] [--noise 0.01]
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from harness.fit import fit_law
from harness.fit.laws import get_law

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fit import best_of  # noqa: E402
from validate_ground_truth import add_records_argument, load_records  # noqa: E402


def wide_grid() -> np.ndarray:
    """Chinchilla's 4500 starts (Epoch's grid) times gamma in {1/2, 1, 2}: the coupled law's grid before it had its
    own."""
    base = get_law("chinchilla").grid({}, np.empty(0))
    return np.array([(*row, lg) for row in base for lg in np.log([0.5, 1.0, 2.0])])


def compare_starts(table, sims: int, noise: float) -> None:
    """Part 2: the law's own grid against the wide grid, E free and E held at the floor, real and simulated data."""
    law, floor = get_law("coupled"), float(table["floor"].iloc[0])
    truth = fit_law(table, law=law, fixed={"E": floor}, profile=False).params
    mean = law.predict(truth, N=table["N"].to_numpy(float), D=table["D"].to_numpy(float))
    rng, worst, times, wide = np.random.default_rng(0), 0.0, {"own": 0.0, "wide": 0.0}, wide_grid()
    for i in range(sims + 1):
        data = table if i == 0 else table[["N", "D"]].assign(loss=mean * np.exp(rng.normal(0.0, noise, len(table))))
        for fixed in (None, {"E": floor}):
            values = {}
            for name, starts in (("own", None), ("wide", wide)):
                t0 = time.perf_counter()
                values[name] = fit_law(data, law=law, fixed=fixed, starts=starts, profile=False).objective_value
                times[name] += time.perf_counter() - t0
            worst = max(worst, (values["own"] - values["wide"]) / values["wide"])
    print(f"\nstarts: own grid ({len(law.grid({}, np.empty(0)))}) vs wide grid ({len(wide)}) on the real runs "
          f"and {sims} simulated sweeps (noise {noise}), E free and held")
    print(f"  largest relative objective excess of the own grid: {worst:+.1e}")
    print(f"  time: own {times['own']:.1f} s, wide {times['wide']:.1f} s, ratio {times['wide'] / times['own']:.1f}x")


def main(argv=None) -> None:
    """Time both derivative paths and both start grids; print side-by-side tables with ratios and agreement."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_records_argument(parser)
    parser.add_argument("--bootstrap", type=int, default=50, help="pairs resamples per fit (default 50)")
    parser.add_argument("--repeats", type=int, default=1, help="timings: best of this many runs")
    parser.add_argument("--sims", type=int, default=10, help="simulated sweeps for the start-grid comparison")
    parser.add_argument("--noise", type=float, default=0.01, help="their log-normal noise sd")
    args = parser.parse_args(argv)
    table = load_records(parser, args.records)
    closed = get_law("coupled")
    numeric = dataclasses.replace(closed, derivatives=None)
    fits, times = {}, {}
    for name, law in (("closed form", closed), ("finite differences", numeric)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits[name], times[name] = best_of(args.repeats, lambda: fit_law(table, law=law, bootstrap=args.bootstrap,
                                                                                profile=False))
    print(f"coupled law, {len(table)} runs, fit + {args.bootstrap} pairs resamples")
    for name in fits:
        print(f"  {name:<20} {times[name]:8.2f} s")
    print(f"  ratio (finite differences / closed form): {times['finite differences'] / times['closed form']:.1f}x")
    a, b = fits["closed form"].params, fits["finite differences"].params
    print("  largest relative parameter difference: "
          f"{max(abs(a[k] - b[k]) / max(abs(b[k]), 1e-12) for k in a):.1e}")
    compare_starts(table, args.sims, args.noise)


if __name__ == "__main__":
    main()
