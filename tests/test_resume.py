"""Resume: kill a real sweep process mid-run with SIGKILL, rerun, and get the uninterrupted final loss."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

OVERRIDES = {"budgets": {"tokens": [256 * 600]}, "training": {"checkpoint_interval": 50, "eval_interval": 100}}


def _cli(args, **kw):
    env = {**os.environ, "PYTHONPATH": str(REPO), "WANDB_MODE": "offline"}
    return subprocess.Popen([sys.executable, "-m", "harness", *args], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def _final(results: Path) -> dict:
    [record] = list(results.glob("tiny/*/result.json"))
    return json.loads(record.read_text())


def test_killed_run_resumes_to_the_same_loss(sweep_file, tmp_path):
    path = sweep_file(OVERRIDES)
    straight = _cli(["run", str(path), "--results", str(tmp_path / "straight"), "--no-wandb"])
    assert straight.wait(timeout=300) == 0
    victim = _cli(["run", str(path), "--results", str(tmp_path / "killed"), "--no-wandb"])
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob("killed/tiny/*/checkpoint.pt")):
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    [ckpt] = list(tmp_path.glob("killed/tiny/*/checkpoint.pt"))
    assert not list(tmp_path.glob("killed/tiny/*/result.json")), "killed too late: the run had finished"
    resumed = _cli(["run", str(path), "--results", str(tmp_path / "killed"), "--no-wandb"])
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()
    a, b = _final(tmp_path / "straight"), _final(tmp_path / "killed")
    assert a["run_id"] == b["run_id"]
    assert a["resumed_from_step"] == 0 and 0 < b["resumed_from_step"] < b["steps"]
    assert b["loss"] == a["loss"] and b["train_loss"] == a["train_loss"]
    metrics = [json.loads(l) for l in ckpt.with_name("metrics.jsonl").read_text().splitlines()]
    steps = [m["step"] for m in metrics]
    assert steps == sorted(set(steps)), "metrics rows duplicated or out of order after resume"


def test_edited_spec_is_refused(sweep_file, tmp_path, capsys):
    from harness.cli import main

    path = sweep_file()
    results = tmp_path / "results"
    main(["run", str(path), "--results", str(results), "--no-wandb"])
    [spec_file] = list(results.glob("tiny/*/spec.json"))
    spec = json.loads(spec_file.read_text())
    spec["lr"] = spec["lr"] * 2
    spec_file.write_text(json.dumps(spec))
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(path), "--results", str(results), "--no-wandb"])
    assert exit_info.value.code == 2
    assert "does not match run id" in capsys.readouterr().err


def _nonblank(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_sigterm_releases_the_claim_and_the_rerun_resumes_at_once(sweep_file, tmp_path):
    path = sweep_file({"budgets": {"tokens": [256 * 400]}, "training": {"checkpoint_interval": 10}})
    results = tmp_path / "results"
    victim = _cli(["run", str(path), "--results", str(results), "--no-wandb"])
    deadline = time.time() + 240
    while time.time() < deadline and not list(results.glob("tiny/*/checkpoint.pt")):
        time.sleep(0.02)
    victim.send_signal(signal.SIGTERM)  # kill, a job time-out, scancel
    assert victim.wait(timeout=120) == 143
    err = victim.stderr.read().decode()
    assert "Traceback" not in err and [l for l in _nonblank(err) if "terminated" in l] == _nonblank(err)[-1:], err
    assert not list(results.glob("tiny/*/claim")) and not list(results.glob("tiny/*/result.json"))
    assert list(results.glob("tiny/*/checkpoint.pt"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    status = subprocess.run([sys.executable, "-m", "harness", "status", str(path), "--results", str(results)],
                            env=env, cwd=REPO, text=True, capture_output=True, timeout=120)
    assert status.returncode == 0 and "running: 0" in status.stdout and "pending: 1" in status.stdout, status.stdout
    rerun = _cli(["run", str(path), "--results", str(results), "--no-wandb"])
    assert rerun.wait(timeout=600) == 0, rerun.stderr.read().decode()
    assert 0 < _final(results)["resumed_from_step"] < _final(results)["steps"]
