"""Is the ground-truth sweeps' LR rule right? Test loss by LR multiplier for each size and budget.

Reads the records of sweeps/ground_truth_replicate_lr.yaml (the replicate language, its four smallest sizes at 2 and
4M tokens, the width rule's LR times 0.25, 0.5, 1 and 2) and prints, per budget, the loss of every (size, multiplier),
the best multiplier per size, and what the best LR changes: whether the larger models still do worse than smaller
ones at the same D (harness.fit.table.non_monotone_warnings, on the rule's LR and on each size's best LR). The rule's
own runs (multiplier 1) are checked against the replicate sweep's runs of the same (size, D), trained separately
(results/reference/ground_truth_replicate): a branch's outcome does not depend on its trunk's horizon, so they must
agree exactly.

    PYTHONPATH=. python scripts/lr_probe_summary.py [--sweep sweeps/ground_truth_replicate_lr.yaml]
        [--records results/reference/ground_truth_replicate_lr]
        [--replicate results/reference/ground_truth_replicate]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from harness.config import LRConfig, load_sweep
from harness.fit.table import non_monotone_warnings
from harness.plan import peak_lr
from harness.store import load_done_runs


def by_multiplier(table: pd.DataFrame, rule: LRConfig) -> pd.DataFrame:
    """The runs with their LR multiplier: each run's LR over the width rule's LR for its width (harness.plan)."""
    base = table["d_model"].map(lambda d: peak_lr(rule, int(d)))
    return table.assign(multiplier=(table["lr"] / base).round(3))


def best_per_size(table: pd.DataFrame) -> pd.DataFrame:
    """For each (size, D), the run with the lowest test loss."""
    return table.loc[table.groupby(["N_total", "D"])["loss"].idxmin()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", default="sweeps/ground_truth_replicate_lr.yaml",
                        help="the probe's sweep file (its LR rule)")
    parser.add_argument("--records", default="results/reference/ground_truth_replicate_lr")
    parser.add_argument("--replicate", default="results/reference/ground_truth_replicate")
    args = parser.parse_args()
    for path in (args.records, args.replicate):
        if not Path(path).is_dir():
            parser.error(f"--records/--replicate: no such directory: {path}")
    table = by_multiplier(load_done_runs([args.records]), load_sweep(args.sweep).training.lr)
    pd.set_option("display.width", 160)
    for d, rows in table.groupby("D"):
        grid = rows.pivot_table(index=["n_layer", "d_model", "N_total"], columns="multiplier", values="loss")
        print(f"test loss at D = {d / 1e6:.1f}M tokens, rows: shape and N_total; columns: x the width rule's LR")
        print(grid.round(4).to_string())
        print()
    best = best_per_size(table)
    print("best multiplier per size and D:")
    print(best.pivot_table(index="N_total", columns="D", values="multiplier").to_string())
    rule = table[table["multiplier"] == 1.0].drop(columns="lr_sweep_best")   # judged as a sweep without LR sweep
    print("\nlarger models above smaller ones at the same D (beyond twice the eval SE of the difference):")
    print("  the rule's LR: " + ("; ".join(non_monotone_warnings(rule.assign(N=rule["N_total"]))) or "none"))
    print("  best LR per size: " + ("; ".join(non_monotone_warnings(best.assign(N=best["N_total"]))) or "none"))
    replicate = load_done_runs([args.replicate])
    same = rule.merge(replicate, on=["N_total", "D"], suffixes=("", "_replicate"))
    gap = np.abs(same["loss"] - same["loss_replicate"]).max()
    print(f"\nthe rule's runs against the replicate sweep's own ({len(same)} runs): largest difference {gap:.2e} nats"
          f" ({'identical' if gap == 0 else 'NOT identical'})")


if __name__ == "__main__":
    main()
