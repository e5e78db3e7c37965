"""``harness launch slurm|ray SWEEP``: run a sweep on a real engine (thin wrappers over the library)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from harness.cli.options import lease_option, no_wandb_option, results_option

RESULTS_OPT = results_option("Results root directory (on a filesystem every node shares).")
SWEEP_ARG = typer.Argument(..., help="Sweep file (or name in sweeps/).")


def _parse_extra(pairs: list[str]) -> dict:
    from harness.errors import ConfigError

    extra = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--sbatch: expected KEY=VALUE, got '{pair}'")
        extra[key] = value
    return extra


def _echo_counts(name: str, engine: str, counts: dict) -> None:
    reused = f", reused {counts['reused']} (equal branches of an earlier plan)" if counts.get("reused") else ""
    typer.echo(f"sweep {name} on {engine}: trained {counts['trained']}{reused}, already done {counts['skipped']}, "
               f"busy elsewhere {counts['busy']}, failed {counts['failed']}")


def slurm(
    sweep: str = SWEEP_ARG, results: Path = RESULTS_OPT,
    partition: Optional[str] = typer.Option(None, help="SLURM partition."),
    gpus_per_run: int = typer.Option(1, help="GPUs per run; G > 1 starts G processes (one per GPU) in one DDP group."),
    cpus_per_run: int = typer.Option(4, help="CPU cores per run, split between its processes (torch threads on GPU; "
                                     "a CPU run trains with training.cpu_threads)."),
    mem_gb: Optional[float] = typer.Option(None, help="Memory per run in GB."),
    time: int = typer.Option(240, "--time", help="Time limit of one job in minutes (requeued on time-out)."),
    parallelism: int = typer.Option(64, help="Array tasks running at once (slurm_array_parallelism)."),
    cluster: str = typer.Option("slurm", help="slurm, auto, or local (submitit's local executor on this machine)."),
    sbatch: list[str] = typer.Option([], "--sbatch", help="Extra sbatch option KEY=VALUE (repeatable)."),
    wait: bool = typer.Option(False, "--wait", help="Wait for every job and print the outcome."),
    no_wandb: bool = no_wandb_option(),
    lease: float = lease_option(),
) -> None:
    """Submit one SLURM array task per pending run (submitit); pre-empted jobs requeue and resume."""
    from harness.config import load_sweep_or_name
    from harness.launch import slurm as engine

    config = load_sweep_or_name(sweep)
    options = engine.SlurmOptions(cluster=cluster, partition=partition, gpus_per_run=gpus_per_run,
                                  cpus_per_run=cpus_per_run, mem_gb=mem_gb, time_min=time, parallelism=parallelism,
                                  lease_s=lease, use_wandb=not no_wandb, extra=_parse_extra(sbatch))
    jobs, record = engine.submit(config, results, options)
    typer.echo(f"sweep {config.name}: submitted {len(jobs)} jobs ({', '.join(j.job_id for j in jobs[:3])}"
               f"{'…' if len(jobs) > 3 else ''}); launch record {record}")
    if wait and jobs:
        _echo_counts(config.name, "slurm", engine.wait(jobs))


def ray(
    sweep: str = SWEEP_ARG, results: Path = RESULTS_OPT,
    address: str = typer.Option("auto", help="auto (running cluster), local (start one here) or host:port."),
    cpus_per_run: float = typer.Option(1.0, help="Ray CPUs per run."),
    gpus_per_run: float = typer.Option(0.0, help="Ray GPUs per run, at most 1 (a fraction packs runs onto one GPU)."),
    local_cpus: Optional[int] = typer.Option(None, help="--address local: CPUs of the private cluster."),
    no_wandb: bool = no_wandb_option(),
    lease: float = lease_option(),
) -> None:
    """Run every pending run as a Ray task with its CPU/GPU resources, and wait for them."""
    from harness.config import load_sweep_or_name
    from harness.launch import ray_engine as engine

    config = load_sweep_or_name(sweep)
    options = engine.RayOptions(address=address, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run,
                                local_cpus=local_cpus, lease_s=lease, use_wandb=not no_wandb)
    counts = engine.run_on_ray(config, results, options)
    _echo_counts(config.name, "ray", counts)
    if counts["failed"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``launch`` sub-command group (slurm, ray) to the harness CLI."""
    launch = typer.Typer(no_args_is_help=True, help="Run a sweep on a cluster engine: SLURM (submitit) or Ray.")
    launch.command("slurm")(slurm)
    launch.command("ray")(ray)
    app.add_typer(launch, name="launch")
