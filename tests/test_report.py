"""The HTML report and the compare/plot/report commands, on hand-made records and a fit with known numbers."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from harness.cli import main
from harness.report.html import build_report, summary_lines
from tests.test_compare import EPOCH_FIT
from tests.test_plots import FIT, chinchilla

SWEEP = "toy"


def _run(argv) -> int:
    """Run the CLI; its exit status (0 when main returns normally)."""
    try:
        main(argv)
    except SystemExit as exc:
        return exc.code or 0
    return 0


def _table() -> pd.DataFrame:
    rows = []
    for c in (1e15, 1e16, 1e17):
        for n in (2e5, 5e5, 1.2e6, 3e6, 8e6):
            d = c / (6 * n)
            rows.append({"run_id": f"r{len(rows):02d}", "sweep": SWEEP, "status": "done", "N_total": n, "N_nonembed": 0.8 * n,
                         "N_with_head": 0.9 * n, "D": d, "C": c, "tokens_per_param": d / n, "loss": float(chinchilla(n, d)),
                         "loss_se": 0.004, "git_commit": "0123abc", "device": "cpu (x86_64, 2 threads)",
                         "corpus_fingerprint": "fp-42", "versions": {"torch": "2.x"}})
    return pd.DataFrame(rows)


@pytest.fixture
def records(tmp_path):
    """A results directory with one record per run, as harness.store writes them."""
    root = tmp_path / "results"
    for row in _table().to_dict("records"):
        run = root / SWEEP / row["run_id"]
        run.mkdir(parents=True)
        (run / "spec.json").write_text(json.dumps({"run_id": row["run_id"]}))
        (run / "result.json").write_text(json.dumps(row))
        (run / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "tokens": 100 * s, "train_loss": 5 - 0.1 * s,
                                                               "eval_loss": None}) + "\n" for s in range(1, 5)))
    fit_path = tmp_path / "fit.json"
    fit_path.write_text(json.dumps(FIT))
    return root, fit_path


def test_report_has_every_section_and_embeds_every_figure():
    table = _table().assign(N=lambda t: t["N_total"], versions=lambda t: t["versions"].map(json.dumps))
    analysis = {"forms": {"x": [1e5, 1e6], "y": [3, 2.5], "curves": {"power law": [[1e5, 1e6], [3, 2.5]],
                                                                     "logistic": [[1e5, 1e6], [3, 2.6]]},
                          "aic": {"power law": -40.0, "logistic": -28.0}},
                "extrapolation": {"run_ids": ["r14"], "predicted": [float(table["loss"].iloc[14]) * 1.008]}}
    page = build_report(table, FIT, analysis=analysis, title="toy")
    for table_id in ("provenance-table", "runs-table", "fit-table", "comparison-table", "verdict-table", "frontier-table"):
        assert f'id="{table_id}"' in page
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', page)
    assert {"loss_vs_n", "loss_vs_d", "isoflop", "frontier", "residuals", "extrapolation", "forms"} <= set(images)
    assert "http://" not in page and "https://" not in page and "<link" not in page and "<script" not in page
    assert "0123abc" in page and "fp-42" in page
    assert "power law preferred over logistic by ΔAIC = 12.0" in page
    assert "Extrapolation error to the 1 largest run(s), held out of the fit: max 0.8 %" in page


def test_summary_states_numbers_and_verdicts():
    lines = summary_lines(EPOCH_FIT, __import__("harness.compare", fromlist=["x"]).compare_fit(EPOCH_FIT), {},
                          pd.DataFrame({"status": ["done"]}))
    assert lines[0].startswith("alpha = 0.348 [0.317, 0.373]; beta = 0.366 [0.331, 0.415]; a = 0.513")
    consistent = next(line for line in lines if line.startswith("Consistent"))
    inconsistent = next(line for line in lines if line.startswith("Inconsistent"))
    assert "besiroglu2024" in consistent and "hoffmann2022_a3" in inconsistent
    assert summary_lines(None, None, {}, pd.DataFrame({"x": [1]}))[0].startswith("1 runs recorded; no fit")


def test_compare_command_json_and_text(records, capsys):
    _, fit_path = records
    epoch = fit_path.with_name("epoch.json")
    epoch.write_text(json.dumps(EPOCH_FIT))
    assert _run(["compare", str(epoch), "--json", "--budget", "1e21"]) == 0
    payload = json.loads(capsys.readouterr().out)
    verdicts = {v["entry"]: v["verdict"] for v in payload["verdicts"]}
    assert verdicts["hoffmann2022_a3"] == "inconsistent" and verdicts["besiroglu2024"] == "consistent"
    assert {r["C"] for r in payload["frontier"]} == {1e21}
    assert _run(["compare", str(epoch)]) == 0
    assert "like-for-like" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["compare", "missing.json"], "cannot read fit JSON"),
    (["compare", "nosuchsweep", "--results", "/nonexistent"], "no results"),
])
def test_user_mistakes_are_one_line_exit_2(argv, message, capsys):
    code = _run(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1


def test_plot_and_report_commands_from_records(records, tmp_path, capsys):
    root, fit_path = records
    assert 0 == _run(["plot", SWEEP, "--results", str(root), "--fit", str(fit_path), "--out", str(tmp_path / "figs")])
    assert len(list((tmp_path / "figs").glob("*.png"))) == len(list((tmp_path / "figs").glob("*.svg"))) >= 6
    assert "skipped bootstrap" in capsys.readouterr().out
    out = tmp_path / "r.html"
    assert 0 == _run(["report", SWEEP, "--results", str(root), "--fit", str(fit_path), "--out", str(out), "--no-wandb"])
    page = out.read_text()
    assert 'id="comparison-table"' in page and page.count("data:image/png;base64,") >= 6
    assert "training_curves" in page  # metrics.jsonl were read


def test_wandb_logs_fit_comparison_and_figures_offline(records, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    from harness.report.pipeline import write_sweep_report

    monkeypatch.setenv("WANDB_MODE", "offline")
    root, _ = records
    table = _table()
    write_sweep_report(root / SWEEP, table, FIT, tmp_path / "w.html", (1e21,), use_wandb=True)
    runs = list((root / SWEEP / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
    assert (root / SWEEP / "figures" / "frontier.png").is_file()
