"""Runs that do worse than a smaller model at the same D are named in the fit's warnings."""
import numpy as np
import pandas as pd

from harness.fit import fit_law
from harness.fit.columns import Columns
from harness.fit.table import non_monotone_warnings
from harness.store import load_done_runs
from tests.conftest import REPO


def _grid(se: float = 0.005) -> pd.DataFrame:
    n, d = np.meshgrid([1e5, 2e5, 4e5, 8e5], [1e7, 2e7, 4e7])
    loss = 2.0 + 300 / n.ravel() ** 0.4 + 2000 / d.ravel() ** 0.35
    return pd.DataFrame({"run_id": [f"r{i}" for i in range(loss.size)], "N": n.ravel(), "D": d.ravel(),
                         "loss": loss, "loss_se": se, "seed": 0, "status": "done"})


def test_a_law_shaped_grid_gives_no_warning_and_one_bad_run_is_named_beyond_twice_the_se_of_the_difference():
    table = _grid()
    assert non_monotone_warnings(table) == []
    smaller = table[(table["N"] == 2e5) & (table["D"] == 1e7)]["loss"].item()   # the best smaller model there
    bad = table.index[(table["N"] == 4e5) & (table["D"] == 1e7)].item()
    table.loc[bad, "loss"] = smaller + 2 * np.hypot(0.005, 0.005) - 1e-4   # above the smaller model, within noise
    assert non_monotone_warnings(table) == []
    table.loc[bad, "loss"] = smaller + 2 * np.hypot(0.005, 0.005) + 1e-4
    (note,) = non_monotone_warnings(table)
    assert note.startswith("1 run(s)") and f"r{bad} " in note and "for N 2e+05" in note
    assert any(w == note for w in fit_law(table, bootstrap=0).warnings)
    numbers = Columns({k: table[k].to_numpy() for k in ("N", "D", "loss", "loss_se")})   # the pandas-free table
    assert non_monotone_warnings(numbers) == [note.replace(f"r{bad} ", "N=4e+05 ")]


def test_runs_of_other_seeds_or_diverged_runs_are_not_compared():
    table = _grid()
    worse = table[table["N"] == 8e5].index
    table.loc[worse, "loss"] += 1.0
    assert non_monotone_warnings(table)[0].startswith("3 run(s)")   # the largest model at each of 3 budgets
    assert non_monotone_warnings(table.assign(seed=np.where(table["N"] == 8e5, 1, 0))) == []
    assert non_monotone_warnings(table.assign(status=np.where(table["N"] == 8e5, "diverged", "done"))) == []


def test_on_both_ground_truth_draws_the_2m_token_run_of_the_110k_model_is_named():
    for sweep in ("ground_truth", "ground_truth_replicate"):
        table = load_done_runs([REPO / "results/reference" / sweep])
        at_2m = table[table["D"] < 3e6].set_index("d_model")["loss"]
        assert at_2m[64] > at_2m[48] + 0.05   # the records themselves: the 110k model sits above the 64k one
        (note,) = non_monotone_warnings(table)
        assert note.startswith("1 run(s)") and "gpt2-L2-d64-D2.0e06" in note


def test_runs_of_one_size_are_not_compared_with_each_other_and_a_text_se_spoils_only_its_row():
    twins = pd.DataFrame({"N": [1e5, 1e5, 2e5], "D": 1e7, "loss": [3.00, 3.05, 2.99], "loss_se": [0.005, 0.005, "?"]})
    assert non_monotone_warnings(twins) == []   # two seeds of one size without a seed column: not a smaller model
    worse = twins.assign(loss=[3.00, 3.05, 3.2])
    (note,) = non_monotone_warnings(worse)
    assert note.startswith("1 run(s)") and "N=2e+05 (3.2000" in note and "vs 3.0000 for N 1e+05" in note
