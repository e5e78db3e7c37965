"""From records to a report: the inputs (run table and fit), a report fit, the report with its figures, and the
quickstart's last step. The ``compare``, ``plot`` and ``report`` commands (harness.cli.report) call these."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import pandas as pd
import typer

from harness.errors import ConfigError



def read_fit_json(path: Path) -> dict:
    """A fit dict from a JSON file; ConfigError (one line) if unreadable or not a fit."""
    try:
        fit = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read fit JSON ({type(exc).__name__})") from None
    if not isinstance(fit, dict) or not isinstance(fit.get("params"), dict):
        raise ConfigError(f"{path}: not a fit result (expected an object with 'params')")
    return fit


def sweep_context(source: str) -> dict:
    """Data set, tokenizer and loss unit of a sweep file (empty when the source is not a sweep YAML)."""
    if not source.endswith((".yaml", ".yml")):
        return {}
    from harness.config import load_sweep

    data = load_sweep(source).data
    dataset = data.source + (f":{data.path}" if data.path else "")
    tokenizer = {"bpe": f"bpe ({data.bpe_vocab_size})", "pretrained": f"pretrained {data.tokenizer_name}"}.get(
        data.tokenizer, data.tokenizer)
    return {"dataset": dataset, "tokenizer": tokenizer, "loss_unit": "nats_per_token"}


def fit_table(table: pd.DataFrame, law: str = "chinchilla", bootstrap: int = 1000) -> dict:
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
        fit = fit_law(table, law=law, bootstrap=bootstrap, fixed={"E": float(floor.iloc[0])}).to_dict()
        fit["warnings"] = [f"E fixed at the exact Bayes loss of the eval windows {floor.iloc[0]:.4f} nats/token"
                           ] + list(fit["warnings"])
        return fit
    return fit_law(table, law=law, bootstrap=bootstrap).to_dict()  # non-done runs dropped there, with a warning


def load_inputs(source: str, results: Path, fit_path: Optional[Path] = None) -> tuple[Optional[pd.DataFrame], dict]:
    """(run table or None, fit dict) from a sweep (fitting it unless ``fit_path``) or a fit JSON file."""
    from harness.store import load_table

    if source.endswith(".json"):
        return None, read_fit_json(Path(source))
    table = load_table(source, results)
    fit = read_fit_json(fit_path) if fit_path else fit_table(table)
    return table, {**sweep_context(source), **fit}


def metrics_of(source: str, results: Path) -> Optional[pd.DataFrame]:
    from harness.store import load_metrics, resolve_sweep_source

    return load_metrics(resolve_sweep_source(source, results))


def plan_of(source: str) -> Optional[pd.DataFrame]:
    if not source.endswith((".yaml", ".yml")):
        return None
    from harness.plan import load_and_expand, plan_table

    return plan_table(load_and_expand(source)[1])


def log_to_wandb(sweep: str, fit: dict, rows: pd.DataFrame, figure_paths: list[Path], directory: Path) -> None:
    """Log the fit, the comparison table and the figures to one wandb run in the sweep's group (offline without
    a key)."""
    import os

    import wandb

    from harness.tracking import wandb_mode

    run = wandb.init(project=os.environ.get("WANDB_PROJECT", "scaling-harness"), group=sweep, name=f"{sweep}-analysis",
                     job_type="analysis", dir=str(directory), mode=wandb_mode(), reinit="finish_previous",
                     settings=wandb.Settings(silent=True, console="off", x_disable_stats=True))
    run.summary.update({f"fit/{k}": v for k, v in {**fit.get("params", {}), **fit.get("derived", {})}.items()
                        if isinstance(v, (int, float))})
    run.log({"comparison": wandb.Table(dataframe=rows.astype({"derived": str})),
             **{f"figures/{p.stem}": wandb.Image(str(p)) for p in figure_paths if p.suffix == ".png"}})
    run.finish()


def write_sweep_report(directory: Path, table: pd.DataFrame, fit: Optional[dict], out: Path, budgets, plan=None,
                       metrics=None, use_wandb: bool = False, analysis: Optional[dict] = None) -> Path:
    """Build and write the report (and, with ``use_wandb``, log fit, comparison and figures); returns its path.

    Without ``analysis``, the functional-form comparison and the largest-N extrapolation are computed here.
    """
    from harness.compare import compare_fit, context_from
    from harness.plots import save
    from harness.plots.sweep import sweep_figures
    from harness.report.html import build_report, write_report

    if analysis is None and fit is not None and table is not None and fit.get("law") == "chinchilla":
        from harness.report.analysis import sweep_analysis

        analysis = sweep_analysis(table, lambda t: fit_table(t, bootstrap=200))
    text = build_report(table, fit, metrics, analysis=analysis, plan=plan,
                        title=f"Sweep report: {Path(directory).name}", budgets=budgets)
    path = write_report(text, out)
    if use_wandb and fit:
        figs, _ = sweep_figures(table, metrics, fit, analysis)
        paths = [p for name, fig in figs.items() for p in save(fig, Path(directory) / "figures", name)]
        rows = compare_fit(fit, budgets=budgets, context=context_from(fit, table))
        log_to_wandb(Path(directory).name, fit, rows, paths, Path(directory))
    return path


def quickstart_summary(directory: Path, table: pd.DataFrame, use_wandb: bool = True) -> None:
    """The quickstart's last step: fit, a short comparison, figures and the HTML report in the sweep directory."""
    from harness.compare import DEFAULT_BUDGETS
    from harness.report.html import summary_lines

    from harness.report.analysis import sweep_analysis

    fit = fit_table(table)

    analysis = sweep_analysis(table, lambda t: fit_table(t, bootstrap=200))
    path = write_sweep_report(directory, table, fit, Path(directory) / "report.html", DEFAULT_BUDGETS,
                              metrics=metrics_of(Path(directory).name, Path(directory).parent), use_wandb=use_wandb,
                              analysis=analysis)
    from harness.compare import compare_fit, context_from

    rows = compare_fit(fit, context=context_from(fit, table))
    typer.echo("\n== comparison with published exponents (z = difference / combined uncertainty) ==")
    shown = rows[rows["quantity"].isin(["alpha", "beta", "a"])]
    columns = ["quantity", "entry", "ours", "ours_lo", "ours_hi", "theirs", "z", "verdict", "like_for_like"]
    with pd.option_context("display.width", 200, "display.float_format", "{:.3g}".format):
        typer.echo(shown[columns].to_string(index=False))
    typer.echo("\n== what the data support ==")
    for line in summary_lines(fit, rows, analysis, table):
        typer.echo(f"- {line}")
    typer.echo(f"report: {path}")
