"""Compare a fit with the published fits: differences in units of the combined uncertainty, whether each
comparison is like for like, and whether it can answer anything at all.

Input is a typed fit (``harness.fit.FitResult``; a dict shaped like ``FitResult.to_dict()`` is converted with
``FitResult.from_dict``) and a :class:`Context` (N convention, loss unit, data set, tokenizer, scale ranges and
our own ω, taken from the run table when there is one). Intervals are the fit's own ``ci`` at its ``ci_level``.

Verdict rules (one per row; only the last two carry a z-based judgement):
  undefined       the quantity does not exist for this fit (e.g. a, b when α or β reached 0)
  not identified  the sweep does not pin it down (the fit's ``identified``; else no finite two-sided interval)
  fixed           held fixed by the fit (zero-width interval): nothing to compare
  no interval     the fit has no interval for it (no bootstrap)
  context only    E, A, B and tokens/param on a different data set or tokenizer: shown, never scored
  uninformative   our 95 % interval is wider than both the spread of the published values of that quantity
                  and half the published value (it could not tell apart results ±25 % apart)
  consistent / inconsistent   |z| ≤ 2 / > 2, z = (ours − theirs) / σ_combined
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Optional

import numpy as np
import pandas as pd
from scipy.stats import norm

from harness.fit.derived import DEFAULT_BUDGETS, compute_optimal, derived_inputs, exponents, frontier_undefined
from harness.fit.fitting import FitResult
from harness.published import (QUANTITIES, PublishedFit, load_registry, nonembed_exponent, omega_from_table)

N_COLUMN = {"total": "N_total", "non_embedding": "N_nonembed", "with_head": "N_with_head"}
SCALE_FREE = ("alpha", "beta", "a", "b", "alpha_N", "alpha_D", "alpha_C", "alpha_C_min")
DATA_DEPENDENT = ("E", "A", "B", "tokens_per_param")
HEADLINE = ("alpha", "beta", "a", "b")
FRONTIER_ENTRIES = ("kaplan2020", "hoffmann2022_a1", "hoffmann2022_a3_unrounded", "besiroglu2024")
SCORED = ("consistent", "inconsistent")
Z_LIMIT = 2.0


@dataclass(frozen=True)
class Estimate:
    """One of our numbers with its interval (``lo``, ``hi`` at ``level``; NaN when unknown) and its ``status``:
    'estimated', 'fixed', 'not identified', 'undefined' or 'no interval' (``reason`` says why)."""

    value: float
    lo: float = math.nan
    hi: float = math.nan
    level: float = 0.95
    status: str = "estimated"
    reason: str = ""

    def sigma(self) -> Optional[float]:
        """1-σ from the interval's half-width, None without a finite two-sided interval."""
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)):
            return None
        return (self.hi - self.lo) / 2.0 / norm.ppf(0.5 + self.level / 2.0)

    def width95(self) -> float:
        """The interval's width rescaled to 95 % (normal approximation); inf without an interval."""
        sigma = self.sigma()
        return math.inf if sigma is None else 2 * norm.ppf(0.975) * sigma


@dataclass(frozen=True)
class Context:
    """What our fit's numbers mean: N convention, loss unit, data set, tokenizer, the fitted ranges (N, D, C and
    C_nonembed = 6·N_nonembed·D) and our own ω (embedding parameters per N_nonembed^(1/3), from the records)."""

    n_convention: str = "total"
    loss_unit: str = "nats_per_token"
    dataset: str = "unknown"
    tokenizer: str = "unknown"
    ranges: dict = field(default_factory=lambda: {"N": None, "D": None, "C": None})
    omega: Optional[float] = None


def as_fit(fit) -> FitResult:
    """A FitResult from a FitResult or its dict shape (ConfigError on a malformed dict)."""
    return fit if isinstance(fit, FitResult) else FitResult.from_dict(fit)


def _span_of(frame: pd.DataFrame, col: str) -> Optional[tuple]:
    values = pd.to_numeric(frame[col], errors="coerce") if col in frame else pd.Series(dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    return (float(values.min()), float(values.max())) if len(values) else None


def context_from(fit, table: Optional[pd.DataFrame] = None, **overrides) -> Context:
    """The fit's Context: its own keys (a dict may also carry dataset, tokenizer, loss_unit), the run table's
    N/D/C span over done runs and our ω, then explicit overrides (None ignored)."""
    raw = fit if isinstance(fit, dict) else {}
    conv = (raw.get("n_convention") if raw else fit.n_convention) or "total"
    ranges = {k: (tuple(v) if v else None) for k, v in ((raw.get("ranges") if raw else fit.ranges) or {}).items()}
    omega = None
    if table is not None and len(table):
        done = table[table["status"] == "done"] if "status" in table else table
        for key, col in (("N", N_COLUMN.get(conv, "N")), ("D", "D"), ("C", "C"), ("C_nonembed", "C_kaplan")):
            ranges[key] = _span_of(done, col) or ranges.get(key)
        omega = omega_from_table(done)
    base = dict(n_convention=conv, loss_unit=raw.get("loss_unit") or "nats_per_token",
                dataset=raw.get("dataset") or "unknown", tokenizer=raw.get("tokenizer") or "unknown",
                ranges={k: ranges.get(k) for k in ("N", "D", "C", "C_nonembed")}, omega=omega)
    return Context(**{**base, **{k: v for k, v in overrides.items() if v is not None}})


def law_params(fit) -> Optional[dict]:
    """{E, A, B, alpha, beta} of a Chinchilla-form fit, None for other laws."""
    params = as_fit(fit).params
    keys = ("E", "A", "B", "alpha", "beta")
    return {k: float(params[k]) for k in keys} if all(k in params for k in keys) else None


def _interval(fit: FitResult, name: str) -> tuple[float, float]:
    """The fit's own interval for ``name``: its ``ci``, else percentiles of its draws at its ``ci_level``."""
    ci = fit.ci.get(name)
    if ci is None and name in (fit.samples or {}):
        draws = np.asarray(fit.samples[name], dtype=float)
        draws = draws[np.isfinite(draws)]
        tail = 50.0 * (1.0 - fit.ci_level)
        ci = np.percentile(draws, [tail, 100.0 - tail]) if len(draws) else None
    if ci is None:
        return math.nan, math.nan
    return tuple(math.nan if v is None else float(v) for v in ci)


def _status(fit: FitResult, name: str, value: float, lo: float, hi: float) -> tuple[str, str]:
    """(status, reason) of one of our numbers; see the module docstring."""
    law = law_params(fit) if fit.law in ("chinchilla", "data_constrained") else None
    base = name.split("@")[0]
    if law and base in ("a", "b", "tokens_per_param") and frontier_undefined(law):
        return "undefined", frontier_undefined(law)
    if not math.isfinite(value):
        return "undefined", "not a finite number for this fit"
    identified = getattr(fit, "identified", None) or {}
    bounds = (getattr(fit, "profile_bounds", None) or {}).get(name)
    inputs = (name, *derived_inputs(name))
    if set(inputs) & _at_bounds(fit.warnings):
        return "not identified", f"at a bound of the fit: {', '.join(sorted(set(inputs) & _at_bounds(fit.warnings)))}"
    if any(identified.get(k) is False for k in inputs):
        return "not identified", _profile_text(bounds) or "the sweep does not pin it down"
    if not (math.isfinite(lo) or math.isfinite(hi)):
        given = name in fit.ci or name in (fit.samples or {}) or (base == "tokens_per_param" and fit.samples)
        return ("not identified", "no finite interval") if given else ("no interval", "the fit gives no interval")
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "not identified", "one-sided interval"
    if hi - lo <= 1e-12 * max(1.0, abs(value)):
        fixed = fit.se.get(name) == 0.0 or any(f"{name} fixed" in w for w in fit.warnings)
        return ("fixed", "held fixed by the fit") if fixed else ("not identified", "zero-width interval")
    return "estimated", ""


def _at_bounds(warnings) -> set:
    """Parameters a fit's warnings name as sitting at their bounds ('parameter(s) at their bounds: alpha, beta')."""
    names = set()
    for text in warnings:
        if "at their bounds:" in text:
            names |= {w.strip() for w in text.split("at their bounds:", 1)[1].split(",")}
    return names


def _profile_text(bounds) -> str:
    if not bounds or all(b is None for b in bounds):
        return ""
    low, high = (("–" if b is None else f"{b:.3g}") for b in bounds)
    return f"profile-likelihood bounds [{low}, {high}]"


def _estimate(fit: FitResult, name: str, value: float, lo: float = math.nan, hi: float = math.nan) -> Estimate:
    if math.isnan(lo) and math.isnan(hi):
        lo, hi = _interval(fit, name)
    status, reason = _status(fit, name, value, lo, hi)
    return Estimate(value, lo, hi, fit.ci_level, status, reason)


def _tokens_per_param(fit: FitResult, budget: float) -> Optional[Estimate]:
    """Tokens/param at ``budget``: the fit's own derived value and interval when it has them, else computed
    from its law (interval from its draws)."""
    key = f"tokens_per_param@{budget:.3g}"
    if key in fit.derived:
        return _estimate(fit, key, fit.derived[key])
    params = law_params(fit)
    if params is None:
        return None
    n_opt, d_opt = compute_optimal(params, budget)
    lo = hi = math.nan
    draws = fit.samples or {}
    if all(k in draws for k in ("A", "B", "alpha", "beta")):
        n_s, d_s = compute_optimal({k: np.asarray(draws[k], float) for k in ("A", "B", "alpha", "beta")}, budget)
        ratio = np.asarray(d_s / n_s, dtype=float)
        ratio = ratio[np.isfinite(ratio)]
        tail = 50.0 * (1.0 - fit.ci_level)
        lo, hi = (float(v) for v in np.percentile(ratio, [tail, 100 - tail])) if len(ratio) else (math.nan,) * 2
    return _estimate(fit, key, float(d_opt / n_opt), lo, hi)


def our_estimates(fit, budgets=DEFAULT_BUDGETS) -> dict[str, Estimate]:
    """Our α, β, E, A, B, a, b (whichever the fit has) and tokens/param at each budget, each with the fit's own
    interval at its own level and a status (estimated, fixed, not identified, undefined, no interval)."""
    fit = as_fit(fit)
    found = {**fit.params, **fit.derived}
    params = law_params(fit)
    if params is not None:
        for key, value in exponents(params["alpha"], params["beta"]).items():
            found.setdefault(key, float(value))
    out = {k: _estimate(fit, k, float(found[k])) for k in QUANTITIES if k in found and found[k] is not None}
    for have, want in (("a", "b"), ("b", "a")):  # b = 1 − a: the same interval mirrored
        if want in out and have in out and out[want].status == "no interval" and out[have].status == "estimated":
            out[want] = replace(out[have], value=out[want].value, lo=1.0 - out[have].hi, hi=1.0 - out[have].lo)
    for budget in budgets:
        tpp = _tokens_per_param(fit, float(budget))
        if tpp is not None:
            out[f"tokens_per_param@{budget:.3g}"] = tpp
    return out


def _overlap(ours, theirs) -> Optional[bool]:
    if ours is None or theirs is None:
        return None
    return ours[0] <= theirs[1] and theirs[0] <= ours[1]


def _data_differs(ctx: Context, entry: PublishedFit) -> bool:
    return (ctx.dataset, ctx.tokenizer) != (entry.dataset, entry.tokenizer) or ctx.dataset == "unknown"


def like_for_like(quantity: str, ctx: Context, entry: PublishedFit) -> tuple[str, list[str]]:
    """('yes' | 'approx' | 'no', reasons): N convention, loss unit, scale range, and data set/tokenizer for E, A, B."""
    hard, soft = [], []
    pair = {ctx.n_convention, entry.n_convention}
    if len(pair) > 1:
        (soft if pair == {"total", "with_head"} else hard).append(
            f"N convention: ours {ctx.n_convention}, theirs {entry.n_convention}")
    if ctx.loss_unit != entry.loss_unit:
        hard.append(f"loss unit: ours {ctx.loss_unit}, theirs {entry.loss_unit}")
    if quantity not in SCALE_FREE and _data_differs(ctx, entry):
        hard.append(f"{quantity.split('@')[0]} depends on data set and tokenizer: ours {ctx.dataset}/{ctx.tokenizer}, "
                    f"theirs {entry.dataset}/{entry.tokenizer}")
    for key in ("N", "C"):
        overlap = _overlap(ctx.ranges.get(key), entry.ranges.get(key))
        if overlap is False:
            hard.append(f"{key} ranges do not overlap: ours {_span(ctx.ranges[key])}, theirs {_span(entry.ranges[key])}")
        elif overlap is None and key == "N":
            soft.append("N range unknown on one side")
    return ("no" if hard else "approx" if soft else "yes"), hard + soft


def _span(span) -> str:
    return f"{span[0]:.2g}–{span[1]:.2g}"


def _published(quantity: str, entry: PublishedFit) -> Optional[tuple[float, Optional[float], str, bool]]:
    """(value, σ, status, derived) of ``quantity`` in ``entry``, or None when it does not report it."""
    if quantity.startswith("tokens_per_param@"):
        budget = float(quantity.split("@")[1])
        n_opt = entry.optimal_n(budget)
        if n_opt is None:
            return None
        return float(entry.optimal_d(budget) / n_opt), None, entry.status, True
    value = entry.values.get(quantity)
    return None if value is None else (value.value, value.sigma(), value.status, value.derived)


def published_spread(registry: dict) -> dict[str, float]:
    """max − min of the published values of each quantity across the registry (0 with one value)."""
    values: dict[str, list] = {}
    for entry in registry.values():
        for name, value in entry.values.items():
            values.setdefault(name, []).append(value.value)
    return {k: max(v) - min(v) for k, v in values.items()}


def _converted(quantity: str, params: Optional[dict], ctx: Context, entry: PublishedFit) -> tuple[float, str]:
    """Pearce & Song conversion of a or b between total and non-embedding counting, with OUR ω over OUR compute
    range only (never extrapolating a law outside the C we fitted)."""
    if quantity not in ("a", "b") or {ctx.n_convention, entry.n_convention} & {"flops_per_token"}:
        return math.nan, ""
    ours_total, theirs_total = ctx.n_convention != "non_embedding", entry.n_convention != "non_embedding"
    if ours_total == theirs_total:
        return math.nan, ""
    c_range = ctx.ranges.get("C_nonembed") or ctx.ranges.get("C")
    if ctx.omega is None or c_range is None:
        return math.nan, "no conversion: needs our ω and compute range (from the sweep's records)"
    law, whose = (params, "ours") if ours_total else (entry.law_params(), "theirs")
    if law is None:
        return math.nan, ""
    a = nonembed_exponent(law, ctx.omega, c_range)
    if not math.isfinite(a):
        return math.nan, "no conversion: the law has no frontier over our compute range"
    return (a if quantity == "a" else 1 - a), \
        f"{whose} in non-embedding counting over our C {_span(c_range)} (our ω={ctx.omega:.3g})"


def _verdict(quantity: str, ours: Estimate, theirs: float, sigma: Optional[float], spread: float,
             ctx: Context, entry: PublishedFit) -> tuple[str, float, str]:
    """(verdict, z, why) by the rules in the module docstring."""
    if ours.status != "estimated":
        return ours.status, math.nan, ours.reason
    if quantity.split("@")[0] in DATA_DEPENDENT and _data_differs(ctx, entry):
        return "context only", math.nan, "depends on data set and tokenizer, which differ"
    sigmas = [s for s in (ours.sigma(), sigma) if s]
    if not sigmas:
        return "no interval", math.nan, "neither side has an interval"
    z = (ours.value - theirs) / math.sqrt(sum(s * s for s in sigmas))
    limit = max(spread, 0.5 * abs(theirs))
    if ours.width95() > limit:
        return "uninformative", z, (f"our 95% interval is {ours.width95():.3g} wide, more than the published spread "
                                    f"{spread:.3g} and half their value")
    return ("consistent" if abs(z) <= Z_LIMIT else "inconsistent"), z, ""


def _row(quantity: str, ours: Estimate, entry: PublishedFit, params: Optional[dict], ctx: Context,
         spread: dict) -> Optional[dict]:
    published = _published(quantity, entry)
    if published is None:
        return None
    value, sigma, status, derived = published
    verdict, z, why = _verdict(quantity, ours, value, sigma, spread.get(quantity, 0.0), ctx, entry)
    converted, how = _converted(quantity, params, ctx, entry)
    like, reasons = like_for_like(quantity, ctx, entry)
    combined = math.sqrt(sum(s * s for s in (ours.sigma(), sigma) if s)) if (ours.sigma() or sigma) else math.nan
    return {"quantity": quantity, "entry": entry.id, "name": entry.name, "paper": entry.paper, "arxiv": entry.arxiv,
            "ours": ours.value, "ours_lo": ours.lo, "ours_hi": ours.hi, "ours_level": ours.level,
            "ours_status": ours.status, "theirs": value, "theirs_sigma": sigma if sigma else math.nan,
            "status": status, "derived": derived, "z": z, "verdict": verdict, "why": why, "like_for_like": like,
            "caveats": "; ".join(reasons), "converted": converted,
            "z_converted": (converted - value) / combined
            if math.isfinite(converted) and math.isfinite(combined) and verdict in SCORED + ("uninformative",)
            else math.nan, "conversion": how}


ROW_COLUMNS = ("quantity", "entry", "name", "paper", "arxiv", "ours", "ours_lo", "ours_hi", "ours_level",
               "ours_status", "theirs", "theirs_sigma", "status", "derived", "z", "verdict", "why", "like_for_like",
               "caveats", "converted", "z_converted", "conversion")


def compare_fit(fit, registry: Optional[dict] = None, budgets=DEFAULT_BUDGETS,
                context: Optional[Context] = None) -> pd.DataFrame:
    """One row per (our quantity, registry entry reporting it): values, z = Δ/σ_combined, verdict (see the module
    docstring), like-for-like and its caveats, and the Pearce & Song converted value where it applies."""
    registry = load_registry() if registry is None else registry
    ctx = context or context_from(fit)
    fit = as_fit(fit)
    spread, params = published_spread(registry), law_params(fit)
    rows = [row for quantity, ours in our_estimates(fit, budgets).items() for entry in registry.values()
            if (row := _row(quantity, ours, entry, params, ctx, spread)) is not None]
    return pd.DataFrame(rows, columns=list(ROW_COLUMNS))


def entry_verdicts(rows: pd.DataFrame) -> pd.DataFrame:
    """Per registry entry: quantities compared, those scored, the largest scored |z|, and its verdict
    ('inconsistent' if any scored |z| > 2, 'consistent' if all scored ones agree, else 'no verdict')."""
    scored = rows.assign(abs_z=rows["z"].abs().where(rows["verdict"].isin(SCORED)))
    summary = scored.groupby("entry", sort=False).agg(compared=("quantity", "count"), scored=("abs_z", "count"),
                                                      max_abs_z=("abs_z", "max"))
    summary["verdict"] = np.where(summary["max_abs_z"] > Z_LIMIT, "inconsistent",
                                  np.where(summary["max_abs_z"].notna(), "consistent", "no verdict"))
    return summary.reset_index()
