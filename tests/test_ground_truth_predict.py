"""scripts/ground_truth_predict.py: the planned runs of a sweep file, predictions with bands, and their scoring."""
import numpy as np
import pandas as pd

from harness.fit import fit_law, simulate
from tests.conftest import REPO, load_script

TRUTH = {"E": 1.8, "A": 40.0, "alpha": 0.4, "B": 60.0, "beta": 0.35}


def test_the_confirmatory_sweep_plans_four_64m_runs_and_no_trunk():
    points = load_script("ground_truth_predict").planned_points(str(REPO / "sweeps" / "ground_truth_64m.yaml"))
    assert len(points) == 4 and set(points["D"]) == {64_000_000} and not points["run_id"].str.startswith("trunk").any()


def test_predictions_of_a_known_law_hold_new_runs_and_a_wrong_loss_is_scored_outside():
    script = load_script("ground_truth_predict")
    N, D = np.meshgrid([1e4, 3e4, 1e5, 3e5, 1e6], [1e6, 3e6, 1e7])
    fit = fit_law(simulate("chinchilla", TRUTH, N=N, D=D, noise=0.002, seed=1), law="chinchilla", bootstrap=60, seed=0)
    new = pd.DataFrame({"run_id": ["a", "b"], "N": [1e5, 1e6], "D": [3e7, 3e7]})
    rows = script.predictions(fit, new)
    assert (rows["low"] < rows["predicted"]).all() and (rows["predicted"] < rows["high"]).all()
    truth = 1.8 + 40.0 / new["N"] ** 0.4 + 60.0 / new["D"] ** 0.35
    assert np.allclose(rows["predicted"], truth, rtol=0.01)
    actual = pd.DataFrame({"run_id": ["a", "b"], "loss": [truth[0], truth[1] * 1.2]})
    out = script.scored(rows, actual)
    assert out["inside"].tolist() == [True, False] and abs(out["error"].iloc[1]) > 0.1
