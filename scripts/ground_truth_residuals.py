"""Where does the Chinchilla law strain on the ground-truth sweep? Residuals with E at the floor, data cuts, trunks.

Prints (1) the log-residuals (%) of the law fitted with E held at the exact eval-set floor, as an N x D grid: a
law that is right leaves noise there, a misspecified one leaves a pattern; and (2) E fitted free (1000 pairs
resamples, BCa) after leaving out a size, a budget or both -- cuts chosen after seeing (1), so a sensitivity
check, never a verdict (scripts/validate_ground_truth.py gives that, on every run); and (3) when several record
directories hold a trunk of the same shape (sweeps with longer trunks), their eval losses at the same step (the
same tokens, different data order and warmup): how reproducible a size's training is, beside the law's residuals.

    PYTHONPATH=. python scripts/ground_truth_residuals.py [RECORDS_DIR ...] [--bootstrap 1000]

The output of the committed run is results/reference/ground_truth_residuals.txt.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from harness.fit import fit_law
from harness.fit.laws import get_law
from harness.store import METRICS_FILE, TRUNK_PREFIX, read_metrics

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validate_ground_truth import add_records_argument, load_records  # noqa: E402


def residual_grid(table: pd.DataFrame, floor: float) -> pd.DataFrame:
    """100 x log(loss / law) with E held at ``floor``, rows N_nonembed, columns D."""
    fit = fit_law(table, law="chinchilla", bootstrap=0, fixed={"E": floor}, profile=False)
    law = get_law("chinchilla").predict(fit.params, N=table["N"].to_numpy(float), D=table["D"].to_numpy(float))
    residual = 100 * (np.log(table["loss"].to_numpy(float)) - np.log(law))
    return table.assign(residual=residual).pivot_table(index="N_nonembed", columns="D", values="residual")


def cuts(table: pd.DataFrame) -> dict:
    """Named subsets of the runs: all, without the smallest size, the smallest budget, both, and each size's row."""
    small_n, small_d = table["N"].min(), table["D"].min()
    out = {"all runs": table, "without the smallest size": table[table["N"] > small_n],
           "without the smallest budget": table[table["D"] > small_d],
           "without both": table[(table["N"] > small_n) & (table["D"] > small_d)]}
    for n in sorted(table["N_nonembed"].unique())[1:-1]:
        out[f"without the {n:,} row"] = table[table["N_nonembed"] != n]
    return out


def describe_e(fit, floor: float) -> str:
    """E with its interval (or 'not identified') and its distance to the floor."""
    e = fit.params["E"]
    where = f"{(e - floor) / floor:+.2%}"
    if fit.identified.get("E", True) and "E" in fit.ci:
        low, high = fit.ci["E"]
        return f"{e:.4f} [{low:.4f}, {high:.4f}] {where}, holds the floor: {'yes' if low <= floor <= high else 'no'}"
    return f"{e:.4f} {where}, not identified (no two-sided interval)"


def trunk_shape(trunk: Path) -> str:
    """The model shape in a trunk's run id ('gpt2-L2-d32' of 'trunk-gpt2-L2-d32-D5.1e07-s0-...')."""
    return trunk.name[len(TRUNK_PREFIX):].split("-D")[0]


def trunk_evals(records: list) -> pd.DataFrame:
    """Eval loss of every trunk of every record directory at every step it evaluated: rows (shape, step), one
    column per directory."""
    rows = []
    for directory in records:
        for trunk in sorted(Path(directory).glob(f"{TRUNK_PREFIX}*")):
            shape = trunk_shape(trunk)
            rows += [{"shape": shape, "step": r["step"], "sweep": Path(directory).name, "eval_loss": r["eval_loss"]}
                     for r in read_metrics(trunk / METRICS_FILE) if "eval_loss" in r]
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).pivot_table(index=["shape", "step"], columns="sweep", values="eval_loss")


def trunk_agreement(evals: pd.DataFrame) -> pd.DataFrame:
    """Per shape and per set of directories whose trunks evaluated at a common step, the last such step: the eval
    losses and their spread (max - min)."""
    shared = evals.dropna(thresh=2)
    if shared.empty:
        return shared
    present = shared.notna().apply(lambda row: "".join("1" if v else "0" for v in row), axis=1)
    keys = pd.Series(list(zip(shared.index.get_level_values("shape"), present)), index=shared.index)
    rows = shared[~keys.duplicated(keep="last")]
    return rows.assign(spread=rows.max(axis=1) - rows.min(axis=1))


def main() -> None:
    """Print the residual grid and the E fits of the cuts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_records_argument(parser)
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    table = load_records(parser, args.records)
    floor = float(table["floor"].iloc[0])
    print(f"{', '.join(args.records)}: {len(table)} runs; eval-set floor {floor:.4f}")
    print("\n1. log-residuals (%) of the law with E held at the floor; rows N_nonembed, columns D")
    print(residual_grid(table, floor).round(2).to_string())
    print(f"\n2. E fitted free ({args.bootstrap} pairs resamples, BCa) on cuts chosen after seeing 1 (sensitivity only)")
    for name, subset in cuts(table).items():
        fit = fit_law(subset, law="chinchilla", bootstrap=args.bootstrap, seed=0)
        print(f"  {name:28s} {len(subset):3d} runs  E {describe_e(fit, floor)}")
    agreement = trunk_agreement(trunk_evals(args.records))
    if not agreement.empty:
        print("\n3. trunks of the same shape in different sweeps, eval loss at the last step they share (same tokens)")
        print(agreement.round(4).to_string())


if __name__ == "__main__":
    main()
