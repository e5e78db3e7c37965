"""Would a larger model identify E? Simulated extensions of the ground-truth sweep, before anyone trains them.

Takes the committed ground-truth records (results/reference/ground_truth), fits L = E + A/N^α + B/D^β with E held
at the exact eval-set floor (the truth, as far as the law can express it), and uses that law plus log-normal noise
of the fit's own residual spread as a simulated truth. For each candidate extension (extra model sizes and budgets
added to the 20 real runs), it draws ``--sims`` noisy copies of the extra runs, fits with E free, and prints how
often E is identified (two-sided profile likelihood), how often its 95 % interval (bootstrap when identified, else
the one-sided profile region) holds the floor, and the spread of the fitted E. Real runs would also carry the misspecification the residuals measure; the simulation
gives the extension every benefit of the doubt, so a design that fails here fails for real.

    PYTHONPATH=. python scripts/ground_truth_design.py [--sims 20] [--seed 0] [--without-largest]
"""
from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

from harness.fit import fit_law
from harness.fit.laws import get_law
from harness.store import load_results

BOOTSTRAP = 200   # resamples per simulated fit: the 95 % interval whose coverage of the floor is counted
DESIGNS = {   # label: (extra N_total values, extra budgets D)
    "+ 920k params x 2-16M tokens": ([9.2e5], [2e6, 4e6, 8e6, 16e6]),
    "+ 920k x 16M only": ([9.2e5], [16e6]),
    "+ 920k and 1.8M x 2-16M": ([9.2e5, 1.8e6], [2e6, 4e6, 8e6, 16e6]),
    "+ 32M tokens for every size": (None, [32e6]),
}


def _law(params: dict, n, d):
    """The Chinchilla law's prediction at (N, D) (its one home: harness.fit.laws)."""
    return get_law("chinchilla").predict(params, N=np.asarray(n, float), D=np.asarray(d, float))


def _extra_points(table: pd.DataFrame, sizes, budgets) -> pd.DataFrame:
    sizes = sorted(table["N"].unique()) if sizes is None else sizes
    n, d = np.meshgrid(sizes, budgets)
    return pd.DataFrame({"N": n.ravel(), "D": d.ravel()})


def simulate_design(table, truth: dict, sd: float, sizes, budgets, sims: int, rng) -> dict:
    """Identification rate, profile coverage of the floor and fitted-E quantiles over ``sims`` simulated extensions."""
    extra = _extra_points(table, sizes, budgets)
    identified, covered, estimates = 0, 0, []
    for _ in range(sims):
        loss = _law(truth, extra["N"], extra["D"]) * np.exp(rng.normal(0.0, sd, len(extra)))
        data = pd.concat([table[["N", "D", "loss"]], extra.assign(loss=loss)], ignore_index=True)
        fit = fit_law(data, law="chinchilla", bootstrap=BOOTSTRAP, seed=int(rng.integers(2 ** 31)))
        low, high = fit.ci["E"] if fit.identified.get("E") else fit.profile_bounds.get("E", [None, None])
        identified += bool(fit.identified.get("E"))
        covered += (low is None or low <= truth["E"]) and (high is None or truth["E"] <= high)
        estimates.append(fit.params["E"])
    return {"runs added": len(extra), "E identified": identified / sims, "interval holds floor": covered / sims,
            "E median": float(np.median(estimates)), "E 10-90 %": np.percentile(estimates, [10, 90]).round(4).tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="?", default="results/reference/ground_truth")
    parser.add_argument("--sims", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--without-largest", action="store_true",
                        help="leave the largest size out of the base: the question as it stood before it was trained")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    table = load_results(args.records)
    table = table[table["status"] == "done"]
    if args.without_largest:
        table = table[table["N"] < table["N"].max()]
    print(f"base: {len(table)} runs, N {table['N'].min():.3g}-{table['N'].max():.3g}")
    floor = float(table["floor"].iloc[0])
    truth = fit_law(table, law="chinchilla", bootstrap=0, fixed={"E": floor}).params
    sd = float(np.std(np.log(table["loss"]) - np.log(_law(truth, table["N"], table["D"])), ddof=1))
    print(f"simulated truth: the law fitted with E at the floor {floor:.4f}: "
          + ", ".join(f"{k} {v:.4g}" for k, v in truth.items()) + f"; log-residual sd {sd:.4f}")
    rng = np.random.default_rng(args.seed)
    rows = {label: simulate_design(table, truth, sd, sizes, budgets, args.sims, rng)
            for label, (sizes, budgets) in DESIGNS.items()}
    with pd.option_context("display.width", 200, "display.max_columns", 10):
        print(pd.DataFrame(rows).T.to_string())


if __name__ == "__main__":
    main()
