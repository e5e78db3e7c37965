"""Weights & Biases logging: one wandb run per harness run, grouped by sweep, offline without a key."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional


def wandb_mode() -> str:
    """'online' when an API key or an explicit WANDB_MODE says so, else 'offline' (never prompts)."""
    explicit = os.environ.get("WANDB_MODE")
    if explicit:
        return explicit
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"


class Tracker:
    """A thin wrapper: ``log`` and ``finish`` are no-ops when disabled or on non-main processes."""

    def __init__(self, enabled: bool, run_id: str, group: str, config: dict[str, Any], directory: Path,
                 project: Optional[str] = None):
        self._run = None
        if not enabled:
            return
        import wandb

        self._run = wandb.init(
            project=project or os.environ.get("WANDB_PROJECT", "scaling-harness"), id=run_id, name=run_id,
            group=group, config=config, dir=str(directory), mode=wandb_mode(), resume="allow", reinit="finish_previous",
            settings=wandb.Settings(silent=True, console="off", x_disable_stats=True),
        )

    def log(self, row: dict[str, Any]) -> None:
        """Log one metrics row (keyed by its 'step')."""
        if self._run is not None:
            self._run.log({k: v for k, v in row.items() if v is not None}, step=int(row["step"]))

    def summary(self, result: dict[str, Any]) -> None:
        """Store the run's final numbers in the wandb summary."""
        if self._run is not None:
            self._run.summary.update({k: v for k, v in result.items() if isinstance(v, (int, float, str))})

    def finish(self) -> None:
        """Close the wandb run."""
        if self._run is not None:
            self._run.finish()
            self._run = None
