"""Real engines on this machine: submitit's local executor (job array, pre-emption → requeue → resume)
and a local Ray cluster; a sweep started on one engine and finished on the other; launch option errors."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from harness import load_results
from harness.config import load_sweep
from harness.launch import ray_engine, slurm
from harness.plan import expand
from harness.sweep import WorkerOptions, run_sweep
from harness.train import TrainOptions
from tests.conftest import REPO

SECRET = "wandb-key-that-must-never-be-written-0123456789"
LOCAL = slurm.SlurmOptions(cluster="local", gpus_per_run=0, cpus_per_run=1, time_min=5, use_wandb=False)


def _no_secret_under(path) -> bool:
    return not any(SECRET.encode() in p.read_bytes() for p in path.rglob("*") if p.is_file())


def test_started_on_submitit_finished_on_ray(sweep_file, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", SECRET)
    sweep, results = load_sweep(sweep_file({"budgets": {"tokens": [4096, 6144, 8192]}})), tmp_path / "results"
    ids = [s.run_id for s in expand(sweep)]
    jobs, record = slurm.submit(sweep, results, LOCAL, only=ids[:2])
    assert len(jobs) == 2 and slurm.wait(jobs) == {"trained": 2, "skipped": 0, "busy": 0, "failed": 0}
    launch = results / "tiny" / "launch"
    assert json.loads(record.read_text())["runs"] == ids[:2]
    assert "#SBATCH --array=0-1%2" in (launch / "submitit" / "sbatch.preview.sh").read_text()
    counts = ray_engine.run_on_ray(sweep, results, ray_engine.RayOptions(address="local", local_cpus=2,
                                                                         use_wandb=False))
    assert counts == {"trained": 1, "skipped": 0, "busy": 0, "failed": 0}
    table = load_results(results / "tiny")
    assert sorted(table["run_id"]) == sorted(ids) and set(table["status"]) == {"done"}
    assert len(list(launch.glob("ray-*.json"))) == 1 and _no_secret_under(results)


@pytest.mark.slow
def test_preempted_submitit_job_requeues_and_resumes_to_the_same_loss(sweep_file, tmp_path):
    sweep = load_sweep(sweep_file({"budgets": {"tokens": [256 * 400]}, "training": {"checkpoint_interval": 10}}))
    threads = os.cpu_count() or 1
    run_sweep(sweep, tmp_path / "straight", options=WorkerOptions(TrainOptions(progress=False), threads=threads))
    options = slurm.SlurmOptions(**{**LOCAL.__dict__, "cpus_per_run": threads})
    [job], _ = slurm.submit(sweep, tmp_path / "results", options)
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob("results/tiny/*/checkpoint.pt")):
        time.sleep(0.05)
    [task] = _submitit_tasks()
    task.send_signal(signal.SIGUSR2)  # what SLURM sends a pre-empted job (--signal=USR2@…): checkpoint() → requeue
    assert job.result()["state"] == "trained"
    [record] = list(tmp_path.glob("results/tiny/*/result.json"))
    got = json.loads(record.read_text())
    assert 0 < got["resumed_from_step"] < got["steps"]
    assert got["loss"] == load_results(tmp_path / "straight" / "tiny")["loss"].item()
    logs = "".join(p.read_text() for p in tmp_path.glob("results/tiny/launch/submitit/*/*_log.*"))
    assert "Caught signal SIGUSR2" in logs and logs.count("Starting with JobEnvironment") == 2  # ran twice


def _submitit_tasks() -> list:
    import psutil

    procs = psutil.Process().children(recursive=True)
    return [p for p in procs if "submitit.core._submit" in " ".join(p.cmdline())]


def _cli(args):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "harness", "launch", *args], env=env, cwd=REPO, text=True,
                          capture_output=True, timeout=120)


@pytest.mark.parametrize("extra", [
    ["slurm", "--partition", "gpu\n#SBATCH --uid=0"], ["slurm", "--partition", "a;rm -rf /"],
    ["slurm", "--gpus-per-run", "-1", "--cluster", "local"], ["slurm", "--time", "0", "--cluster", "local"],
    ["slurm", "--cluster", "moon"], ["slurm", "--sbatch", "account"], ["slurm", "--sbatch", "x=$(id)"],
    ["ray", "--cpus-per-run", "0"], ["ray", "--address", "host:1 --evil"],
], ids=["newline-partition", "shell-partition", "negative-gpus", "zero-time", "unknown-cluster", "sbatch-no-value",
        "sbatch-subshell", "zero-cpus", "address-with-space"])
def test_bad_launch_options_are_one_line_exit_2_nothing_written(sweep_file, tmp_path, extra):
    results = tmp_path / "results"
    done = _cli([*extra[:1], str(sweep_file()), "--results", str(results), *extra[1:]])
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("error: ") and not results.exists()


def test_slurm_without_sbatch_says_so(sweep_file, tmp_path):
    done = _cli(["slurm", str(sweep_file()), "--results", str(tmp_path / "r"), "--partition", "gpu"])
    assert done.returncode == 2 and "sbatch not found" in done.stderr and not (tmp_path / "r").exists()


def test_ray_missing_is_one_line_before_anything_is_written(sweep_file, tmp_path, monkeypatch, capsys):
    from harness.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as where it is not installed
    results = tmp_path / "results"
    with pytest.raises(SystemExit) as exit_info:
        main(["launch", "ray", str(sweep_file()), "--results", str(results), "--address", "local"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and "ray is not installed" in err
    assert not results.exists()  # no launch record, no sweep directory
