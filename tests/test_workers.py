"""Many runs on one machine: claims under real process races, K local workers, a worker killed with -9."""
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.claims import Claim, ClaimLost
from tests.conftest import REPO

FOUR_RUNS = {"budgets": {"tokens": [4096, 6144, 8192, 10240]}}


def _race(run_dir: str, lease_s: float, start_at: float, outcomes, all_tried) -> None:
    while time.time() < start_at:
        pass
    won = Claim(Path(run_dir), f"racer-{os.getpid()}", lease_s=lease_s).acquire()
    outcomes.put(won)
    # A winner stays alive until every racer has tried: a claim whose owner died on this host is free to take
    # (correctly), so a winner that exited early would let a late racer take over -- a second winner in CI.
    all_tried.wait(60)


def _race_winners(run_dir: Path, lease_s: float, racers: int = 6) -> int:
    ctx = multiprocessing.get_context("spawn")
    outcomes, all_tried, start_at = ctx.Queue(), ctx.Event(), time.time() + 3.0
    procs = [ctx.Process(target=_race, args=(str(run_dir), lease_s, start_at, outcomes, all_tried))
             for _ in range(racers)]
    for p in procs:
        p.start()
    won = [outcomes.get(timeout=60) for _ in procs]
    all_tried.set()
    for p in procs:
        p.join(30)
    return sum(won)


def test_exactly_one_process_wins_a_fresh_claim(tmp_path):
    assert _race_winners(tmp_path / "run", lease_s=300) == 1


def age_claim(path: Path, seconds: float) -> None:
    """Make a claim look as if its owner (on another host) last beat ``seconds`` ago by its own clock."""
    content = json.loads(path.read_text())
    path.write_text(json.dumps({**content, "host": "elsewhere", "beat_at": content["beat_at"] - seconds}))


def test_exactly_one_process_takes_over_a_stale_claim(tmp_path):
    dead = Claim(tmp_path / "run", "dead-worker", lease_s=300)
    assert dead.acquire()
    age_claim(dead.path, 3600)
    assert _race_winners(tmp_path / "run", lease_s=60) == 1
    with pytest.raises(ClaimLost):
        dead._last_beat = 0
        dead.heartbeat()


def test_same_owner_takes_its_claim_back_and_the_old_incarnation_loses(tmp_path):
    first = Claim(tmp_path / "run", "submitit:123_4:run", lease_s=300)
    assert first.acquire()
    assert not Claim(tmp_path / "run", "someone-else", lease_s=300).acquire()
    again = Claim(tmp_path / "run", "submitit:123_4:run", lease_s=300)
    assert again.acquire()
    first._last_beat = 0
    with pytest.raises(ClaimLost):
        first.heartbeat()
    first.release()  # must not remove the new incarnation's claim
    assert again.path.exists()


def test_two_workers_train_each_run_once_with_the_sequential_losses(sweep_file, tmp_path):
    """--workers 2 (two 1-thread processes) and --workers 1 in a 2-thread process: bit-identical losses, since every
    CPU run trains with its spec's cpu_threads (1), not with what the layout gives its process."""
    from harness import load_results
    from harness.config import load_sweep
    from harness.plan import expand
    from harness.sweep import WorkerOptions, run_sweep
    from harness.train import TrainOptions

    sweep = load_sweep(sweep_file(FOUR_RUNS))
    quiet = WorkerOptions(TrainOptions(progress=False))
    parallel = run_sweep(sweep, tmp_path / "par", workers=2, options=quiet)
    ids = [s.run_id for s in expand(sweep)]
    assert sorted(parallel.trained) == sorted(ids) and parallel.lost_workers == 0
    import torch

    threads = torch.get_num_threads()
    try:  # the old --workers 1 layout: one process with 2 threads
        run_sweep(sweep, tmp_path / "seq", options=WorkerOptions(quiet.train, threads=2))
        assert torch.get_num_threads() == 2  # the process keeps its own count after the runs
    finally:
        torch.set_num_threads(threads)
    a, b = load_results(tmp_path / "par" / "tiny"), load_results(tmp_path / "seq" / "tiny")
    assert list(a["run_id"]) == list(b["run_id"]) and list(a["loss"]) == list(b["loss"])
    records = [json.loads(r.read_text()) for r in tmp_path.glob("*/tiny/*/result.json")]
    assert len(records) == 8 and {r["threads"] for r in records} == {1}


def _children(pid: int) -> list:
    import psutil

    return [c for c in psutil.Process(pid).children() if "python" in c.name().lower()]


def _cli(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "WANDB_MODE": "offline"}
    return subprocess.Popen([sys.executable, "-m", "harness", *args], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_killing_one_worker_neither_hangs_nor_loses_runs(sweep_file, tmp_path):
    path = sweep_file({"budgets": {"tokens": [256 * 300, 256 * 40, 256 * 50]},
                       "training": {"checkpoint_interval": 20}})
    results = tmp_path / "results"
    sweep = _cli(["run", str(path), "--results", str(results), "--workers", "2", "--no-wandb"])
    deadline = time.time() + 120
    while time.time() < deadline and not list(results.glob("tiny/*/checkpoint.pt")):
        time.sleep(0.05)
    claimed = [json.loads(c.read_text())["owner"] for c in results.glob("tiny/*/claim")]
    victims = [c for c in _children(sweep.pid) if any(f":{c.pid}:" in o for o in claimed)]
    assert victims, "no worker holds a claim yet"
    victims[0].send_signal(signal.SIGKILL)
    out, err = sweep.communicate(timeout=180)
    assert "died" in err
    rerun = _cli(["run", str(path), "--results", str(results), "--workers", "2", "--no-wandb"])  # dead owner: free
    out, err = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, err
    records = list(results.glob("tiny/*/result.json"))
    assert len(records) == 3 and len({json.loads(r.read_text())["run_id"] for r in records}) == 3
    assert not list(results.glob("tiny/*/claim")) and not list(results.glob("tiny/*/.*.tmp"))


def test_lease_is_renewed_in_the_background_and_loss_is_noticed(tmp_path):
    import threading
    import time

    import pytest

    from harness.claims import Claim, ClaimLost

    mine = Claim(tmp_path / "run", owner="a", lease_s=0.6, heartbeat_s=0.25)
    real_heartbeat, frozen = mine.heartbeat, threading.Lock()

    def heartbeat_unless_frozen():
        with frozen:
            real_heartbeat()

    mine.heartbeat = heartbeat_unless_frozen
    assert mine.acquire()
    with mine.kept_alive() as still_ours:
        time.sleep(1.0)  # longer than the lease with no step-level call: the thread keeps it fresh
        assert not Claim(tmp_path / "run", owner="b", lease_s=0.6, heartbeat_s=0.25).acquire()
        still_ours()
        with frozen:  # the heartbeat thread stalls (no beat can run, or be half done, while held) ...
            age_claim(mine.path, 3600)  # ... long enough for the lease to expire
            thief = Claim(tmp_path / "run", owner="b", lease_s=0.6, heartbeat_s=0.25)
            assert thief.acquire()
        time.sleep(0.6)
        with pytest.raises(ClaimLost):
            still_ours()


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_stopping_a_two_worker_sweep_stops_the_workers_quietly_and_frees_their_runs(sweep_file, tmp_path, sig, code):
    import psutil

    path = sweep_file({"budgets": {"tokens": [256 * 4000, 256 * 4200]}, "training": {"checkpoint_interval": 20}})
    results = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": str(REPO), "WANDB_MODE": "offline"}
    sweep = subprocess.Popen([sys.executable, "-m", "harness", "run", str(path), "--results", str(results),
                              "--workers", "2", "--no-wandb"], env=env, cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True,
                             # a terminal's foreground job: pytest started in the background (`cmd &` in a script)
                             # inherits SIGINT ignored, as would the sweep, which would then rightly not stop
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 240
    while time.time() < deadline and len(list(results.glob("tiny/*/checkpoint.pt"))) < 2:
        time.sleep(0.05)
    workers = _children(sweep.pid)
    assert len(workers) >= 2 and len(list(results.glob("tiny/*/claim"))) == 2
    if sig == signal.SIGINT:
        os.killpg(sweep.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole foreground group
    else:
        sweep.send_signal(signal.SIGTERM)  # kill/scancel: the parent alone
    out, err = sweep.communicate(timeout=180)
    lines = [line for line in err.splitlines() if line.strip()]
    assert sweep.returncode == code and "Traceback" not in err and len(lines) == 1, err
    _, alive = psutil.wait_procs(workers, timeout=15)  # a worker may still be in its last exit steps
    assert not [w for w in alive if w.status() != psutil.STATUS_ZOMBIE], alive
    assert not list(results.glob("tiny/*/claim")) and len(list(results.glob("tiny/*/checkpoint.pt"))) == 2


def test_workers_auto_uses_every_core_one_thread_each():
    """CPU: cores // cpu_threads processes (at most one per run), each with the runs' own thread count."""
    from types import SimpleNamespace

    from harness.sweep import auto_workers, worker_plan

    nine, one = [object()] * 9, [object()]
    assert auto_workers(nine, cpu_count=2, gpus=0) == 2 and worker_plan(2, 2, 0) == [(1, None), (1, None)]
    assert auto_workers(one, cpu_count=2, gpus=0) == 1 and worker_plan(1, 2, 0) == [(1, None)]  # no spare threads
    two_threads = [SimpleNamespace(cpu_threads=2)] * 9
    assert auto_workers(two_threads, cpu_count=2, gpus=0) == 1 and auto_workers(two_threads, cpu_count=16, gpus=0) == 8
    assert auto_workers(two_threads, cpu_count=1, gpus=0) == 1 and worker_plan(8, 16, 0, 2) == [(2, None)] * 8
    assert auto_workers(nine, cpu_count=16, gpus=4) == 4 and auto_workers(one, cpu_count=16, gpus=4) == 1
    assert [g for _, g in worker_plan(4, 16, 4)] == ["0", "1", "2", "3"]
    assert [t for t, _ in worker_plan(4, 16, 4, 2)] == [4] * 4  # GPU: cores split as before, cpu_threads unused


def test_cli_workers_auto_is_passed_to_the_sweep():
    from harness.cli import _parse_workers

    assert _parse_workers("auto")[0] == "auto" and _parse_workers("3")[0] == 3


def test_cpu_threads_is_a_property_of_the_run_not_of_the_process(sweep_file, tmp_path):
    """A run trains with its spec's cpu_threads whatever its process has (bit-identical losses, threads on record);
    training.cpu_threads: 2 is a different run (id) trained with 2 threads; --threads overrides it, on record."""
    import torch
    from harness.config import load_sweep
    from harness.plan import expand
    from harness.train import TrainOptions, train

    spec = expand(load_sweep(sweep_file({"budgets": {"tokens": [4096]}})))[0]
    two = expand(load_sweep(sweep_file({"budgets": {"tokens": [4096]}, "training": {"cpu_threads": 2}})))[0]
    assert spec.cpu_threads == 1 and two.cpu_threads == 2 and two.run_id != spec.run_id
    quiet, before, results = TrainOptions(progress=False), torch.get_num_threads(), {}
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results[threads] = train(spec, tmp_path / f"t{threads}" / "s" / spec.run_id, quiet)
            assert torch.get_num_threads() == threads  # restored after the run
        torch.set_num_threads(1)
        results["two"] = train(two, tmp_path / "two" / "s" / two.run_id, quiet)
        results["override"] = train(spec, tmp_path / "o" / "s" / spec.run_id, TrainOptions(progress=False,
                                                                                           threads_override=2))
    finally:
        torch.set_num_threads(before)
    assert results[1]["loss"] == results[2]["loss"] and results[1]["threads"] == results[2]["threads"] == 1
    assert results[1]["threads_override"] is None
    assert results["two"]["threads"] == 2 and results["override"]["threads"] == 2
    assert results["override"]["threads_override"] == 2 and results["override"]["loss"] == results["two"]["loss"]
    assert abs(results[1]["loss"] - results["two"]["loss"]) < 1e-3  # float summation order only


def test_cli_threads_override_warns_in_one_line_and_is_on_record(sweep_file, tmp_path, capsys):
    import torch
    from harness.cli import main

    path, results, before = sweep_file({"budgets": {"tokens": [4096]}}), tmp_path / "results", torch.get_num_threads()
    try:
        main(["run", str(path), "--results", str(results), "--no-wandb", "--threads", "2"])
    finally:
        torch.set_num_threads(before)
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning")]
    assert len(err) == 1 and "--threads 2 overrides training.cpu_threads=1" in err[0]
    [record] = [json.loads(r.read_text()) for r in results.glob("tiny/*/result.json")]
    assert record["threads"] == 2 and record["threads_override"] == 2
