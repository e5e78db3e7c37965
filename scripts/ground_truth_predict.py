"""Predict the runs of a sweep not yet trained from laws fitted to the ground-truth records, then score them.

A law chosen after seeing data has to be tested on data it has not seen. This script fits each law (E free,
pairs bootstrap) to the committed records, prints its E against the exact eval-set floor and its predicted loss,
with a 95 % band from the bootstrap draws, for every run of ``--sweep`` (planned, not trained); committed before
that sweep trains, the output is the prediction. With ``--actual DIR`` (the sweep's records once trained) it adds
each run's measured loss, the error and whether the band holds it.

    PYTHONPATH=. python scripts/ground_truth_predict.py [RECORDS_DIR ...] [--sweep sweeps/ground_truth_64m.yaml]
        [--laws chinchilla,coupled] [--bootstrap 200] [--actual results/reference/ground_truth_64m]

Committed: results/reference/ground_truth_64m_predictions.txt (before training), ..._scored.txt (after).
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import pandas as pd

from harness.config import load_sweep
from harness.fit import fit_law
from harness.plan import expand
from harness.report.analysis import predict_with_band
from harness.store import load_done_runs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validate_ground_truth import add_records_argument, load_records  # noqa: E402


def planned_points(sweep_file: str) -> pd.DataFrame:
    """The (run_id, N_total, D) of every run the sweep file plans (not its trunks)."""
    specs = [s for s in expand(load_sweep(sweep_file)) if s.budget != "trunk"]
    return pd.DataFrame({"run_id": [s.run_id for s in specs], "N": [s.N_total for s in specs],
                         "D": [s.tokens for s in specs]})


def predictions(fit, points: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """The law's loss at each point, with the central ``level`` band of the bootstrap draws' predictions."""
    predicted, low, high = predict_with_band(fit, points["N"].to_numpy(float), points["D"].to_numpy(float), level)
    return points.assign(predicted=predicted, low=low, high=high)


def scored(predicted: pd.DataFrame, actual: pd.DataFrame) -> pd.DataFrame:
    """Predictions joined with the measured losses: relative error and whether the band holds the loss."""
    both = predicted.merge(actual[["run_id", "loss"]], on="run_id", how="left")
    return both.assign(error=(both["predicted"] - both["loss"]) / both["loss"],
                       inside=(both["low"] <= both["loss"]) & (both["loss"] <= both["high"]))


def _e_line(fit, floor: float) -> str:
    e = fit.params["E"]
    low, high = fit.ci.get("E", (float("nan"), float("nan")))
    holds = "yes" if low <= floor <= high else "no"
    return f"E {e:.4f} [{low:.4f}, {high:.4f}] ({(e - floor) / floor:+.2%}; holds the floor: {holds})"


def main() -> None:
    """Fit every law, print its predictions for the sweep's runs and, with --actual, score them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_records_argument(parser)
    parser.add_argument("--sweep", default="sweeps/ground_truth_64m.yaml")
    parser.add_argument("--laws", default="chinchilla,coupled")
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--actual", default=None, help="the sweep's records, once trained: score the predictions")
    args = parser.parse_args()
    for path in [args.sweep, *([args.actual] if args.actual else [])]:
        if not Path(path).exists():
            parser.error(f"no such file or directory: {path}")
    warnings.simplefilter("ignore")
    table, points = load_records(parser, args.records), planned_points(args.sweep)
    actual = load_done_runs(args.actual) if args.actual else None
    floor = float(table["floor"].iloc[0])
    print(f"fitted to {', '.join(args.records)} ({len(table)} runs); predicting {args.sweep} ({len(points)} runs); "
          f"eval-set floor {floor:.4f}")
    for name in args.laws.split(","):
        fit = fit_law(table, law=name, bootstrap=args.bootstrap, seed=0)
        shown = ", ".join(f"{k} {v:.4g}" for k, v in fit.params.items() if k != "E")
        print(f"\n{name}: {_e_line(fit, floor)}; {shown}; objective {fit.objective_value:.4g}")
        rows = predictions(fit, points)
        if actual is not None:
            rows = scored(rows, actual)
        with pd.option_context("display.width", 200, "display.max_columns", 12, "display.float_format", "{:.4f}".format):
            print(rows.drop(columns=["N"]).to_string(index=False))
        if actual is not None:
            print(f"  mean |error| {rows['error'].abs().mean():.2%}, worst {rows['error'].abs().max():.2%}, "
                  f"bands holding the loss {int(rows['inside'].sum())} of {len(rows)}")


if __name__ == "__main__":
    main()
