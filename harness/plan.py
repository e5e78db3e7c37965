"""Expand a sweep into a flat, deterministic list of run specs before anything trains."""
from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Optional

import pandas as pd
from pydantic import Field

from harness.errors import ConfigError
from harness.config import (
    IN_ID, IN_ID_UNLESS_DEFAULT, DataConfig, LRConfig, OptimizerConfig, ScheduleConfig, Strict, SweepConfig,
)
from harness.datawall import unique_caps
from harness.hashing import content_hash, id_payload
from harness.design import CONVENTION_SIZE_BY, design_sizes, flops_per_token_for
from harness.hparams import batch_sequences, rule_hparams
from harness.schedule import warmup_steps
from harness.sizing import ModelShape, count_params, default_d_ff, flops_per_token, shape_for_params, tokens_for_compute
from harness.store import TRUNK_PREFIX

SIZE_TOLERANCE = 1.5  # a target size the sizer misses by more than this factor either way is refused
# precision as hashed: fp32 (explicit, or auto resolved on CPU) keeps the legacy value "auto" that records
# made before auto was resolved at plan time hashed, so CPU run ids are unchanged
_PRECISION_IN_ID = {"auto": "auto", "fp32": "auto", "bf16": "bf16"}


class RunSpec(Strict):
    """One fully derived run: everything train() needs, nothing computed twice later.

    Fields marked ``IN_ID`` are hashed into the run id (see :func:`harness.hashing.id_payload`); a new
    field that changes the outcome must use ``IN_ID_UNLESS_DEFAULT`` so existing records keep their ids.
    """

    sweep: str = Field(..., description="Sweep name (not part of the run id's hash).")
    run_id: str = Field("", description="Readable name plus a content hash of what changes the outcome.")
    family: str = Field(..., json_schema_extra=IN_ID, description="gpt2, llama or mamba.")
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
    train_eval: bool = Field(False, description="Score a fixed train sample at every eval (no effect on training).")
    checkpoint_interval: int = Field(200, description="Steps between checkpoints.")
    budget: str = Field("", description="The grid cell this run came from, e.g. 'C=1e15'.")
    lr_multiplier: float = Field(1.0, description="Multiplier of the rule's LR (training.lr.sweep); 1 without a sweep.")
    hparam_rule: str = Field("", description="Published rule that set LR/batch/warm-up/β2 (training.hparams), if any.")
    branch_steps: list[int] = Field(default_factory=list, json_schema_extra=IN_ID_UNLESS_DEFAULT,
                                    description="Cooldown-branching trunk: steps after which a branch-point "
                                    "checkpoint is saved and kept (empty: not a trunk).")
    branch_of: str = Field("", json_schema_extra=IN_ID_UNLESS_DEFAULT,
                           description="Cooldown branch: run id of the trunk it starts from (empty: none).")
    branch_step: int = Field(0, json_schema_extra=IN_ID_UNLESS_DEFAULT,
                             description="Cooldown branch: the trunk step it starts from (its cooldown's first).")
    unique_tokens: Optional[int] = Field(None, json_schema_extra=IN_ID_UNLESS_DEFAULT,
                                         description="Cap on unique training tokens U (data.unique_tokens); None: the whole corpus.")
    cpu_threads: int = Field(1, ge=1, json_schema_extra=IN_ID_UNLESS_DEFAULT,
                             description="torch threads this run trains with on CPU (training.cpu_threads): CPU sums "
                             "depend on the thread count, so it is part of the run, not of the worker layout.")

    @property
    def shape(self) -> ModelShape:
        """The model shape."""
        return ModelShape(self.n_layer, self.d_model, self.n_head, self.d_ff)

    @property
    def flops(self) -> dict[str, float]:
        """Training FLOPs per token under the three conventions (see harness.sizing)."""
        counts = count_params(self.family, self.shape, self.vocab_size, self.context_length)
        return flops_per_token(counts, self.shape, self.vocab_size, self.context_length, self.family)

    def outcome_payload(self) -> dict:
        """The fields that change the outcome (hashed into the run id): those marked IN_ID."""
        payload = id_payload(self)
        payload["precision"] = _PRECISION_IN_ID.get(payload["precision"], payload["precision"])
        payload["data"]["synthetic"] = self.data.synthetic.identity()  # a Markov language hashes as before facts
        return payload


def make_run_id(spec: RunSpec) -> str:
    """Readable name plus content hash, e.g. gpt2-L2-d32-D1.0e6-s0-3f2a9c01d4."""
    role = TRUNK_PREFIX if spec.branch_steps else ""  # cooldown-branching trunks: kept out of the run table
    cap = "" if spec.unique_tokens is None else f"-U{spec.unique_tokens:.1e}"  # only when the sweep caps U
    return (f"{role}{spec.family}-L{spec.n_layer}-d{spec.d_model}-D{spec.tokens:.1e}{cap}-s{spec.seed}-"
            f"{content_hash(spec.outcome_payload())}").replace("+", "")


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


def _sized(sweep: SweepConfig, vocab: int, target: float, size_by: str) -> tuple[ModelShape, float, float]:
    m, ctx = sweep.model, sweep.data.context_length
    shape, err = shape_for_params(target, m.family, vocab, ctx, size_by, m.aspect_ratio, m.head_dim, m.width_multiple)
    if not 1 / SIZE_TOLERANCE <= 1 + err <= SIZE_TOLERANCE:
        raise ConfigError(f"model.sizes: {target:g} is out of the sizer's reach: the closest shape "
                          f"{shape.n_layer}x{shape.d_model} has {(1 + err) * target:.3g} {size_by} parameters "
                          f"({err:+.0%}); give an explicit shape or another size")
    return shape, target, err


def _shapes(sweep: SweepConfig, vocab: int, sizes=None,
            size_by=None) -> list[tuple[ModelShape, Optional[float], Optional[float]]]:
    m = sweep.model
    sizes, size_by = (m.sizes if sizes is None else sizes), (size_by or m.size_by)
    shapes = [_sized(sweep, vocab, t, size_by) for t in sizes]
    for s in m.shapes:
        shapes.append((ModelShape(s.n_layer, s.d_model, s.n_head, s.d_ff or default_d_ff(m.family, s.d_model)), None, None))
    return shapes


def _budgets(sweep: SweepConfig, n_total: int, per_token: Optional[float] = None) -> list[tuple[float, str]]:
    b = sweep.budgets
    if b.mode == "grid":
        return [(d, f"D={d:.3g}") for d in b.tokens]
    if b.mode == "tokens_per_param":
        return [(r * n_total, f"D/N={r:g}") for r in b.tokens_per_param]
    if per_token is not None:  # budgets.convention other than total (harness.design)
        return [(c / per_token, f"C={c:.3g}") for c in b.compute]
    return [(tokens_for_compute(c, n_total), f"C={c:.3g}") for c in b.compute]


def _batching(sweep: SweepConfig) -> tuple[int, int]:
    t, ctx = sweep.training, sweep.data.context_length
    batch = max(1, t.batch_tokens // ctx)
    micro = max(1, (t.micro_batch_tokens or t.batch_tokens) // ctx)
    if micro > batch or batch % micro:
        raise ConfigError(f"training.micro_batch_tokens: {micro} sequences must divide the batch of {batch}")
    return batch, batch // micro


def _cells(sweep: SweepConfig, vocab: int):
    """(shape, target, size error, counts, tokens, label) for every size × budget cell of the sweep."""
    b, ctx, family = sweep.budgets, sweep.data.context_length, sweep.model.family
    if b.mode == "isoflop" and b.centre is not None:
        for c in b.compute:
            seen = set()
            for shape, target, err in _shapes(sweep, vocab, design_sizes(b, c), CONVENTION_SIZE_BY[b.convention]):
                counts = count_params(family, shape, vocab, ctx)
                if shape not in seen:
                    seen.add(shape)
                    per_token = flops_per_token_for(b.convention, flops_per_token(counts, shape, vocab, ctx, family), counts.with_head)
                    yield shape, target, err, counts, c / per_token, f"C={c:.3g}"
        return
    for shape, target, err in _shapes(sweep, vocab):
        counts = count_params(family, shape, vocab, ctx)
        per_token = None if b.convention == "total" else flops_per_token_for(
            b.convention, flops_per_token(counts, shape, vocab, ctx, family), counts.with_head)
        for tokens, label in _budgets(sweep, counts.total, per_token):
            yield shape, target, err, counts, tokens, label


def _settings(sweep: SweepConfig, shape: ModelShape, counts, tokens: float, vocab: int):
    """(batch, accum, lr, schedule, optimizer) of one cell: the sweep's fixed settings or its hparams rule."""
    t, ctx = sweep.training, sweep.data.context_length
    batch, accum = _batching(sweep)
    if t.hparams.rule == "none":
        return batch, accum, peak_lr(t.lr, shape.d_model), t.schedule, t.optimizer
    m_per_token = flops_per_token(counts, shape, vocab, ctx, sweep.model.family)["full"] - 6 * shape.d_model * vocab  # DeepSeek's M
    hp = rule_hparams(t.hparams, counts.with_head, m_per_token * tokens)
    batch = batch_sequences(t.hparams, hp.batch_tokens, ctx)
    micro = min(batch, max(1, (t.micro_batch_tokens or t.batch_tokens) // ctx))
    if batch % micro:
        raise ConfigError(f"training.micro_batch_tokens: {micro} sequences must divide the rule's batch of {batch}")
    schedule, optimizer = t.schedule, t.optimizer
    if t.hparams.warmup == "rule":
        schedule = schedule.model_copy(update={"warmup_fraction": min(0.5, hp.warmup_tokens / tokens)})
    if hp.beta2 is not None:
        optimizer = optimizer.model_copy(update={"beta2": hp.beta2})
    return batch, batch // micro, hp.lr, schedule, optimizer


def expand(sweep: SweepConfig, cuda: Optional[bool] = None) -> list[RunSpec]:
    """All runs of a sweep, deterministic order (N, D, seed), duplicates removed.

    ``precision: auto`` is resolved here, before hashing, for where the runs will train: ``cuda``
    (default: whether this machine sees a CUDA device). The same sweep so has different run ids on
    CPU and GPU, as its results differ. Launchers that plan on one machine for another pass ``cuda``.
    ``model.families`` expands the sweep once per family (see :func:`expand_families`).
    """
    if sweep.model.families:
        return expand_families(sweep, cuda)
    if sweep.extra_grids:
        return expand_extra_grids(sweep, cuda)
    vocab, ctx, t = vocab_size_of(sweep.data), sweep.data.context_length, sweep.training
    if t.precision == "auto" and cuda is None:
        cuda = _cuda_available()
    precision = resolve_precision(t.precision, bool(cuda))
    specs: dict[str, RunSpec] = {}
    caps, data = unique_caps(sweep.data), sweep.data.model_copy(update={"unique_tokens": []})  # U: RunSpec field
    for shape, target, err, counts, tokens, label in _cells(sweep, vocab):
        batch, accum, lr, schedule, optimizer = _settings(sweep, shape, counts, tokens, vocab)
        steps = max(1, round(tokens / (batch * ctx)))
        if steps * batch * ctx > sweep.max_tokens_per_run:
            raise ConfigError(f"budgets: {label} trains {steps * batch * ctx:.3g} tokens (whole batches of "
                              f"{batch * ctx}), above max_tokens_per_run={sweep.max_tokens_per_run:.3g}")
        for mult, cap, seed in itertools.product(t.lr.sweep or [1.0], caps, t.seeds):
            spec = RunSpec(
                sweep=sweep.name, family=sweep.model.family, n_layer=shape.n_layer, d_model=shape.d_model,
                n_head=shape.n_head, d_ff=shape.d_ff, vocab_size=vocab, context_length=ctx,
                N_nonembed=counts.non_embedding, N_with_head=counts.with_head, N_total=counts.total,
                target_size=target, size_error=err, tokens=steps * batch * ctx, steps=steps,
                batch_size=batch, grad_accum=accum, lr=lr * mult, schedule=schedule,
                optimizer=optimizer, precision=precision, compile=t.compile, seed=seed, data=data, unique_tokens=cap,
                spike_factor=t.spike_factor, eval_batch_sequences=t.eval_batch_sequences,
                eval_interval=t.eval_interval, train_eval=t.train_eval, checkpoint_interval=t.checkpoint_interval, budget=label,
                lr_multiplier=mult, hparam_rule="" if t.hparams.rule == "none" else t.hparams.rule,
                cpu_threads=t.cpu_threads,
            )
            spec = spec.model_copy(update={"run_id": make_run_id(spec)})
            specs.setdefault(spec.run_id, spec)
            if len(specs) > sweep.max_runs:
                raise ConfigError(f"budgets: the sweep expands to more than max_runs={sweep.max_runs} runs")
    ordered = sorted(specs.values(), key=_plan_order)
    if sweep.budgets.branching != "none":
        from harness.branching import branch_plan

        return branch_plan(ordered, sweep.budgets)
    return ordered


def _plan_order(spec: RunSpec) -> tuple:
    """A plan's run order: N, D, U (uncapped last), seed, id."""
    return spec.N_total, spec.tokens, spec.unique_tokens or math.inf, spec.seed, spec.run_id


def expand_extra_grids(sweep: SweepConfig, cuda: Optional[bool] = None) -> list[RunSpec]:
    """The runs of a sweep with ``extra_grids``: its own grid's and every extra grid's (their lists in place of the
    sweep's), each run once (an extra grid's run has the id it would have in the sweep's own grid), in plan order."""
    specs: dict[str, RunSpec] = {}
    parts = [sweep.model_copy(update={"extra_grids": []})] + [grid.applied_to(sweep) for grid in sweep.extra_grids]
    for i, part in enumerate(parts):
        try:
            for spec in expand(part, cuda):
                specs.setdefault(spec.run_id, spec)
        except ConfigError as exc:
            raise ConfigError(f"extra_grids[{i - 1}]: {exc}" if i else str(exc)) from None
    if len(specs) > sweep.max_runs:
        raise ConfigError(f"budgets: the sweep expands to more than max_runs={sweep.max_runs} runs")
    return sorted(specs.values(), key=_plan_order)


def expand_families(sweep: SweepConfig, cuda: Optional[bool] = None) -> list[RunSpec]:
    """The runs of a multi-family sweep: the same sizes, budgets and settings once per ``model.families`` entry.

    Each family's runs are exactly those of the sweep with ``family`` set to it (same ids), in the listed order.
    """
    specs: list[RunSpec] = []
    for family in sweep.model.families:
        model = sweep.model.model_copy(update={"family": family, "families": []})
        specs += expand(sweep.model_copy(update={"model": model}), cuda)
    if len(specs) > sweep.max_runs:
        raise ConfigError(f"budgets: the sweep expands to more than max_runs={sweep.max_runs} runs")
    return specs


def planned_runs(sweep: SweepConfig, root=None) -> list[RunSpec]:
    """The plan as read-only commands see it, without importing torch: with ``precision: auto`` the run ids differ
    on CPU (fp32) and GPU (bf16), and records may come from either (a sweep trained on GPU nodes, read on a CPU
    login node). Each cell is the GPU variant when ``root`` holds a directory of that run, else the CPU one."""
    cpu = expand(sweep, cuda=False)
    if sweep.training.precision != "auto":
        return cpu
    gpu = {_cell_key(s): s for s in expand(sweep, cuda=True)}
    chosen = []
    for spec in cpu:
        other = gpu.get(_cell_key(spec))
        on_gpu = other is not None and root is not None and (Path(root) / other.run_id).is_dir()
        chosen.append(other if on_gpu else spec)
    return chosen


def planned_run_ids(sweep: SweepConfig) -> set[str]:
    """Every run id the plan can have on either device (see ``planned_runs``)."""
    ids = {s.run_id for s in expand(sweep, cuda=False)}
    return ids | ({s.run_id for s in expand(sweep, cuda=True)} if sweep.training.precision == "auto" else set())


def _cell_key(spec: RunSpec) -> str:
    """What identifies a run apart from its device's precision."""
    return content_hash({**spec.outcome_payload(), "precision": None})


def load_and_expand(source: str) -> tuple[SweepConfig, list[RunSpec]]:
    """Load a sweep file (path or name) and expand it; errors name the file."""
    from harness.config import load_sweep_or_name

    config = load_sweep_or_name(source)
    try:
        return config, expand(config)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _plan_extras(s: RunSpec) -> dict:
    """Plan columns for the other budget conventions and the per-size optimiser settings."""
    return {"C_6ND_nonembed": 6 * s.N_nonembed * s.tokens, "C_6ND_head": 6 * s.N_with_head * s.tokens,
            "batch_tok": s.batch_size * s.context_length,
            "warmup_tok": warmup_steps(s.schedule, s.steps) * s.batch_size * s.context_length,   # as trained
            "beta2": s.optimizer.beta2, "lr_mult": s.lr_multiplier,
            "U": math.nan if s.unique_tokens is None else float(s.unique_tokens)}  # data.unique_tokens cap


def plan_table(specs: list[RunSpec]) -> pd.DataFrame:
    """The plan as a table: shape, both N, D, C under every convention, steps, tokens/param, LR, batch, warm-up, β2."""
    rows = []
    for s in specs:
        f = s.flops
        rows.append({
            "run_id": s.run_id, "family": s.family, "shape": f"{s.n_layer}x{s.d_model} h{s.n_head} ff{s.d_ff}",
            "N_nonembed": s.N_nonembed, "N_total": s.N_total, "size_err": "–" if s.size_error is None else f"{s.size_error:+.1%}",
            "D": s.tokens, "C_6ND": f["6N_total"] * s.tokens, "C_full": f["full"] * s.tokens,
            "steps": s.steps, "tok/param": s.tokens / s.N_total, "lr": s.lr, "precision": s.precision, "budget": s.budget,
            **_plan_extras(s),
        })
    return pd.DataFrame(rows)
