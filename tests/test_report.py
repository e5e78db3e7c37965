"""The HTML report and the compare/plot/report commands, on hand-made records and a fit with known numbers."""
from __future__ import annotations

import json
import re

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
def records(tmp_path, monkeypatch):
    """A results directory with one record per run, as harness.store writes them (the specs are stubs, so the
    store's check that a spec re-hashes to its run id is switched off here; tests/test_store_records.py covers it)."""
    monkeypatch.setattr("harness.store.spec_problem", lambda run_dir: None)
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
                          "aic": {"power law": -40.0, "logistic": -28.0},
                          "verdict": "The data prefer the power law with floor (Akaike weight 1.00 by AICc)."},
                "extrapolation": {"run_ids": ["r14"], "predicted": [float(table["loss"].iloc[14]) * 1.008]}}
    page = build_report(table, FIT, analysis=analysis, title="toy")
    for table_id in ("provenance-table", "runs-table", "fit-table", "comparison-table", "verdict-table", "frontier-table"):
        assert f'id="{table_id}"' in page
    # The answer and the forest plot come first; the long comparison table is the appendix, last.
    assert page.index('id="answer"') < page.index('id="summary"') < page.index('id="comparison"')
    assert 'alt="forest"' in page and page.index('alt="forest"') < page.index('id="summary"')
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', page)
    assert {"loss_vs_n", "loss_vs_d", "isoflop", "frontier", "residuals", "extrapolation", "forms"} <= set(images)
    assert "http://" not in page and "https://" not in page and "<link" not in page and "<script" not in page
    assert "0123abc" in page and "fp-42" in page
    assert "The data prefer the power law with floor (Akaike weight 1.00 by AICc)." in page
    assert "Extrapolation error to the 1 largest run(s), held out of the fit: max 0.8 %" in page


def test_summary_states_numbers_and_verdicts():
    lines = summary_lines(EPOCH_FIT, __import__("harness.compare", fromlist=["x"]).compare_fit(EPOCH_FIT), {},
                          pd.DataFrame({"status": ["done"]}))
    assert lines[0].startswith("Pinned down by this sweep (95% intervals): alpha = 0.348 [0.317, 0.373]; "
                               "beta = 0.366 [0.331, 0.415]; a = 0.513")
    assert not any(line.startswith("Not pinned down") for line in lines)   # Epoch's fit identifies everything
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
    assert payload["answer"][0].startswith("α agrees with")
    assert verdicts["hoffmann2022_a3"] == "inconsistent" and verdicts["besiroglu2024"] == "consistent"
    assert {r["C"] for r in payload["frontier"]} == {1e21}
    assert _run(["compare", str(epoch)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("α agrees with") and "like-for-like" in out


@pytest.mark.parametrize("argv, content, message", [
    (["compare", "missing.json"], None, "cannot read fit JSON"),
    (["compare", "nosuchsweep", "--results", "/nonexistent"], None, "no results"),
    (["compare", "{tmp}/bin.json"], b"\x00\x01\xff\xfe", "bin.json: cannot read fit JSON (UnicodeDecodeError)"),
    (["compare", "{tmp}/s.json"], b'{"law": "chinchilla", "params": {"alpha": "x"}}', "params.alpha must be a number"),
    (["compare", "{tmp}/c.json"], b'{"law": "chinchilla", "params": {"alpha": 0.3}, "ci": [1, 2]}', "c.json: ci must be"),
    (["compare", "{tmp}/l.json"], b'[1, 2]', "l.json: not a fit result"),
])
def test_user_mistakes_are_one_line_exit_2(argv, content, message, capsys, tmp_path):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if content is not None:
        open(argv[1], "wb").write(content)
    code = _run(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1


def test_plot_and_report_commands_from_records(records, tmp_path, capsys):
    root, fit_path = records
    assert 0 == _run(["plot", SWEEP, "--results", str(root), "--fit", str(fit_path), "--out", str(tmp_path / "figs")])
    assert len(list((tmp_path / "figs").glob("*.png"))) == len(list((tmp_path / "figs").glob("*.svg"))) >= 6
    assert "skipped bootstrap" in capsys.readouterr().out
    out = tmp_path / "r.html"
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    assert 0 == _run(["report", SWEEP, "--results", str(root), "--fit", str(fit_path), "--out", str(out)])
    page = out.read_text()
    assert 'id="comparison-table"' in page and page.count("data:image/png;base64,") >= 6
    assert "training_curves" in page  # metrics.jsonl were read
    # With --out elsewhere and no --wandb: nothing but the HTML file is written (no figures/, no wandb run).
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figs", "fit.json", "r.html", "results"]


def test_wandb_logs_fit_comparison_and_figures_offline(records, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    from harness.report.pipeline import write_sweep_report

    monkeypatch.setenv("WANDB_MODE", "offline")
    root, _ = records
    table = _table()
    write_sweep_report(root / SWEEP, table, FIT, tmp_path / "w.html", (1e21,), use_wandb=True)
    runs = list((tmp_path / "wandb").glob("offline-run-*"))  # beside the output, not in the results
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
    assert (tmp_path / "w_figures" / "frontier.png").is_file() and (tmp_path / "w_figures" / "forest.png").is_file()
    assert not (root / SWEEP / "figures").exists() and not (root / SWEEP / "wandb").exists()


def test_report_help_says_wandb_is_off_unless_asked(capsys):
    _run(["report", "--help"])
    assert "--wandb" in capsys.readouterr().out


def test_report_is_written_atomically_and_errors_name_the_path(records, tmp_path, monkeypatch, capsys):
    import errno
    import os

    root, fit_path = records
    out = tmp_path / "r.html"
    out.write_text("previous report")

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    code = _run(["report", SWEEP, "--results", str(root), "--fit", str(fit_path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and f"error: {out}: No space left on device" in err and err.count("\n") == 1
    assert out.read_text() == "previous report"  # not truncated
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".r.html")] == []  # no temp file left


def _write_record(root, row):
    path = root / SWEEP / row["run_id"] / "result.json"
    path.write_text(json.dumps(row))


def test_report_survives_a_non_numeric_size_in_a_record(records, tmp_path, capsys):
    root, fit_path = records
    row = _table().iloc[0].to_dict()
    _write_record(root, {**row, "N_total": "lots"})
    out = tmp_path / "r.html"
    assert 0 == _run(["report", SWEEP, "--results", str(root), "--fit", str(fit_path), "--out", str(out)])
    page = out.read_text()
    assert 'id="answer"' in page
    assert "1 record(s) left out of the table, fit and figures" in page and "field N_total is not a number" in page


def test_compare_and_report_degrade_on_a_flat_sweep(records, tmp_path, capsys):
    # 20 points all at loss 2.5: the fitter's α and β go to 0; a, b and the frontier do not exist.
    root, _ = records
    flat = {"law": "chinchilla", "objective": "huber", "params": {"E": 0.833, "A": 0.833, "B": 0.833,
                                                                 "alpha": 5.97e-17, "beta": 1.08e-16},
            "ci": {k: [v, v] for k, v in {"alpha": 5.97e-17, "beta": 1.08e-16, "a": 0.645}.items()},
            "se": {"alpha": None}, "derived": {"a": 0.645, "b": 0.355, "N_opt@1e+21": 0.0, "D_opt@1e+21": None,
                                               "tokens_per_param@1e+21": None},
            "warnings": ["parameter(s) at their bounds: alpha, beta",
                         "the Hessian is singular at the optimum: some direction is not identified"],
            "n_points": 20, "n_convention": "total"}
    path = tmp_path / "flat.json"
    path.write_text(json.dumps(flat))
    assert _run(["compare", str(path), "--budget", "1e21"]) == 0
    out = capsys.readouterr().out
    assert "a (and b = 1 − a) is undefined" in out or "a is undefined" in out
    html = tmp_path / "flat.html"
    assert 0 == _run(["report", SWEEP, "--results", str(root), "--fit", str(path), "--out", str(html)])
    page = html.read_text()
    top = page.split("<body>")[1].split('id="comparison"')[0]
    assert "undefined" in top and "not identified" in top and "consistent" not in top


def test_report_of_a_sweep_that_cannot_be_fitted_says_why(records, tmp_path, capsys):
    # A first bad sweep (here: losses edited below the known floor, then too few usable runs) still gets a report.
    root, _ = records
    for row in _table().to_dict("records")[:12]:
        _write_record(root, {**row, "status": "failed"})
    for row in _table().to_dict("records")[12:]:
        _write_record(root, {**row, "floor": 2.0, "loss": 1.5})
    out = tmp_path / "bad.html"
    assert 0 == _run(["report", SWEEP, "--results", str(root), "--out", str(out)])
    page = out.read_text()
    assert "No fit, so no comparison" in page and "too few to fit" in page
    assert "3 run(s) with a loss below the source&#39;s exact floor" in page
    assert _run(["compare", SWEEP, "--results", str(root)]) == 2


def test_interval_magnitudes_in_the_report_match_the_known_spread():
    # Bootstrap draws with a known σ = 0.01 for α: the report's fit table shows α's interval as 0.35 ± 1.96σ.
    from tests.test_compare import _simulated_fit

    page = build_report(_table(), _simulated_fit(0.01), title="toy")
    row = re.search(r"<td>alpha</td>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>", page)
    lo, hi = float(row.group(2)), float(row.group(3))
    assert hi - lo == pytest.approx(2 * 1.96 * 0.01, rel=0.06) and lo < 0.35 < hi


def test_sweep_context_from_the_records_when_given_a_sweep_name():
    from harness.report.pipeline import sweep_context
    from tests.conftest import REPO

    by_name = sweep_context("quickstart", REPO / "results" / "reference")
    assert by_name == {"dataset": "synthetic", "tokenizer": "byte", "loss_unit": "nats_per_token"}
    assert sweep_context(str(REPO / "sweeps" / "quickstart.yaml")) == by_name
    assert sweep_context("quickstart") == {} and sweep_context("x.json", REPO) == {}
