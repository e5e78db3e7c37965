"""Learning-rate schedules whose length is exactly the run's budget."""
from __future__ import annotations

import math

from harness.config import ScheduleConfig


def warmup_steps(schedule: ScheduleConfig, steps: int) -> int:
    """Warm-up length in steps (at least 1 when the fraction is positive, never the whole run)."""
    if schedule.warmup_steps is not None:
        return min(schedule.warmup_steps, max(0, steps - 1))
    if schedule.warmup_fraction <= 0:
        return 0
    return min(max(1, round(schedule.warmup_fraction * steps)), max(0, steps - 1))


def lr_factor(step: int, steps: int, schedule: ScheduleConfig) -> float:
    """Multiplier of the peak LR used for optimiser step ``step`` (0-based) of ``steps``.

    Linear warm-up to 1, then: cosine to ``final_lr_fraction`` at the last step; or WSD (constant,
    then a linear or 1-sqrt decay to ``final_lr_fraction`` over the last ``cooldown_fraction`` of steps); or
    constant. ``warmup_steps``, when set, fixes the warm-up length (shared by a trunk and its branches).
    """
    warm = warmup_steps(schedule, steps)
    if step < warm:
        return (step + 1) / warm
    final = schedule.final_lr_fraction
    if schedule.kind == "constant":
        return 1.0
    last = max(1, steps - 1)
    if schedule.kind == "cosine":
        progress = (step - warm) / max(1, last - warm)
        return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    start = decay_start(schedule, steps)
    if step < start:
        return 1.0
    progress = min(1.0, (step - start) / max(1, last - start))
    return 1.0 - (1.0 - final) * (math.sqrt(progress) if schedule.cooldown_shape == "1-sqrt" else progress)


def decay_start(schedule: ScheduleConfig, steps: int) -> int:
    """wsd: the first step of the cooldown (the LR is constant before it), never inside the warm-up.

    Cooldown branching saves the trunk's state after exactly this many steps: a branch resumed from it
    continues as a single WSD run of ``steps`` steps would.
    """
    return max(warmup_steps(schedule, steps), steps - max(1, round(schedule.cooldown_fraction * steps)))
