"""Execute a plan: skip finished runs, claim each remaining run exactly once, run local workers."""
from __future__ import annotations

import multiprocessing
import os
import sys
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

import pandas as pd
from tqdm.auto import tqdm

from harness.claims import Claim, ClaimLost, claim_state, new_owner_id
from harness.errors import ConfigError
from harness.config import SweepConfig
from harness.plan import RunSpec, expand, make_run_id
from harness.store import SPEC_FILE, atomic_write_json, read_json, read_result, sweep_dir
from harness.train import TrainOptions, train

FAILURE_FILE = "failure.json"


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker runs (none of it changes results)."""

    train: TrainOptions = field(default_factory=TrainOptions)
    lease_s: float = 300.0  # a claim unrenewed this long is taken over
    threads: int = 0  # torch threads per worker; 0 leaves torch's default
    gpu: Optional[str] = None  # CUDA_VISIBLE_DEVICES for this worker


@dataclass
class SweepOutcome:
    """What one worker (or the whole sweep) did."""

    trained: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    lost_workers: int = 0  # worker processes that died (killed) before reporting

    def merge(self, other: "SweepOutcome") -> "SweepOutcome":
        """Combine two outcomes."""
        return SweepOutcome(self.trained + other.trained, self.skipped + other.skipped,
                            self.busy + other.busy, self.failed + other.failed,
                            self.lost_workers + other.lost_workers)


def check_stored_spec(run_dir: Path, spec: RunSpec) -> None:
    """Refuse a run directory whose stored spec no longer produces its run id (never reuse it silently)."""
    stored = read_json(run_dir / SPEC_FILE)
    if stored is None:
        return
    try:
        stored_id = make_run_id(RunSpec.model_validate({**stored, "run_id": ""}))
    except ValueError:
        stored_id = None
    if stored_id != run_dir.name or stored.get("run_id") != spec.run_id:
        raise ConfigError(f"{run_dir / SPEC_FILE}: stored spec does not match run id {run_dir.name}; "
                          "move the directory away or restore the spec")


def _decide_here(run_dir: Path, claim: Claim) -> str:
    if read_result(run_dir) is not None:
        return "skipped"
    if not claim.acquire():
        return "busy"
    if read_result(run_dir, quarantine=True) is not None:  # finished between our check and our claim
        claim.release()
        return "skipped"
    _remove_torn_temp_files(run_dir)
    return "go"


def _decide(run_dir: Path, claim: Claim, main: bool, processes: int) -> str:
    """'go', 'skipped' or 'busy': decided by rank 0 and shared with every rank of a DDP launch."""
    if processes == 1:
        return _decide_here(run_dir, claim)
    from accelerate.utils import broadcast_object_list

    decision = [_decide_here(run_dir, claim) if main else None]
    broadcast_object_list(decision, from_process=0)
    return decision[0]


def run_one(spec: RunSpec, root: Path, owner: str, options: WorkerOptions) -> str:
    """Run one spec if it is neither finished nor claimed: 'skipped', 'busy', 'trained' or 'failed'.

    Under a multi-process launch (accelerate launch / torchrun), rank 0 holds the claim and the other
    ranks follow its decision, so one run trains on all processes exactly once.
    """
    import torch
    from accelerate import PartialState

    run_dir, state = root / spec.run_id, PartialState(cpu=not torch.cuda.is_available())
    main = state.is_main_process
    check_stored_spec(run_dir, spec)
    claim = Claim(run_dir, owner, lease_s=options.lease_s)
    decision = _decide(run_dir, claim, main, state.num_processes)
    if decision != "go":
        return decision
    try:
        if main:
            with claim.kept_alive() as still_ours:
                train(spec, run_dir, replace(options.train, heartbeat=still_ours))
        else:
            train(spec, run_dir, options.train)
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
    finally:
        if main:
            claim.release()


def _remove_torn_temp_files(run_dir: Path) -> None:
    """Delete temp files a killed writer left behind (safe: we hold the run's claim)."""
    for tmp in run_dir.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def _apply_worker_env(options: WorkerOptions) -> None:
    if options.gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = options.gpu
    if options.threads:
        import torch

        torch.set_num_threads(options.threads)


def worker_loop(specs: list[RunSpec], root: Path, options: WorkerOptions) -> SweepOutcome:
    """Go through the specs in order, training every run nobody has finished or claimed."""
    _apply_worker_env(options)
    if any(s.branch_of for s in specs):  # cooldown branching: branches wait for their trunk's branch points
        from harness.branching import branch_worker_loop

        return branch_worker_loop(specs, root, options)
    owner, outcome = new_owner_id(), SweepOutcome()
    bar = tqdm(specs, desc=f"sweep {root.name}", unit="run", position=0,
               disable=None if options.train.progress else True)
    for spec in bar:
        getattr(outcome, run_one(spec, root, owner, options)).append(spec.run_id)
        bar.set_postfix(trained=len(outcome.trained), done_before=len(outcome.skipped), failed=len(outcome.failed))
    return outcome


def _worker_entry(conn, specs: list[RunSpec], root: Path, options: WorkerOptions) -> None:
    try:
        conn.send(worker_loop(specs, root, options))
    except (ConfigError, OSError) as exc:  # the parent reports it as one line
        conn.send(exc)
    conn.close()


def _run_processes(jobs: list[tuple]) -> SweepOutcome:
    """One spawned process per job; a worker killed mid-sweep is counted, never waited on forever."""
    ctx, started = multiprocessing.get_context("spawn"), []
    for job in jobs:
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker_entry, args=(child, *job))
        proc.start()
        child.close()  # so the parent sees EOF when the worker dies
        started.append((proc, parent))
    total, error = SweepOutcome(), None
    for proc, conn in started:
        try:
            received = conn.recv()
            if isinstance(received, Exception):
                error = received
            else:
                total = total.merge(received)
        except EOFError:
            total.lost_workers += 1
        proc.join()
        if proc.exitcode:
            print(f"warning: sweep worker {proc.pid} died (exit {proc.exitcode}); its run stays claimed "
                  "until its lease expires, then a rerun redoes it", file=sys.stderr)
    if error is not None:
        raise error
    return total


def worker_plan(workers: int, cpu_count: int, gpus: int) -> list[tuple[int, Optional[str]]]:
    """(threads, CUDA_VISIBLE_DEVICES) per worker: one GPU each when GPUs exist, else split the cores."""
    if gpus:
        return [(max(1, cpu_count // workers), str(i % gpus)) for i in range(workers)]
    return [(max(1, cpu_count // workers), None) for _ in range(workers)]


def run_sweep(sweep: SweepConfig, results_root: Path, workers: int = 1, options: WorkerOptions = WorkerOptions(),
              gpus: int = 0) -> SweepOutcome:
    """Run every pending run of a sweep with ``workers`` local processes (1: in this process)."""
    specs = expand(sweep)
    root = sweep_dir(results_root, sweep.name)
    for spec in specs:
        check_stored_spec(root / spec.run_id, spec)
    fingerprint = prepare_data(sweep, Path(results_root), options.train)
    check_corpus_unchanged(root, specs, fingerprint)
    root.mkdir(parents=True, exist_ok=True)
    if workers <= 1:
        return worker_loop(specs, root, options)
    plans = worker_plan(workers, os.cpu_count() or 1, gpus)
    jobs = [(specs, root, replace(options, threads=t, gpu=g, train=replace(options.train, progress=False)))
            for t, g in plans]
    return _run_processes(jobs)


def prepare_data(sweep: SweepConfig, results_root: Path, options: TrainOptions) -> str:
    """Build (or open) the sweep's token cache and check its eval set once, before any run is claimed.

    Data mistakes (missing path or column, a test split smaller than eval_tokens, an unloadable tokenizer)
    surface here as one ConfigError, and workers then share the finished cache instead of racing to build it.
    """
    from harness.data.corpus import load_corpus

    cache_root = options.cache_root or Path(results_root) / ".cache" / "tokens"
    try:
        corpus = load_corpus(sweep.data, cache_root)
    except OSError as exc:  # disk full while caching: one line naming where
        if exc.filename is None:
            raise OSError(exc.errno, f"{exc.strerror or exc} while building the token cache", str(cache_root)) from exc
        raise
    corpus.eval_sequences(sweep.data.context_length, sweep.data.eval_tokens)
    return corpus.fingerprint


def check_corpus_unchanged(root: Path, specs: list[RunSpec], fingerprint: str) -> None:
    """Refuse to reuse finished runs trained on other tokens than the corpus now gives (edited files)."""
    for spec in specs:
        result = read_json(root / spec.run_id / "result.json") or {}
        stored = result.get("corpus_fingerprint")
        if stored and stored != fingerprint:
            raise ConfigError(f"data: the corpus changed since {spec.run_id} was trained (fingerprint {stored} → "
                              f"{fingerprint}); restore it, or move {root} away to retrain")


def sweep_status(sweep: SweepConfig, results_root: Path, lease_s: float = 300.0) -> pd.DataFrame:
    """One row per planned run: run_id and state (done, diverged, running, failed, pending)."""
    root = sweep_dir(results_root, sweep.name)
    rows = []
    for spec in expand(sweep):
        run_dir = root / spec.run_id
        result = read_result(run_dir) if run_dir.exists() else None
        if result is not None:
            state = result.get("status", "done")
        elif claim_state(run_dir, lease_s) == "running":
            state = "running"
        elif (run_dir / FAILURE_FILE).exists():
            state = "failed"
        else:
            state = "pending"
        rows.append({"run_id": spec.run_id, "state": state, "N_total": spec.N_total, "D": spec.tokens})
    return pd.DataFrame(rows, columns=["run_id", "state", "N_total", "D"])
