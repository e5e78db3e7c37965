"""One run exactly once: skip it if finished, else claim it, train under the claim, record a crash, release.

Under a multi-process (DDP) launch rank 0 holds the claim and every rank follows its decision. Used by the local
sweep (:mod:`harness.sweep`, which re-exports these names), cooldown branching and the SLURM/Ray launchers.
"""
from __future__ import annotations

import traceback
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

from harness.claims import Claim, ClaimLost
from harness.errors import ConfigError
from harness.plan import RunSpec
from harness.store import atomic_write_json, read_result, spec_problem

if TYPE_CHECKING:
    from harness.sweep import WorkerOptions

FAILURE_FILE = "failure.json"


def check_stored_spec(run_dir: Path, spec: RunSpec) -> None:
    """Refuse a run directory that is a symlink or whose stored spec no longer produces its run id."""
    if run_dir.is_symlink():
        raise ConfigError(f"{run_dir}: run directory is a symlink; refusing to write records through it "
                          "(move it away)")
    problem = spec_problem(run_dir)  # run_dir is root / spec.run_id: a sound stored spec is this spec
    if problem:
        raise ConfigError(f"{problem}; move the directory away or restore the spec")


def _decide_here(run_dir: Path, claim: Claim, reusable: Callable[[], Optional[Path]]) -> str:
    if read_result(run_dir) is not None:
        return "skipped"
    if not claim.acquire():
        return "busy"
    if read_result(run_dir, quarantine=True) is not None:  # finished between our check and our claim
        claim.release()
        return "skipped"
    _remove_torn_temp_files(run_dir)
    return "reuse" if reusable() is not None else "go"


def _decide(run_dir: Path, claim: Claim, main: bool, processes: int, reusable: Callable[[], Optional[Path]]) -> str:
    """'go', 'reuse', 'skipped' or 'busy': decided by rank 0 and shared with every rank of a DDP launch."""
    if processes == 1:
        return _decide_here(run_dir, claim, reusable)
    from accelerate.utils import broadcast_object_list

    decision = [_decide_here(run_dir, claim, reusable) if main else None]
    broadcast_object_list(decision, from_process=0)
    return decision[0]


def every_rank_learns(check: Optional[Callable[[], None]], every: int = 8) -> Callable[[], None]:
    """A per-step check for all ranks of a DDP run: every ``every`` steps rank 0 runs ``check`` (its claim's)
    and broadcasts the verdict, so all ranks raise ClaimLost at the same step instead of hanging in a collective."""
    import torch
    from accelerate import PartialState
    from accelerate.utils import broadcast

    calls = [0]

    def shared() -> None:
        calls[0] += 1
        if calls[0] % every:
            return
        flag = torch.zeros(1, device=PartialState().device)
        if check is not None:
            try:
                check()
            except ClaimLost:
                flag += 1
        if broadcast(flag, from_process=0).item():
            raise ClaimLost("the run's claim was taken over by another worker (seen by rank 0)")

    return shared


def _train_held(spec: RunSpec, run_dir: Path, claim: Claim, main: bool, processes: int,
                options: WorkerOptions) -> None:
    """Train under the claim: rank 0 renews it; the final result.json is written only while it is ours."""
    from harness.train import train

    if not main:
        train(spec, run_dir, replace(options.train, heartbeat=every_rank_learns(None)))
        return
    with claim.kept_alive() as still_ours:
        beat = every_rank_learns(still_ours) if processes > 1 else still_ours
        train(spec, run_dir, replace(options.train, heartbeat=beat, commit=claim.owned))


def _reusable_branch(spec: RunSpec, run_dir: Path, options: WorkerOptions) -> Optional[Path]:
    """A finished branch equal to ``spec`` but for its trunk, on the corpus this run would train on, or None
    (harness.continuation: a sweep extended by a longer budget keeps its branches)."""
    from harness.branching import corpus_fingerprint
    from harness.continuation import equal_branch_record

    root = run_dir.parent
    if equal_branch_record(spec, root) is None:  # the usual case, without opening the corpus
        return None
    return equal_branch_record(spec, root, corpus_fingerprint(spec, root, options))


def run_one(spec: RunSpec, root: Path, owner: str, options: WorkerOptions) -> str:
    """Run one spec if it is neither finished nor claimed: 'skipped', 'busy', 'trained', 'reused' (a branch given
    its equal's record, harness.continuation) or 'failed'.

    Under a multi-process launch (accelerate launch / torchrun), rank 0 holds the claim and the other
    ranks follow its decision, so one run trains on all processes exactly once; a lost claim stops all ranks.
    """
    import torch
    from accelerate import PartialState

    run_dir, state = root / spec.run_id, PartialState(cpu=not torch.cuda.is_available())
    main = state.is_main_process
    check_stored_spec(run_dir, spec)
    claim = Claim(run_dir, owner, lease_s=options.lease_s, heartbeat_s=options.heartbeat_s)
    try:
        found: dict = {}   # rank 0's find, kept for the copy

        def reusable() -> Optional[Path]:
            found["source"] = _reusable_branch(spec, run_dir, options)
            return found["source"]

        decision = _decide(run_dir, claim, main, state.num_processes, reusable)
        if decision == "reuse":
            if main:
                from harness.continuation import reuse_equal_branch

                reuse_equal_branch(spec, run_dir, found["source"])
                (run_dir / FAILURE_FILE).unlink(missing_ok=True)
            return "reused"
        if decision != "go":
            return decision
        _train_held(spec, run_dir, claim, main, state.num_processes, options)
        (run_dir / FAILURE_FILE).unlink(missing_ok=True)
        return "trained"
    except ClaimLost:
        return "busy"
    except OSError as exc:  # disk full, unwritable: stop the sweep with one line naming where
        if exc.filename is None:
            raise OSError(exc.errno, f"{exc.strerror or exc} while writing this run (free space, then rerun: "
                          "finished runs are kept)", str(run_dir)) from exc
        raise
    except (KeyboardInterrupt, SystemExit, ConfigError):
        raise
    except Exception as exc:  # a crashed run is recorded and retried on the next invocation
        if main:
            atomic_write_json(run_dir / FAILURE_FILE, {"run_id": spec.run_id, "error": f"{type(exc).__name__}: {exc}",
                                                       "traceback": traceback.format_exc()[-4000:]})
        return "failed"
    finally:  # also on Ctrl-C and SIGTERM (Terminated): the checkpoint stays, the claim goes
        if main:
            claim.release()


def _remove_torn_temp_files(run_dir: Path) -> None:
    """Delete temp files a killed writer left behind (safe: we hold the run's claim)."""
    for tmp in run_dir.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
