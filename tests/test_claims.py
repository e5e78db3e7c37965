"""Claims under the races of issue 10: short leases, release vs takeover, staleness from the owner's clock,
dead owners on this host, and result.json written only while the claim is ours."""
import json
import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

import harness.claims as claims
from harness.claims import Claim, ClaimLost, claim_state, is_stale
from harness.errors import ConfigError


def _rewrite(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.mark.parametrize("lease", [0, 5, 10])
def test_a_lease_within_two_heartbeats_is_refused_naming_the_option(lease):
    from harness.sweep import WorkerOptions

    with pytest.raises(ConfigError, match="^--lease: "):
        Claim(Path("unused"), "me", lease_s=lease)
    with pytest.raises(ConfigError, match="^--lease: "):
        WorkerOptions(lease_s=lease)
    WorkerOptions(lease_s=10.5)


def test_engines_refuse_a_short_lease_before_submitting():
    from harness.launch import ray_engine, slurm

    with pytest.raises(ConfigError, match="^--lease: "):
        slurm.validate(slurm.SlurmOptions(cluster="local", lease_s=0))
    with pytest.raises(ConfigError, match="^--lease: "):
        ray_engine.validate(ray_engine.RayOptions(lease_s=0))


def test_staleness_is_judged_from_the_owners_clock_in_the_file_not_the_mtime(tmp_path):
    owner = Claim(tmp_path / "run", "a", lease_s=60)
    assert owner.acquire()
    _rewrite(owner.path, host="elsewhere")  # not a local pid: only the deadline counts
    ancient = time.time() - 10_000
    os.utime(owner.path, (ancient, ancient))  # a file server whose clock is hours behind
    assert not is_stale(owner.path) and claim_state(owner.path.parent) == "running"
    _rewrite(owner.path, beat_at=time.time() - 61)  # the owner itself last beat 61 s ago (lease 60)
    assert is_stale(owner.path) and claim_state(owner.path.parent) == "stale"


def test_a_heartbeat_rewrites_the_deadline(tmp_path):
    owner = Claim(tmp_path / "run", "a", lease_s=1.0, heartbeat_s=0.1)
    assert owner.acquire()
    first = json.loads(owner.path.read_text())["beat_at"]
    time.sleep(0.15)
    owner.heartbeat()
    assert json.loads(owner.path.read_text())["beat_at"] > first


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_claim_of_a_dead_process_on_this_host_is_free_at_once(tmp_path):
    owner = Claim(tmp_path / "run", "a", lease_s=300)
    assert owner.acquire()
    assert claim_state(owner.path.parent) == "running"  # our own pid: alive
    _rewrite(owner.path, pid=_dead_pid())
    assert claim_state(owner.path.parent) == "stale"
    assert Claim(tmp_path / "run", "b", lease_s=300).acquire()


def test_a_dead_pid_on_another_host_proves_nothing(tmp_path):
    owner = Claim(tmp_path / "run", "a", lease_s=300)
    assert owner.acquire()
    _rewrite(owner.path, pid=_dead_pid(), host="not-" + socket.gethostname())
    assert claim_state(owner.path.parent) == "running"
    assert not Claim(tmp_path / "run", "b", lease_s=300).acquire()


def test_release_never_removes_the_claim_of_a_worker_that_took_over_meanwhile(tmp_path, monkeypatch):
    slow = Claim(tmp_path / "run", "slow", lease_s=300)
    assert slow.acquire()
    _rewrite(slow.path, beat_at=time.time() - 3600, host="elsewhere")  # it looks dead to others
    taker = Claim(tmp_path / "run", "taker", lease_s=300)
    real_read, thread = claims._read_claim, threading.Thread(target=taker.acquire)

    def read_then_let_a_takeover_run(path):
        content = real_read(path)
        if not thread.is_alive() and thread.ident is None:
            thread.start()  # the takeover happens right between release's read and its unlink ...
            thread.join(1.0)  # ... unless release holds the lock that takeovers need
        return content

    monkeypatch.setattr(claims, "_read_claim", read_then_let_a_takeover_run)
    slow.release()
    thread.join(10)
    assert json.loads(taker.path.read_text())["token"] == taker.token


def test_result_json_is_not_written_once_the_claim_is_lost(sweep_file, tmp_path, monkeypatch):
    from harness.config import load_sweep
    from harness.plan import expand
    from harness.sweep import WorkerOptions, run_one
    from harness.train import TrainOptions

    [spec] = expand(load_sweep(sweep_file()))
    run_dir = tmp_path / "tiny" / spec.run_id
    real_kept_alive = Claim.kept_alive

    @contextmanager
    def thief_at_the_last_step(self):
        calls = []
        with real_kept_alive(self) as check:
            def steal_unnoticed():  # after the last step another worker takes the run over, unnoticed so far
                check()
                calls.append(1)
                if len(calls) == spec.steps:
                    _rewrite(self.path, token="someone-else")
            yield steal_unnoticed

    monkeypatch.setattr(Claim, "kept_alive", thief_at_the_last_step)
    state = run_one(spec, tmp_path / "tiny", "me", WorkerOptions(TrainOptions(progress=False)))
    assert state == "busy" and not (run_dir / "result.json").exists()
    assert json.loads((run_dir / "claim").read_text())["token"] == "someone-else"  # and left in place


def test_owned_checks_the_token_under_the_lock(tmp_path):
    mine = Claim(tmp_path / "run", "a", lease_s=60)
    assert mine.acquire()
    with mine.owned():
        pass
    _rewrite(mine.path, token="other")
    with pytest.raises(ClaimLost):
        with mine.owned():
            pass


def test_under_ddp_every_rank_stops_when_rank_0_loses_the_claim(sweep_file, tmp_path):
    """torchrun, 2 processes over gloo: a thief takes the claim mid-run; both ranks stop ('busy'), none hangs."""
    from harness.config import load_sweep
    from harness.plan import expand
    from tests.conftest import REPO

    [spec] = expand(load_sweep(sweep_file({"budgets": {"tokens": [256 * 4000]},
                                           "training": {"checkpoint_interval": 20}})))
    spec_file, root = tmp_path / "spec.json", tmp_path / "results" / "tiny"
    spec_file.write_text(json.dumps(spec.model_dump(mode="json")))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    ranks = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                              __file__, str(spec_file), str(root)], env=env, cwd=REPO, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    claim, deadline = root / spec.run_id / "claim", time.time() + 240
    while time.time() < deadline and not (root / spec.run_id / "checkpoint.pt").exists():
        time.sleep(0.05)
    from filelock import FileLock

    with FileLock(str(claim.with_name("claim.takeover.lock"))):  # a takeover, as Claim.acquire does it
        _rewrite(claim, token="thief", beat_at=time.time() + 3600)
    out, err = ranks.communicate(timeout=240)
    assert ranks.returncode == 0, err[-3000:]
    assert out.count("state: busy") == 2, out + err[-3000:]
    assert not (root / spec.run_id / "result.json").exists()
    assert json.loads(claim.read_text())["token"] == "thief"


if __name__ == "__main__":  # what each DDP rank runs
    from harness.plan import RunSpec
    from harness.sweep import WorkerOptions, run_one
    from harness.train import TrainOptions

    run = RunSpec.model_validate_json(Path(sys.argv[1]).read_text())
    options = WorkerOptions(TrainOptions(progress=False), lease_s=1.0, heartbeat_s=0.2)
    print("state:", run_one(run, Path(sys.argv[2]), "ddp-owner", options), flush=True)
    import torch.distributed as dist

    if dist.is_initialized():  # leave together: a rank exiting mid-teardown can abort in gloo ("terminate called")
        dist.barrier()
        dist.destroy_process_group()
