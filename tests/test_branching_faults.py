"""Cooldown branching under faults, done for real: kill -9 mid-trunk and mid-branch, two workers, two processes.

Every drill ends with one whole record per planned run (trunk included), losses identical to an
uninterrupted sweep, metrics without duplicated steps, and no claims, temp files or resume checkpoints left.
"""
import json
import os
import signal
import time
from pathlib import Path

import pytest

from harness import load_results
from harness.config import load_sweep
from harness.plan import expand
from harness.sweep import WorkerOptions, run_sweep
from harness.train import TrainOptions
from tests.test_faults import _assert_exactly_once, _records, _start

BRANCHED = {"budgets": {"tokens": [256 * 40, 256 * 80, 256 * 160], "branching": "wsd"},
            "training": {"checkpoint_interval": 5, "eval_interval": 0}}
THREADS = max(1, (os.cpu_count() or 1) // 2)  # what each of 2 workers gets: CPU sums depend on the thread count
QUIET = WorkerOptions(TrainOptions(progress=False), threads=THREADS)


def _in_process(path: Path, results: Path, workers: int = 1):
    import torch

    threads = torch.get_num_threads()
    try:
        return run_sweep(load_sweep(path), results, workers=workers, options=QUIET)
    finally:
        torch.set_num_threads(threads)


def _cli(args: list[str]):
    return _start([*args, "--threads", str(THREADS)])


@pytest.fixture
def branched(sweep_file, tmp_path):
    """The sweep file and the records of an uninterrupted run of it (in this process)."""
    path = sweep_file(BRANCHED)
    _in_process(path, tmp_path / "straight")
    return path, {k: json.loads(v.read_text()) for k, v in _records(tmp_path / "straight").items()}


def _kill_when(args: list[str], ready, timeout: float = 300) -> None:
    """Start the CLI, SIGKILL it as soon as ``ready()`` holds; fail if it finished first."""
    victim, deadline = _cli(args), time.time() + timeout
    while time.time() < deadline and victim.poll() is None and not ready():
        time.sleep(0.01)
    assert victim.poll() is None, "the sweep finished before the kill"
    victim.send_signal(signal.SIGKILL)
    victim.wait()


def _finish(path: Path, results: Path) -> None:
    final = _cli(["run", str(path), "--results", str(results)])
    assert final.wait(timeout=600) == 0, final.stderr.read()


def test_kill9_mid_trunk_then_rerun_loses_and_duplicates_nothing(branched, tmp_path):
    path, expected = branched
    results = tmp_path / "killed"
    trunk = expand(load_sweep(path))[0]
    trunk_dir = results / "tiny" / trunk.run_id
    _kill_when(["run", str(path), "--results", str(results)],
               lambda: (trunk_dir / "branch-000000032.pt").exists() and (trunk_dir / "checkpoint.pt").exists())
    assert not (trunk_dir / "result.json").exists(), "killed too late: the trunk had finished"
    _finish(path, results)
    _assert_exactly_once(results, expected)
    assert 0 < json.loads((trunk_dir / "result.json").read_text())["resumed_from_step"] < trunk.steps


def test_kill9_mid_branch_then_rerun_resumes_the_branch_from_its_own_checkpoint(branched, tmp_path):
    path, expected = branched
    results = tmp_path / "killed"
    specs = expand(load_sweep(path))
    branch_dirs = [results / "tiny" / s.run_id for s in specs[1:]]
    _kill_when(["run", str(path), "--results", str(results)],
               lambda: any((d / "checkpoint.pt").exists() for d in branch_dirs))
    [victim] = [d for d in branch_dirs if (d / "checkpoint.pt").exists()]
    assert not (victim / "result.json").exists()
    _finish(path, results)
    _assert_exactly_once(results, expected)
    record = json.loads((victim / "result.json").read_text())
    assert record["branch_step"] < record["resumed_from_step"] < record["steps"]


def test_two_workers_train_trunk_and_branches_once_with_the_sequential_losses(branched, tmp_path):
    path, expected = branched
    outcome = _in_process(path, tmp_path / "par", workers=2)
    assert sorted(outcome.trained) == sorted(expected) and outcome.lost_workers == 0  # each trained once
    _assert_exactly_once(tmp_path / "par", expected)


@pytest.mark.slow
def test_two_concurrent_sweep_processes_train_each_run_exactly_once(sweep_file, tmp_path):
    import re

    path = sweep_file({**BRANCHED, "model": {"shapes": [{"n_layer": 2, "d_model": 32, "n_head": 2},
                                                       {"n_layer": 2, "d_model": 16, "n_head": 2}]}})
    procs = [_cli(["run", str(path), "--results", str(tmp_path / "shared")]) for _ in range(2)]
    outputs = [p.communicate(timeout=900) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outputs]
    trained = [int(re.search(r"trained (\d+)", out).group(1)) for out, _ in outputs]
    assert sum(trained) == 8, trained  # 2 trunks + 6 branches: twice-trained counts twice, a lost one not at all
    _in_process(path, tmp_path / "reference")
    _assert_exactly_once(tmp_path / "shared", {k: json.loads(v.read_text())
                                               for k, v in _records(tmp_path / "reference").items()})
    assert len(load_results(tmp_path / "shared" / "tiny")) == 6


@pytest.mark.slow
def test_ten_kill9_moments_across_a_branched_sweep_lose_and_duplicate_nothing(branched, tmp_path):
    import random

    path, expected = branched
    rng, results, kills = random.Random(11), tmp_path / "drilled", 0
    for _ in range(30):
        victim = _cli(["run", str(path), "--results", str(results)])
        time.sleep(rng.uniform(2.0, 8.0))
        if victim.poll() is None:
            victim.send_signal(signal.SIGKILL)
            kills += 1
        victim.wait()
        if kills == 10:
            break
    assert kills == 10, f"the sweep finished after {kills} kills"
    _finish(path, results)
    _assert_exactly_once(results, expected)
