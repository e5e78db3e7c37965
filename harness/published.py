"""Registry of published scaling-law fits and the conventions needed to compare against them.

The data live in ``harness/published_fits.yaml`` (shipped with the package). Each entry records the paper,
arXiv id, table/equation, functional form, values (with intervals where published), N and FLOP conventions,
data set, tokenizer, loss unit and the N/D/C range of the fit. Values carry a status: P (checked against a
primary source), S (secondary sources only) or M (from memory, unverified).

Also here: Pearce & Song's (2024) conversion between total and non-embedding parameter counts.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pandas as pd
import yaml
from scipy.stats import norm

from harness.errors import ConfigError
from harness.fit.derived import frontier_functions, frontier_undefined
from harness.sizing import FLOPS_PER_PARAM_TOKEN, tokens_for_compute

N_CONVENTIONS = ("non_embedding", "with_head", "total", "flops_per_token")
LOSS_UNITS = ("nats_per_token", "bits_per_byte")
STATUSES = ("P", "S", "M")
QUANTITIES = ("alpha", "beta", "E", "A", "B", "a", "b", "alpha_N", "alpha_D", "alpha_C", "alpha_C_min")
REQUIRED = ("id", "paper", "arxiv", "where", "form", "status", "n_convention", "c_convention", "dataset",
            "tokenizer", "loss_unit", "loss_kind", "ranges")
PEARCE_SONG_OMEGA = 47491.0
# Kaplan's compute span as simulated by Pearce & Song (their script: logspace(12.95, 20.7)).
KAPLAN_C_RANGE = (10 ** 12.95, 10 ** 20.7)
_FLOAT = re.compile(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+")


@dataclass(frozen=True)
class Value:
    """One published number with its interval (``ci`` at ``level``) or standard error, and its status."""

    value: float
    ci: Optional[tuple[float, float]] = None
    level: float = 0.95
    se: Optional[float] = None
    status: str = "P"
    note: str = ""
    derived: bool = False

    def sigma(self) -> Optional[float]:
        """A 1-σ uncertainty: the printed SE, else the CI half-width over its normal quantile, else None."""
        if self.se is not None:
            return float(self.se)
        if self.ci is None:
            return None
        return (self.ci[1] - self.ci[0]) / 2.0 / norm.ppf(0.5 + self.level / 2.0)


@dataclass(frozen=True)
class PublishedFit:
    """A registry entry: one published fit and its conventions."""

    id: str
    paper: str
    arxiv: str
    where: str
    form: str
    status: str
    n_convention: str
    c_convention: str
    dataset: str
    tokenizer: str
    loss_unit: str
    loss_kind: str
    ranges: dict
    values: dict = field(default_factory=dict)
    range_note: str = ""
    frontier: Optional[dict] = None
    omega: Optional[float] = None
    constants: dict = field(default_factory=dict)
    notes: str = ""
    label: str = ""
    unverified: tuple = ()

    @property
    def name(self) -> str:
        """A short display name, e.g. 'Hoffmann 2022 A3' or 'Porian 2024 (+ tuned lr/batch/beta2)'."""
        base = self.paper.split(",")[0].replace(" et al.", "").strip()
        year = next((w for w in self.paper.replace(",", " ").split() if w.isdigit() and len(w) == 4), "")
        base = base if year in base else f"{base} {year}".strip()
        return f"{base} [{self.id}]" + (f" ({self.label})" if self.label else "")

    def law_params(self) -> Optional[dict]:
        """{E, A, B, alpha, beta} when the entry publishes the joint law, else None."""
        keys = ("E", "A", "B", "alpha", "beta")
        return {k: self.values[k].value for k in keys} if all(k in self.values for k in keys) else None

    def unverified_items(self) -> list[str]:
        """Fields and values not checked against a primary source (status S or M)."""
        items = list(self.unverified)
        items += [f"{k} ({v.status})" for k, v in self.values.items() if v.status != "P"]
        return items

    def optimal_n(self, compute: np.ndarray) -> Optional[np.ndarray]:
        """Compute-optimal N at ``compute`` FLOP in this entry's conventions; None without a frontier."""
        pair = _frontier(self)
        return None if pair is None else pair[0](np.asarray(compute, dtype=float))

    def optimal_d(self, compute: np.ndarray) -> Optional[np.ndarray]:
        """Compute-optimal training tokens at ``compute`` FLOP; None without a frontier."""
        pair = _frontier(self)
        return None if pair is None else pair[1](np.asarray(compute, dtype=float))


def chinchilla_frontier(params: dict) -> tuple[Callable, Callable]:
    """N_opt(C) = G·(C/6)^a and D_opt(C) = (C/6)/N_opt for L = E + A/N^α + B/D^β (Hoffmann Eq. 4); NaN where the
    law has no frontier. One home: harness.fit.derived.compute_optimal."""
    return frontier_functions(params)


def _frontier(entry: PublishedFit) -> Optional[tuple[Callable, Callable]]:
    spec = entry.frontier
    if spec is None:
        law = entry.law_params()
        return None if law is None else chinchilla_frontier(law)
    unit = float(spec.get("c_unit", 1.0))
    n_fn = d_fn = None
    if "anchor_n" in spec:
        n_fn = lambda c: spec["anchor_n"] * (c / spec["anchor_c"]) ** spec["a"]  # noqa: E731
    elif "n_coef" in spec:
        n_fn = lambda c: spec["n_coef"] * (c / unit) ** spec["a"]  # noqa: E731
    if "d_coef" in spec:
        d_fn = lambda c: spec["d_coef"] * (c / unit) ** spec["b"]  # noqa: E731
    if n_fn is None and d_fn is None:
        return None
    n_fn = n_fn or (lambda c: tokens_for_compute(c, d_fn(c)))  # C = 6ND is symmetric in N and D
    d_fn = d_fn or (lambda c: tokens_for_compute(c, n_fn(c)))
    return n_fn, d_fn


def _value(raw, status: str, where: str) -> Value:
    if isinstance(raw, (int, float)):
        raw = {"value": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("value"), (int, float)):
        raise ConfigError(f"{where}: a value needs a number 'value'")
    ci = raw.get("ci")
    if ci is not None and not (len(ci) == 2 and ci[0] <= ci[1]):
        raise ConfigError(f"{where}: ci must be [low, high]")
    value = Value(float(raw["value"]), tuple(map(float, ci)) if ci else None, float(raw.get("level", 0.95)),
                  raw.get("se"), raw.get("status", status), raw.get("note", ""))
    if value.status not in STATUSES:
        raise ConfigError(f"{where}: status '{value.status}' is not one of {STATUSES}")
    return value


def _check_ranges(ranges, where: str, note: str) -> dict:
    if not isinstance(ranges, dict) or set(ranges) != {"N", "D", "C"}:
        raise ConfigError(f"{where}: ranges must give N, D and C (null where unknown)")
    for key, span in ranges.items():
        if span is None:
            if not note:
                raise ConfigError(f"{where}: range {key} is null without a range_note saying why")
        elif not (len(span) == 2 and 0 < span[0] < span[1]):
            raise ConfigError(f"{where}: range {key} must be [low, high] with 0 < low < high")
    return {k: (tuple(map(float, v)) if v else None) for k, v in ranges.items()}


def _with_derived(values: dict, status: str) -> dict:
    """Add a, b where only the other (b = 1 − a, same σ) or only α, β (a = β/(α+β)) are published."""
    for have, want in (("a", "b"), ("b", "a")):
        if have in values and want not in values:
            src = values[have]
            values[want] = Value(1.0 - src.value, (1.0 - src.ci[1], 1.0 - src.ci[0]) if src.ci else None, src.level,
                                 src.se, src.status, f"1 − {have} (C ∝ N·D)", derived=True)
    if {"alpha", "beta"} <= set(values) and "a" not in values:
        al, be = values["alpha"].value, values["beta"].value
        common = dict(status=values["beta"].status, derived=True)
        values["a"] = Value(be / (al + be), note="β/(α+β) from the published α, β", **common)
        values["b"] = Value(al / (al + be), note="α/(α+β) from the published α, β", **common)
    return values


def validate_entry(raw: dict) -> PublishedFit:
    """Check one registry entry (conventions, units, ranges, values) and build it; ConfigError if wrong."""
    where = f"published fit '{raw.get('id', '?')}'"
    missing = [k for k in REQUIRED if raw.get(k) in (None, "")]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}")
    if raw["n_convention"] not in N_CONVENTIONS:
        raise ConfigError(f"{where}: n_convention '{raw['n_convention']}' is not one of {N_CONVENTIONS}")
    if raw["loss_unit"] not in LOSS_UNITS:
        raise ConfigError(f"{where}: loss_unit '{raw['loss_unit']}' is not one of {LOSS_UNITS}")
    if raw["status"] not in STATUSES:
        raise ConfigError(f"{where}: status '{raw['status']}' is not one of {STATUSES}")
    unknown = set(raw.get("values", {})) - set(QUANTITIES)
    if unknown or not raw.get("values"):
        raise ConfigError(f"{where}: needs values among {QUANTITIES} (unknown: {sorted(unknown)})")
    values = {k: _value(v, raw["status"], f"{where}, {k}") for k, v in raw["values"].items()}
    fields = {k: v for k, v in raw.items() if k not in ("values", "ranges", "unverified")}
    extra = set(fields) - set(PublishedFit.__dataclass_fields__)
    if extra:
        raise ConfigError(f"{where}: unknown field(s) {sorted(extra)}")
    return PublishedFit(**fields, values=_with_derived(values, raw["status"]),
                        ranges=_check_ranges(raw["ranges"], where, raw.get("range_note", "")),
                        unverified=tuple(raw.get("unverified", ())))


def _expand(raw: dict) -> list[dict]:
    variants = raw.get("variants")
    if not variants:
        return [raw]
    base = {k: v for k, v in raw.items() if k != "variants"}
    return [{**base, **{k: v for k, v in var.items() if k != "suffix"}, "id": f"{raw['id']}_{var['suffix']}"}
            for var in variants]


def _numbers(obj):
    """YAML 1.1 reads '1.5e9' (no exponent sign) as a string: turn such strings back into floats."""
    if isinstance(obj, dict):
        return {k: _numbers(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_numbers(v) for v in obj]
    if isinstance(obj, str) and _FLOAT.fullmatch(obj):
        return float(obj)
    return obj


def parse_registry(documents: list) -> dict[str, PublishedFit]:
    """Validate a list of raw entries (variants expanded) into {id: PublishedFit}; ids must be unique."""
    if not isinstance(documents, list):
        raise ConfigError("published fits: the file must hold a list of entries")
    entries: dict[str, PublishedFit] = {}
    for raw in _numbers(documents):
        for item in _expand(raw):
            entry = validate_entry(item)
            if entry.id in entries:
                raise ConfigError(f"published fit '{entry.id}': duplicate id")
            entries[entry.id] = entry
    return entries


def load_registry(path: Optional[Path] = None) -> dict[str, PublishedFit]:
    """The registry from ``path`` (default: the packaged published_fits.yaml), validated."""
    if path is None:
        return dict(_packaged())
    try:
        return parse_registry(yaml.safe_load(Path(path).read_text()))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read published fits ({type(exc).__name__})") from None


@lru_cache(maxsize=1)
def _packaged() -> tuple:
    text = resources.files("harness").joinpath("published_fits.yaml").read_text()
    return tuple(parse_registry(yaml.safe_load(text)).items())


def omega_for(vocab_size: float, aspect_ratio: float, positions: float = 0.0) -> float:
    """Pearce & Song's ω in N_T = N_nonembed + ω·N_nonembed^(1/3): ω = (V + P)·(d/L / 12)^(1/3), with P the
    learned position embeddings (the context length for GPT-2; 0 for rotary models such as Llama, and in
    Pearce & Song's own formula, which counts token embeddings only)."""
    return (vocab_size + positions) * (aspect_ratio / 12.0) ** (1.0 / 3.0)


def omega_from_table(table) -> Optional[float]:
    """Our own ω from the run records: least squares of the embedding parameters (N_total − N_nonembed, every
    kind the sizing counts: token, learned position and an untied head) on N_nonembed^(1/3). None without both
    counts."""
    if table is None or not {"N_total", "N_nonembed"} <= set(table.columns):
        return None
    total = np.asarray(pd.to_numeric(table["N_total"], errors="coerce"), dtype=float)
    nonembed = np.asarray(pd.to_numeric(table["N_nonembed"], errors="coerce"), dtype=float)
    ok = np.isfinite(total) & np.isfinite(nonembed) & (nonembed > 0) & (total >= nonembed)
    if not ok.any():
        return None
    cube = np.cbrt(nonembed[ok])
    return float(np.dot(total[ok] - nonembed[ok], cube) / np.dot(cube, cube))


def total_from_nonembed(n_nonembed, omega: float = PEARCE_SONG_OMEGA):
    """Total parameters from non-embedding ones at a fixed aspect ratio (Pearce & Song Eq. 7)."""
    n = np.asarray(n_nonembed, dtype=float)
    return n + omega * np.cbrt(n)


def nonembed_compute(n_nonembed, params: dict, omega: float = PEARCE_SONG_OMEGA):
    """Non-embedding compute 6·N·D at which ``n_nonembed`` is optimal for a total-parameter Chinchilla law
    (NaN when the law has no frontier: α or β not positive)."""
    n = np.asarray(n_nonembed, dtype=float)
    if frontier_undefined(params):
        return np.full(n.shape, np.nan)
    al, be = params["alpha"], params["beta"]
    cube = np.cbrt(n)
    with np.errstate(all="ignore"):
        return (FLOPS_PER_PARAM_TOKEN * n * (n + omega / 3 * cube) ** (-1 / be) * (n + omega * cube) ** ((1 + al) / be)
                * (be / al * params["B"] / params["A"]) ** (1 / be))


def nonembed_exponent(params: dict, omega: float = PEARCE_SONG_OMEGA,
                      c_range: tuple[float, float] = KAPLAN_C_RANGE) -> float:
    """The exponent a of N*_nonembed ∝ C_nonembed^a that a total-parameter Chinchilla law implies over
    ``c_range`` (log-log slope of the exact frontier), as in Pearce & Song's simulation; NaN when the law has
    no frontier or ``c_range`` falls outside the frontier the grid resolves."""
    grid = np.logspace(-6, 18, 10000)
    compute = nonembed_compute(grid, params, omega)
    ok = np.isfinite(compute) & (compute > 0)
    if ok.sum() < 2 or not np.all(np.diff(np.log(compute[ok])) > 0):
        return math.nan
    targets = np.logspace(math.log10(c_range[0]), math.log10(c_range[1]), 100)
    if targets[0] < compute[ok][0] or targets[-1] > compute[ok][-1]:
        return math.nan
    n_star = np.interp(np.log(targets), np.log(compute[ok]), np.log(grid[ok]))
    return float(np.polyfit(np.log(targets), n_star, 1)[0])
