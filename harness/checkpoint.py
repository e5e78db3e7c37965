"""Atomic checkpoints (model + optimizer + loop state), loaded with ``weights_only=True``."""
from __future__ import annotations

import io
import json
import math
import warnings
from pathlib import Path

import torch

from harness.store import atomic_write_bytes, read_metrics

_FRESH = {"step": 0, "best_loss": math.inf, "last_loss": math.nan}


def save_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, loop_state: dict) -> None:
    """Write model and optimizer state and the loop's counters to ``path`` atomically."""
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "loop": dict(loop_state)}, buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())


def load_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """Restore model and optimizer from ``path`` if it holds a valid checkpoint; return the loop state.

    A missing checkpoint means a fresh start. A corrupt one is moved aside to ``*.corrupt`` with a
    warning, and the run starts afresh (nothing else is touched).
    """
    path = Path(path)
    if not path.exists():
        return dict(_FRESH)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        return {**_FRESH, **payload["loop"]}
    except Exception as exc:  # any unreadable checkpoint: redo the run rather than fail the sweep
        warnings.warn(f"{path}: corrupt checkpoint ({type(exc).__name__}); restarting this run from step 0",
                      stacklevel=2)
        try:  # under DDP every rank sees the corrupt file; the first to get here moves it aside
            path.replace(path.with_name(path.name + ".corrupt"))
        except FileNotFoundError:
            pass
        return dict(_FRESH)


def reset_metrics(path: Path, resume_step: int) -> None:
    """Keep only metrics rows from before ``resume_step`` (all of them are dropped on a fresh start)."""
    rows = [r for r in read_metrics(path) if r.get("step", 0) <= resume_step] if resume_step else []
    atomic_write_bytes(Path(path), "".join(json.dumps(r) + "\n" for r in rows).encode())
