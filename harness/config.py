"""Sweep and run specifications: pydantic models, YAML loading with one-line errors, run ids.

A sweep file (YAML, safe-loaded) is validated into :class:`SweepConfig`; :mod:`harness.plan` expands
it into flat :class:`RunSpec` objects. Every field carries a description; unknown fields are errors.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.errors import ConfigError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class Strict(BaseModel):
    """Base model: unknown fields are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


_FACTS_FIELDS = ("kind", "fact_exponent", "noise")


class SyntheticConfig(Strict):
    """A generated language with an exactly known loss floor: an order-k Markov chain, or Zipf facts."""

    kind: Literal["markov", "facts"] = Field(
        "markov", description="markov: order-k Markov chain (harness.data.synthetic); facts: Zipf-distributed "
        "two-symbol keys and their values, a language whose loss follows power laws in N and D (harness.data.facts).")
    vocab_size: int = Field(64, ge=2, le=4096, description="Number of symbols V.")
    order: int = Field(2, ge=1, le=4, description="Markov order k: each symbol depends on the k before it.")
    zipf_exponent: float = Field(1.1, gt=0, le=5, description="Skew s of each transition row, p_i ∝ i^-s.")
    unigram_exponent: float = Field(1.0, ge=0, le=5, description="Global skew t: row weights × (y+1)^-t, so some symbols and contexts are rare.")
    backoff: float = Field(0.5, ge=0, le=1, description="Weight of the order-1 (bigram) row mixed into every order-k row.")
    seed: int = Field(0, ge=0, description="Seed of the transition table (the language itself).")
    train_tokens: int = Field(4_000_000, ge=1024, le=2_000_000_000, description="Training tokens generated.")
    fact_exponent: float = Field(1.2, gt=0, le=5, description="facts: Zipf exponent s of each key symbol, q(y) ∝ rank^-s.")
    noise: float = Field(0.1, ge=0, lt=1, description="facts: probability that a value is a uniform symbol, not the fact.")

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
        "synthetic", description="Corpus: generated Markov language, local text files, a HF dataset, or stdlib sources.")
    path: Optional[str] = Field(None, description="text: file, folder or glob; hf: dataset name, local dir or parquet glob.")
    hf_config: Optional[str] = Field(None, description="hf: dataset configuration name.")
    hf_split: str = Field("train", description="hf: split to read documents from.")
    text_column: str = Field("text", description="hf: column holding the document text.")
    streaming: bool = Field(False, description="hf: stream the dataset instead of downloading it whole.")
    max_documents: Optional[int] = Field(None, ge=1, description="Read at most this many documents.")
    tokenizer: Literal["byte", "bpe", "pretrained"] = Field(
        "byte", description="byte: UTF-8 bytes; bpe: trained locally on the train split; pretrained: AutoTokenizer.")
    tokenizer_name: Optional[str] = Field(None, description="pretrained: hub name or local path.")
    bpe_vocab_size: int = Field(4096, ge=260, le=200_000, description="bpe: vocabulary size to train.")
    context_length: int = Field(64, ge=4, le=32768, description="Tokens per training/eval sequence.")
    eval_tokens: int = Field(32768, ge=64, le=100_000_000, description="Held-out tokens the test loss averages over.")
    test_fraction: float = Field(0.05, gt=0, lt=0.5, description="Share of documents held out (non-synthetic).")
    split_seed: int = Field(0, ge=0, description="Seed of the document-level train/test split.")
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig, description="Synthetic source settings.")

    @field_validator("path")
    @classmethod
    def _normalise_path(cls, path: Optional[str]) -> Optional[str]:
        return path.rstrip("/") or "/" if path else path

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
    d_ff: Optional[int] = Field(None, ge=4, description="MLP hidden width; default 4·d (gpt2) or ~8/3·d (llama).")

    @model_validator(mode="after")
    def _heads_divide(self) -> "Shape":
        if self.d_model % self.n_head:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_head {self.n_head}")
        return self


class ModelConfig(Strict):
    """Model family and the sizes to sweep (target parameter counts or explicit shapes)."""

    family: Literal["gpt2", "llama"] = Field("gpt2", description="transformers architecture.")
    sizes: list[float] = Field(default_factory=list, description="Target parameter counts (see size_by).")
    shapes: list[Shape] = Field(default_factory=list, description="Explicit shapes (instead of, or besides, sizes).")
    size_by: Literal["non_embedding", "total"] = Field(
        "non_embedding", description="Which count a target size means: Kaplan's non-embedding or the total.")
    aspect_ratio: float = Field(32.0, gt=0, le=1024, description="Preferred d_model / n_layer when sizing.")
    head_dim: int = Field(16, ge=4, le=256, description="Preferred head dimension when sizing.")

    @field_validator("sizes")
    @classmethod
    def _positive_sizes(cls, sizes: list[float]) -> list[float]:
        if any(not (s >= 1000) or s > 1e12 for s in sizes):
            raise ValueError("every size must be between 1e3 and 1e12 parameters")
        return sizes

    @model_validator(mode="after")
    def _some_size(self) -> "ModelConfig":
        if not self.sizes and not self.shapes:
            raise ValueError("give at least one of 'sizes' or 'shapes'")
        return self


class BudgetConfig(Strict):
    """Token budgets: grid (sizes × tokens), tokens_per_param (sizes × D/N) or isoflop (C × sizes)."""

    mode: Literal["grid", "tokens_per_param", "isoflop"] = Field("grid", description="How D is chosen per size.")
    tokens: list[float] = Field(default_factory=list, description="grid: token budgets D.")
    tokens_per_param: list[float] = Field(default_factory=list, description="tokens_per_param: ratios D/N.")
    compute: list[float] = Field(default_factory=list, description="isoflop: budgets C in FLOPs, D = C/(6N).")

    @model_validator(mode="after")
    def _mode_values(self) -> "BudgetConfig":
        wanted = {"grid": "tokens", "tokens_per_param": "tokens_per_param", "isoflop": "compute"}[self.mode]
        values = getattr(self, wanted)
        if not values:
            raise ValueError(f"mode '{self.mode}' needs a non-empty '{wanted}' list")
        if any(not (v > 0) or v > 1e30 for v in values):
            raise ValueError(f"every value in '{wanted}' must be positive and finite")
        return self


class LRConfig(Strict):
    """Peak learning rate: constant, scaled with width (base·(base_width/d)^exponent), or a width table."""

    rule: Literal["constant", "width", "table"] = Field("constant", description="How peak LR depends on the shape.")
    base: float = Field(3e-3, gt=0, le=10, description="Peak LR (constant) or LR at base_width (width).")
    base_width: int = Field(64, ge=1, description="width: the d_model at which LR equals base.")
    exponent: float = Field(1.0, ge=0, le=4, description="width: LR ∝ (base_width/d_model)^exponent.")
    table: dict[int, float] = Field(default_factory=dict, description="table: d_model → peak LR.")

    @model_validator(mode="after")
    def _table_given(self) -> "LRConfig":
        if self.rule == "table" and not self.table:
            raise ValueError("rule 'table' needs a non-empty 'table' of d_model: lr")
        if any(not (v > 0) for v in self.table.values()):
            raise ValueError("learning rates in 'table' must be positive")
        return self


class ScheduleConfig(Strict):
    """Warm-up then cosine to final_lr_fraction of peak over exactly the run's budget, or WSD."""

    kind: Literal["cosine", "wsd", "constant"] = Field("cosine", description="Decay shape after warm-up.")
    warmup_fraction: float = Field(0.05, ge=0, lt=1, description="Warm-up length as a share of the run's steps.")
    final_lr_fraction: float = Field(0.1, ge=0, le=1, description="LR at the last step, as a share of peak.")
    cooldown_fraction: float = Field(0.2, gt=0, le=1, description="wsd: share of steps spent decaying.")


class OptimizerConfig(Strict):
    """AdamW settings."""

    beta1: float = Field(0.9, ge=0, lt=1, description="AdamW β1.")
    beta2: float = Field(0.95, ge=0, lt=1, description="AdamW β2.")
    eps: float = Field(1e-8, gt=0, description="AdamW ε.")
    weight_decay: float = Field(0.1, ge=0, le=10, description="Decoupled weight decay (not on norms/biases).")
    grad_clip: float = Field(1.0, ge=0, description="Global gradient-norm clip (0 disables).")


class TrainingConfig(Strict):
    """Everything about one run's optimisation that the sweep shares."""

    batch_tokens: int = Field(4096, ge=4, description="Tokens per optimiser step (sequences × context).")
    micro_batch_tokens: Optional[int] = Field(None, ge=4, description="Tokens per forward pass; accumulate to batch.")
    lr: LRConfig = Field(default_factory=LRConfig, description="Peak learning-rate rule.")
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig, description="LR schedule.")
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig, description="AdamW settings.")
    seeds: list[int] = Field(default_factory=lambda: [0], description="Seeds; each gives its own run.")
    precision: Literal["auto", "fp32", "bf16"] = Field("auto", description="auto: bf16 autocast on CUDA, fp32 on CPU.")
    compile: bool = Field(False, description="torch.compile the model (GPU).")
    eval_interval: int = Field(0, ge=0, description="Steps between interim evals (0: only at the end).")
    checkpoint_interval: int = Field(200, ge=1, description="Steps between atomic checkpoints.")
    spike_factor: float = Field(4.0, gt=1, description="Diverged if train loss exceeds this × its running minimum.")
    eval_batch_sequences: int = Field(64, ge=1, description="Sequences per eval forward pass.")

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: list[int]) -> list[int]:
        if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
            raise ValueError("seeds must be a non-empty list of distinct non-negative integers")
        return seeds


class SweepConfig(Strict):
    """A whole sweep file."""

    name: str = Field(..., pattern=NAME_PATTERN, description="Sweep name: letters, digits, '_', '-', '.'.")
    description: str = Field("", description="Free text shown in plans and reports.")
    data: DataConfig = Field(default_factory=DataConfig, description="Corpus, tokenizer, context, eval set.")
    model: ModelConfig = Field(..., description="Family and sizes.")
    budgets: BudgetConfig = Field(..., description="Token budgets per size.")
    training: TrainingConfig = Field(default_factory=TrainingConfig, description="Optimisation settings.")
    max_runs: int = Field(2000, ge=1, le=100_000, description="Refuse to expand to more runs than this.")
    max_tokens_per_run: float = Field(1e13, gt=0, description="Refuse budgets above this many tokens.")


def _format_pydantic_error(path: Path, err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
    return f"{path}: {where}: {msg}"


def parse_sweep(text: str, path: Path) -> SweepConfig:
    """Validate YAML text as a sweep; raise ConfigError naming the file and field on any problem."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "YAML"
        raise ConfigError(f"{path}: {where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: (top level): expected a mapping of sweep fields")
    try:
        return SweepConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_pydantic_error(path, exc)) from None


def load_sweep(path: str | Path) -> SweepConfig:
    """Read and validate a sweep file; ConfigError (one line) on any problem."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    if path.stat().st_size > 1_000_000:
        raise ConfigError(f"{path}: file larger than 1 MB; a sweep file is a short YAML mapping")
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    return parse_sweep(text, path)


def load_sweep_or_name(source: str) -> SweepConfig:
    """Load a sweep file given as a path, or as a bare name resolved to sweeps/<name>.yaml."""
    path = Path(source)
    if not path.exists() and not source.endswith((".yaml", ".yml")) and "/" not in source:
        path = Path("sweeps") / f"{source}.yaml"
    return load_sweep(path)


def content_hash(payload: Any, length: int = 10) -> str:
    """Stable short hash of a JSON-serialisable payload (sorted keys)."""
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def safe_name(text: str) -> str:
    """Reduce text to characters allowed in a run directory name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "run"
