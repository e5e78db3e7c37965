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


def test_reference_quickstart_pins_beta_and_says_alpha_is_not_pinned():
    """Issue 9 item 6: the quickstart reports what its runs identify. At 250k-2M tokens the loss is set by D
    (beta's 95 % interval narrower than 0.3) and barely by N over 25k-150k (alpha: bounds only, no value)."""
    from harness.report.html import summary_lines

    table = load_results(REPO / "results" / "reference" / "quickstart")
    fit = fit_table(table, bootstrap=300)
    lo, hi = fit.ci["beta"]
    assert lo < fit.params["beta"] < hi and hi - lo < 0.3
    assert fit.identified["alpha"] is False and "alpha" not in fit.ci and "a" not in fit.ci
    lines = summary_lines(fit, None, {}, table)
    assert lines[0].startswith("Pinned down by this sweep (95% intervals): beta = ")
    assert lines[1].startswith("Not pinned down by this sweep, so no value is quoted: alpha (")
    # beta from the fitter agrees with a check outside it: the least-squares slope of log(loss - floor) on log D,
    # per size, with the floor known exactly (the Chinchilla D term alone, valid when the N term is flat)
    slopes = [-np.polyfit(np.log(g["D"]), np.log(g["loss"] - g["floor"]), 1)[0] for _, g in table.groupby("N")]
    assert all(lo - 0.05 < s < hi + 0.05 for s in slopes), slopes
