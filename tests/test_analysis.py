"""Report analyses on the reference quickstart records: functional forms on the frontier, largest-N hold-out."""
import numpy as np

from harness import load_results
from harness.report.analysis import compute_frontier, sweep_analysis
from harness.report.pipeline import fit_table
from tests.conftest import REPO


def test_analyses_on_reference_quickstart():
    table = load_results(REPO / "results" / "reference" / "quickstart")
    frontier = compute_frontier(table)
    assert np.all(np.diff(frontier["C"]) > 0) and np.all(np.diff(frontier["loss"]) < 0)
    analysis = sweep_analysis(table, lambda t: fit_table(t, bootstrap=100))
    forms = analysis["forms"]
    assert len(forms["aic"]) == 5 and "power law with floor" in forms["aic"]
    assert "verdict" in forms and len(forms["x"]) == len(frontier)
    held = analysis["extrapolation"]
    largest = table[table["N"] == table["N"].max()]
    assert held["run_ids"] == largest["run_id"].tolist()
    assert max(held["rel_error"]) < 0.03  # the law fitted on the two smaller sizes predicts the largest within 3 %
    assert all(lo <= p <= hi for lo, p, hi in zip(held["lo"], held["predicted"], held["hi"]))
