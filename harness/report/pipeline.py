"""From records to a report: the inputs (run table and fit), a report fit, the report with its figures, and the
quickstart's last step. The ``compare``, ``plot`` and ``report`` commands (harness.cli.report) call these."""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import typer

from harness.compare import Context, as_fit, context_from
from harness.fit.derived import DEFAULT_BUDGETS
from harness.errors import ConfigError
from harness.fit.fitting import FitResult

NUMERIC_COLUMNS = ("N_total", "N_nonembed", "N_with_head", "D", "C", "loss")


def read_fit_file(path: Path) -> tuple[FitResult, dict]:
    """(FitResult, the raw dict) from a fit JSON file (``harness fit --json``); the raw dict may also carry
    dataset, tokenizer and loss_unit for the comparison. ConfigError (one line naming the file) if it is
    unreadable, not JSON, or not a well-formed fit."""
    try:
        raw = json.loads(Path(path).read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ConfigError(f"{path}: cannot read fit JSON ({type(exc).__name__})") from None
    return FitResult.from_dict(raw, where=str(path)), raw


def read_fit_json(path: Path) -> FitResult:
    """A FitResult from a fit JSON file; ConfigError (one line) if unreadable or not a fit."""
    return read_fit_file(path)[0]


def sweep_context(source: str, results: Optional[Path] = None) -> dict:
    """Data set, tokenizer and loss unit of a sweep: from its YAML file, else from the data block of a run's
    recorded spec.json under ``results`` (empty when neither is there)."""
    if source.endswith((".yaml", ".yml")):
        from harness.config import load_sweep

        return _data_context(load_sweep(source).data.model_dump())
    if results is None or source.endswith((".csv", ".json")):
        return {}
    from harness.store import SPEC_FILE, read_json, resolve_sweep_source

    for spec_path in sorted(resolve_sweep_source(source, Path(results)).glob(f"*/{SPEC_FILE}"))[:1]:
        data = (read_json(spec_path) or {}).get("data")
        if isinstance(data, dict) and data.get("source"):
            return _data_context(data)
    return {}


def _data_context(data: dict) -> dict:
    dataset = str(data["source"]) + (f":{data['path']}" if data.get("path") else "")
    kind = data.get("tokenizer")
    tokenizer = {"bpe": f"bpe ({data.get('bpe_vocab_size')})",
                 "pretrained": f"pretrained {data.get('tokenizer_name')}"}.get(kind, kind) or "unknown"
    return {"dataset": dataset, "tokenizer": str(tokenizer), "loss_unit": "nats_per_token"}


def fit_table(table: pd.DataFrame, law: str = "chinchilla", bootstrap: int = 1000) -> FitResult:
    """Fit the done runs with the fitter (harness.fit.fit_law).

    On the synthetic source the irreducible loss of the eval set is known exactly (the ``floor`` column:
    the Bayes loss of the eval windows), so E is held
    at it and the fit says so; elsewhere all parameters are free. Bootstrap CIs are on by default.
    """
    from harness.fit import fit_law

    done = table[table["status"] == "done"] if "status" in table else table
    if len(done) < 5:
        raise ConfigError(f"{len(done)} finished runs: too few to fit a {law} law (need at least 5)")
    floor = pd.to_numeric(done["floor"], errors="coerce") if "floor" in done else pd.Series(dtype=float)
    if law == "chinchilla" and floor.notna().all() and len(floor) and floor.nunique() == 1:
        fit = fit_law(table, law=law, bootstrap=bootstrap, fixed={"E": float(floor.iloc[0])})
        note = f"E fixed at the exact Bayes loss of the eval windows {floor.iloc[0]:.4f} nats/token"
        return replace(fit, warnings=(note, *fit.warnings))
    return fit_law(table, law=law, bootstrap=bootstrap)  # non-done runs dropped there, with a warning


def checked_table(table: pd.DataFrame) -> pd.DataFrame:
    """The run table with N/D/C/loss made numeric: a done run with a non-number there becomes status 'invalid'
    (kept out of fits and figures, listed in the fit's warnings) instead of crashing the report."""
    numeric = {c: pd.to_numeric(table[c], errors="coerce") for c in NUMERIC_COLUMNS if c in table}
    bad = pd.Series(False, index=table.index)
    for col, values in numeric.items():
        bad |= values.isna() & table[col].notna()
    out = table.assign(**numeric)
    if "status" in out and bad.any():
        out.loc[bad & (out["status"] == "done"), "status"] = "invalid"
    return out


def load_inputs(source: str, results: Path, fit_path: Optional[Path] = None, tolerate: bool = False,
                all_runs: bool = False) -> tuple[Optional[pd.DataFrame], Optional[FitResult], Context, str]:
    """(run table or None, FitResult, Context, why there is no fit) from a sweep (fitting it unless ``fit_path``)
    or a fit JSON file. With ``tolerate``, a sweep that cannot be fitted gives fit None and the reason
    (the report is most needed for a first bad sweep); otherwise that is a ConfigError. ``all_runs`` also reads
    records of runs no longer in the sweep file's plan (see harness.store.load_table)."""
    from harness.store import load_table

    if source.endswith(".json"):
        fit, raw = read_fit_file(Path(source))
        return None, fit, context_from(raw), ""
    table = checked_table(load_table(source, results, all_runs=all_runs))
    overrides = sweep_context(source, results)
    if fit_path:
        fit, raw = read_fit_file(fit_path)
        return table, fit, context_from(raw, table, **overrides), ""
    try:
        fit = fit_table(table)
    except (ConfigError, ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        if not tolerate:
            raise ConfigError(f"{source}: cannot fit ({exc})") from None
        return table, None, Context(**overrides), f"{type(exc).__name__}: {exc}"
    return table, fit, context_from(fit, table, **overrides), ""


def metrics_of(source: str, results: Path) -> Optional[pd.DataFrame]:
    from harness.store import load_metrics, resolve_sweep_source

    return load_metrics(resolve_sweep_source(source, results))


def plan_of(source: str) -> Optional[pd.DataFrame]:
    """The plan table of a sweep YAML (None for other sources), without cooldown-branching trunks (not points)."""
    if not source.endswith((".yaml", ".yml")):
        return None
    from harness.config import load_sweep
    from harness.plan import plan_table, planned_runs

    return plan_table([s for s in planned_runs(load_sweep(source)) if not s.branch_steps])


def log_to_wandb(sweep: str, fit: FitResult, rows: pd.DataFrame, figure_paths: list[Path], directory: Path) -> None:
    """Log the fit, the comparison table and the figures to one wandb run in the sweep's group (offline without
    a key); its files go under ``directory``."""
    import os

    import wandb

    from harness.tracking import wandb_mode

    run = wandb.init(project=os.environ.get("WANDB_PROJECT", "scaling-harness"), group=sweep, name=f"{sweep}-analysis",
                     job_type="analysis", dir=str(directory), mode=wandb_mode(), reinit="finish_previous",
                     settings=wandb.Settings(silent=True, console="off", x_disable_stats=True))
    run.summary.update({f"fit/{k}": v for k, v in {**fit.params, **fit.derived}.items()
                        if isinstance(v, (int, float)) and math.isfinite(v)})
    run.log({"comparison": wandb.Table(dataframe=rows.astype({"derived": str})),
             **{f"figures/{p.stem}": wandb.Image(str(p)) for p in figure_paths if p.suffix == ".png"}})
    run.finish()


def write_sweep_report(directory: Path, table: pd.DataFrame, fit: Optional[FitResult], out: Path, budgets, plan=None,
                       metrics=None, use_wandb: bool = False, analysis: Optional[dict] = None,
                       context: Optional[Context] = None, fit_error: str = "") -> Path:
    """Build and write the report atomically; returns its path. Only with ``use_wandb`` are the figures also saved
    (in ``figures/`` beside the default report.html, else in ``<out stem>_figures/`` beside ``out``) and logged
    with the fit and comparison to wandb (whose files also go beside ``out``); nothing else is written.

    Without ``analysis``, the functional-form comparison and the largest-N extrapolation are computed here.
    """
    from harness.compare import compare_fit
    from harness.plots import save
    from harness.plots.sweep import sweep_figures
    from harness.report.analysis import with_approaches
    from harness.report.html import build_report, write_report

    out, fit = Path(out), (as_fit(fit) if fit else None)
    if analysis is None and fit is not None and table is not None and fit.law == "chinchilla":
        analysis = _analysis(table)
    analysis = with_approaches(analysis, table, metrics, fit)
    ctx = context or (context_from(fit, table) if fit else None)
    text = build_report(table, fit, metrics, analysis=analysis, plan=plan, title=f"Sweep report: {Path(directory).name}",
                        budgets=budgets, context=ctx, fit_error=fit_error)
    path = write_report(text, out)
    if use_wandb and fit:
        rows = compare_fit(fit, budgets=budgets, context=ctx)
        figs, _ = sweep_figures(table, metrics, fit, analysis, rows)
        default = out.resolve() == (Path(directory) / "report.html").resolve()
        figures = Path(directory) / "figures" if default else out.parent / f"{out.stem}_figures"
        paths = [p for name, fig in figs.items() for p in save(fig, figures, name)]
        log_to_wandb(Path(directory).name, fit, rows, paths, out.parent)
    return path


def _analysis(table: pd.DataFrame) -> dict:
    """Functional forms and the largest-N hold-out; empty (not fatal) when the data cannot support them."""
    from harness.report.analysis import sweep_analysis

    try:
        return sweep_analysis(table[table["status"] == "done"] if "status" in table else table,
                              lambda t: fit_table(t, bootstrap=200))
    except (ConfigError, ValueError, ArithmeticError, np.linalg.LinAlgError):
        return {}


def quickstart_summary(directory: Path, table: pd.DataFrame, use_wandb: bool = True) -> None:
    """The quickstart's last step: fit, the answer, the report in the sweep directory (and, with wandb, figures
    beside it)."""
    from harness.compare import compare_fit
    from harness.report.comparison import headline
    from harness.report.html import summary_lines

    table = checked_table(table)
    fit = fit_table(table)
    analysis = _analysis(table)
    ctx = context_from(fit, table)
    path = write_sweep_report(directory, table, fit, Path(directory) / "report.html", DEFAULT_BUDGETS,
                              metrics=metrics_of(Path(directory).name, Path(directory).parent), use_wandb=use_wandb,
                              analysis=analysis, context=ctx)
    rows = compare_fit(fit, context=ctx)
    typer.echo("\n== the answer (comparison with published exponents) ==")
    for line in headline(rows):
        typer.echo(line)
    typer.echo("\n== what the data support ==")
    for line in summary_lines(fit, rows, analysis, table, ctx):
        typer.echo(f"- {line}")
    typer.echo(f"report: {path}")
