"""The comparison, made readable: the one- or two-line answer, the forest-plot inputs, the frontier table and
the display tables (terminal and HTML appendix). Numbers come from harness.compare; nothing is recomputed here
except the compute-optimal frontier, which comes from its one home (harness.fit.derived.compute_optimal)."""
from __future__ import annotations

import math
import re
from typing import Optional

import pandas as pd
from scipy.stats import norm

from harness.compare import FRONTIER_ENTRIES, HEADLINE, SCORED, as_fit, law_params
from harness.fit.derived import DEFAULT_BUDGETS, compute_optimal, frontier_undefined
from harness.published import load_registry

SYMBOL = {"alpha": "α", "beta": "β", "a": "a", "b": "b"}
LIKE = ("yes", "approx")


def _names(rows: pd.DataFrame, most: int = 3) -> str:
    """Papers with their variants, e.g. 'Hoffmann 2022 (a1, a3), Besiroglu 2024'."""
    groups: dict[str, list] = {}
    for name, entry in zip(rows["name"], rows["entry"]):
        variant = re.match(r"^.*?\d{4}_?(.*)$", entry).group(1) if re.match(r"^.*?\d{4}", entry) else ""
        groups.setdefault(name.split(" [")[0], []).append(variant)
    parts = []
    for base, variants in groups.items():
        shown = [v for v in variants if v][:most] + (["…"] if len([v for v in variants if v]) > most else [])
        parts.append(base + (f" ({', '.join(shown)})" if shown else ""))
    return ", ".join(parts)


def _quantity_line(quantity: str, rows: pd.DataFrame) -> str:
    """One clause for one quantity, e.g. 'α agrees with Besiroglu 2024 like for like'."""
    sym = SYMBOL[quantity]
    mine = rows[rows["quantity"] == quantity]
    if mine.empty:
        return ""
    first = mine.iloc[0]
    if first["ours_status"] != "estimated":
        return f"{sym} is {first['ours_status']}" + (f" ({first['why']})" if first["why"] else "")
    if (mine["verdict"] == "uninformative").all():
        return (f"{sym} is uninformative (our {100 * first['ours_level']:.0f}% interval "
                f"[{first['ours_lo']:.3g}, {first['ours_hi']:.3g}] is wider than the published values differ)")
    like = mine[mine["like_for_like"].isin(LIKE)]
    agree, disagree = like[like["verdict"] == "consistent"], like[like["verdict"] == "inconsistent"]
    parts = []
    if len(agree):
        parts.append(f"agrees with {_names(agree)}")
    if len(disagree):
        worst = disagree.loc[disagree["z"].abs().idxmax()]
        parts.append(f"disagrees with {_names(disagree)} (largest |z| {abs(worst['z']):.1f})")
    if parts:
        return f"{sym} " + " and ".join(parts) + " like for like"
    if (like["verdict"] == "uninformative").any():
        return f"{sym} is uninformative against the like-for-like fits (our interval is wider than they differ)"
    reasons = mine["caveats"].str.split("; ").str[0].value_counts()
    return f"{sym}: no like-for-like published value" + (f" ({reasons.index[0]})" if len(reasons) else "")


def headline(rows: Optional[pd.DataFrame]) -> list[str]:
    """The answer in one or two lines: per exponent (α, β, a, b), which published fits it agrees or disagrees
    with like for like, or why it cannot say (uninformative, not identified, fixed, undefined)."""
    if rows is None or rows.empty:
        return ["No published fit reports the quantities this fit has."]
    found = {q: c for q in HEADLINE if (c := _quantity_line(q, rows))}
    if "a" in found and "b" in found:  # b = 1 − a: one clause for both when they say the same
        same = found["b"][1:] == found["a"][1:] or all(found[k].startswith(f"{k} is uninformative") for k in "ab")
        if same:
            found.pop("b")
            found["a"] = "a (and b = 1 − a)" + found["a"][1:]
    clauses = list(found.values())
    if not clauses:
        return ["This fit has none of α, β, a, b to compare."]
    half = (len(clauses) + 1) // 2
    return ["; ".join(clauses[:half]) + ".", "; ".join(clauses[half:]) + "."] if len(clauses) > 2 \
        else ["; ".join(clauses) + "."]


def _their_interval(row) -> tuple[float, float]:
    if math.isfinite(row.theirs_sigma):
        half = norm.ppf(0.975) * row.theirs_sigma
        return row.theirs - half, row.theirs + half
    return math.nan, math.nan


def _label(name: str, entry: str) -> str:
    """'Porian 2024 rw_kaplan' from the entry's display name and the variant part of its id."""
    variant = re.match(r"^.*?\d{4}_?(.*)$", entry)
    return name.split(" [")[0] + (f" {variant.group(1)}" if variant and variant.group(1) else "")


def forest_data(rows: Optional[pd.DataFrame], quantities=HEADLINE) -> dict:
    """Per exponent: {'ours': (value, lo, hi, status), 'published': [(label, value, lo, hi, like_for_like)]} with
    published intervals as ±1.96σ (NaN when the paper gives none)."""
    out = {}
    if rows is None or rows.empty:
        return out
    for quantity in quantities:
        mine = rows[rows["quantity"] == quantity]
        if mine.empty:
            continue
        first = mine.iloc[0]
        published = [(_label(r.name, r.entry), r.theirs, *_their_interval(r), r.like_for_like in LIKE)
                      for r in mine.itertuples()]
        out[quantity] = {"ours": (first["ours"], first["ours_lo"], first["ours_hi"], first["ours_status"]),
                         "published": published}
    return out


def frontier_table(fit, registry: Optional[dict] = None, budgets=DEFAULT_BUDGETS,
                   entries=FRONTIER_ENTRIES) -> pd.DataFrame:
    """Compute-optimal N, D and tokens/param at each budget: ours (when our law has a frontier) beside the Kaplan
    and Chinchilla frontiers, each in its own N convention."""
    registry = load_registry() if registry is None else registry
    fit = as_fit(fit)
    sources = []
    params = law_params(fit)
    if params and not frontier_undefined(params):
        sources.append(("ours", fit.n_convention, lambda c: compute_optimal(params, c)[0],
                        lambda c: compute_optimal(params, c)[1]))
    sources += [(e, registry[e].n_convention, registry[e].optimal_n, registry[e].optimal_d)
                for e in entries if e in registry and registry[e].optimal_n(1.0) is not None]
    rows = [{"C": c, "source": name, "n_convention": conv, "N_opt": float(n(c)), "D_opt": float(d(c)),
             "tokens_per_param": float(d(c) / n(c))} for c in budgets for name, conv, n, d in sources]
    return pd.DataFrame(rows, columns=["C", "source", "n_convention", "N_opt", "D_opt", "tokens_per_param"])


def records(frame: pd.DataFrame) -> list[dict]:
    """JSON-ready rows: NaN becomes None, numpy scalars become Python numbers."""
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v.item() if hasattr(v, "item") else v)
             for k, v in row.items()} for row in frame.to_dict("records")]


def _fmt_ours(row) -> str:
    if row.ours_status not in ("estimated",):
        return f"{row.ours:.4g} ({row.ours_status})" if math.isfinite(row.ours) else row.ours_status
    return f"{row.ours:.4g} [{row.ours_lo:.4g}, {row.ours_hi:.4g}]"


def comparison_view(rows: pd.DataFrame, caveats: bool = False) -> pd.DataFrame:
    """A compact, display-ready comparison: one string column per idea (ours with the fit's own interval, theirs
    ± σ, z only where scored, verdict and its reason)."""
    level = f"{100 * rows['ours_level'].iloc[0]:.0f}%" if len(rows) else "95%"
    view = pd.DataFrame({
        "quantity": rows["quantity"], "entry": rows["entry"],
        f"ours [{level} CI]": [_fmt_ours(r) for r in rows.itertuples()],
        "theirs ± σ": [f"{r.theirs:.4g}" + (f" ± {r.theirs_sigma:.2g}" if math.isfinite(r.theirs_sigma) else "")
                       + ("*" if r.derived else "") + ("" if r.status == "P" else f" ({r.status})")
                       for r in rows.itertuples()],
        "z": [f"{r.z:+.1f}" if r.verdict in SCORED + ("uninformative",) and math.isfinite(r.z) else "–"
              for r in rows.itertuples()],
        "verdict": rows["verdict"], "like-for-like": rows["like_for_like"],
        "converted": rows["converted"].map(lambda v: f"{v:.3f}" if math.isfinite(v) else ""),
    })
    if caveats:
        view["caveats"] = ["; ".join(x for x in (r.why, r.caveats, r.conversion) if x) for r in rows.itertuples()]
    return view


def format_comparison(rows: pd.DataFrame) -> str:
    """The answer first, then an aligned text table for the terminal (the --json output carries every column)."""
    if rows.empty:
        return "(no published fit reports these quantities)"
    with pd.option_context("display.width", 250, "display.max_colwidth", 60):
        table = comparison_view(rows).to_string(index=False)
    return "\n".join(headline(rows)) + "\n\n" + table \
        + "\n* derived from published values; (S)/(M): not checked against a primary source"
