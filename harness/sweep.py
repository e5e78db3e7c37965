"""Execute a plan: skip finished runs, claim each remaining run exactly once, run local workers.

torch and the training loop are imported only where a run trains, so ``sweep_status`` stays light.
SIGTERM (kill, a time-out, scancel) is handled like Ctrl-C: the run's claim is released and its last
checkpoint kept, so a rerun resumes at once.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional, Union

import pandas as pd
from tqdm.auto import tqdm

from harness.claimed_run import FAILURE_FILE, check_stored_spec, every_rank_learns, run_one  # noqa: F401 (re-exported)
from harness.claims import HEARTBEAT_S, check_lease, claim_state, new_owner_id
from harness.errors import ConfigError
from harness.config import SweepConfig
from harness.plan import RunSpec, expand, planned_runs
from harness.store import read_json, read_result, sweep_dir
from harness.threads import cpu_processes, plan_cpu_threads

if TYPE_CHECKING:
    from harness.train import TrainOptions

def _default_train_options() -> "TrainOptions":
    from harness.train import TrainOptions

    return TrainOptions()


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker runs (none of it changes results)."""

    train: "TrainOptions" = field(default_factory=_default_train_options)
    lease_s: float = 300.0  # a claim not renewed within this many seconds (owner's clock) is taken over
    threads: int = 0  # torch threads per worker process; 0 leaves torch's default (a CPU run trains with its cpu_threads)
    gpu: Optional[str] = None  # CUDA_VISIBLE_DEVICES for this worker
    heartbeat_s: float = HEARTBEAT_S  # seconds between claim renewals; the lease must exceed two of them

    def __post_init__(self) -> None:
        check_lease(self.lease_s, self.heartbeat_s)


class Terminated(SystemExit):
    """SIGTERM arrived: unwinds like Ctrl-C (claims released, checkpoints kept); exit status 143."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated(128 + signum)


@contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread instead of killing outright."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class SweepOutcome:
    """What one worker (or the whole sweep) did."""

    trained: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)  # branches given an equal finished record (harness.continuation)
    lost_workers: int = 0  # worker processes that died (killed) before reporting

    def merge(self, other: "SweepOutcome") -> "SweepOutcome":
        """Combine the outcomes of two sibling workers. A run one found busy, or already done, because the other
        trained or failed it counts once, where it was dealt with: 'already done' and 'busy elsewhere' mean
        before this sweep and outside it."""
        trained, failed, reused = self.trained + other.trained, self.failed + other.failed, self.reused + other.reused
        dealt = set(trained + failed + reused)
        skipped = list(dict.fromkeys(r for r in self.skipped + other.skipped if r not in dealt))
        handled = set(trained + failed + reused + skipped)
        busy = list(dict.fromkeys(r for r in self.busy + other.busy if r not in handled))
        return SweepOutcome(trained, skipped, busy, failed, reused, self.lost_workers + other.lost_workers)


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

        with sigterm_unwinds():
            return branch_worker_loop(specs, root, options)
    owner, outcome = new_owner_id(), SweepOutcome()
    bar = tqdm(specs, desc=f"sweep {root.name}", unit="run", position=0,
               disable=None if options.train.progress else True)
    with sigterm_unwinds():
        for spec in bar:
            getattr(outcome, run_one(spec, root, owner, options)).append(spec.run_id)
            bar.set_postfix(trained=len(outcome.trained), done_before=len(outcome.skipped), failed=len(outcome.failed))
    return outcome


def _worker_entry(conn, specs: list[RunSpec], root: Path, options: WorkerOptions) -> None:
    try:
        conn.send(worker_loop(specs, root, options))
    except (ConfigError, OSError) as exc:  # the parent reports it as one line
        conn.send(exc)
    except (KeyboardInterrupt, SystemExit):  # stopped by the parent: claims are released, leave quietly
        sys.exit(128 + signal.SIGTERM)
    conn.close()


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while starting workers: they inherit it, so Ctrl-C reaches the parent alone, which stops them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _stop_workers(procs: list, grace_s: float = 60.0) -> None:
    """SIGTERM every live worker (each releases its claim and exits), then wait; SIGKILL any still there."""
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(grace_s)
        if proc.is_alive():
            proc.kill()
            proc.join()


def _collect(started: list) -> SweepOutcome:
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
            print(f"warning: sweep worker {proc.pid} died (exit {proc.exitcode}); a rerun on this host takes its "
                  "run over at once (elsewhere after the lease) and resumes it", file=sys.stderr)
    if error is not None:
        raise error
    return total


def _run_processes(jobs: list[tuple]) -> SweepOutcome:
    """One spawned process per job; a worker killed mid-sweep is counted, never waited on forever.

    Ctrl-C or SIGTERM to this (parent) process stops the workers, which release their claims, then re-raises.
    """
    ctx, started = multiprocessing.get_context("spawn"), []
    try:
        with _sigint_ignored():
            for job in jobs:
                parent, child = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_worker_entry, args=(child, *job))
                proc.start()
                child.close()  # so the parent sees EOF when the worker dies
                started.append((proc, parent))
        return _collect(started)
    except (KeyboardInterrupt, SystemExit):
        _stop_workers([proc for proc, _ in started])
        raise


def worker_plan(workers: int, cpu_count: int, gpus: int, cpu_threads: int = 1) -> list[tuple[int, Optional[str]]]:
    """(threads, CUDA_VISIBLE_DEVICES) per worker: one GPU each when GPUs exist (the cores split between them),
    else ``cpu_threads`` each: the runs' own count (``training.cpu_threads``), which ``train`` uses anyway."""
    if gpus:
        return [(max(1, cpu_count // workers), str(i % gpus)) for i in range(workers)]
    return [(cpu_threads, None) for _ in range(workers)]


def auto_workers(specs: list[RunSpec], cpu_count: int, gpus: int) -> int:
    """How many local workers ``--workers auto`` starts for this plan.

    GPU: one per GPU (never more than there are runs). CPU: ``cores // cpu_threads`` processes (at most one per
    run); every run trains with its own ``training.cpu_threads`` anyway, so the layout never changes a loss. The
    default of 1 gives one single-thread process per core, also the fastest layout measured on 2 cores (two
    1-thread processes: 1.6x one 2-thread process at 0.1M parameters, 1.2x at 0.8M).
    """
    runs = max(1, len(specs))
    if gpus:
        return max(1, min(gpus, runs))
    return cpu_processes(cpu_count, plan_cpu_threads(specs), runs)


def run_sweep(sweep: SweepConfig, results_root: Path, workers: Union[int, str] = 1,
              options: Optional[WorkerOptions] = None, gpus: int = 0) -> SweepOutcome:
    """Run every pending run of a sweep with ``workers`` local processes (1: in this process; 'auto': see
    ``auto_workers``).

    Ctrl-C or SIGTERM stops it with one line on stderr: claims released, checkpoints kept for the rerun.
    """
    options = options or WorkerOptions()
    specs = expand(sweep)
    root = sweep_dir(results_root, sweep.name)
    for spec in specs:
        check_stored_spec(root / spec.run_id, spec)
    fingerprint = prepare_data(sweep, Path(results_root), options.train)
    check_corpus_unchanged(root, specs, fingerprint)
    root.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count() or 1
    if workers == "auto":
        pending = [s for s in specs if read_result(root / s.run_id) is None]
        workers = auto_workers(pending, cores, gpus)
        if workers == 1 and not options.threads:
            options = replace(options, threads=worker_plan(1, cores, gpus, plan_cpu_threads(specs))[0][0])
    try:
        with sigterm_unwinds():
            if workers <= 1:
                return worker_loop(specs, root, options)
            plans = worker_plan(workers, cores, gpus, plan_cpu_threads(specs))
            jobs = [(specs, root, replace(options, threads=t, gpu=g, train=replace(options.train, progress=False)))
                    for t, g in plans]
            return _run_processes(jobs)
    except (KeyboardInterrupt, Terminated) as exc:
        what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        print(f"{what}: claims released, checkpoints kept; rerun to resume {root}", file=sys.stderr)
        raise


def prepare_data(sweep: SweepConfig, results_root: Path, options: "TrainOptions") -> str:
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


def _pending_state(spec: RunSpec, root: Path) -> str:
    """'reusable' (a branch with an equal finished record), 'continues' (a trunk with an equal shorter one; see
    harness.continuation) or 'pending'."""
    from harness.continuation import equal_branch_record, shorter_trunk_point

    if spec.branch_of and equal_branch_record(spec, root) is not None:
        return "reusable"
    if spec.branch_steps and root.is_dir() and shorter_trunk_point(spec, root, None) is not None:
        return "continues"
    return "pending"


def sweep_status(sweep: SweepConfig, results_root: Path, lease_s: float = 300.0) -> pd.DataFrame:
    """One row per planned run: run_id and state (done, diverged, running, failed, pending; for a sweep extended by
    a longer budget, reusable and continues: harness.continuation).

    Like ``run``, refuses (ConfigError naming the file) a run directory whose stored spec was edited.
    """
    root = sweep_dir(results_root, sweep.name)
    rows = []
    for spec in planned_runs(sweep, root):
        run_dir = root / spec.run_id
        check_stored_spec(run_dir, spec)
        result = read_result(run_dir) if run_dir.exists() else None
        if result is not None:
            state = result.get("status", "done")
        elif claim_state(run_dir, lease_s) == "running":
            state = "running"
        elif (run_dir / FAILURE_FILE).exists():
            state = "failed"
        else:
            state = _pending_state(spec, root)
        rows.append({"run_id": spec.run_id, "state": state, "N_total": spec.N_total, "D": spec.tokens})
    return pd.DataFrame(rows, columns=["run_id", "state", "N_total", "D"])
