"""One self-contained HTML report of a sweep: plan and provenance, runs, fit, comparison, figures, summary.

Images are embedded as base64 PNG; the page loads nothing from the network.
"""
from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Optional

import jinja2
import pandas as pd

from harness.compare import DEFAULT_BUDGETS, Context, as_fit, compare_fit, context_from, entry_verdicts, our_estimates
from harness.plots import png_bytes
from harness.plots.sweep import sweep_figures
from harness.report.calibration import calibration_section
from harness.report.comparison import comparison_view, frontier_table, headline
from harness.store import atomic_write_bytes

RUN_COLUMNS = ["run_id", "status", "N_nonembed", "N_total", "D", "C", "tokens_per_param", "U", "epochs", "tokens_per_unique",
               "lr", "loss", "loss_se", "loss_bpb", "floor", "wall_time_s"]
PROVENANCE_COLUMNS = ("git_commit", "device", "corpus_fingerprint", "versions")
TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title><style>
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:12px;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
#comparison-table td:last-child{text-align:left;min-width:24em;font-size:11px}.no{color:#999}.inconsistent{color:#b00}
.summary li{margin:.3em 0}.answer{font-size:1.1em;font-weight:600}figure{display:inline-block;margin:0 1em 1em 0}img{max-width:560px}img.wide{max-width:100%}.warn{color:#a60}
</style></head><body>
<h1>{{ title }}</h1>
<section id="answer"><h2>The answer</h2>
{% for line in answer %}<p class="answer">{{ line }}</p>{% endfor %}
{% if forest %}<figure><img class="wide" alt="forest" src="data:image/png;base64,{{ forest }}"><figcaption>Forest plot: our
exponents (red, the fit's own {{ level }} interval) beside the published ones (±1.96σ); filled = like for like.</figcaption></figure>{% endif %}
</section>
<section id="summary"><h2>What the data support</h2><ul class="summary">
{% for line in summary %}<li>{{ line }}</li>{% endfor %}</ul></section>
<section id="provenance"><h2>Plan and provenance</h2>
<table id="provenance-table">{% for k, v in provenance.items() %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</table>
{% if plan %}<h3>Sweep plan</h3>{{ plan }}{% endif %}</section>
<section id="runs"><h2>Runs</h2>{{ runs }}</section>
<section id="fit"><h2>Fit</h2>{{ fit_table }}
{% for w in warnings %}<p class="warn">warning: {{ w }}</p>{% endfor %}</section>
{% if approaches %}<section id="approaches"><h2>Compute-optimal exponents three ways (Hoffmann et al. 2022)</h2>
<p>N_opt ∝ C<sup>a</sup>, D_opt ∝ C<sup>b</sup> from 1: the lower envelope of the training curves, 2: a parabola in
log N per compute budget (minima outside the sampled sizes left out), 3: the parametric law (a = β/(α+β)).
Approaches 1 and 2 use total N and C = 6·N·D; the last column says how each interval was made, or why an approach
gives no estimate.</p>{{ approaches }}
{% for w in approach_warnings %}<p class="warn">approach {{ w }}</p>{% endfor %}</section>{% endif %}
<section id="frontier"><h2>Compute-optimal frontier</h2>{{ frontier }}</section>
<section id="calibration"><h2>Calibration across scale</h2><p>{{ calibration.note }}</p>
{% if calibration.figure %}<figure><img class="wide" alt="calibration_vs_n" src="data:image/png;base64,{{ calibration.figure }}"><figcaption>Brier
score, reliability and resolution vs N, one line per D; dashed: the Bayes-optimal values.</figcaption></figure>{% endif %}
{{ calibration.table }}</section>
{% if families %}<section id="families"><h2>Families side by side</h2>
{% for line in families.verdicts %}<p class="answer">{{ line }}</p>{% endfor %}
<p>One Chinchilla fit per family ({{ families.note }}); E compares only because the families share data and tokenizer.</p>
{{ families.table }}</section>{% endif %}
<section id="figures"><h2>Figures</h2>
{% for name, data in figures %}<figure><img alt="{{ name }}" src="data:image/png;base64,{{ data }}"><figcaption>{{ name }}</figcaption></figure>{% endfor %}
{% if missing %}<p>Not drawn: {% for k, v in missing.items() %}{{ k }} ({{ v }}){% if not loop.last %}; {% endif %}{% endfor %}</p>{% endif %}
</section>
<section id="comparison"><h2>Appendix: comparison with every published fit</h2>
<p>z = (ours − theirs)/σ<sub>combined</sub>, shown only where a comparison is scored; |z| ≤ 2 is "consistent".
"uninformative": our 95% interval is wider than both the spread of the published values and half the published
value. No z for quantities our fit held fixed, did not identify or cannot define, nor for E, A, B and
tokens/param across different data sets or tokenizers ("context only"). "like for like" needs the same N convention
and loss unit and overlapping scale ranges; caveats say what differs. "converted": Pearce &amp; Song's conversion
between total and non-embedding counting with our own ω over our own compute range. (S)/(M): not checked against a
primary source; * = derived from published values.</p>
{{ comparison }}<h3>Per published fit</h3>{{ verdicts }}
</section></body></html>
""")


def _html_table(frame: Optional[pd.DataFrame], table_id: str) -> str:
    if frame is None or frame.empty:
        return f'<p id="{table_id}">(none)</p>'
    text = frame.to_html(index=False, table_id=table_id, na_rep="–", float_format=lambda v: f"{v:.4g}", border=0)
    return jinja2.utils.markupsafe.Markup(text)


def provenance(table: pd.DataFrame, fit=None) -> dict:
    """Git commit(s), library versions, device(s) and corpus fingerprint(s) found in the run table."""
    out = {"runs": f"{len(table)} ({int((table.get('status') == 'done').sum()) if 'status' in table else '?'} done)"}
    for col in PROVENANCE_COLUMNS:
        values = sorted({str(v) for v in table[col].dropna()}) if col in table else []
        out[col] = "; ".join(values) if values else "not recorded"
    if fit:
        fit = as_fit(fit)
        out["fit"] = f"{fit.law} law, {fit.objective} objective, {fit.n_points} points, N convention {fit.n_convention}"
        boot = getattr(fit, "bootstrap", None)
        if isinstance(boot, dict) and boot.get("requested"):
            out["bootstrap"] = f"{boot.get('used', '?')} of {boot['requested']} resamples used " \
                               f"({boot.get('failed', 0)} failed)"
    return out


def fit_table(fit, budgets=DEFAULT_BUDGETS) -> Optional[pd.DataFrame]:
    """Parameters and derived quantities of the fit with its own intervals and each one's status."""
    if not fit:
        return None
    rows = [{"quantity": k, "value": e.value, "ci_low": e.lo, "ci_high": e.hi, "level": e.level,
             "status": e.status + (f": {e.reason}" if e.reason else "")}
            for k, e in our_estimates(fit, budgets).items()]
    return pd.DataFrame(rows)


def _fmt(estimate) -> str:
    if estimate.status != "estimated":
        value = f"{estimate.value:.3g} " if math.isfinite(estimate.value) else ""
        return f"{value}({estimate.status}{': ' + estimate.reason if estimate.reason else ''})"
    return f"{estimate.value:.3g} [{estimate.lo:.3g}, {estimate.hi:.3g}]"


def _claim_lines(est: dict, level: float) -> list[str]:
    """What the sweep pins down (values with intervals), what it does not (bounds only: the value where the
    optimiser stopped means nothing there), and what was held fixed or is undefined."""
    keys = [k for k in ("alpha", "beta", "a", "b", "E") if k in est]
    pinned = [f"{k} = {_fmt(est[k])}" for k in keys if est[k].status == "estimated"]
    loose = [f"{k} ({est[k].reason})" if est[k].reason else k for k in keys if est[k].status == "not identified"]
    other = [f"{k} = {_fmt(est[k])}" for k in keys if est[k].status not in ("estimated", "not identified")]
    lines = [f"Pinned down by this sweep ({100 * level:.0f}% intervals): {'; '.join(pinned)}"] if pinned else []
    lines += [f"Not pinned down by this sweep, so no value is quoted: {'; '.join(loose)}"] if loose else []
    return lines + (["; ".join(other)] if other else [])


def summary_lines(fit, rows: Optional[pd.DataFrame], analysis: dict, table: pd.DataFrame,
                  context: Optional[Context] = None) -> list[str]:
    """Plain-language statements of what the data support, each with its number."""
    if not fit:
        return [f"{len(table)} runs recorded; no fit available yet, so no exponents or comparisons."] \
            + _record_checks(table) + curve_lines(table)
    raw, fit = fit, as_fit(fit)
    lines = _claim_lines(our_estimates(fit, ()), fit.ci_level)
    ctx = context or context_from(raw, table)
    if ctx.ranges.get("N"):
        lo, hi = ctx.ranges["N"]
        lines.append(f"Fitted on {fit.n_points or len(table)} runs spanning N {lo:.3g}–{hi:.3g} "
                     f"({math.log10(hi / lo):.1f} decades, {ctx.n_convention} parameters).")
    lines += _form_line(analysis.get("forms")) + _extrapolation_line(analysis, table)
    if rows is not None and not rows.empty:
        lines += _comparison_lines(rows)
    lines += [f"Fit warning: {w}" for w in fit.warnings]
    return lines + _record_checks(table) + curve_lines(table)


def _record_checks(table: pd.DataFrame) -> list[str]:
    """Records that cannot be right: a loss below the source's exact floor, or a status of 'invalid'."""
    lines = []
    if {"loss", "floor", "run_id"} <= set(table.columns):
        loss, floor = (pd.to_numeric(table[c], errors="coerce") for c in ("loss", "floor"))
        below = table.loc[loss < floor, "run_id"].tolist()
        if below:
            lines.append(f"{len(below)} run(s) with a loss below the source's exact floor, which is impossible "
                         f"(an edited or corrupt record?): {', '.join(map(str, below[:3]))}")
    if "status" in table and (table["status"] == "invalid").any():
        lines.append(f"{int((table['status'] == 'invalid').sum())} run(s) with a non-numeric N, D, C or loss "
                     "left out of the fit and figures.")
    problems = table.attrs.get("record_problems") or []
    if problems:
        lines.append(f"{len(problems)} record(s) left out of the table, fit and figures: " + "; ".join(problems[:3])
                     + (f" and {len(problems) - 3} more" if len(problems) > 3 else ""))
    return lines


def _form_line(forms: Optional[dict]) -> list[str]:
    """The functional-form verdict of harness.fit.select (AICc, Akaike weights; it names a form only when confident)."""
    return [forms["verdict"]] if forms and forms.get("verdict") else []


def _extrapolation_line(analysis: dict, table: pd.DataFrame) -> list[str]:
    spec = analysis.get("extrapolation")
    if not spec or "run_id" not in table:
        return []
    actual = pd.to_numeric(table.set_index("run_id").loc[spec["run_ids"], "loss"], errors="coerce").to_numpy(float)
    errors = 100 * abs(pd.Series(spec["predicted"], dtype=float).to_numpy() - actual) / actual
    return [f"Extrapolation error to the {len(actual)} largest run(s), held out of the fit: max {errors.max():.2g} %."]


def _comparison_lines(rows: pd.DataFrame) -> list[str]:
    comparable = rows[rows["like_for_like"] != "no"]
    verdicts = entry_verdicts(comparable) if not comparable.empty else pd.DataFrame(columns=["entry", "verdict"])
    lines = []
    for verdict in ("consistent", "inconsistent"):
        names = verdicts.loc[verdicts["verdict"] == verdict, "entry"].tolist()
        if names:
            lines.append(f"{verdict.capitalize()} (|z| {'≤' if verdict == 'consistent' else '>'} 2) with: "
                         f"{', '.join(names)} — like-for-like or approximately so.")
    unscored = rows[~rows["verdict"].isin(("consistent", "inconsistent"))]
    for verdict, group in unscored.groupby("verdict"):
        lines.append(f"Not scored ({verdict}): {', '.join(dict.fromkeys(group['quantity']))}.")
    skipped = sorted(set(rows["entry"]) - set(comparable["entry"]))
    if skipped:
        lines.append(f"Not like for like (different N convention, loss unit, data set or scale): {len(skipped)} "
                     "published fits; see the appendix before reading their z.")
    return lines


def build_report(table: pd.DataFrame, fit=None, metrics: Optional[pd.DataFrame] = None,
                 analysis: Optional[dict] = None, plan: Optional[pd.DataFrame] = None, title: str = "Sweep report",
                 budgets=DEFAULT_BUDGETS, registry: Optional[dict] = None, context: Optional[Context] = None,
                 fit_error: str = "") -> str:
    """The report as one HTML string (figures embedded). ``fit`` is a FitResult (or its dict) or None;
    ``fit_error`` says why there is none. Quantities a degenerate fit cannot define are shown as such."""
    analysis = analysis or {}
    ctx = (context or context_from(fit, table)) if fit else None
    rows = compare_fit(fit, registry, budgets, ctx) if fit else None
    figs, missing = sweep_figures(table, metrics, fit, analysis, rows)
    forest = figs.pop("forest", None)
    images = [(name, base64.b64encode(png_bytes(fig)).decode("ascii")) for name, fig in figs.items()]
    answer = headline(rows) if fit else [f"No fit, so no comparison: {fit_error or 'no fit available'}."]
    fit_obj = as_fit(fit) if fit else None
    return TEMPLATE.render(
        title=title, answer=answer, level=f"{100 * fit_obj.ci_level:.0f}%" if fit_obj else "95%",
        forest=base64.b64encode(png_bytes(forest)).decode("ascii") if forest is not None else "",
        summary=summary_lines(fit, rows, analysis, table, ctx) + approach_lines(analysis),
        provenance=provenance(table, fit),
        plan=_html_table(plan, "plan-table") if plan is not None else "",
        runs=_html_table(table[[c for c in RUN_COLUMNS if c in table]], "runs-table"),
        fit_table=_html_table(fit_table(fit, budgets), "fit-table"),
        warnings=list(fit_obj.warnings) if fit_obj else ([fit_error] if fit_error else []),
        comparison=_html_table(comparison_view(rows, caveats=True) if rows is not None and len(rows) else None,
                               "comparison-table"),
        verdicts=_html_table(entry_verdicts(rows) if rows is not None and len(rows) else None, "verdict-table"),
        frontier=_html_table(frontier_table(fit, registry, budgets) if fit else None, "frontier-table"),
        figures=images, missing=missing, calibration=_calibration(table), families=families_section(table),
        **_approaches_view(analysis))


def approach_lines(analysis: dict) -> list[str]:
    """One summary line: a and b by each approach that gave them (interval levels as each approach states)."""
    parts = [f"approach {r['approach']} ({r['name']}): a = {r['a']:.3g} [{r['a_ci'][0]:.3g}, {r['a_ci'][1]:.3g}], "
             f"b = {r['b']:.3g}" for r in analysis.get("approaches") or () if not r.get("error")]
    return [f"Compute-optimal exponents three ways — {'; '.join(parts)} (see that section)."] if parts else []


def _approaches_view(analysis: dict) -> dict:
    """The approaches table and the warnings of approaches 1 and 2 (approach 3's are the fit's, shown above)."""
    from harness.fit.approaches import approaches_table

    results = analysis.get("approaches") or []
    warnings = [f"{r['approach']}: {w}" for r in results if r["approach"] != 3 for w in r.get("warnings", ())]
    return {"approaches": _html_table(approaches_table(results), "approaches-table") if results else "",
            "approach_warnings": warnings}


def _calibration(table: pd.DataFrame) -> dict:
    """The calibration section's parts (harness.report.calibration), its table as HTML."""
    section = calibration_section(table)
    return {**section, "table": _html_table(section["table"], "calibration-table") if section["table"] is not None
            else ""}


def families_section(table: Optional[pd.DataFrame], bootstrap: int = 200) -> Optional[dict]:
    """The families section (verdicts, note, side-by-side table) when the runs hold several families, else None."""
    from harness.families import family_comparison

    if table is None or "family" not in table or table["family"].nunique() < 2:
        return None
    verdicts, side, note = family_comparison(table, bootstrap)
    return {"verdicts": verdicts, "note": note, "table": _html_table(side, "families-table")}


def write_report(text: str, out: Path) -> Path:
    """Write the HTML to ``out`` atomically (temp file + rename: never a truncated report; parents created) and
    return the path. An OSError names the path."""
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out, text.encode("utf-8"))
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or str(exc), str(out)) from None
    return out


def fit_json(fit) -> str:
    """A fit (FitResult or dict) as pretty JSON (numpy values made plain) for embedding or logging."""
    fit = fit.to_dict() if hasattr(fit, "to_dict") else fit
    return json.dumps(fit, indent=1, default=lambda v: v.tolist() if hasattr(v, "tolist") else html.escape(str(v)))


def curve_lines(table: pd.DataFrame) -> list[str]:
    """Runs with loss spikes (they bias fits), runs that over-fitted, and the seed noise beside the eval SE."""
    from harness.store import aggregate_seeds

    lines = []
    if {"spike_count", "run_id"} <= set(table.columns):
        spiky = table[pd.to_numeric(table["spike_count"], errors="coerce") > 0]
        if len(spiky):
            lines.append(f"{len(spiky)} run(s) with loss spikes (recovered jumps of the train loss; they can bias the "
                         "fit): " + ", ".join(f"{r} ({int(c)})" for r, c in zip(spiky["run_id"], spiky["spike_count"])))
    if {"overfit", "run_id"} <= set(table.columns):
        over = table[table["overfit"].astype(object).eq(True)]
        if len(over):
            lines.append(f"{len(over)} run(s) over-fitted (test loss rose while train-eval loss fell); lowest test "
                         "loss at step: " + ", ".join(f"{r} ({s:g})" for r, s in zip(over["run_id"], over["best_eval_step"])))
    if {"seed", "status", "loss", "N", "D"} <= set(table.columns) and table["seed"].nunique() > 1:
        points = aggregate_seeds(table)
        multi = points[points["seed_count"] > 1]
        if len(multi):
            lines.append(f"Seed noise: across {len(multi)} (N, D) point(s) with several seeds, the median seed "
                         f"standard deviation of the loss is {multi['loss_std'].median():.3g} nats/token against a "
                         f"median eval SE of {multi['loss_se'].median():.3g}.")
    return lines
