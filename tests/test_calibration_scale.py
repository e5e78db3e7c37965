"""Calibration across scale: records carry the Brier terms, the table has them, `harness fit --metric` fits any of them."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from harness import load_results
from harness.calibration import CALIBRATION_KEYS
from harness.config import load_sweep
from harness.fit.simulate import simulate, sweep_grid
from harness.sweep import WorkerOptions, run_sweep
from harness.train import TrainOptions

TRUE = {"E": 0.6, "A": 40.0, "B": 90.0, "alpha": 0.3, "beta": 0.35}


def test_record_and_table_carry_calibration(sweep_file, tmp_path):
    sweep = load_sweep(sweep_file())
    results = tmp_path / "results"
    run_sweep(sweep, results, options=WorkerOptions(TrainOptions(progress=False)))
    [run_dir] = [p for p in (results / sweep.name).iterdir() if p.is_dir()]
    result = json.loads((run_dir / "result.json").read_text())
    assert set(CALIBRATION_KEYS) <= set(result)
    terms = result["brier_reliability"] - result["brier_resolution"] + result["brier_uncertainty"]
    assert terms + result["brier_within_bin"] == pytest.approx(result["brier"], abs=1e-9)
    assert 0 < result["brier_bayes"] < 1 and result["brier"] > result["brier_bayes"] - 4 * result["brier_se"]
    assert 0 <= result["ece"] <= 1 and result["brier_uncertainty"] <= 1
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["brier"] == result["brier"]  # one final eval pass gives the loss and the Brier
    table = load_results(results / sweep.name)
    assert table.loc[0, "brier"] == result["brier"] and table["brier_bayes"].dtype.kind == "f"


@pytest.fixture
def csv(tmp_path):
    n, d = sweep_grid(np.geomspace(1e7, 1e9, 5), [5, 10, 20, 40])
    table = simulate("chinchilla", TRUE, N=n, D=d, noise=0.002, seed=0)
    table = table.assign(brier=table["loss"], loss=2 * table["loss"])  # a law with E = 0.6 in brier, 1.2 in loss
    path = tmp_path / "runs.csv"
    table[["N", "D", "loss", "brier"]].to_csv(path, index=False)
    return path


def _fit(fit_app, *args):
    return CliRunner().invoke(fit_app, ["fit", *map(str, args), "--bootstrap", "20", "--json"])


def test_fit_metric_fits_that_column(fit_app, csv):
    out = _fit(fit_app, csv, "--metric", "brier")
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert result["metric"] == "brier"
    assert result["params"]["E"] == pytest.approx(TRUE["E"], rel=0.05)
    assert result["params"]["alpha"] == pytest.approx(TRUE["alpha"], rel=0.15)
    assert "E" in result["ci"]  # the same intervals as the loss
    plain = json.loads(_fit(fit_app, csv).output)  # the loss column: twice the floor
    assert "metric" not in plain and plain["params"]["E"] != pytest.approx(TRUE["E"], rel=0.05)


@pytest.mark.parametrize("args, message", [
    (["--metric", "nope"], "no column 'nope' (--metric)"),
    (["--metric", "brier", "--col-loss", "loss"], "--metric and --col-loss"),
])
def test_fit_metric_mistakes(fit_app, csv, args, message):
    out = _fit(fit_app, csv, *args)
    assert out.exit_code == 2 and message in out.output and len(out.output.strip().splitlines()) == 1


def _calibration_table():
    import pandas as pd

    rows = []
    for d in (1e6, 4e6):
        for n in (1e4, 1e5, 1e6):
            brier = 0.6 + 20 / n ** 0.4 + 30 / d ** 0.3
            rows.append({"run_id": f"r{len(rows)}", "status": "done", "N": n, "N_total": n, "D": d, "loss": 2.0,
                         "brier": brier, "brier_se": 0.002, "brier_reliability": 0.01 / np.log10(n),
                         "brier_resolution": 0.9 - brier, "brier_uncertainty": 0.9, "brier_within_bin": 0.0,
                         "ece": 0.02, "brier_bayes": 0.6})
    return pd.DataFrame(rows)


def test_calibration_figure_one_line_per_d_with_floors():
    from harness.report.calibration import calibration_figure, calibration_runs

    fig = calibration_figure(calibration_runs(_calibration_table()))
    axes = fig.axes
    assert [ax.get_ylabel() for ax in axes[:3]] == ["Brier score", "reliability (calibration error)", "resolution"]
    for ax in axes[:3]:
        assert len([line for line in ax.get_lines() if line.get_marker() == "o"]) == 2  # one line per D
    dashed = {i: [tuple(line.get_ydata()) for line in ax.get_lines() if line.get_linestyle() == "--"]
              for i, ax in enumerate(axes[:3])}
    assert dashed[0] == [(0.6, 0.6)] and dashed[1] == [(0.0, 0.0)]  # Bayes Brier, zero reliability
    assert dashed[2][0][0] == pytest.approx(0.9 - 0.6)  # the Bayes forecaster's resolution: UNC − Bayes Brier


def test_report_has_a_calibration_section():
    from harness.report.html import build_report

    page = build_report(_calibration_table(), None, title="toy", fit_error="not fitted here")
    section = page[page.index('id="calibration"'):]
    assert 'alt="calibration_vs_n"' in section and 'id="calibration-table"' in section
    assert "Bayes-optimal Brier of the eval set is 0.6" in section
    old = build_report(_calibration_table().drop(columns=["brier"]), None, title="toy")
    assert "No run records a Brier score" in old
