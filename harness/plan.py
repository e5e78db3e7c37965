"""Expand a sweep into a flat, deterministic list of run specs before anything trains."""
from __future__ import annotations

import math
from typing import Optional

import pandas as pd
from pydantic import Field

from harness.errors import ConfigError
from harness.config import (
    IN_ID, DataConfig, LRConfig, OptimizerConfig, ScheduleConfig, Strict, SweepConfig, content_hash, id_payload,
)
from harness.sizing import ModelShape, count_params, default_d_ff, flops_per_token, shape_for_params, tokens_for_compute

SIZE_TOLERANCE = 1.5  # a target size the sizer misses by more than this factor either way is refused
# precision as hashed: fp32 (explicit, or auto resolved on CPU) keeps the legacy value "auto" that records
# made before auto was resolved at plan time hashed, so CPU run ids are unchanged
_PRECISION_IN_ID = {"auto": "auto", "fp32": "auto", "bf16": "bf16"}


class RunSpec(Strict):
    """One fully derived run: everything train() needs, nothing computed twice later.

    Fields marked ``IN_ID`` are hashed into the run id (see :func:`harness.config.id_payload`); a new
    field that changes the outcome must use ``IN_ID_UNLESS_DEFAULT`` so existing records keep their ids.
    """

    sweep: str = Field(..., description="Sweep name (not part of the run id's hash).")
    run_id: str = Field("", description="Readable name plus a content hash of what changes the outcome.")
    family: str = Field(..., json_schema_extra=IN_ID, description="gpt2 or llama.")
    n_layer: int = Field(..., json_schema_extra=IN_ID, description="Transformer blocks.")
    d_model: int = Field(..., json_schema_extra=IN_ID, description="Residual width.")
    n_head: int = Field(..., json_schema_extra=IN_ID, description="Attention heads.")
    d_ff: int = Field(..., json_schema_extra=IN_ID, description="MLP hidden width.")
    vocab_size: int = Field(..., json_schema_extra=IN_ID, description="Model vocabulary size.")
    context_length: int = Field(..., json_schema_extra=IN_ID, description="Tokens per sequence.")
    N_nonembed: int = Field(..., json_schema_extra=IN_ID, description="Non-embedding parameters (Kaplan).")
    N_with_head: int = Field(..., json_schema_extra=IN_ID, description="Non-embedding plus output head (Hoffmann/Porian).")
    N_total: int = Field(..., json_schema_extra=IN_ID, description="All unique parameters.")
    target_size: Optional[float] = Field(None, description="Requested parameter count, if sized from one.")
    size_error: Optional[float] = Field(None, description="Actual/requested − 1 for the count the request meant (None: explicit shape).")
    tokens: int = Field(..., json_schema_extra=IN_ID, description="Training tokens D = steps × batch_size × context_length.")
    steps: int = Field(..., json_schema_extra=IN_ID, description="Optimiser steps.")
    batch_size: int = Field(..., json_schema_extra=IN_ID, description="Sequences per optimiser step.")
    grad_accum: int = Field(..., json_schema_extra=IN_ID, description="Micro-batches per step.")
    lr: float = Field(..., json_schema_extra=IN_ID, description="Peak learning rate.")
    schedule: ScheduleConfig = Field(..., json_schema_extra=IN_ID, description="LR schedule (its length is this run's steps).")
    optimizer: OptimizerConfig = Field(..., json_schema_extra=IN_ID, description="AdamW settings.")
    precision: str = Field(..., json_schema_extra=IN_ID, description="fp32 or bf16 ('auto' resolved at plan time; 'auto' only in old records).")
    compile: bool = Field(False, json_schema_extra=IN_ID, description="torch.compile the model.")
    seed: int = Field(..., json_schema_extra=IN_ID, description="Seed of weights and data order.")
    data: DataConfig = Field(..., json_schema_extra=IN_ID, description="Corpus and eval set.")
    spike_factor: float = Field(..., json_schema_extra=IN_ID, description="Divergence threshold on train loss.")
    eval_batch_sequences: int = Field(64, json_schema_extra=IN_ID, description="Sequences per eval forward pass.")
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
        """The fields that change the outcome (hashed into the run id): those marked IN_ID."""
        payload = id_payload(self)
        payload["precision"] = _PRECISION_IN_ID.get(payload["precision"], payload["precision"])
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
    from harness.data.tokenizers import PretrainedTokenizer

    return PretrainedTokenizer(data.tokenizer_name).vocab_size


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


def resolve_precision(precision: str, cuda: bool) -> str:
    """'auto' becomes bf16 where CUDA is used and fp32 elsewhere; fp32 and bf16 stay as asked."""
    return ("bf16" if cuda else "fp32") if precision == "auto" else precision


def _cuda_available() -> bool:
    import torch  # only when precision is 'auto': planning explicit precisions does not load torch

    return torch.cuda.is_available()


def _sized(sweep: SweepConfig, vocab: int, target: float) -> tuple[ModelShape, Optional[float], Optional[float]]:
    m, ctx = sweep.model, sweep.data.context_length
    shape, err = shape_for_params(target, m.family, vocab, ctx, m.size_by, m.aspect_ratio, m.head_dim)
    if not 1 / SIZE_TOLERANCE <= 1 + err <= SIZE_TOLERANCE:
        raise ConfigError(f"model.sizes: {target:g} is out of the sizer's reach: the closest shape "
                          f"{shape.n_layer}x{shape.d_model} has {(1 + err) * target:.3g} {m.size_by} parameters "
                          f"({err:+.0%}); give an explicit shape or another size")
    return shape, target, err


def _shapes(sweep: SweepConfig, vocab: int) -> list[tuple[ModelShape, Optional[float], Optional[float]]]:
    m = sweep.model
    shapes = [_sized(sweep, vocab, t) for t in m.sizes]
    for s in m.shapes:
        shapes.append((ModelShape(s.n_layer, s.d_model, s.n_head, s.d_ff or default_d_ff(m.family, s.d_model)), None, None))
    return shapes


def _budgets(sweep: SweepConfig, n_total: int) -> list[tuple[float, str]]:
    b = sweep.budgets
    if b.mode == "grid":
        return [(d, f"D={d:.3g}") for d in b.tokens]
    if b.mode == "tokens_per_param":
        return [(r * n_total, f"D/N={r:g}") for r in b.tokens_per_param]
    return [(tokens_for_compute(c, n_total), f"C={c:.3g}") for c in b.compute]


def _batching(sweep: SweepConfig) -> tuple[int, int]:
    t, ctx = sweep.training, sweep.data.context_length
    batch = max(1, t.batch_tokens // ctx)
    micro = max(1, (t.micro_batch_tokens or t.batch_tokens) // ctx)
    if micro > batch or batch % micro:
        raise ConfigError(f"training.micro_batch_tokens: {micro} sequences must divide the batch of {batch}")
    return batch, batch // micro


def expand(sweep: SweepConfig, cuda: Optional[bool] = None) -> list[RunSpec]:
    """All runs of a sweep, deterministic order (N, D, seed), duplicates removed.

    ``precision: auto`` is resolved here, before hashing, for where the runs will train: ``cuda``
    (default: whether this machine sees a CUDA device). The same sweep so has different run ids on
    CPU and GPU, as its results differ. Launchers that plan on one machine for another pass ``cuda``.
    """
    vocab, ctx, t = vocab_size_of(sweep.data), sweep.data.context_length, sweep.training
    batch, accum = _batching(sweep)
    if t.precision == "auto" and cuda is None:
        cuda = _cuda_available()
    precision = resolve_precision(t.precision, bool(cuda))
    specs: dict[str, RunSpec] = {}
    for shape, target, err in _shapes(sweep, vocab):
        counts = count_params(sweep.model.family, shape, vocab, ctx)
        for tokens, label in _budgets(sweep, counts.total):
            steps = max(1, round(tokens / (batch * ctx)))
            if steps * batch * ctx > sweep.max_tokens_per_run:
                raise ConfigError(f"budgets: {label} trains {steps * batch * ctx:.3g} tokens (whole batches of "
                                  f"{batch * ctx}), above max_tokens_per_run={sweep.max_tokens_per_run:.3g}")
            for seed in t.seeds:
                spec = RunSpec(
                    sweep=sweep.name, family=sweep.model.family, n_layer=shape.n_layer, d_model=shape.d_model,
                    n_head=shape.n_head, d_ff=shape.d_ff, vocab_size=vocab, context_length=ctx,
                    N_nonembed=counts.non_embedding, N_with_head=counts.with_head, N_total=counts.total,
                    target_size=target, size_error=err, tokens=steps * batch * ctx, steps=steps,
                    batch_size=batch, grad_accum=accum, lr=peak_lr(t.lr, shape.d_model), schedule=t.schedule,
                    optimizer=t.optimizer, precision=precision, compile=t.compile, seed=seed, data=sweep.data,
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
            "N_nonembed": s.N_nonembed, "N_total": s.N_total, "size_err": "–" if s.size_error is None else f"{s.size_error:+.1%}",
            "D": s.tokens, "C_6ND": f["6N_total"] * s.tokens, "C_full": f["full"] * s.tokens,
            "steps": s.steps, "tok/param": s.tokens / s.N_total, "lr": s.lr, "precision": s.precision, "budget": s.budget,
        })
    return pd.DataFrame(rows)
