"""The data wall at toy scale: fit Muennighoff et al.'s data-constrained law to the committed records of
sweeps/data_constrained.yaml and print R_D* and R_N* (with intervals) beside the published 15.4 and 5.3; print
each fixed-compute cell's loss vs epochs against its fresh-data run; draw loss vs epochs (harness.plots).

usage: PYTHONPATH=. .venv/bin/python scripts/data_constrained.py [--results results/reference] [--bootstrap 100]
                                                                 [--figures results/reference/data_constrained] [--free-E]
E is held at the synthetic language's exact floor unless --free-E (2 sizes × 3 D do not identify it).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from harness.fit import fit_law, get_law
from harness.plots import close, loss_vs_epochs, save
from harness.published import load_registry
from harness.store import load_table

SWEEP = "sweeps/data_constrained.yaml"


def published_constants() -> dict:
    """R_D*, R_N* of Muennighoff et al. 2023 from the registry (App. A: 15.387756, 5.309743)."""
    return dict(load_registry()["muennighoff2023"].constants)


def fresh_gap(table: pd.DataFrame) -> pd.DataFrame:
    """Per (N, D) cell and epochs: loss minus the loss of the cell's run without repetition (epochs ≤ 1)."""
    rows = []
    for (n, d), cell in table.groupby(["N_total", "D"]):
        fresh = cell[cell["epochs"] <= 1]
        if fresh.empty:
            continue
        base, se = float(fresh["loss"].iloc[0]), float(fresh["loss_se"].iloc[0])
        for _, run in cell.sort_values("epochs").iterrows():
            rows.append({"N": int(n), "D": int(d), "U": int(run["U"]), "epochs": run["epochs"], "loss": run["loss"],
                         "minus_fresh": run["loss"] - base, "se_fresh": se})
    return pd.DataFrame(rows)


def fitted_law(fit):
    """law(N, D, U) -> loss of the fit, with U clamped to D (unique tokens seen)."""
    law = get_law("data_constrained")
    return lambda n, d, u: law.predict(fit.params, N=n, D=d, U=np.minimum(u, d))


def report(fit, published: dict) -> list[str]:
    """Lines: R_D*, R_N* with their intervals beside the published values, then the other parameters."""
    lines = [f"data-constrained fit on {fit.n_points} runs (objective {fit.objective}, {fit.ci_level:.0%} intervals)"]
    for name in ("R_D_star", "R_N_star"):
        lo, hi = fit.ci.get(name, (None, None)) or (None, None)
        interval = f"[{lo:.3g}, {hi:.3g}]" if lo is not None and hi is not None else "(no two-sided interval)"
        bounds = (getattr(fit, "profile_bounds", None) or {}).get(name)
        extra = "" if not bounds else (", profile flat on both sides" if bounds == [None, None] else f", profile bounds {bounds}")
        lines.append(f"{name:>9}: ours {fit.params[name]:.4g} {interval}{extra}   Muennighoff et al. 2023: "
                     f"{published[name]:g}   ratio {fit.params[name] / published[name]:.3g}")
    lines.append("other parameters: " + ", ".join(f"{k}={v:.4g}" for k, v in fit.params.items()
                                                 if k not in ("R_D_star", "R_N_star")))
    return lines + [f"warning: {w}" for w in fit.warnings]


def main() -> None:
    """Fit, print, draw."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", default="results/reference")
    parser.add_argument("--bootstrap", type=int, default=100)
    parser.add_argument("--figures", default="results/reference/data_constrained")
    parser.add_argument("--free-E", action="store_true", help="fit E too (default: E fixed at the synthetic floor)")
    args = parser.parse_args()
    table = load_table(SWEEP, args.results)
    table = table[table["status"] == "done"]
    with pd.option_context("display.width", 200, "display.max_rows", 200):
        print(fresh_gap(table).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    fixed = None if args.free_E else {"E": float(table["floor"].iloc[0])}  # the language's exact entropy rate
    print("E fixed at the synthetic floor" if fixed else "E free", fixed or "")
    fit = fit_law(table, law="data_constrained", bootstrap=args.bootstrap, seed=0, fixed=fixed)
    print("\n".join(report(fit, published_constants())))
    fig = loss_vs_epochs(table["N_total"], table["D"], table["epochs"], table["loss"], fitted_law(fit),
                         loss_se=table["loss_se"])
    print("figure:", ", ".join(str(p) for p in save(fig, Path(args.figures), "loss_vs_epochs")))
    close(fig)


if __name__ == "__main__":
    main()
