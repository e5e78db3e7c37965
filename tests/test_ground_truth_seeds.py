"""scripts/ground_truth_seeds.py: the spread across seeds, only where a point has several."""
import pandas as pd
import pytest

from tests.conftest import load_script


def test_seed_spread_of_points_with_several_seeds_only():
    table = pd.DataFrame({"N_nonembed": [10, 10, 10, 20], "D": [5, 5, 5, 5], "seed": [0, 1, 2, 0],
                          "loss": [2.0, 2.2, 2.4, 1.9]})
    spread = load_script("ground_truth_seeds").seed_spread(table)
    assert list(spread.index) == [(10, 5)]
    row = spread.iloc[0]
    assert row["mean"] == pytest.approx(2.2) and row["sd"] == pytest.approx(0.2) and row["range"] == pytest.approx(0.4)
    assert row["sd_percent"] == pytest.approx(100 * 0.2 / 2.2) and row["seed 1"] == 2.2
