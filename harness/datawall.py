"""The data wall: sweeps that cap unique training tokens U, and what every run records about repetition.

A sweep's ``data.unique_tokens: [U1, U2, …]`` is one more axis of the plan: a run of D tokens then trains
D/U epochs over the corpus's first U tokens (its first ⌊U/context⌋ train windows, reshuffled every epoch).
Every result records ``U`` (unique tokens seen, min(D, cap or corpus)), ``unique_tokens_cap``, ``epochs``
(D over the unique tokens available to the run) and ``tokens_per_unique`` (D/U), as Muennighoff et al.
(2023) need for the data-constrained law. One home for these formulas: plan, train and store use them.
"""
from __future__ import annotations

import math
from typing import Optional

from harness.config import DataConfig
from harness.errors import ConfigError


def known_train_tokens(data: DataConfig) -> Optional[float]:
    """Unique training tokens the corpus holds when known without downloading (stated, synthetic, local bytes)."""
    from harness.cost import available_tokens

    return available_tokens(data)[0]


def unique_caps(data: DataConfig) -> list[Optional[int]]:
    """The U axis of a plan: each cap as an int, or [None] without caps; ConfigError if a cap exceeds the corpus."""
    if not data.unique_tokens:
        return [None]
    known = known_train_tokens(data)
    for cap in data.unique_tokens:
        if known is not None and cap > known:
            raise ConfigError(f"data.unique_tokens: {cap:.6g} is larger than the corpus's {known:.6g} "
                              f"unique training tokens")
        if cap < data.context_length:
            raise ConfigError(f"data.unique_tokens: {cap:.6g} is below one window of context_length="
                              f"{data.context_length} tokens")
    return [int(cap) for cap in data.unique_tokens]


def unique_windows(cap: Optional[int], context_length: int, available_windows: int) -> int:
    """Train windows a run draws from: the first ⌊cap/context⌋ of the corpus, or all; ConfigError beyond the corpus."""
    if cap is None:
        return available_windows
    wanted = max(1, cap // context_length)
    if wanted > available_windows:
        raise ConfigError(f"data.unique_tokens: {cap} tokens need {wanted} train windows, the corpus has "
                          f"{available_windows} ({available_windows * context_length} tokens)")
    return wanted


def repetition_fields(tokens: float, cap: Optional[int], context_length: int, windows: int) -> dict:
    """The record's repetition figures for a run of ``tokens`` drawing from ``windows`` train windows."""
    pool = windows * context_length
    seen = min(float(tokens), float(pool))
    return {"U": seen, "unique_tokens_cap": cap, "epochs": tokens / max(1, pool),
            "tokens_per_unique": tokens / max(seen, 1.0)}


def planned_epochs(tokens: float, cap: Optional[int], known: Optional[float]) -> float:
    """Epochs a planned run makes: D over its cap, else over the corpus's known size, else NaN."""
    pool = cap if cap is not None else known
    return tokens / pool if pool else math.nan
