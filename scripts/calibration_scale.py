"""Calibration across scale, measured on committed records (default: results/reference/quickstart_calibration).

Prints, per run, the Brier score with its SE, Murphy's terms (reliability, resolution, uncertainty, the within-bin
remainder), the ECE and the gap to the Bayes-optimal Brier of the synthetic source; then, per D, how each term moves
from the smallest to the largest model, and a Chinchilla-form fit of the Brier score (``harness fit --metric brier``).

    PYTHONPATH=$PWD python scripts/calibration_scale.py [RECORDS_DIR] [--bootstrap 100]
"""
from __future__ import annotations

import argparse
import warnings

import pandas as pd

from harness.fit.fitting import fit_law
from harness.fit.table import metric_as_loss
from harness.store import load_results

TERMS = ["brier", "brier_reliability", "brier_resolution", "brier_uncertainty", "ece"]


def per_run(table: pd.DataFrame) -> pd.DataFrame:
    """The calibration columns per run, with the gap to the Bayes Brier in SEs."""
    view = table[["N", "D", "loss", "brier", "brier_se", "brier_reliability", "brier_resolution", "brier_uncertainty",
                  "brier_within_bin", "ece", "brier_bayes"]].copy()
    view["gap_bayes"] = view["brier"] - view["brier_bayes"]
    return view.sort_values(["D", "N"]).reset_index(drop=True)


def trend(view: pd.DataFrame) -> pd.DataFrame:
    """Per D: each term at the smallest and at the largest N."""
    rows = []
    for d, group in view.groupby("D"):
        small, large = group.loc[group["N"].idxmin()], group.loc[group["N"].idxmax()]
        rows.append({"D": d, **{f"{t} N_min→N_max": f"{small[t]:.4f} → {large[t]:.4f}" for t in TERMS}})
    return pd.DataFrame(rows)


def _interval(ci) -> str:
    return f"[{ci[0]:.3g}, {ci[1]:.3g}]" if ci and None not in ci else "(no interval: not identified)"


def main() -> None:
    """Print the tables and the fit."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="?", default="results/reference/quickstart_calibration")
    parser.add_argument("--bootstrap", type=int, default=100)
    args = parser.parse_args()
    table = load_results(args.records)
    view = per_run(table)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.4g}".format):
        print(view.to_string(index=False))
        print()
        print(trend(view).to_string(index=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_law(metric_as_loss(table, "brier"), law="chinchilla", bootstrap=args.bootstrap, seed=0)
    print("\nchinchilla fit of the Brier score:",
          ", ".join(f"{k}={v:.4g} {_interval(fit.ci.get(k))}" for k, v in fit.params.items()))
    print("warnings:", "; ".join(fit.warnings) or "none")
    print(f"Bayes-optimal Brier of the eval set: {view['brier_bayes'].median():.4f}; "
          f"uncertainty (no model removes it): {view['brier_uncertainty'].median():.4f}")


if __name__ == "__main__":
    main()
