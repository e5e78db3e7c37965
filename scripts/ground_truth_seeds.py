"""How reproducible is a ground-truth run? The spread of test loss across seeds at each (N, D).

Reads record directories (default: the 2-16M sweep, seed 0, and sweeps/ground_truth_seeds.yaml, seeds 1 and 2 of
its four smaller sizes at 16M tokens) and prints, for every (N, D) trained with more than one seed, the loss of each
seed, their mean, SD and range, and the SD as a percentage of the loss: the run-to-run noise a law fitted to one
seed per point has to absorb (the Chinchilla fit's log-residual spread on the 30 runs is 0.66 %).

    PYTHONPATH=. python scripts/ground_truth_seeds.py [RECORDS_DIR ...]

The output of the committed run is results/reference/ground_truth_seeds.txt.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validate_ground_truth import load_records  # noqa: E402

RECORDS = ("results/reference/ground_truth", "results/reference/ground_truth_seeds")


def seed_spread(table: pd.DataFrame) -> pd.DataFrame:
    """Per (N_nonembed, D) with at least two seeds: each seed's loss, mean, SD, range and SD in % of the mean."""
    grid = table.pivot_table(index=["N_nonembed", "D"], columns="seed", values="loss")
    grid = grid[grid.notna().sum(axis=1) >= 2]
    losses = grid.copy()
    grid.columns = [f"seed {s}" for s in grid.columns]
    return grid.assign(mean=losses.mean(axis=1), sd=losses.std(axis=1, ddof=1),
                       range=losses.max(axis=1) - losses.min(axis=1),
                       sd_percent=100 * losses.std(axis=1, ddof=1) / losses.mean(axis=1))


def main() -> None:
    """Print the seed spread table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="*", default=list(RECORDS))
    args = parser.parse_args()
    table = load_records(parser, args.records)
    spread = seed_spread(table)
    if spread.empty:
        parser.error(f"records: {', '.join(args.records)} have no (N, D) trained with more than one seed")
    print(f"{', '.join(args.records)}: {len(table)} runs; test loss by seed, nats/token")
    with pd.option_context("display.width", 200, "display.max_columns", 12):
        print(spread.round(4).to_string())


if __name__ == "__main__":
    main()
