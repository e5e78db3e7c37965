"""``harness compare``, ``plot`` and ``report``: thin wrappers over harness.report and harness.compare."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from harness.errors import ConfigError
from harness.report.pipeline import (fit_table, load_inputs, metrics_of, plan_of, write_sweep_report)

RESULTS_OPT = typer.Option(Path("results"), "--results", help="Results root directory.")
FIT_OPT = typer.Option(None, "--fit", help="Use this fit JSON (from `harness fit --json`) instead of fitting.")
BUDGET_OPT = typer.Option(None, "--budget", help="Compute budget (FLOP) for tokens/param; repeatable.")
ALL_OPT = typer.Option(False, "--all", help="Also read records of runs no longer in the sweep file's plan.")


def _budgets(budget: Optional[list[float]]):
    from harness.compare import DEFAULT_BUDGETS

    return tuple(budget) if budget else DEFAULT_BUDGETS


def compare_command(source: str = typer.Argument(..., help="Sweep (file or name) or a fit JSON file."),
                    results: Path = RESULTS_OPT, budget: Optional[list[float]] = BUDGET_OPT,
                    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
                    fit: Optional[Path] = FIT_OPT, all_runs: bool = ALL_OPT) -> None:
    """Compare this sweep's α, β, a, b, E and tokens/param with every published fit that reports them."""
    from harness.compare import (compare_fit, context_from, entry_verdicts, format_comparison, frontier_table,
                                 records)

    table, fit_dict = load_inputs(source, results, fit, all_runs)
    budgets = _budgets(budget)
    rows = compare_fit(fit_dict, budgets=budgets, context=context_from(fit_dict, table))
    front = frontier_table(fit_dict, budgets=budgets)
    if as_json:
        typer.echo(json.dumps({"comparison": records(rows), "verdicts": records(entry_verdicts(rows)),
                               "frontier": records(front)}, indent=1))
        return
    typer.echo(format_comparison(rows))
    typer.echo("\ncompute-optimal frontier (each in its own N convention):")
    typer.echo(front.to_string(index=False, float_format="{:.4g}".format))


def plot_command(sweep: str = typer.Argument(..., help="Sweep file or name."),
                 out: Path = typer.Option(..., "--out", help="Directory for the PNG and SVG files."),
                 results: Path = RESULTS_OPT, fit: Optional[Path] = FIT_OPT, all_runs: bool = ALL_OPT) -> None:
    """Write the standard figures of a sweep (PNG and SVG)."""
    from harness.plots import save
    from harness.plots.sweep import sweep_figures

    from harness.report.analysis import sweep_analysis

    table, fit_dict = load_inputs(sweep, results, fit, all_runs)
    if table is None:
        raise ConfigError(f"{sweep}: plot needs a sweep's runs (a sweep file or name), not only a fit JSON")
    analysis = sweep_analysis(table, lambda t: fit_table(t, bootstrap=200)) if fit_dict.get("law") == "chinchilla" else {}
    figs, missing = sweep_figures(table, metrics_of(sweep, results), fit_dict, analysis)
    paths = [p for name, fig in figs.items() for p in save(fig, out, name)]
    typer.echo(f"wrote {len(paths)} files to {out}")
    for name, reason in missing.items():
        typer.echo(f"skipped {name}: {reason}")


def report_command(sweep: str = typer.Argument(..., help="Sweep file or name."), results: Path = RESULTS_OPT,
                   out: Optional[Path] = typer.Option(None, "--out", help="HTML file (default results/<sweep>/report.html)."),
                   fit: Optional[Path] = FIT_OPT, no_wandb: bool = typer.Option(False, "--no-wandb"),
                   budget: Optional[list[float]] = BUDGET_OPT, all_runs: bool = ALL_OPT) -> None:
    """Write one self-contained HTML report: plan, provenance, runs, fit, comparison, figures, summary."""
    from harness.store import resolve_sweep_source

    directory = resolve_sweep_source(sweep, results)
    table, fit_dict = load_inputs(sweep, results, fit, all_runs)
    path = write_sweep_report(directory, table, fit_dict, out or directory / "report.html", _budgets(budget),
                              plan=plan_of(sweep), metrics=metrics_of(sweep, results), use_wandb=not no_wandb)
    typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add ``compare``, ``plot`` and ``report`` to the harness CLI."""
    app.command("compare")(compare_command)
    app.command("plot")(plot_command)
    app.command("report")(report_command)
