"""Sweep and run specifications: pydantic models and run ids.

A sweep file (YAML, safe-loaded by :mod:`harness.config_io`) is validated into :class:`SweepConfig`;
:mod:`harness.plan` expands it into flat :class:`RunSpec` objects. Every field carries a description; unknown
fields are errors. ``load_sweep``, ``load_sweep_or_name`` and ``parse_sweep`` live in :mod:`harness.config_io` and
are importable from here too.
"""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.errors import ConfigError  # noqa: F401 (for validators; the YAML loaders moved to harness.config_io)
from harness.hashing import content_hash, id_payload, safe_name  # noqa: F401 (re-exported: run-id hashing)

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


MAX_SEED = 2**32 - 1  # numpy's legacy seeding and every torch generator accept seeds below 2**32
MAX_LIST = 1000  # longest sizes/shapes/budget/seed list: fails fast instead of sizing 70,000 models
MAX_D_FF_RATIO = 64  # d_ff at most this × d_model
IN_ID = {"run_id": "always"}  # json_schema_extra: the field's value is hashed into the run id
IN_ID_UNLESS_DEFAULT = {"run_id": "unless_default"}  # hashed only when it differs from the field's default


class Strict(BaseModel):
    """Base model: unknown fields are errors, instances are immutable, floats are finite."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


_FACTS_FIELDS = ("kind", "fact_exponent", "noise")


class SyntheticConfig(Strict):
    """A generated language with an exactly known loss floor: an order-k Markov chain, or Zipf facts."""

    kind: Literal["markov", "facts"] = Field(
        "markov", json_schema_extra=IN_ID_UNLESS_DEFAULT, description="markov: order-k Markov chain (harness.data.synthetic); facts: Zipf-distributed "
        "two-symbol keys and their values, a language whose loss follows power laws in N and D (harness.data.facts).")
    vocab_size: int = Field(64, ge=2, le=4096, json_schema_extra=IN_ID, description="Number of symbols V.")
    order: int = Field(2, ge=1, le=4, json_schema_extra=IN_ID, description="Markov order k: each symbol depends on the k before it.")
    zipf_exponent: float = Field(1.1, gt=0, le=5, json_schema_extra=IN_ID, description="Skew s of each transition row, p_i ∝ i^-s.")
    unigram_exponent: float = Field(1.0, ge=0, le=5, json_schema_extra=IN_ID, description="Global skew t: row weights × (y+1)^-t, so some symbols and contexts are rare.")
    backoff: float = Field(0.5, ge=0, le=1, json_schema_extra=IN_ID, description="Weight of the order-1 (bigram) row mixed into every order-k row.")
    seed: int = Field(0, ge=0, le=MAX_SEED, json_schema_extra=IN_ID, description="Seed of the transition table (the language itself).")
    train_tokens: int = Field(4_000_000, ge=1024, le=2_000_000_000, json_schema_extra=IN_ID, description="Training tokens generated.")
    fact_exponent: float = Field(1.2, gt=0, le=5, json_schema_extra=IN_ID_UNLESS_DEFAULT, description="facts: Zipf exponent s of each key symbol, q(y) ∝ rank^-s.")
    noise: float = Field(0.1, ge=0, lt=1, json_schema_extra=IN_ID_UNLESS_DEFAULT, description="facts: probability that a value is a uniform symbol, not the fact.")

    def identity(self) -> dict[str, Any]:
        """The fields that decide the language (hashed into run ids and cache keys).

        A Markov language leaves out the facts-only fields, so its ids are those from before they existed.
        """
        dump = self.model_dump()
        return {k: v for k, v in dump.items() if k not in _FACTS_FIELDS} if self.kind == "markov" else dump

    @model_validator(mode="after")
    def _state_space_fits(self) -> "SyntheticConfig":
        if self.kind == "markov" and self.vocab_size ** (self.order + 1) > 50_000_000:
            raise ValueError("vocab_size**(order+1) must stay below 5e7 (the transition table)")
        return self


class DataConfig(Strict):
    """Where the tokens come from and how the held-out test set is built."""

    source: Literal["synthetic", "text", "hf", "python-stdlib"] = Field(
        "synthetic", json_schema_extra=IN_ID, description="Corpus: generated Markov language, local text files, a HF dataset, or stdlib sources.")
    path: Optional[str] = Field(None, json_schema_extra=IN_ID, description="text: file, folder or glob; hf: dataset name, local dir or parquet glob.")
    hf_config: Optional[str] = Field(None, json_schema_extra=IN_ID, description="hf: dataset configuration name.")
    hf_split: str = Field("train", json_schema_extra=IN_ID, description="hf: split to read documents from.")
    text_column: str = Field("text", json_schema_extra=IN_ID, description="hf: column holding the document text.")
    streaming: bool = Field(False, description="hf: stream the dataset instead of downloading it whole.")
    max_documents: Optional[int] = Field(None, ge=1, json_schema_extra=IN_ID, description="Read at most this many documents.")
    tokenizer: Literal["byte", "bpe", "pretrained"] = Field(
        "byte", json_schema_extra=IN_ID, description="byte: UTF-8 bytes; bpe: trained locally on the train split; pretrained: AutoTokenizer.")
    tokenizer_name: Optional[str] = Field(None, json_schema_extra=IN_ID, description="pretrained: hub name or local path.")
    bpe_vocab_size: int = Field(4096, ge=260, le=200_000, json_schema_extra=IN_ID, description="bpe: vocabulary size to train.")
    context_length: int = Field(64, ge=4, le=32768, json_schema_extra=IN_ID, description="Tokens per training/eval sequence.")
    eval_tokens: int = Field(32768, ge=64, le=100_000_000, json_schema_extra=IN_ID, description="Held-out tokens the test loss averages over.")
    test_fraction: float = Field(0.05, gt=0, lt=0.5, json_schema_extra=IN_ID, description="Share of documents held out (non-synthetic).")
    split_seed: int = Field(0, ge=0, le=MAX_SEED, json_schema_extra=IN_ID, description="Seed of the document-level train/test split.")
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig, json_schema_extra=IN_ID, description="Synthetic source settings.")
    unique_tokens: list[float] = Field(
        default_factory=list, max_length=MAX_LIST, json_schema_extra=IN_ID_UNLESS_DEFAULT,
        description="Caps on unique training tokens U, one plan axis: a run of D tokens makes D/U epochs over the first U.")
    available_tokens: Optional[float] = Field(
        None, gt=0, description="Unique training tokens the corpus holds, if known (plan's epochs and repeat warning).")

    @field_validator("path")
    @classmethod
    def _normalise_path(cls, path: Optional[str]) -> Optional[str]:
        return path.rstrip("/") or "/" if path else path

    @field_validator("unique_tokens")
    @classmethod
    def _unique_caps(cls, caps: list[float]) -> list[float]:
        if any(not (u >= 1) or u > 1e15 for u in caps) or len(set(caps)) != len(caps):
            raise ValueError("every unique_tokens cap must be distinct, at least 1 and at most 1e15")
        return caps

    @model_validator(mode="after")
    def _source_fields(self) -> "DataConfig":
        if self.source in ("text", "hf") and not self.path:
            raise ValueError(f"source '{self.source}' needs 'path'")
        if self.tokenizer == "pretrained" and not self.tokenizer_name:
            raise ValueError("tokenizer 'pretrained' needs 'tokenizer_name'")
        if self.source == "synthetic" and self.tokenizer != "byte":
            raise ValueError("the synthetic source emits symbol ids directly: use tokenizer 'byte'")
        return self


class Shape(Strict):
    """An explicit transformer shape."""

    n_layer: int = Field(..., ge=1, le=256, description="Number of transformer blocks.")
    d_model: int = Field(..., ge=4, le=65536, description="Residual stream width.")
    n_head: int = Field(..., ge=1, le=1024, description="Attention heads (d_model must divide evenly).")
    d_ff: Optional[int] = Field(None, ge=4, description="MLP hidden width (at most 64·d_model); default 4·d (gpt2) or ~8/3·d (llama).")

    @model_validator(mode="after")
    def _heads_divide(self) -> "Shape":
        if self.d_model % self.n_head:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_head {self.n_head}")
        if self.d_ff is not None and self.d_ff > MAX_D_FF_RATIO * self.d_model:
            raise ValueError(f"d_ff {self.d_ff} exceeds {MAX_D_FF_RATIO}·d_model = {MAX_D_FF_RATIO * self.d_model}")
        return self


class ModelConfig(Strict):
    """Model family and the sizes to sweep (target parameter counts or explicit shapes)."""

    family: Literal["gpt2", "llama", "mamba"] = Field("gpt2", description="transformers architecture (mamba: state-space).")
    families: list[Literal["gpt2", "llama", "mamba"]] = Field(
        default_factory=list, max_length=3,
        description="Several architectures on the same sizes and budgets (a plan axis); replaces family when given.")
    sizes: list[float] = Field(default_factory=list, max_length=MAX_LIST, description="Target parameter counts (see size_by).")
    shapes: list[Shape] = Field(default_factory=list, max_length=MAX_LIST, description="Explicit shapes (instead of, or besides, sizes).")
    size_by: Literal["non_embedding", "total"] = Field(
        "non_embedding", description="Which count a target size means: Kaplan's non-embedding or the total.")
    aspect_ratio: float = Field(32.0, gt=0, le=1024, description="Preferred d_model / n_layer when sizing.")
    head_dim: int = Field(16, ge=4, le=256, description="Head dimension when sizing (one head below it).")
    width_multiple: Optional[int] = Field(
        None, ge=1, le=1024, description="Sizing: d_model in multiples of this (e.g. 64 on GPUs); default head_dim.")

    @field_validator("families")
    @classmethod
    def _distinct_families(cls, families: list[str]) -> list[str]:
        if len(set(families)) != len(families):
            raise ValueError("families lists a family twice")
        return families

    @field_validator("sizes")
    @classmethod
    def _positive_sizes(cls, sizes: list[float]) -> list[float]:
        if any(not (s >= 1000) or s > 1e12 for s in sizes):
            raise ValueError("every size must be between 1e3 and 1e12 parameters")
        return sizes

class IsoflopCentre(Strict):
    """Where an isoFLOP design centres its sizes: a tokens-per-parameter rule or a published fit's N_opt(C)."""

    rule: Literal["tokens_per_param", "published"] = Field(..., description="tokens_per_param: N = sqrt(C/(6·r)); published: a registry fit.")
    value: float = Field(20.0, gt=0, le=1e6, description="tokens_per_param: the ratio r = D/N (Chinchilla: ~20).")
    fit: Optional[str] = Field(None, description="published: id in harness/published_fits.yaml, e.g. hoffmann2022_a3.")

    @model_validator(mode="after")
    def _fit_named(self) -> "IsoflopCentre":
        if self.rule == "published" and not self.fit:
            raise ValueError("rule 'published' needs 'fit' (an id in harness/published_fits.yaml)")
        return self


class BudgetConfig(Strict):
    """Token budgets: grid (sizes × tokens), tokens_per_param (sizes × D/N) or isoflop (C × sizes)."""

    mode: Literal["grid", "tokens_per_param", "isoflop"] = Field("grid", description="How D is chosen per size.")
    tokens: list[float] = Field(default_factory=list, max_length=MAX_LIST, description="grid: token budgets D.")
    tokens_per_param: list[float] = Field(default_factory=list, max_length=MAX_LIST, description="tokens_per_param: ratios D/N.")
    compute: list[float] = Field(default_factory=list, max_length=MAX_LIST, description="isoflop: budgets C in FLOPs, D = C/(6N).")
    convention: Literal["total", "non_embedding", "with_head", "full"] = Field(
        "total", description="isoflop: FLOPs a budget counts per token: 6·N_total, 6·N_nonembed, 6·N_with_head or full (attention, logits).")
    centre: Optional[IsoflopCentre] = Field(None, description="isoflop: sizes per budget centred on a predicted optimum (else model.sizes).")
    span: float = Field(4.0, gt=1, le=1000, description="isoflop centre: sizes run from N_opt/span to N_opt·span.")
    points: int = Field(7, ge=2, le=50, description="isoflop centre: sizes per budget, log-spaced.")
    branching: Literal["none", "wsd"] = Field(
        "none", description="wsd: one constant-LR trunk per (size, seed); each budget branches off it into a cooldown.")
    cooldown_fraction: float = Field(0.2, gt=0, lt=1, description="wsd branching: share of each budget spent cooling down.")
    cooldown_shape: Literal["linear", "1-sqrt"] = Field(
        "linear", description="wsd branching: cooldown shape (Hägele et al. 2024: linear or 1-sqrt).")

    @model_validator(mode="after")
    def _branching_mode(self) -> "BudgetConfig":
        if self.branching != "none" and self.mode == "isoflop":
            raise ValueError("branching 'wsd' needs several budgets per size: use mode grid or tokens_per_param")
        return self

    @model_validator(mode="after")
    def _mode_values(self) -> "BudgetConfig":
        wanted = {"grid": "tokens", "tokens_per_param": "tokens_per_param", "isoflop": "compute"}[self.mode]
        values = getattr(self, wanted)
        if not values:
            raise ValueError(f"mode '{self.mode}' needs a non-empty '{wanted}' list")
        if any(not (v > 0) or v > 1e30 for v in values):
            raise ValueError(f"every value in '{wanted}' must be positive and finite")
        if self.centre is not None and self.mode != "isoflop":
            raise ValueError("'centre' is only for mode 'isoflop'")
        return self


class LRConfig(Strict):
    """Peak learning rate: constant, scaled with width (base·(base_width/d)^exponent), or a width table."""

    rule: Literal["constant", "width", "table"] = Field("constant", description="How peak LR depends on the shape.")
    base: float = Field(3e-3, gt=0, le=10, description="Peak LR (constant) or LR at base_width (width).")
    base_width: int = Field(64, ge=1, description="width: the d_model at which LR equals base.")
    exponent: float = Field(1.0, ge=0, le=4, description="width: LR ∝ (base_width/d_model)^exponent.")
    table: dict[int, float] = Field(default_factory=dict, max_length=MAX_LIST, description="table: d_model → peak LR.")
    sweep: list[float] = Field(default_factory=list, max_length=MAX_LIST, description="Multipliers of the rule's LR, one run each, e.g. [0.5, 1, 2]; fits keep the best per size.")

    @field_validator("sweep")
    @classmethod
    def _multipliers(cls, sweep: list[float]) -> list[float]:
        if any(not (0 < m <= 100) for m in sweep) or len(set(sweep)) != len(sweep):
            raise ValueError("sweep multipliers must be distinct and in (0, 100]")
        return sweep

    @model_validator(mode="after")
    def _table_given(self) -> "LRConfig":
        if self.rule == "table" and not self.table:
            raise ValueError("rule 'table' needs a non-empty 'table' of d_model: lr")
        if any(w < 1 for w in self.table):
            raise ValueError("widths (keys) in 'table' must be positive integers")
        if any(not (v > 0) for v in self.table.values()):
            raise ValueError("learning rates in 'table' must be positive and finite")
        return self


class HparamRuleConfig(Strict):
    """Per-size LR, batch, warm-up and β2 from a published rule (harness.hparams); replaces lr.rule and batch_tokens
    (micro_batch_tokens and lr.sweep multipliers still apply); 'none' keeps the fixed settings."""

    rule: Literal["none", "porian2024", "deepseek2024"] = Field("none", description="Published rule naming LR and batch per size.")
    warmup: Literal["rule", "fraction"] = Field("rule", description="rule: warm-up = N tokens (Porian 2024); fraction: schedule.warmup_fraction.")
    min_batch_tokens: int = Field(8192, ge=4, description="Lower clamp on the rule's batch (tokens).")
    max_batch_tokens: int = Field(4_194_304, ge=4, description="Upper clamp on the rule's batch (tokens).")


class ScheduleConfig(Strict):
    """Warm-up then cosine to final_lr_fraction of peak over exactly the run's budget, or WSD."""

    kind: Literal["cosine", "wsd", "constant"] = Field("cosine", json_schema_extra=IN_ID, description="Decay shape after warm-up.")
    warmup_fraction: float = Field(0.05, ge=0, lt=1, json_schema_extra=IN_ID, description="Warm-up length as a share of the run's steps.")
    final_lr_fraction: float = Field(0.1, ge=0, le=1, json_schema_extra=IN_ID, description="LR at the last step, as a share of peak.")
    cooldown_fraction: float = Field(0.2, gt=0, le=1, json_schema_extra=IN_ID, description="wsd: share of steps spent decaying.")
    cooldown_shape: Literal["linear", "1-sqrt"] = Field(
        "linear", json_schema_extra=IN_ID_UNLESS_DEFAULT,
        description="wsd: decay shape, 1-(1-final)·p or 1-(1-final)·sqrt(p) over cooldown progress p.")
    warmup_steps: Optional[int] = Field(
        None, ge=0, json_schema_extra=IN_ID_UNLESS_DEFAULT,
        description="Warm-up length in steps, overriding warmup_fraction. Cooldown branching otherwise sets it to "
                    "warmup_fraction of the smallest budget's steps: set it when a sweep's budgets are split over "
                    "several files that are fitted together, so that every column warms up alike.")


class OptimizerConfig(Strict):
    """AdamW settings."""

    beta1: float = Field(0.9, ge=0, lt=1, json_schema_extra=IN_ID, description="AdamW β1.")
    beta2: float = Field(0.95, ge=0, lt=1, json_schema_extra=IN_ID, description="AdamW β2.")
    eps: float = Field(1e-8, gt=0, json_schema_extra=IN_ID, description="AdamW ε.")
    weight_decay: float = Field(0.1, ge=0, le=10, json_schema_extra=IN_ID, description="Decoupled weight decay (not on norms/biases).")
    grad_clip: float = Field(1.0, ge=0, json_schema_extra=IN_ID, description="Global gradient-norm clip (0 disables).")


class TrainingConfig(Strict):
    """Everything about one run's optimisation that the sweep shares."""

    batch_tokens: int = Field(4096, ge=4, le=2**30, description="Tokens per optimiser step (sequences × context), at most 2**30.")
    micro_batch_tokens: Optional[int] = Field(None, ge=4, le=2**30, description="Tokens per forward pass; accumulate to batch.")
    lr: LRConfig = Field(default_factory=LRConfig, description="Peak learning-rate rule.")
    hparams: HparamRuleConfig = Field(default_factory=HparamRuleConfig, description="Per-size LR/batch/warm-up/β2 from a published rule.")
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig, description="LR schedule.")
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig, description="AdamW settings.")
    seeds: list[int] = Field(default_factory=lambda: [0], max_length=MAX_LIST, description="Seeds (0 ≤ seed < 2**32); each gives its own run.")
    precision: Literal["auto", "fp32", "bf16"] = Field("auto", description="auto: bf16 autocast on CUDA, fp32 on CPU.")
    compile: bool = Field(False, description="torch.compile the model (GPU).")
    cpu_threads: int = Field(
        1, ge=1, le=1024, json_schema_extra=IN_ID_UNLESS_DEFAULT,
        description="torch threads of every CPU run, whatever --workers says: CPU reductions (LayerNorm, matmul, "
        "norm sums) add up in an order set by the thread count, so a run's loss depends on it (up to 0.03 nats at "
        "quickstart sizes); fixing it per run makes the result independent of the worker layout (--workers auto "
        "starts cores // cpu_threads processes). In the run id only when not 1. GPU runs ignore it.")
    eval_interval: int = Field(0, ge=0, description="Steps between interim evals (0: only at the end).")
    train_eval: bool = Field(False, description="Also score a fixed train sample (as many windows as the test set, from the windows the run trains on) at every eval: train_eval_loss beside the test loss, over-fitting detected; doubles eval time.")
    checkpoint_interval: int = Field(200, ge=1, description="Steps between atomic checkpoints.")
    spike_factor: float = Field(4.0, gt=1, description="Diverged if train loss exceeds this × its running minimum.")
    eval_batch_sequences: int = Field(64, ge=1, description="Sequences per eval forward pass.")

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: list[int]) -> list[int]:
        if not seeds or any(not 0 <= s <= MAX_SEED for s in seeds) or len(set(seeds)) != len(seeds):
            raise ValueError("seeds must be a non-empty list of distinct integers in [0, 2**32)")
        return seeds


class ExtraGrid(Strict):
    """More runs of the same sweep: one more grid of sizes × budgets × unique-token caps × seeds, each list the
    sweep's own when left empty. Its runs join the plan with the run ids they would have in the sweep's own grid,
    so a sweep can add a few targeted runs without the full product of every list."""

    sizes: list[float] = Field(default_factory=list, max_length=MAX_LIST, description="Target sizes of this grid (model.sizes; replaces the sweep's sizes and shapes); empty: the sweep's.")
    tokens: list[float] = Field(default_factory=list, max_length=MAX_LIST, description="Token budgets D of this grid (budgets.tokens); empty: the sweep's.")
    unique_tokens: list[float] = Field(default_factory=list, max_length=MAX_LIST, description="Unique-token caps U of this grid (data.unique_tokens); empty: the sweep's.")
    seeds: list[int] = Field(default_factory=list, max_length=MAX_LIST, description="Seeds of this grid (training.seeds); empty: the sweep's.")

    def applied_to(self, sweep: "SweepConfig") -> "SweepConfig":
        """The sweep with this grid's lists in place of its own (validated; ValueError naming the first problem)."""
        raw = sweep.model_dump(exclude={"extra_grids"})
        if self.sizes:
            raw["model"].update(sizes=self.sizes, shapes=[])
        for part, key, value in (("budgets", "tokens", self.tokens), ("data", "unique_tokens", self.unique_tokens),
                                 ("training", "seeds", self.seeds)):
            if value:
                raw[part][key] = value
        try:
            return SweepConfig.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ValueError(f"{where}: {err['msg'].removeprefix('Value error, ')}".removeprefix(": ")) from None


class SweepConfig(Strict):
    """A whole sweep file."""

    name: str = Field(..., pattern=NAME_PATTERN, description="Sweep name: letters, digits, '_', '-', '.'.")
    description: str = Field("", description="Free text shown in plans and reports.")
    data: DataConfig = Field(default_factory=DataConfig, description="Corpus, tokenizer, context, eval set.")
    model: ModelConfig = Field(..., description="Family and sizes.")
    budgets: BudgetConfig = Field(..., description="Token budgets per size.")
    training: TrainingConfig = Field(default_factory=TrainingConfig, description="Optimisation settings.")
    max_runs: int = Field(2000, ge=1, le=100_000, description="Refuse to expand to more runs than this.")
    max_tokens_per_run: float = Field(1e13, gt=0, description="Refuse budgets above this many tokens (after rounding to whole batches).")
    extra_grids: list[ExtraGrid] = Field(
        default_factory=list, max_length=100,
        description="More grids of the same sweep (budgets.mode grid, no branching): their runs join the plan.")

    @model_validator(mode="after")
    def _run_count_bound(self) -> "SweepConfig":
        """Refuse before sizing anything when sizes × budgets × seeds exceeds max_runs."""
        b = self.budgets
        values = {"grid": b.tokens, "tokens_per_param": b.tokens_per_param, "isoflop": b.compute}[b.mode]
        count = (len(self.model.sizes) + len(self.model.shapes)) * len(values) * len(self.training.seeds)
        if count > self.max_runs:
            raise ValueError(f"max_runs: sizes × budgets × seeds = {count} runs, more than max_runs={self.max_runs}")
        return self

    @model_validator(mode="after")
    def _extra_grids_valid(self) -> "SweepConfig":
        """Extra grids only for plain grids; each must make a valid sweep with its lists in place."""
        if self.extra_grids and (self.budgets.mode != "grid" or self.budgets.branching != "none"):
            raise ValueError("extra_grids: only for budgets.mode 'grid' without branching")
        for i, grid in enumerate(self.extra_grids):
            try:
                grid.applied_to(self)
            except ValueError as exc:
                raise ValueError(f"extra_grids[{i}]: {exc}") from None
        return self

    @model_validator(mode="after")
    def _some_size(self) -> "SweepConfig":
        if not self.model.sizes and not self.model.shapes and self.budgets.centre is None:
            raise ValueError("model: give at least one of 'sizes' or 'shapes' (or budgets.centre)")
        if self.budgets.centre is not None and (self.model.sizes or self.model.shapes):
            raise ValueError("budgets.centre chooses the sizes per budget: drop model.sizes and model.shapes")
        return self


_IO_NAMES = ("load_sweep", "load_sweep_or_name", "parse_sweep")


def __getattr__(name: str):
    """``load_sweep`` & co. from :mod:`harness.config_io` (loaded on first use: it imports this module's models)."""
    if name in _IO_NAMES:
        from harness import config_io

        return getattr(config_io, name)
    raise AttributeError(f"module 'harness.config' has no attribute {name!r}")
