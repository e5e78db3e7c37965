"""Per-size optimiser settings from published rules: peak LR, batch (tokens), warm-up (tokens) and AdamW β2.

Rules (``training.hparams.rule``):

- ``porian2024`` — Porian et al. 2024, "Resolving Discrepancies in Compute-Optimal Scaling of Language Models"
  (arXiv 2406.19146, §4 and App. on hyperparameter tuning): tuned per size on RefinedWeb, 5M–901M params,
  sequences of 2048, N counting the output head but not the input embedding (our ``N_with_head``):
  batch = 0.00037·N^0.703 sequences of 2048 tokens, LR = 3.7·N^−0.36, warm-up = N tokens, and β2 = 0.99 at
  small batch (they find 0.95 hurts there). Coefficients from shared/reference/published_fits.md (status S:
  secondary sources, not yet checked against the paper's table); the small-batch threshold for β2 (below
  :data:`PORIAN_SMALL_BATCH_TOKENS`) is our reading, not a number from the paper.
- ``deepseek2024`` — DeepSeek LLM (Bi et al. 2024, arXiv 2401.02954, §3.1 Eq. 1): η_opt = 0.3118·C^−0.1250,
  B_opt = 0.2920·C^0.3271 tokens, C = M·D with M the non-embedding FLOPs per token including attention
  (we use 6·N_nonembed + 6·n_layer·n_ctx·d_model, Kaplan's attention term). Fitted for budgets ~1e17–3e20
  FLOP; below that the rule extrapolates. Warm-up as the sweep's ``hparams.warmup`` says; β2 unchanged.

The batch is rounded to a power of two sequences and clamped to [min_batch_tokens, max_batch_tokens].
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from harness.config import HparamRuleConfig

PORIAN_SMALL_BATCH_TOKENS = 2 ** 19  # below 256 sequences of 2048 tokens, Porian's β2 = 0.99 applies


@dataclass(frozen=True)
class SizeHparams:
    """Optimiser settings for one (size, budget): LR, batch in tokens, warm-up in tokens, β2 (None: unchanged)."""

    lr: float
    batch_tokens: float
    warmup_tokens: float
    beta2: float | None


def porian2024(n_with_head: float) -> SizeHparams:
    """Porian et al. 2024's tuned rule in N (non-embedding + head): LR 3.7·N^−0.36, batch 0.00037·N^0.703×2048."""
    batch = 0.00037 * n_with_head ** 0.703 * 2048
    beta2 = 0.99 if batch < PORIAN_SMALL_BATCH_TOKENS else None
    return SizeHparams(3.7 * n_with_head ** -0.36, batch, float(n_with_head), beta2)


def deepseek2024(compute_m: float, n_with_head: float) -> SizeHparams:
    """DeepSeek LLM 2024: η = 0.3118·C^−0.125, B = 0.2920·C^0.3271 tokens (C = M·D); warm-up N tokens."""
    return SizeHparams(0.3118 * compute_m ** -0.1250, 0.2920 * compute_m ** 0.3271, float(n_with_head), None)


def rule_hparams(rule: HparamRuleConfig, n_with_head: float, compute_m: float) -> SizeHparams:
    """The named rule's settings for a run of ``n_with_head`` params and ``compute_m`` = M·D FLOPs."""
    if rule.rule == "porian2024":
        return porian2024(n_with_head)
    return deepseek2024(compute_m, n_with_head)


def batch_sequences(rule: HparamRuleConfig, batch_tokens: float, context_length: int) -> int:
    """The rule's batch as a power of two sequences, within the sweep's token clamps."""
    lo = max(1, rule.min_batch_tokens // context_length)
    hi = max(lo, rule.max_batch_tokens // context_length)
    seqs = 2 ** round(math.log2(max(1.0, batch_tokens / context_length)))
    return int(min(hi, max(lo, seqs)))
