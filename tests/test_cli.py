"""The record-reading commands: results (table/csv/json) and status (done/running/failed/pending)."""
import io
import json

import pandas as pd
import pytest

from harness.claims import Claim
from harness.cli import main
from harness.config import load_sweep
from harness.plan import expand


def _out(args, capsys) -> str:
    main(args)
    return capsys.readouterr().out


@pytest.fixture
def finished(sweep_file, tmp_path, capsys):
    path = sweep_file({"model": {"shapes": [{"n_layer": 1, "d_model": 16, "n_head": 1},
                                            {"n_layer": 2, "d_model": 32, "n_head": 2}]}})
    results = tmp_path / "results"
    main(["run", str(path), "--results", str(results), "--no-wandb"])
    capsys.readouterr()
    return path, results


def test_results_formats(finished, capsys):
    path, results = finished
    csv = pd.read_csv(io.StringIO(_out(["results", str(path), "--results", str(results), "--format", "csv"], capsys)))
    assert len(csv) == 2 and {"N_total", "N_nonembed", "D", "loss", "loss_se", "loss_bpb", "C", "C_full"} <= set(csv)
    records = json.loads(_out(["results", "tiny", "--results", str(results), "--format", "json"], capsys))
    assert [r["run_id"] for r in records] == list(csv["run_id"])
    table = _out(["results", str(path), "--results", str(results)], capsys)
    assert all(run_id in table for run_id in csv["run_id"])


def test_status_counts_every_state(finished, sweep_file, capsys):
    path, results = finished
    grown = sweep_file({"model": {"shapes": [{"n_layer": 1, "d_model": 16, "n_head": 1},
                                             {"n_layer": 2, "d_model": 32, "n_head": 2},
                                             {"n_layer": 3, "d_model": 32, "n_head": 2},
                                             {"n_layer": 4, "d_model": 32, "n_head": 2}]}}, name="grown.yaml")
    specs = expand(load_sweep(grown))
    assert Claim(results / "tiny" / specs[2].run_id, owner="other-host:1:x").acquire()
    failed_dir = results / "tiny" / specs[3].run_id
    failed_dir.mkdir()
    (failed_dir / "failure.json").write_text(json.dumps({"error": "RuntimeError: boom"}))
    out = _out(["status", str(grown), "--results", str(results)], capsys)
    assert out.splitlines()[0] == "done: 2  diverged: 0  running: 1  failed: 1  pending: 0"


def test_results_of_unknown_sweep_is_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["results", "nothing-here", "--results", str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and "no results" in err
