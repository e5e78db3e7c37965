"""Expand a sweep into a flat, deterministic list of run specs before anything trains."""
from __future__ import annotations

import math
from typing import Optional

import pandas as pd
from pydantic import Field

from harness.errors import ConfigError
from harness.config import (
    DataConfig, LRConfig, OptimizerConfig, ScheduleConfig, Strict, SweepConfig, content_hash,
)
from harness.sizing import ModelShape, count_params, default_d_ff, flops_per_token, shape_for_params

_EXCLUDED_FROM_ID = {"sweep", "run_id", "eval_interval", "checkpoint_interval", "size_error", "target_size", "budget"}


class RunSpec(Strict):
    """One fully derived run: everything train() needs, nothing computed twice later."""

    sweep: str = Field(..., description="Sweep name (not part of the run id's hash).")
    run_id: str = Field("", description="Readable name plus a content hash of what changes the outcome.")
    family: str = Field(..., description="gpt2 or llama.")
    n_layer: int = Field(..., description="Transformer blocks.")
    d_model: int = Field(..., description="Residual width.")
    n_head: int = Field(..., description="Attention heads.")
    d_ff: int = Field(..., description="MLP hidden width.")
    vocab_size: int = Field(..., description="Model vocabulary size.")
    context_length: int = Field(..., description="Tokens per sequence.")
    N_nonembed: int = Field(..., description="Non-embedding parameters (Kaplan).")
    N_with_head: int = Field(..., description="Non-embedding plus output head (Hoffmann/Porian).")
    N_total: int = Field(..., description="All unique parameters.")
    target_size: Optional[float] = Field(None, description="Requested parameter count, if sized from one.")
    size_error: float = Field(0.0, description="Actual/requested − 1 for the count the request meant.")
    tokens: int = Field(..., description="Training tokens D = steps × batch_size × context_length.")
    steps: int = Field(..., description="Optimiser steps.")
    batch_size: int = Field(..., description="Sequences per optimiser step.")
    grad_accum: int = Field(..., description="Micro-batches per step.")
    lr: float = Field(..., description="Peak learning rate.")
    schedule: ScheduleConfig = Field(..., description="LR schedule (its length is this run's steps).")
    optimizer: OptimizerConfig = Field(..., description="AdamW settings.")
    precision: str = Field(..., description="auto, fp32 or bf16.")
    compile: bool = Field(False, description="torch.compile the model.")
    seed: int = Field(..., description="Seed of weights and data order.")
    data: DataConfig = Field(..., description="Corpus and eval set.")
    spike_factor: float = Field(..., description="Divergence threshold on train loss.")
    eval_batch_sequences: int = Field(64, description="Sequences per eval forward pass.")
    eval_interval: int = Field(0, description="Steps between interim evals (0: end only).")
    checkpoint_interval: int = Field(200, description="Steps between checkpoints.")
    budget: str = Field("", description="The grid cell this run came from, e.g. 'C=1e15'.")

    @property
    def shape(self) -> ModelShape:
        """The model shape."""
        return ModelShape(self.n_layer, self.d_model, self.n_head, self.d_ff)

    @property
    def flops(self) -> dict[str, float]:
        """Training FLOPs per token under the three conventions (see harness.sizing)."""
        counts = count_params(self.family, self.shape, self.vocab_size, self.context_length)
        return flops_per_token(counts, self.shape, self.vocab_size, self.context_length)

    def outcome_payload(self) -> dict:
        """The fields that change the outcome (hashed into the run id); streaming only changes how data is read."""
        payload = self.model_dump(mode="json", exclude=_EXCLUDED_FROM_ID)
        payload["data"].pop("streaming", None)
        payload["data"]["synthetic"] = self.data.synthetic.identity()
        return payload


def make_run_id(spec: RunSpec) -> str:
    """Readable name plus content hash, e.g. gpt2-L2-d32-D1.0e6-s0-3f2a9c01d4."""
    return f"{spec.family}-L{spec.n_layer}-d{spec.d_model}-D{spec.tokens:.1e}-s{spec.seed}-{content_hash(spec.outcome_payload())}".replace("+", "")


def vocab_size_of(data: DataConfig) -> int:
    """Model vocabulary size implied by the data config (loads a pretrained tokenizer if named)."""
    if data.source == "synthetic":
        return data.synthetic.vocab_size
    if data.tokenizer == "byte":
        return 257
    if data.tokenizer == "bpe":
        return data.bpe_vocab_size
    try:
        from transformers import AutoTokenizer

        return len(AutoTokenizer.from_pretrained(data.tokenizer_name))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"data.tokenizer_name: cannot load '{data.tokenizer_name}' ({type(exc).__name__})") from None


def peak_lr(rule: LRConfig, d_model: int) -> float:
    """Peak LR for a width under the sweep's rule (table: exact or log-log interpolated)."""
    if rule.rule == "constant":
        return rule.base
    if rule.rule == "width":
        return rule.base * (rule.base_width / d_model) ** rule.exponent
    widths = sorted(rule.table)
    if d_model in rule.table:
        return rule.table[d_model]
    if not widths[0] < d_model < widths[-1]:
        raise ConfigError(f"training.lr.table: width {d_model} is outside the table's range {widths[0]}–{widths[-1]}")
    hi = next(w for w in widths if w > d_model)
    lo = widths[widths.index(hi) - 1]
    t = math.log(d_model / lo) / math.log(hi / lo)
    return math.exp((1 - t) * math.log(rule.table[lo]) + t * math.log(rule.table[hi]))


def _shapes(sweep: SweepConfig, vocab: int) -> list[tuple[ModelShape, Optional[float], float]]:
    m, ctx = sweep.model, sweep.data.context_length
    out = [(shape_for_params(t, m.family, vocab, ctx, m.size_by, m.aspect_ratio, m.head_dim) + (t,)) for t in m.sizes]
    shapes = [(s, t, err) for s, err, t in out]
    for s in m.shapes:
        shapes.append((ModelShape(s.n_layer, s.d_model, s.n_head, s.d_ff or default_d_ff(m.family, s.d_model)), None, 0.0))
    return shapes


def _budgets(sweep: SweepConfig, n_total: int) -> list[tuple[float, str]]:
    b = sweep.budgets
    if b.mode == "grid":
        return [(d, f"D={d:.3g}") for d in b.tokens]
    if b.mode == "tokens_per_param":
        return [(r * n_total, f"D/N={r:g}") for r in b.tokens_per_param]
    return [(c / (6.0 * n_total), f"C={c:.3g}") for c in b.compute]


def _batching(sweep: SweepConfig) -> tuple[int, int]:
    t, ctx = sweep.training, sweep.data.context_length
    batch = max(1, t.batch_tokens // ctx)
    micro = max(1, (t.micro_batch_tokens or t.batch_tokens) // ctx)
    if micro > batch or batch % micro:
        raise ConfigError(f"training.micro_batch_tokens: {micro} sequences must divide the batch of {batch}")
    return batch, batch // micro


def expand(sweep: SweepConfig) -> list[RunSpec]:
    """All runs of a sweep, deterministic order (N, D, seed), duplicates removed."""
    vocab, ctx, t = vocab_size_of(sweep.data), sweep.data.context_length, sweep.training
    batch, accum = _batching(sweep)
    specs: dict[str, RunSpec] = {}
    for shape, target, err in _shapes(sweep, vocab):
        counts = count_params(sweep.model.family, shape, vocab, ctx)
        for tokens, label in _budgets(sweep, counts.total):
            if tokens > sweep.max_tokens_per_run:
                raise ConfigError(f"budgets: {label} asks {tokens:.3g} tokens, above max_tokens_per_run")
            steps = max(1, round(tokens / (batch * ctx)))
            for seed in t.seeds:
                spec = RunSpec(
                    sweep=sweep.name, family=sweep.model.family, n_layer=shape.n_layer, d_model=shape.d_model,
                    n_head=shape.n_head, d_ff=shape.d_ff, vocab_size=vocab, context_length=ctx,
                    N_nonembed=counts.non_embedding, N_with_head=counts.with_head, N_total=counts.total,
                    target_size=target, size_error=err, tokens=steps * batch * ctx, steps=steps,
                    batch_size=batch, grad_accum=accum, lr=peak_lr(t.lr, shape.d_model), schedule=t.schedule,
                    optimizer=t.optimizer, precision=t.precision, compile=t.compile, seed=seed, data=sweep.data,
                    spike_factor=t.spike_factor, eval_batch_sequences=t.eval_batch_sequences,
                    eval_interval=t.eval_interval, checkpoint_interval=t.checkpoint_interval, budget=label,
                )
                spec = spec.model_copy(update={"run_id": make_run_id(spec)})
                specs.setdefault(spec.run_id, spec)
                if len(specs) > sweep.max_runs:
                    raise ConfigError(f"budgets: the sweep expands to more than max_runs={sweep.max_runs} runs")
    return sorted(specs.values(), key=lambda s: (s.N_total, s.tokens, s.seed, s.run_id))


def load_and_expand(source: str) -> tuple[SweepConfig, list[RunSpec]]:
    """Load a sweep file (path or name) and expand it; errors name the file."""
    from harness.config import load_sweep_or_name

    config = load_sweep_or_name(source)
    try:
        return config, expand(config)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def plan_table(specs: list[RunSpec]) -> pd.DataFrame:
    """The plan as a table: shape, both N, D, both C, steps, tokens/param, LR."""
    rows = []
    for s in specs:
        f = s.flops
        rows.append({
            "run_id": s.run_id, "family": s.family, "shape": f"{s.n_layer}x{s.d_model} h{s.n_head} ff{s.d_ff}",
            "N_nonembed": s.N_nonembed, "N_total": s.N_total, "size_err": f"{s.size_error:+.1%}",
            "D": s.tokens, "C_6ND": f["6N_total"] * s.tokens, "C_full": f["full"] * s.tokens,
            "steps": s.steps, "tok/param": s.tokens / s.N_total, "lr": s.lr, "budget": s.budget,
        })
    return pd.DataFrame(rows)
