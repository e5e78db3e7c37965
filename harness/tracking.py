"""Run progress and Weights & Biases logging.

:class:`Progress`: a tqdm bar with loss and tokens/s in a terminal; a plain line every ``interval_s``
seconds when stderr is not a terminal (SLURM logs, ``> log``, Ray). :class:`Tracker`: one wandb run per
harness run, grouped by sweep, offline without a key.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Optional, TextIO

from tqdm.auto import tqdm


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


def _duration(seconds: float) -> str:
    seconds = int(max(0.0, seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Progress of one run: step/steps, tokens, train loss, last eval loss, tokens/s and ETA."""

    def __init__(self, name: str, total: int, initial: int, tokens_per_step: int, enabled: bool,
                 interval_s: float = 30.0, stream: Optional[TextIO] = None):
        """Show nothing unless ``enabled``; a bar on a terminal, else a line every ``interval_s`` seconds."""
        self.name, self.total, self.initial, self.tokens_per_step = name, total, initial, tokens_per_step
        self.stream = stream or sys.stderr
        tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.lines = enabled and not tty and interval_s > 0
        self.interval_s, self.started = interval_s, time.monotonic()
        self.last_line = self.started
        self.bar = tqdm(total=total, initial=initial, desc=name[:40], leave=False, position=1, unit="step",
                        file=self.stream, disable=not tty)

    def update(self, step: int, train_loss: float, eval_loss: Optional[float]) -> None:
        """Record that ``step`` steps are done; print a line when one is due."""
        now = time.monotonic()
        rate = (step - self.initial) / max(now - self.started, 1e-9)  # steps/s in this process
        if not self.bar.disable:
            self.bar.set_postfix(loss=f"{train_loss:.4f}", tok_s=f"{rate * self.tokens_per_step:.3g}", refresh=False)
            self.bar.update(step - self.bar.n)
        if self.lines and (now - self.last_line >= self.interval_s or step == self.total):
            self.last_line = now
            eval_text = f"{eval_loss:.4f}" if eval_loss is not None else "–"
            eta = _duration((self.total - step) / rate) if rate > 0 else "?"
            print(f"{self.name}: step {step}/{self.total} tokens {step * self.tokens_per_step:.4g} "
                  f"train_loss {train_loss:.4f} eval_loss {eval_text} tok/s {rate * self.tokens_per_step:.4g} "
                  f"ETA {eta}", file=self.stream, flush=True)

    def close(self) -> None:
        """Remove the bar."""
        self.bar.close()
