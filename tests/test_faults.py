"""Faults done for real: damaged records and checkpoints, a full disk, an unwritable results directory.

The kill drills (20 SIGKILLs across a sweep; 4 concurrent sweep processes) are marked slow.
"""
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness import load_results
from harness.config import load_sweep
from harness.sweep import WorkerOptions, run_sweep
from harness.train import TrainOptions
from tests.conftest import REPO

TWO_RUNS = {"budgets": {"tokens": [4096, 8192]}}
QUIET = WorkerOptions(TrainOptions(progress=False))


def _records(results: Path) -> dict[str, Path]:
    return {p.parent.name: p for p in results.glob("tiny/*/result.json")}


def _cli(args: list[str], fsize: int | None = None) -> subprocess.CompletedProcess:
    """Run the harness CLI; with ``fsize``, under RLIMIT_FSIZE: writes past it fail with EFBIG (a full disk)."""
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    env = {**os.environ, "PYTHONPATH": str(REPO), "WANDB_MODE": "offline"}
    return subprocess.run([sys.executable, "-m", "harness", *args, "--no-wandb"], env=env, cwd=REPO, text=True,
                          capture_output=True, timeout=300, preexec_fn=limit if fsize else None)


def test_truncated_result_is_detected_and_only_that_run_redone(sweep_file, tmp_path):
    sweep, results = load_sweep(sweep_file(TWO_RUNS)), tmp_path / "results"
    run_sweep(sweep, results, options=QUIET)
    before = load_results(results / "tiny").set_index("run_id")["loss"]
    (victim, damaged), (other, intact) = sorted(_records(results).items())
    damaged.write_bytes(damaged.read_bytes()[:200])
    intact_stamp = intact.stat().st_mtime_ns
    with pytest.warns(UserWarning, match="unreadable record"):
        outcome = run_sweep(sweep, results, options=QUIET)
    assert outcome.trained == [victim] and outcome.skipped == [other]
    assert intact.stat().st_mtime_ns == intact_stamp
    assert damaged.with_name("result.json.corrupt").exists()
    assert load_results(results / "tiny").set_index("run_id")["loss"].equals(before)


def test_corrupt_checkpoint_is_detected_and_the_run_restarts(sweep_file, tmp_path):
    sweep, results = load_sweep(sweep_file(TWO_RUNS)), tmp_path / "results"
    run_sweep(sweep, results, options=WorkerOptions(TrainOptions(progress=False, keep_checkpoint=True)))
    before = load_results(results / "tiny").set_index("run_id")["loss"]
    (victim, record), (other, intact) = sorted(_records(results).items())
    ckpt = record.with_name("checkpoint.pt")
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])  # torn mid-write (a real file, truncated)
    record.unlink()  # the run had not finished when its checkpoint was damaged
    intact_stamp = intact.stat().st_mtime_ns
    with pytest.warns(UserWarning, match="corrupt checkpoint"):
        outcome = run_sweep(sweep, results, options=QUIET)
    assert outcome.trained == [victim] and intact.stat().st_mtime_ns == intact_stamp
    assert json.loads(record.read_text())["resumed_from_step"] == 0
    assert ckpt.with_name("checkpoint.pt.corrupt").exists()
    assert load_results(results / "tiny").set_index("run_id")["loss"].equals(before)


def _leftovers(results: Path) -> list[Path]:
    """Temp files, claims, results, and any JSON record that does not parse whole."""
    bad = [p for p in results.rglob("*") if p.name.endswith(".tmp") or p.name in ("result.json", "claim")]
    for record in results.rglob("*.json"):
        try:
            json.loads(record.read_text())
        except ValueError:
            bad.append(record)
    return bad


@pytest.mark.parametrize("fsize", [32_000, 200_000], ids=["full-while-caching", "full-while-checkpointing"])
def test_full_disk_is_one_clear_error_and_leaves_nothing_half_written(sweep_file, tmp_path, fsize):
    path, results = sweep_file({"training": {"checkpoint_interval": 4}}), tmp_path / "results"
    failed = _cli(["run", str(path), "--results", str(results)], fsize=fsize)
    lines = failed.stderr.strip().splitlines()
    assert failed.returncode == 1 and len(lines) == 1, failed.stderr
    assert lines[0].startswith("error: ") and "File too large" in lines[0] and str(results) in lines[0]
    assert _leftovers(results) == []
    assert _cli(["run", str(path), "--results", str(results)]).returncode == 0  # space back: it completes
    assert len(_records(results)) == 1


def test_unwritable_results_directory_is_one_clear_error(sweep_file, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a regular file where the results directory should be\n")
    for results in (blocker, blocker / "results"):  # ENOTDIR: refused even to root, unlike chmod
        failed = _cli(["run", str(sweep_file()), "--results", str(results)])
        lines = failed.stderr.strip().splitlines()
        assert failed.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), failed.stderr
        assert "Not a directory" in lines[0] or "File exists" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-dir", "sweep.yaml"]


def _start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "WANDB_MODE": "offline"}
    return subprocess.Popen([sys.executable, "-m", "harness", *args, "--no-wandb"], env=env, cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _assert_exactly_once(results: Path, expected: dict[str, dict]) -> None:
    """One whole record per planned run, losses identical to the reference, no debris."""
    records = _records(results)
    assert sorted(records) == sorted(expected)
    for run_id, path in records.items():
        got = json.loads(path.read_text())
        assert (got["loss"], got["train_loss"]) == (expected[run_id]["loss"], expected[run_id]["train_loss"]), run_id
        steps = [json.loads(line)["step"] for line in path.with_name("metrics.jsonl").read_text().splitlines()]
        assert steps == sorted(set(steps)), f"{run_id}: metrics duplicated after resume"
    debris = [p for p in results.rglob("*") if p.name.endswith((".tmp", ".corrupt")) or p.name in ("claim", "checkpoint.pt")]
    assert debris == []


DRILL = {"budgets": {"tokens": [256 * 6000, 256 * 8000, 256 * 10000]},  # ~500 steps/s here: ~50 s of training
         "training": {"checkpoint_interval": 50, "eval_interval": 500}}


@pytest.mark.slow
def test_twenty_kill9_moments_across_a_sweep_lose_and_duplicate_nothing(sweep_file, tmp_path):
    import random
    import time

    path = sweep_file(DRILL)
    straight = _start(["run", str(path), "--results", str(tmp_path / "straight")])
    assert straight.wait(timeout=600) == 0
    expected = {k: json.loads(v.read_text()) for k, v in _records(tmp_path / "straight").items()}
    rng, results, kills, attempts, mid_run = random.Random(20), tmp_path / "drilled", 0, 0, 0
    while kills < 20 and attempts < 60:
        attempts += 1
        victim = _start(["run", str(path), "--results", str(results)])
        time.sleep(rng.uniform(3.0, 9.0))  # start-up takes ~4.5 s here: moments fall in start-up, training, writes
        if victim.poll() is None:
            mid_run += bool(list(results.glob("tiny/*/claim")))
            victim.send_signal(signal.SIGKILL)
            kills += 1
        victim.wait()
    assert kills == 20, f"the sweep finished before 20 kills ({kills} after {attempts} starts)"
    final = _start(["run", str(path), "--results", str(results)])
    assert final.wait(timeout=600) == 0, final.stderr.read()
    _assert_exactly_once(results, expected)
    print(f"kill drill: {kills} SIGKILLs ({mid_run} while a run was claimed and training) in {attempts} starts; "
          f"{len(expected)} runs recorded once each, losses equal to the uninterrupted sweep")


@pytest.mark.slow
def test_four_concurrent_sweep_processes_train_each_run_exactly_once(sweep_file, tmp_path):
    import re

    path = sweep_file({"budgets": {"tokens": [4096, 6144, 8192, 10240, 12288, 14336]}})
    procs = [_start(["run", str(path), "--results", str(tmp_path / "shared")]) for _ in range(4)]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outputs]
    trained = [int(re.search(r"trained (\d+)", out).group(1)) for out, _ in outputs]
    assert sum(trained) == 6, trained  # a run trained twice would count twice; a lost one not at all
    run_sweep(load_sweep(path), tmp_path / "reference", options=QUIET)
    _assert_exactly_once(tmp_path / "shared", {r["run_id"]: r for r in load_results(tmp_path / "reference" / "tiny")
                                                .to_dict("records")})
