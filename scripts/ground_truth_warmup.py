"""Why did the 64M column's smallest models train worse than their 32M runs? Their trunks, step by step.

The 64M column (sweeps/ground_truth_64m.yaml) differs from the 32M column in two ways that reach a trunk's first
25.6M tokens: its train set (the sampler permutes all of it, so the data order differs) and its warm-up (5 % of
the smallest budget's steps: 1562 steps instead of 781). The two diagnostic sweeps change one of them each
(sweeps/ground_truth_warmup_order.yaml: the 64M data order with the 781-step warm-up;
sweeps/ground_truth_warmup_long.yaml: the 32M data with the 1562-step warm-up). This script prints every record
directory's trunk eval loss at the same steps (the same tokens) for each shape, and each one's mean distance to
the reference directory's trunk (default: the 32M column) over the steps after every warm-up has ended.

    PYTHONPATH=. python scripts/ground_truth_warmup.py [RECORDS_DIR ...] [--reference ground_truth_32m]
        [--after 4000]

The output of the committed run is results/reference/ground_truth_warmup.txt.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from harness.store import SPEC_FILE, TRUNK_PREFIX

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ground_truth_residuals import trunk_evals, trunk_shape  # noqa: E402

RECORDS = ("results/reference/ground_truth", "results/reference/ground_truth_32m",
           "results/reference/ground_truth_warmup_order", "results/reference/ground_truth_warmup_long",
           "results/reference/ground_truth_64m")


def trunk_settings(directory: Path) -> dict:
    """shape -> (warm-up steps, train-set tokens) of each trunk in ``directory``, from its spec.json."""
    out = {}
    for trunk in sorted(directory.glob(f"{TRUNK_PREFIX}*")):
        spec = json.loads((trunk / SPEC_FILE).read_text())
        out[trunk_shape(trunk)] = (spec["schedule"]["warmup_steps"], spec["data"]["synthetic"]["train_tokens"])
    return out


def compare(evals: pd.DataFrame, reference: str, after: int) -> pd.DataFrame:
    """Per shape and directory: the mean and largest eval-loss difference to ``reference`` over the steps > ``after``
    both evaluated (positive: behind the reference)."""
    rows = []
    for shape, frame in evals.groupby(level="shape"):
        late = frame[frame.index.get_level_values("step") > after]
        for sweep in late.columns:
            diff = (late[sweep] - late[reference]).dropna()
            if sweep != reference and len(diff):
                rows.append({"shape": shape, "sweep": sweep, "steps": len(diff), "mean diff": diff.mean(),
                             "max diff": diff.max()})
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    """Print the trunks' settings, their eval losses by step, and each directory's distance to the reference."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="*", default=list(RECORDS), help="sweep directories with trunks")
    parser.add_argument("--reference", default="ground_truth_32m", help="the directory (by name) compared against")
    parser.add_argument("--after", type=int, default=4000, help="compare at steps after this one (default 4000)")
    args = parser.parse_args(argv)
    if missing := [r for r in args.records if not Path(r).is_dir()]:
        parser.error(f"records: no such directory: {missing[0]}")
    if args.reference not in [Path(r).name for r in args.records]:
        parser.error(f"--reference: {args.reference} is not one of the record directories")
    settings = {Path(r).name: trunk_settings(Path(r)) for r in args.records}
    evals = trunk_evals(args.records)
    shapes = sorted(set.intersection(*(set(s) for s in settings.values())))
    if not shapes:
        parser.error("records: no trunk shape is in every directory")
    evals = evals[evals.index.get_level_values("shape").isin(shapes)][list(settings)]
    print("trunks: warm-up steps / train-set tokens")
    for sweep, by_shape in settings.items():
        print(f"  {sweep:<28}" + "  ".join(f"{shape} {by_shape[shape][0]} / {by_shape[shape][1] / 1e6:g}M"
                                            for shape in shapes))
    with pd.option_context("display.width", 200, "display.max_columns", 12, "display.max_rows", 200,
                           "display.float_format", "{:.4f}".format):
        print("\neval loss of each trunk at the same step (2048 tokens per step)")
        print(evals.to_string())
        print(f"\ndistance to {args.reference}'s trunk after step {args.after} (nats; positive: behind)")
        print(compare(evals, args.reference, args.after).to_string(index=False))


if __name__ == "__main__":
    main()
