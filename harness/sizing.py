"""Shapes, parameter counts and FLOPs per token for the GPT-2, Llama and Mamba families.

Counts are exact for the transformers models built by :mod:`harness.model` (tests check them against
``sum(p.numel())``):

- ``non_embedding`` (Kaplan 2020): everything except token/position embeddings and an untied output head;
- ``with_head`` (Hoffmann 2022 Table A9, Porian 2024): non-embedding plus the output (unembedding) matrix;
- ``total`` (Chinchilla-style "all parameters"): every unique parameter, tied matrices counted once.

FLOPs per training token: ``6·N`` for either N, and the fuller count of Kaplan's Table 1 with attention
(``6·n_layer·n_ctx·d_model``) and logits (``6·d_model·V``) added to ``6·N_non_embedding``. Mamba (Gu & Dao 2023) has no attention: its "full" count
adds the selective scan instead, 9·d_inner·d_state FLOPs per token and layer forward (the count of the
mamba-ssm authors, state-spaces/mamba issue #110), three times that for training.

A Mamba shape reuses :class:`ModelShape`: ``d_ff`` is the inner width ``expand·d_model`` and ``n_head`` is 1
(unused); the state size, convolution width and Δ rank are the transformers defaults below.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, Optional

Family = Literal["gpt2", "llama", "mamba"]
FAMILIES: tuple[str, ...] = ("gpt2", "llama", "mamba")
# Mamba block constants (transformers MambaConfig defaults, Gu & Dao 2023 Table 12): state size N, causal
# convolution width, expansion factor E; the Δ projection rank is ceil(d_model/16) ("auto").
MAMBA_D_STATE, MAMBA_D_CONV, MAMBA_EXPAND = 16, 4, 2
# Forward FLOPs of the selective scan per token, per inner channel and state dimension (mamba issue #110).
MAMBA_SCAN_FLOPS = 9
# Training FLOPs per parameter per token, C = 6·N·D (forward + backward; Kaplan 2020 §2.1, Hoffmann 2022):
# the one home of the 6, used by planning, fitting, comparison and plots.
FLOPS_PER_PARAM_TOKEN = 6.0


def training_compute(n, d):
    """C = 6·N·D in FLOP for N parameters trained on D tokens (numbers or numpy arrays)."""
    return FLOPS_PER_PARAM_TOKEN * n * d


def tokens_for_compute(compute, n):
    """D = C/(6·N): the tokens that ``compute`` FLOP buy for a model of N parameters."""
    return compute / (FLOPS_PER_PARAM_TOKEN * n)


@dataclass(frozen=True)
class ModelShape:
    """A resolved transformer shape."""

    n_layer: int
    d_model: int
    n_head: int
    d_ff: int


@dataclass(frozen=True)
class ParamCounts:
    """Parameter counts under the three conventions."""

    non_embedding: int
    with_head: int
    total: int


def default_d_ff(family: Family, d_model: int) -> int:
    """MLP width: 4·d for GPT-2; ~8/3·d rounded up to a multiple of 16 for Llama (SwiGLU); Mamba's inner E·d."""
    if family == "gpt2":
        return 4 * d_model
    if family == "mamba":
        return MAMBA_EXPAND * d_model
    return 16 * math.ceil(8 * d_model / 3 / 16)


def count_params(family: Family, shape: ModelShape, vocab_size: int, context_length: int) -> ParamCounts:
    """Exact parameter counts of the model harness.model builds for this shape."""
    d, f, L = shape.d_model, shape.d_ff, shape.n_layer
    embed = vocab_size * d
    if family == "mamba":
        non_embedding = L * mamba_block_params(d, f) + d  # tied head, final RMSNorm
        return ParamCounts(non_embedding, non_embedding + embed, non_embedding + embed)
    if family == "gpt2":  # tied head; biases everywhere; learned positions; LayerNorm with bias
        block = (4 * d) + (3 * d * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d)
        non_embedding = L * block + 2 * d
        return ParamCounts(non_embedding, non_embedding + embed, non_embedding + embed + context_length * d)
    block = 4 * d * d + 3 * d * f + 2 * d  # llama: no biases, RMSNorm weights, untied head
    non_embedding = L * block + d
    return ParamCounts(non_embedding, non_embedding + embed, non_embedding + 2 * embed)


def mamba_dt_rank(d_model: int) -> int:
    """Rank of Mamba's Δ projection: ceil(d_model/16), transformers' ``time_step_rank="auto"``."""
    return math.ceil(d_model / 16)


def mamba_block_params(d_model: int, d_inner: int) -> int:
    """Parameters of one transformers Mamba block (RMSNorm + mixer; no in/out biases, conv bias on).

    in_proj d→2·E·d; depthwise conv1d (E·d·k weights + E·d biases); x_proj E·d→r+2N; dt_proj r→E·d with bias;
    A_log E·d·N; D E·d; out_proj E·d→d; the block's RMSNorm d.
    """
    d, e, n, k, r = d_model, d_inner, MAMBA_D_STATE, MAMBA_D_CONV, mamba_dt_rank(d_model)
    return 2 * e * d + (e * k + e) + e * (r + 2 * n) + (r * e + e) + e * n + e + e * d + d


def _mixing_flops(family: Family, shape: ModelShape, context_length: int) -> float:
    """Training FLOPs per token of the sequence mixing not counted in 6·N: attention or the selective scan."""
    if family == "mamba":
        return 3 * MAMBA_SCAN_FLOPS * shape.n_layer * shape.d_ff * MAMBA_D_STATE
    return 6 * shape.n_layer * context_length * shape.d_model


def flops_per_token(counts: ParamCounts, shape: ModelShape, vocab_size: int, context_length: int,
                    family: Family = "gpt2") -> dict[str, float]:
    """Training FLOPs per token: 6·N_total, 6·N_non_embedding, and with sequence mixing and logits."""
    attention = _mixing_flops(family, shape, context_length)
    logits = 6 * shape.d_model * vocab_size
    return {
        "6N_total": FLOPS_PER_PARAM_TOKEN * counts.total,
        "6N_nonembed": FLOPS_PER_PARAM_TOKEN * counts.non_embedding,
        "full": FLOPS_PER_PARAM_TOKEN * counts.non_embedding + attention + logits,
    }


def _shape_from(family: Family, n_layer: int, d_model: int, head_dim: int) -> ModelShape:
    if family == "mamba":
        return ModelShape(n_layer, d_model, 1, default_d_ff(family, d_model))
    n_head = max(1, d_model // head_dim)
    while d_model % n_head:
        n_head -= 1
    return ModelShape(n_layer, d_model, n_head, default_d_ff(family, d_model))


def _width_step(head_dim: int, width_multiple: Optional[int]) -> int:
    return width_multiple or head_dim


@lru_cache(maxsize=64)
def _ladder(family: Family, vocab_size: int, context_length: int, size_by: str, aspect_ratio: float,
            head_dim: int, step: int, limit: float) -> tuple[tuple[int, int, int], ...]:
    """Rungs (n_layer, d_model, N) from (1, step) up to N >= limit; each rung adds one layer or one width step."""
    n_layer, d_model, rungs = 1, step, []
    while True:
        shape = _shape_from(family, n_layer, d_model, head_dim)
        rungs.append((n_layer, d_model, getattr(count_params(family, shape, vocab_size, context_length), size_by)))
        if rungs[-1][2] >= limit or n_layer >= 256:
            return tuple(rungs)
        deeper = abs(math.log(d_model / (n_layer + 1) / aspect_ratio))
        wider = abs(math.log((d_model + step) / n_layer / aspect_ratio))
        n_layer, d_model = (n_layer + 1, d_model) if deeper < wider else (n_layer, d_model + step)


def ladder_rungs(family: Family, vocab_size: int, context_length: int, size_by: str = "non_embedding",
                 aspect_ratio: float = 32.0, head_dim: int = 16, width_multiple: Optional[int] = None,
                 limit: float = 1e9) -> list[tuple[int, int, int]]:
    """The shape ladder as (n_layer, d_model, N) rungs in increasing N (see :func:`shape_for_params`)."""
    step = _width_step(head_dim, width_multiple)
    return list(_ladder(family, vocab_size, context_length, size_by, float(aspect_ratio), head_dim, step, float(limit)))


def shape_for_params(
    target: float,
    family: Family,
    vocab_size: int,
    context_length: int,
    size_by: Literal["non_embedding", "total"] = "non_embedding",
    aspect_ratio: float = 32.0,
    head_dim: int = 16,
    width_multiple: Optional[int] = None,
) -> tuple[ModelShape, float]:
    """The rung of the shape ladder whose parameter count is closest to ``target`` (in log N).

    The ladder starts at one layer of width ``step`` (``width_multiple``, default ``head_dim``) and climbs by
    one layer or one width step at a time, whichever keeps d_model/n_layer closer to ``aspect_ratio``; the
    head dimension is ``head_dim`` (one head below it) and d_ff the family's ratio. So depth and width never
    shrink as the target grows, and the aspect ratio holds to within one step. The relative size error is at
    most sqrt(g) − 1 for the local gap g = max((L+1)/L, ((d+step)/d)²) between rungs: within ±5 % once
    n_layer >= 10 and d_model >= 20·step. No monotone rule can do better below that (one more layer at L < 10
    adds over 10 %), so small models carry larger errors; plan prints each one. Returns (shape, actual/target − 1).
    """
    step = _width_step(head_dim, width_multiple)
    rungs = _ladder(family, vocab_size, context_length, size_by, float(aspect_ratio), head_dim, step,
                    float(target) * 1.5)
    n_layer, d_model, n = min(rungs, key=lambda r: abs(math.log(r[2] / target)))
    return _shape_from(family, n_layer, d_model, head_dim), n / target - 1.0
