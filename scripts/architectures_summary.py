"""What the reference architectures sweep showed: GPT-2 vs Llama vs Mamba on one synthetic N x D grid.

Usage: OMP_NUM_THREADS=1 python scripts/architectures_summary.py [--results results/reference] [--bootstrap 200]
Reads the committed records (results/reference/architectures/), prints per family the loss above the source's exact
floor at every (size rung, D) cell, the training wall time, then a Chinchilla fit per family with the side-by-side
exponents, E, N_opt and verdicts of harness.families (the numbers quoted in the README).
"""
from __future__ import annotations

import argparse

from harness.families import compare_families, default_budget, fit_by_family, format_families, side_by_side
from harness.store import load_table


def main() -> None:
    """Print the cell table, wall times and the family comparison."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", default="results/reference")
    ap.add_argument("--bootstrap", type=int, default=200)
    args = ap.parse_args()
    table = load_table("sweeps/architectures.yaml", args.results)
    table = table[table["status"] == "done"]
    table = table.assign(excess=table["loss"] - table["floor"], rung=table.groupby("family")["N_total"].rank(method="dense"))
    print(f"{len(table)} finished runs; floor {table['floor'].iloc[0]:.4f} nats/token")
    print(table.pivot_table(index=["rung", "D"], columns="family", values="excess").to_string(float_format="{:.4f}".format))
    print(table.pivot_table(index="rung", columns="family", values="N_total", aggfunc="first").to_string())
    print("training wall time (s):", table.groupby("family")["wall_time_s"].sum().round(0).to_dict())
    c = default_budget(table)
    fits = fit_by_family(table, bootstrap=args.bootstrap, seed=0, budgets=(c,))
    print(f"\nChinchilla fit per family (N_total, pairs bootstrap {args.bootstrap}), frontier at C = {c:.3g}:")
    print(format_families(side_by_side(fits, c), compare_families(fits, c)))
    for fam, fit in fits.items():
        if fit.warnings:
            print(f"{fam} fit warnings: " + "; ".join(w.splitlines()[0] for w in fit.warnings))


if __name__ == "__main__":
    main()
