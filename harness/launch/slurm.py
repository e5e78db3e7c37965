"""SLURM through submitit: one job-array task per pending run, requeued on pre-emption.

Each task calls :func:`harness.launch.run_spec_task` (the shared claims and records). On pre-emption
or time-out SLURM signals the job; submitit calls :meth:`RunTask.checkpoint`, which resubmits the same
arguments, and the requeued task resumes from the run's own ``checkpoint.pt`` (train() always does).
The claim owner is the array task's job id, which survives a requeue, so the task takes its own claim
back at once. Submission files and logs live in ``<results>/<sweep>/launch/submitit/``.
"""
from __future__ import annotations

import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import submitit
from submitit.helpers import Checkpointable

from harness.claims import check_lease
from harness.errors import ConfigError

from harness.config import SweepConfig
from harness.launch import LAUNCH_DIR, check_positive, check_safe, prepare, run_spec_task, save_launch_record, summarize


@dataclass(frozen=True)
class SlurmOptions:
    """What to ask SLURM for (per run) and how to treat the jobs."""

    cluster: str = "slurm"  # slurm | local (submitit's local executor: same code path, this machine) | auto
    partition: Optional[str] = None  # SLURM partition
    gpus_per_run: int = 1  # GPUs of one run (one node): G > 1 starts G processes (one per GPU) in one process group
    cpus_per_run: int = 4  # CPU cores of one run (split evenly between its processes)
    mem_gb: Optional[float] = None  # memory per run
    time_min: int = 240  # time limit of one job; pre-empted/timed-out jobs are requeued
    parallelism: int = 64  # slurm_array_parallelism: array tasks running at once
    max_requeues: int = 3  # timeouts tolerated before a job gives up
    lease_s: float = 300.0  # claim lease (a silent worker's run is taken over after this)
    use_wandb: bool = True  # log to wandb (offline without a key)
    extra: dict = field(default_factory=dict)  # more sbatch options, e.g. {"account": "abc"}


class RunTask(Checkpointable):
    """A submitit callable that trains one run; ``checkpoint()`` requeues it with the same arguments."""

    def __call__(self, spec: dict, root: str, lease_s: float, use_wandb: bool, threads: int) -> dict:
        """Train one run under a claim owned by this array task (stable across requeues)."""
        env = submitit.JobEnvironment()
        if env.num_tasks > 1:
            join_process_group()
        owner = f"submitit:{env.job_id}:{spec['run_id']}"  # the same on every task: rank 0 claims, the rest follow
        return run_spec_task(spec, root, owner, lease_s, use_wandb, threads)

    def checkpoint(self, *args, **kwargs):
        """Requeue with the same arguments: train() resumes from the run's last atomic checkpoint."""
        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


def join_process_group() -> dict:
    """Export MASTER_ADDR/PORT, RANK, WORLD_SIZE, LOCAL_RANK from submitit's JobEnvironment (one task per GPU), so
    that accelerate's Accelerator in train() joins one process group (NCCL on GPUs, gloo on CPU). Each process
    keeps every GPU visible and accelerate picks ``cuda:LOCAL_RANK``. Returns the exported values."""
    dist = submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
    return {"rank": dist.rank, "world_size": dist.world_size, "local_rank": dist.local_rank,
            "master": f"{dist.master_addr}:{dist.master_port}"}


def processes_per_run(options: SlurmOptions) -> int:
    """One process per GPU of a run (one on CPU)."""
    return max(1, options.gpus_per_run)


def validate(options: SlurmOptions) -> None:
    """One-line errors for impossible or unsafe options, before anything is written or submitted."""
    if options.cluster not in ("slurm", "local", "auto"):
        raise ConfigError(f"--cluster: expected slurm, local or auto, got '{options.cluster}'")
    check_safe("--partition", options.partition)
    check_positive("--gpus-per-run", options.gpus_per_run, allow_zero=True)
    check_positive("--cpus-per-run", options.cpus_per_run)
    check_positive("--time", options.time_min)
    check_positive("--parallelism", options.parallelism)
    check_lease(options.lease_s)
    if options.mem_gb is not None:
        check_positive("--mem-gb", options.mem_gb)
    for key, value in options.extra.items():
        check_safe(f"--sbatch {key}", key)
        check_safe(f"--sbatch {key}", value)
    if options.cluster == "slurm" and shutil.which("sbatch") is None:
        raise ConfigError("--cluster slurm: sbatch not found on this machine (use --cluster local to try it here)")


def _parameters(options: SlurmOptions) -> dict:
    tasks = processes_per_run(options)
    params = {"timeout_min": options.time_min, "nodes": 1, "tasks_per_node": tasks,
              "cpus_per_task": max(1, options.cpus_per_run // tasks), "gpus_per_node": options.gpus_per_run,
              "slurm_array_parallelism": options.parallelism, "slurm_signal_delay_s": 120}
    if options.partition:
        params["slurm_partition"] = options.partition
    if options.mem_gb:
        params["mem_gb"] = options.mem_gb
    if options.extra:
        params["slurm_additional_parameters"] = dict(options.extra)
    return params


def make_executor(folder: Path, options: SlurmOptions):
    """A submitit AutoExecutor writing its scripts and logs under ``folder``."""
    cluster = None if options.cluster == "auto" else options.cluster
    executor = submitit.AutoExecutor(folder=str(folder / "%j"), cluster=cluster,
                                     slurm_max_num_timeout=options.max_requeues)
    executor.update_parameters(**_parameters(options))
    return executor


def _sbatch_preview(folder: Path, options: SlurmOptions, count: int) -> str:
    """The sbatch script SLURM would get for the array (kept with the results even when run locally)."""
    from submitit.slurm.slurm import _make_sbatch_string

    tasks = processes_per_run(options)
    return _make_sbatch_string(
        command=f"{sys.executable} -u -m submitit.core._submit {folder / '%j'}", folder=str(folder / "%j"),
        job_name="harness", partition=options.partition, time=options.time_min, nodes=1,
        ntasks_per_node=tasks, cpus_per_task=max(1, options.cpus_per_run // tasks),
        gpus_per_node=options.gpus_per_run or None,
        mem=f"{options.mem_gb}GB" if options.mem_gb else None, signal_delay_s=120,
        array_parallelism=options.parallelism, map_count=max(1, count), additional_parameters=options.extra or None)


def submit(sweep: SweepConfig, results_root: Path, options: SlurmOptions = SlurmOptions(),
           only: Optional[list[str]] = None) -> tuple[list, Path]:
    """Submit one array task per pending run (or per run id in ``only``); returns (jobs, launch record)."""
    validate(options)
    root, pending = prepare(sweep, results_root, cuda=options.gpus_per_run > 0)
    if only is not None:
        pending = [s for s in pending if s.run_id in set(only)]
    folder = root / LAUNCH_DIR / "submitit"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sbatch.preview.sh").write_text(_sbatch_preview(folder, options, len(pending)))
    record = save_launch_record(root, "slurm", {**asdict(options), "sweep": sweep.name, "runs": [s.run_id for s in pending],
                                               "submitit_folder": str(folder), "parameters": _parameters(options)})
    if not pending:
        return [], record
    executor = make_executor(folder, options)
    threads = max(1, options.cpus_per_run // processes_per_run(options))
    args = [(s.model_dump(mode="json"), str(root), options.lease_s, options.use_wandb, threads) for s in pending]
    with executor.batch():
        jobs = [executor.submit(RunTask(), *a) for a in args]
    return jobs, record


def wait(jobs: list) -> dict[str, int]:
    """Block until every job has finished; count the outcomes, rank 0's for a multi-process run (a job's
    exception is re-raised)."""
    return summarize([job.results()[0] for job in jobs])
