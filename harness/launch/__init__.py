"""Real engines for a sweep: SLURM through submitit (``slurm.py``) and Ray (``ray_engine.py``).

Both run each pending run as one job/task calling :func:`harness.sweep.run_one`, so they write the same
records and take the same claim files as ``harness run``: a sweep can be started on one engine and
finished on another, and two engines on one results directory never train a run twice. The launch
parameters are kept with the results in ``<results>/<sweep>/launch/``.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

from harness.config import SweepConfig
from harness.plan import RunSpec, expand
from harness.store import atomic_write_json, read_result, sweep_dir

LAUNCH_DIR = "launch"
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.,:=@+/-]{1,128}$")
_SECRET_HINTS = ("key", "token", "secret", "password")


def prepare(sweep: SweepConfig, results_root: Path, cuda: bool | None = None) -> tuple[Path, list[RunSpec]]:
    """The sweep's results directory (created) and its runs that have no finished record yet.

    ``cuda``: whether the jobs train on GPUs (resolves ``precision: auto``; default: this machine's).
    """
    from harness.sweep import check_stored_spec

    if sweep.budgets.branching != "none":  # one job per run: a branch job would idle on its trunk, or retrain it
        raise ConfigError("budgets.branching: slurm and ray run one job per run; run a branching sweep with "
                          "'harness run' (--workers N, or several processes on one shared results directory)")
    specs = expand(sweep, cuda=cuda)
    root = sweep_dir(results_root, sweep.name)
    root.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        check_stored_spec(root / spec.run_id, spec)
    return root, [s for s in specs if read_result(root / s.run_id) is None]


def check_safe(option: str, value: Any) -> None:
    """Refuse option values that could smuggle lines or shell syntax into a submission script."""
    if value is not None and not _SAFE_VALUE.match(str(value)):
        raise ConfigError(f"{option}: {str(value)!r} is not a plain name (letters, digits, _ . , : = @ + / -)")


def check_positive(option: str, value: float, allow_zero: bool = False) -> None:
    """Refuse negative (or zero) resource requests with a one-line error."""
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{option}: must be {'non-negative' if allow_zero else 'positive'}, got {value}")


def scrub(params: dict) -> dict:
    """Launch parameters with anything that looks like a credential removed (never stored)."""
    return {k: v for k, v in params.items() if not any(h in k.lower() for h in _SECRET_HINTS)}


def save_launch_record(root: Path, engine: str, params: dict) -> Path:
    """Keep what was launched, how, with the results: ``launch/<engine>-<time>.json``."""
    folder = Path(root) / LAUNCH_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{engine}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    atomic_write_json(path, {"engine": engine, "launched_at": time.time(), **scrub(params)})
    return path


def run_spec_task(spec: dict, root: str, owner: str, lease_s: float, use_wandb: bool, threads: int = 0) -> dict:
    """Body of one engine job: run one spec under the shared claims; returns its run id and state."""
    from harness.sweep import WorkerOptions, run_one
    from harness.train import TrainOptions

    if threads:
        import torch

        torch.set_num_threads(threads)
    run = RunSpec.model_validate(spec)
    # job logs are files: progress=True prints a line per run every progress_interval_s (no bar)
    options = WorkerOptions(TrainOptions(use_wandb=use_wandb, progress=True), lease_s=lease_s)
    return {"run_id": run.run_id, "state": run_one(run, Path(root), owner, options)}


def summarize(states: list[dict]) -> dict[str, int]:
    """Count job outcomes by state (trained, skipped, busy, failed; reused where a branch took its equal's record)."""
    counts = {"trained": 0, "skipped": 0, "busy": 0, "failed": 0}
    for item in states:
        counts[item["state"]] = counts.get(item["state"], 0) + 1
    return counts
