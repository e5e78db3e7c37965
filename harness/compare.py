"""Compare a fit with the published fits: differences in units of the combined uncertainty, and whether each
comparison is like for like (N convention, loss unit, data set/tokenizer for E, A, B, overlapping scale range).

Input is a fit dict shaped like ``FitResult.to_dict()`` (law, params, ci, derived, n_convention, …). Optional keys
it may carry: ``ci_level`` (default 0.95), ``samples`` ({name: [bootstrap values]}), ``dataset``, ``tokenizer``,
``loss_unit`` and ``ranges`` ({N|D|C: [low, high]}); a run table fills the ranges when given.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pandas as pd
from scipy.stats import norm

from harness.fit.derived import DEFAULT_BUDGETS
from harness.published import (KAPLAN_C_RANGE, PEARCE_SONG_OMEGA, QUANTITIES, PublishedFit, chinchilla_frontier,
                               load_registry, nonembed_exponent)

N_COLUMN = {"total": "N_total", "non_embedding": "N_nonembed", "with_head": "N_with_head"}
SCALE_FREE = ("alpha", "beta", "a", "b", "alpha_N", "alpha_D", "alpha_C", "alpha_C_min")
FRONTIER_ENTRIES = ("kaplan2020", "hoffmann2022_a1", "hoffmann2022_a3_unrounded", "besiroglu2024")


@dataclass(frozen=True)
class Estimate:
    """One of our numbers with its interval (``lo``, ``hi`` at ``level``; NaN when unknown)."""

    value: float
    lo: float = math.nan
    hi: float = math.nan
    level: float = 0.95

    def sigma(self) -> Optional[float]:
        """1-σ from the interval's half-width, None without an interval."""
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)):
            return None
        return (self.hi - self.lo) / 2.0 / norm.ppf(0.5 + self.level / 2.0)


@dataclass(frozen=True)
class Context:
    """What our fit's numbers mean: N convention, loss unit, data set, tokenizer and the fitted ranges."""

    n_convention: str = "total"
    loss_unit: str = "nats_per_token"
    dataset: str = "unknown"
    tokenizer: str = "unknown"
    ranges: dict = field(default_factory=lambda: {"N": None, "D": None, "C": None})


def context_from(fit: dict, table: Optional[pd.DataFrame] = None, **overrides) -> Context:
    """The fit's Context, from its own keys, the run table's N/D/C span (done runs) and explicit overrides."""
    conv = fit.get("n_convention") or "total"
    ranges = {k: (tuple(v) if v else None) for k, v in (fit.get("ranges") or {}).items()}
    if table is not None and len(table):
        done = table[table["status"] == "done"] if "status" in table else table
        for key, col in (("N", N_COLUMN.get(conv, "N")), ("D", "D"), ("C", "C")):
            if col in done and done[col].notna().any():
                ranges[key] = (float(done[col].min()), float(done[col].max()))
    base = dict(n_convention=conv, loss_unit=fit.get("loss_unit") or "nats_per_token",
                dataset=fit.get("dataset") or "unknown", tokenizer=fit.get("tokenizer") or "unknown",
                ranges={k: ranges.get(k) for k in ("N", "D", "C")})
    return Context(**{**base, **{k: v for k, v in overrides.items() if v is not None}})


def _interval(fit: dict, name: str) -> tuple[float, float]:
    ci = (fit.get("ci") or {}).get(name)
    if ci is None and name in (fit.get("samples") or {}):
        ci = np.percentile(np.asarray(fit["samples"][name], dtype=float), [2.5, 97.5])
    return (float(ci[0]), float(ci[1])) if ci is not None else (math.nan, math.nan)


def law_params(fit: dict) -> Optional[dict]:
    """{E, A, B, alpha, beta} of a Chinchilla-form fit, None for other laws."""
    params = fit.get("params") or {}
    keys = ("E", "A", "B", "alpha", "beta")
    return {k: float(params[k]) for k in keys} if all(k in params for k in keys) else None


def _tokens_per_param(fit: dict, budget: float) -> Optional[Estimate]:
    params = law_params(fit)
    if params is None:
        return None
    n_opt, d_opt = chinchilla_frontier(params)
    value = float(d_opt(budget) / n_opt(budget))
    samples = fit.get("samples") or {}
    if not all(k in samples for k in ("A", "B", "alpha", "beta")):
        return Estimate(value)
    draws = pd.DataFrame({k: samples[k] for k in ("E", "A", "B", "alpha", "beta") if k in samples})
    draws["E"] = draws.get("E", 0.0)
    tpp = [float(d(budget) / n(budget)) for n, d in (chinchilla_frontier(r) for r in draws.to_dict("records"))]
    lo, hi = np.percentile(tpp, [2.5, 97.5])
    return Estimate(value, float(lo), float(hi))


def our_estimates(fit: dict, budgets=DEFAULT_BUDGETS) -> dict[str, Estimate]:
    """Our α, β, E, A, B, a, b (whichever the fit has) and tokens/param at each budget, with intervals."""
    level = float(fit.get("ci_level", 0.95))
    found = {**(fit.get("params") or {}), **(fit.get("derived") or {})}
    params = law_params(fit)
    if params is not None:
        found.setdefault("a", params["beta"] / (params["alpha"] + params["beta"]))
        found.setdefault("b", params["alpha"] / (params["alpha"] + params["beta"]))
    out = {k: Estimate(float(found[k]), *_interval(fit, k), level) for k in QUANTITIES if k in found}
    for have, want in (("a", "b"), ("b", "a")):
        if want in out and have in out and not math.isfinite(out[want].lo) and math.isfinite(out[have].lo):
            out[want] = Estimate(out[want].value, 1.0 - out[have].hi, 1.0 - out[have].lo, level)
    for budget in budgets:
        tpp = _tokens_per_param(fit, float(budget))
        if tpp is not None:
            out[f"tokens_per_param@{budget:.3g}"] = tpp
    return out


def _overlap(ours, theirs) -> Optional[bool]:
    if ours is None or theirs is None:
        return None
    return ours[0] <= theirs[1] and theirs[0] <= ours[1]


def like_for_like(quantity: str, ctx: Context, entry: PublishedFit) -> tuple[str, list[str]]:
    """('yes' | 'approx' | 'no', reasons): N convention, loss unit, scale range, and data set/tokenizer for E, A, B."""
    hard, soft = [], []
    pair = {ctx.n_convention, entry.n_convention}
    if len(pair) > 1:
        (soft if pair == {"total", "with_head"} else hard).append(
            f"N convention: ours {ctx.n_convention}, theirs {entry.n_convention}")
    if ctx.loss_unit != entry.loss_unit:
        hard.append(f"loss unit: ours {ctx.loss_unit}, theirs {entry.loss_unit}")
    if quantity not in SCALE_FREE and (ctx.dataset, ctx.tokenizer) != (entry.dataset, entry.tokenizer):
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


def _published(quantity: str, entry: PublishedFit, budgets) -> Optional[tuple[float, Optional[float], str, bool]]:
    """(value, σ, status, derived) of ``quantity`` in ``entry``, or None when it does not report it."""
    if quantity.startswith("tokens_per_param@"):
        budget = float(quantity.split("@")[1])
        n_opt = entry.optimal_n(budget)
        if n_opt is None:
            return None
        return float(entry.optimal_d(budget) / n_opt), None, entry.status, True
    value = entry.values.get(quantity)
    return None if value is None else (value.value, value.sigma(), value.status, value.derived)


def _converted(quantity: str, fit: dict, ctx: Context, entry: PublishedFit) -> tuple[float, str]:
    """Pearce & Song conversion of a or b between total and non-embedding counting, where a law allows it."""
    if quantity not in ("a", "b"):
        return math.nan, ""
    omega = entry.omega or PEARCE_SONG_OMEGA
    ours_total, theirs_total = ctx.n_convention != "non_embedding", entry.n_convention != "non_embedding"
    if ours_total and entry.n_convention == "non_embedding" and law_params(fit):
        c_range = entry.ranges.get("C") or KAPLAN_C_RANGE
        a = nonembed_exponent(law_params(fit), omega, c_range)
        return (a if quantity == "a" else 1 - a), f"ours in non-embedding counting over C {_span(c_range)} (ω={omega:.0f})"
    if not ours_total and theirs_total and entry.law_params() and ctx.ranges.get("C"):
        a = nonembed_exponent(entry.law_params(), omega, ctx.ranges["C"])
        return (a if quantity == "a" else 1 - a), f"theirs in non-embedding counting over our C (ω={omega:.0f})"
    return math.nan, ""


def _row(quantity: str, ours: Estimate, entry: PublishedFit, fit: dict, ctx: Context, budgets) -> Optional[dict]:
    published = _published(quantity, entry, budgets)
    if published is None:
        return None
    value, sigma, status, derived = published
    sigmas = [s for s in (ours.sigma(), sigma) if s]
    combined = math.sqrt(sum(s * s for s in sigmas)) if sigmas else math.nan
    z = (ours.value - value) / combined if sigmas else math.nan
    converted, how = _converted(quantity, fit, ctx, entry)
    like, reasons = like_for_like(quantity, ctx, entry)
    return {"quantity": quantity, "entry": entry.id, "paper": entry.paper, "arxiv": entry.arxiv,
            "ours": ours.value, "ours_lo": ours.lo, "ours_hi": ours.hi, "theirs": value,
            "theirs_sigma": sigma if sigma else math.nan, "status": status, "derived": derived,
            "z": z, "verdict": _verdict(z), "like_for_like": like, "caveats": "; ".join(reasons),
            "converted": converted,
            "z_converted": (converted - value) / combined if sigmas and math.isfinite(converted) else math.nan,
            "conversion": how}


def _verdict(z: float) -> str:
    if not math.isfinite(z):
        return "no uncertainty"
    return "consistent" if abs(z) <= 2.0 else "inconsistent"


def compare_fit(fit: dict, registry: Optional[dict] = None, budgets=DEFAULT_BUDGETS,
                context: Optional[Context] = None) -> pd.DataFrame:
    """One row per (our quantity, registry entry reporting it): values, z = Δ/σ_combined, verdict
    (|z| ≤ 2: consistent), like-for-like and its caveats, and the convention-converted value where possible."""
    registry = load_registry() if registry is None else registry
    ctx = context or context_from(fit)
    rows = [row for quantity, ours in our_estimates(fit, budgets).items() for entry in registry.values()
            if (row := _row(quantity, ours, entry, fit, ctx, budgets)) is not None]
    return pd.DataFrame(rows, columns=list(_row_columns()))


def _row_columns() -> tuple:
    return ("quantity", "entry", "paper", "arxiv", "ours", "ours_lo", "ours_hi", "theirs", "theirs_sigma", "status",
            "derived", "z", "verdict", "like_for_like", "caveats", "converted", "z_converted", "conversion")


def entry_verdicts(rows: pd.DataFrame) -> pd.DataFrame:
    """Per registry entry: quantities compared, the largest |z|, and 'inconsistent' if any |z| > 2."""
    scored = rows.assign(abs_z=rows["z"].abs())
    summary = scored.groupby("entry", sort=False).agg(compared=("quantity", "count"), max_abs_z=("abs_z", "max"))
    summary["verdict"] = np.where(summary["max_abs_z"] > 2.0, "inconsistent",
                                  np.where(summary["max_abs_z"].notna(), "consistent", "no uncertainty"))
    return summary.reset_index()


def frontier_table(fit: dict, registry: Optional[dict] = None, budgets=DEFAULT_BUDGETS,
                   entries=FRONTIER_ENTRIES) -> pd.DataFrame:
    """Compute-optimal N, D and tokens/param at each budget: ours beside the Kaplan and Chinchilla frontiers
    (each in its own N convention)."""
    registry = load_registry() if registry is None else registry
    sources = []
    if law_params(fit):
        sources.append(("ours", fit.get("n_convention", "total"), *chinchilla_frontier(law_params(fit))))
    sources += [(e, registry[e].n_convention, registry[e].optimal_n, registry[e].optimal_d)
                for e in entries if e in registry and registry[e].optimal_n(1.0) is not None]
    rows = [{"C": c, "source": name, "n_convention": conv, "N_opt": float(n(c)), "D_opt": float(d(c)),
             "tokens_per_param": float(d(c) / n(c))} for c in budgets for name, conv, n, d in sources]
    return pd.DataFrame(rows, columns=["C", "source", "n_convention", "N_opt", "D_opt", "tokens_per_param"])


def records(frame: pd.DataFrame) -> list[dict]:
    """JSON-ready rows: NaN becomes None, numpy scalars become Python numbers."""
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v.item() if hasattr(v, "item") else v)
             for k, v in row.items()} for row in frame.to_dict("records")]


def comparison_view(rows: pd.DataFrame, caveats: bool = False) -> pd.DataFrame:
    """A compact, display-ready comparison: one string column per idea (ours with CI, theirs ± σ, z, verdict)."""
    view = pd.DataFrame({
        "quantity": rows["quantity"], "entry": rows["entry"],
        "ours [95% CI]": [_fmt_ci(r) for r in rows.itertuples()],
        "theirs ± σ": [f"{r.theirs:.4g}" + (f" ± {r.theirs_sigma:.2g}" if math.isfinite(r.theirs_sigma) else "")
                       + ("*" if r.derived else "") + ("" if r.status == "P" else f" ({r.status})")
                       for r in rows.itertuples()],
        "z": rows["z"].map(lambda z: f"{z:+.1f}" if math.isfinite(z) else "–"), "verdict": rows["verdict"],
        "like-for-like": rows["like_for_like"],
        "converted": rows["converted"].map(lambda v: f"{v:.3f}" if math.isfinite(v) else ""),
    })
    if caveats:
        view["caveats"] = rows["caveats"]
    return view


def format_comparison(rows: pd.DataFrame) -> str:
    """An aligned text table for the terminal (the --json output carries every column)."""
    if rows.empty:
        return "(no published fit reports these quantities)"
    return comparison_view(rows).to_string(index=False) \
        + "\n* derived from published values; (S)/(M): not checked against a primary source"


def _fmt_ci(row) -> str:
    if math.isfinite(row.ours_lo):
        return f"{row.ours:.4g} [{row.ours_lo:.4g}, {row.ours_hi:.4g}]"
    return f"{row.ours:.4g}"
