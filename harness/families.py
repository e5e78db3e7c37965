"""Several model families on one sweep: a fit per family and their exponents, E and frontiers side by side.

Each family is fitted on its own runs (same law, objective and bootstrap); a difference between two families is
the estimate difference with the percentile interval of the differences of their bootstrap draws (the two fits'
draws are independent, so draw i of one minus draw i of the other is a draw of the difference). Frontier sizes
N_opt(C) are compared as a ratio, its interval from the draws likewise. E is comparable across families only
because they share data and tokenizer; the table says so.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd

from harness.errors import ConfigError

QUANTITIES = ("alpha", "beta", "E", "a")  # a: N_opt ∝ C^a
SYMBOLS = {"alpha": "α", "beta": "β", "E": "E", "a": "a (N_opt ∝ C^a)"}
NAMES = {"gpt2": "GPT-2", "llama": "Llama", "mamba": "Mamba"}


def split_by(table: pd.DataFrame, column: str) -> dict[str, pd.DataFrame]:
    """The runs table split by ``column`` (e.g. family), groups in first-seen order; one-line error if unusable."""
    if column not in table.columns:
        raise ConfigError(f"--by: the runs have no column '{column}'")
    groups = {str(k): g for k, g in table.groupby(column, sort=False)}
    order = {name: i for i, name in enumerate(NAMES)}  # gpt2, llama, mamba first: the transformer is the reference
    groups = dict(sorted(groups.items(), key=lambda kv: order.get(kv[0], len(order))))
    if len(groups) < 1:
        raise ConfigError(f"--by {column}: no runs to fit")
    return groups


def fit_by_family(table: pd.DataFrame, column: str = "family", **fit_options) -> dict:
    """{family: FitResult}: :func:`harness.fit.fitting.fit_law` on each family's runs with the same options."""
    from harness.fit.fitting import fit_law

    fits = {}
    for name, runs in split_by(table, column).items():
        try:
            fits[name] = fit_law(runs, **fit_options)
        except ValueError as exc:
            raise ConfigError(f"--by {column}: {name}: {str(exc).splitlines()[0]}") from None
    return fits


def frontier_key(budget: float) -> str:
    """The derived-quantity key of N_opt at ``budget`` (see harness.fit.derived.chinchilla_derived)."""
    return f"N_opt@{budget:.3g}"


def _difference(fit, ref, name: str, ratio: bool = False) -> tuple[float, float, float]:
    """(estimate, low, high) of fit − ref (or fit/ref) for one quantity, interval from paired bootstrap draws."""
    value = lambda f: {**f.params, **f.derived}[name]  # noqa: E731
    est = value(fit) / value(ref) if ratio else value(fit) - value(ref)
    if not (fit.samples and ref.samples and name in fit.samples and name in ref.samples):
        return float(est), float("nan"), float("nan")
    k = min(len(fit.samples[name]), len(ref.samples[name]))
    a, b = np.asarray(fit.samples[name][:k], float), np.asarray(ref.samples[name][:k], float)
    draws = a / b if ratio else a - b
    draws = draws[np.isfinite(draws)]
    if len(draws) < 10:
        return float(est), float("nan"), float("nan")
    tail = 100 * (1 - fit.ci_level) / 2
    return float(est), float(np.percentile(draws, tail)), float(np.percentile(draws, 100 - tail))


def side_by_side(fits: dict, budget: float) -> pd.DataFrame:
    """One row per (quantity, family): estimate and interval, in the fits' own CI level."""
    rows = []
    for q in QUANTITIES + (frontier_key(budget),):
        for fam, fit in fits.items():
            values = {**fit.params, **fit.derived}
            lo, hi = (fit.ci.get(q) or [np.nan, np.nan])
            rows.append({"quantity": q, "family": fam, "estimate": values.get(q, np.nan), "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


DEPENDS = {"a": ("alpha", "beta"), "N_opt": ("alpha", "beta", "A", "B")}


def unidentified(fits: list, q: str) -> list[str]:
    """Parameters behind quantity ``q`` that some fit does not identify (its profile likelihood is flat on a side)."""
    needs = DEPENDS.get(q.split("@")[0], (q,))
    return sorted({p for f in fits for p in needs if f.identified.get(p, True) is False})


def verdict(fam: str, ref: str, q: str, est: float, lo: float, hi: float, ratio: bool = False) -> str:
    """One line: '<fam>'s α is lower than <ref>'s by … [interval]', or 'cannot tell …' when the interval spans 0 (1)."""
    a, b, sym = NAMES.get(fam, fam), NAMES.get(ref, ref), SYMBOLS.get(q, q)
    null = 1.0 if ratio else 0.0
    what = "ratio" if ratio else "difference"
    if not np.isfinite(lo):
        return f"cannot tell whether {a}'s {sym} differs from {b}'s: no bootstrap draws ({what} {est:.3g})"
    if not lo <= est <= hi:  # draws piled on a bound elsewhere: the fits are unstable, the interval meaningless
        return (f"cannot tell whether {a}'s {sym} differs from {b}'s: the bootstrap {what}s [{lo:.3g}, {hi:.3g}] "
                f"do not bracket the estimate {est:.3g} (unstable fits)")
    if lo <= null <= hi:
        return f"cannot tell whether {a}'s {sym} differs from {b}'s: {what} {est:.3g} [{lo:.3g}, {hi:.3g}] includes {null:g}"
    side = "higher" if lo > null else "lower"
    if ratio:
        return f"{a}'s {sym} is {side} than {b}'s: {est:.3g}x [{lo:.3g}, {hi:.3g}]"
    return f"{a}'s {sym} is {side} than {b}'s by {abs(est):.3g} [{lo:+.3g}, {hi:+.3g}]"


def compare_families(fits: dict, budget: float, reference: Optional[str] = None) -> pd.DataFrame:
    """Every other family against ``reference`` (default: the first): difference (ratio for N_opt), interval, verdict.

    A quantity resting on a parameter that either fit does not identify gets "cannot tell" whatever its draws say."""
    names = list(fits)
    ref = reference or names[0]
    if ref not in fits:
        raise ConfigError(f"--reference: no runs of family '{ref}' (have {', '.join(names)})")
    rows = []
    for fam in (n for n in names if n != ref):
        for q in QUANTITIES + (frontier_key(budget),):
            ratio = q.startswith("N_opt@")
            est, lo, hi = _difference(fits[fam], fits[ref], q, ratio)
            flat = unidentified([fits[fam], fits[ref]], q)
            line = (f"cannot tell whether {NAMES.get(fam, fam)}'s {SYMBOLS.get(q, q)} differs from "
                    f"{NAMES.get(ref, ref)}'s: {', '.join(flat)} not identified by this sweep" if flat
                    else verdict(fam, ref, q, est, lo, hi, ratio))
            rows.append({"family": fam, "reference": ref, "quantity": q, "measure": "ratio" if ratio else "difference",
                         "estimate": est, "ci_low": lo, "ci_high": hi, "verdict": line})
    return pd.DataFrame(rows)


def default_budget(table: pd.DataFrame) -> float:
    """The largest training compute 6·N_total·D among the runs: the frontier is compared inside the sweep."""
    from harness.sizing import training_compute

    n = table["N_total"] if "N_total" in table.columns else table["N"]
    return float(training_compute(n, table["D"]).max())


def format_families(side: pd.DataFrame, diffs: pd.DataFrame) -> str:
    """The verdicts first, then the side-by-side table (E comparable here only because data and tokenizer agree)."""
    lines = list(diffs["verdict"]) if len(diffs) else ["(one family only: nothing to compare)"]
    lines += ["", "per family (E is comparable only because the families share data and tokenizer):",
              side.to_string(index=False, float_format="{:.4g}".format)]
    return "\n".join(lines)


def family_comparison(table: pd.DataFrame, bootstrap: int = 200) -> tuple[list[str], pd.DataFrame, str]:
    """(verdict lines, side-by-side table, note) for a runs table of several families, as the report shows them;
    a family whose fit fails is named in the verdicts instead."""
    table = table[table["status"] == "done"] if "status" in table.columns else table
    c = default_budget(table)
    try:
        fits = fit_by_family(table, bootstrap=bootstrap, seed=0, budgets=(c,))
    except ConfigError as exc:
        return [f"no per-family comparison: {exc}"], pd.DataFrame(), ""
    note = f"pairs bootstrap {bootstrap}, N_opt at C = {c:.3g} FLOP"
    return list(compare_families(fits, c)["verdict"]), side_by_side(fits, c), note
