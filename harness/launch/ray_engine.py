"""Ray: one remote task per pending run, with that run's CPU/GPU resources.

Each task calls :func:`harness.launch.run_spec_task` (the shared claims and records). Its claim owner
is ``ray:<launch id>:<run id>``, so a task Ray retries after its worker or node died takes its claim
back at once and resumes from the run's checkpoint. ``--address auto`` joins a running cluster
(``ray start --head`` / a Ray-on-SLURM allocation); ``local`` starts a private one on this machine.
"""
from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from harness.claims import check_lease
from harness.errors import ConfigError

from harness.config import SweepConfig
from harness.launch import check_positive, check_safe, prepare, run_spec_task, save_launch_record, summarize


@dataclass(frozen=True)
class RayOptions:
    """Where the Ray cluster is and what one run asks of it."""

    address: str = "auto"  # auto: running cluster; local: start one here; or ray://host:port / host:port
    cpus_per_run: float = 1.0  # Ray CPUs per task (also torch threads, rounded down)
    gpus_per_run: float = 0.0  # Ray GPUs per task, at most 1 (one process per run; fractions pack tiny runs)
    local_cpus: Optional[int] = None  # address=local: CPUs of the private cluster (default: all)
    max_retries: int = 3  # retries of a task whose worker died
    lease_s: float = 300.0  # claim lease
    use_wandb: bool = True  # log to wandb (offline without a key)


def _ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("ray is not installed: pip install 'scaling-harness[cluster]'") from None
    return ray


def validate(options: RayOptions) -> None:
    """One-line errors for impossible options, before anything is written or started."""
    check_safe("--address", options.address)
    check_positive("--cpus-per-run", options.cpus_per_run)
    check_positive("--gpus-per-run", options.gpus_per_run, allow_zero=True)
    check_lease(options.lease_s)
    if options.local_cpus is not None:
        check_positive("--local-cpus", options.local_cpus)
    if options.gpus_per_run > 1:
        raise ConfigError(f"--gpus-per-run {options.gpus_per_run:g}: a Ray task is one process, so all but one GPU "
                          "would sit idle; use at most 1 (fractions pack small runs) or launch slurm for "
                          "multi-GPU runs")


def connect(options: RayOptions) -> bool:
    """Connect to (or start) the cluster unless already connected; True if this call connected."""
    ray = _ray()
    if ray.is_initialized():
        return False
    if options.address == "local":
        ray.init(num_cpus=options.local_cpus, include_dashboard=False, log_to_driver=False)
    else:
        try:
            ray.init(address=options.address, log_to_driver=False)
        except ConnectionError as exc:
            raise ConfigError(f"--address {options.address}: no Ray cluster there ({exc})".splitlines()[0]) from None
    return True


def run_on_ray(sweep: SweepConfig, results_root: Path, options: RayOptions = RayOptions(),
               only: Optional[list[str]] = None) -> dict[str, int]:
    """Run every pending run (or those in ``only``) as Ray tasks and wait; counts by outcome."""
    validate(options)
    ray = _ray()  # before anything is written: no launch record for a launch that cannot start
    root, pending = prepare(sweep, results_root, cuda=options.gpus_per_run > 0)
    if only is not None:
        pending = [s for s in pending if s.run_id in set(only)]
    launch_id = uuid.uuid4().hex[:8]
    save_launch_record(root, "ray", {**asdict(options), "sweep": sweep.name, "launch_id": launch_id,
                                     "runs": [s.run_id for s in pending]})
    if not pending:
        return summarize([])
    started = connect(options)
    try:
        task = ray.remote(num_cpus=options.cpus_per_run, num_gpus=options.gpus_per_run,
                          max_retries=options.max_retries)(run_spec_task)
        refs = [task.remote(s.model_dump(mode="json"), str(root), f"ray:{launch_id}:{s.run_id}", options.lease_s,
                            options.use_wandb, max(1, int(options.cpus_per_run))) for s in pending]
        return summarize(ray.get(refs))
    finally:
        if started:
            ray.shutdown()
