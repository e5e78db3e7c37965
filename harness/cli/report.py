"""``harness compare``, ``plot`` and ``report``: thin wrappers over harness.report and harness.compare."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from harness.cli.options import results_option
from harness.errors import ConfigError

RESULTS_OPT = results_option()
FIT_OPT = typer.Option(None, "--fit", help="Use this fit JSON (from `harness fit --json`) instead of fitting.")
BUDGET_OPT = typer.Option(None, "--budget", help="Compute budget (FLOP) for tokens/param; repeatable.")
ALL_OPT = typer.Option(False, "--all", help="Also read records of runs no longer in the sweep file's plan.")


def _budgets(budget: Optional[list[float]]):
    from harness.compare import DEFAULT_BUDGETS

    return tuple(budget) if budget else DEFAULT_BUDGETS


def compare_command(source: str = typer.Argument(..., help="Sweep (file or name) or a fit JSON file."),
                    results: Path = RESULTS_OPT, budget: Optional[list[float]] = BUDGET_OPT,
                    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
                    fit: Optional[Path] = FIT_OPT, all_runs: bool = ALL_OPT,
                    by: Optional[str] = typer.Option(None, "--by", help="family: the sweep's families side by side "
                                                     "(α, β, E, a, N_opt) with verdicts, instead of published fits."),
                    reference: Optional[str] = typer.Option(None, "--reference", help="--by: the family the others "
                                                            "are compared with (default: the first)."),
                    bootstrap: int = typer.Option(200, "--bootstrap", min=10, max=10000,
                                                  help="--by: bootstrap resamples per family fit.")) -> None:
    """Compare this sweep's α, β, a, b, E and tokens/param with every published fit that reports them: the answer
    in one or two lines first, then the table. With --by family: the sweep's families against each other."""
    if by is not None:
        from harness.cli.families import check_by, compare_by

        check_by(by)
        return compare_by(source, results, by, bootstrap, budget[-1] if budget else None, reference, as_json, all_runs)
    from harness.compare import compare_fit, entry_verdicts
    from harness.report.comparison import format_comparison, frontier_table, headline, records
    from harness.report.pipeline import load_inputs

    table, fit_result, ctx, _ = load_inputs(source, results, fit, all_runs=all_runs)
    budgets = _budgets(budget)
    rows = compare_fit(fit_result, budgets=budgets, context=ctx)
    front = frontier_table(fit_result, budgets=budgets)
    if as_json:
        typer.echo(json.dumps({"answer": headline(rows), "comparison": records(rows),
                               "verdicts": records(entry_verdicts(rows)), "frontier": records(front)}, indent=1))
        return
    typer.echo(format_comparison(rows))
    typer.echo("\ncompute-optimal frontier (each in its own N convention):")
    typer.echo(front.to_string(index=False, float_format="{:.4g}".format) if len(front) else "(none)")


def plot_command(sweep: str = typer.Argument(..., help="Sweep file or name."),
                 out: Path = typer.Option(..., "--out", help="Directory for the PNG and SVG files."),
                 results: Path = RESULTS_OPT, fit: Optional[Path] = FIT_OPT, all_runs: bool = ALL_OPT) -> None:
    """Write the standard figures of a sweep (PNG and SVG), the forest plot of the comparison among them."""
    from harness.compare import compare_fit
    from harness.plots import save
    from harness.plots.sweep import sweep_figures
    from harness.report.pipeline import _analysis, load_inputs, metrics_of

    table, fit_result, ctx, _ = load_inputs(sweep, results, fit, all_runs=all_runs)
    if table is None:
        raise ConfigError(f"{sweep}: plot needs a sweep's runs (a sweep file or name), not only a fit JSON")
    from harness.report.analysis import with_approaches

    metrics = metrics_of(sweep, results)
    analysis = with_approaches(_analysis(table) if fit_result.law == "chinchilla" else {}, table, metrics, fit_result)
    rows = compare_fit(fit_result, context=ctx)
    figs, missing = sweep_figures(table, metrics, fit_result, analysis, rows)
    paths = [p for name, fig in figs.items() for p in save(fig, out, name)]
    typer.echo(f"wrote {len(paths)} files to {out}")
    for name, reason in missing.items():
        typer.echo(f"skipped {name}: {reason}")


def report_command(sweep: str = typer.Argument(..., help="Sweep file or name."), results: Path = RESULTS_OPT,
                   out: Optional[Path] = typer.Option(None, "--out", help="HTML file (default results/<sweep>/report.html)."),
                   fit: Optional[Path] = FIT_OPT,
                   use_wandb: bool = typer.Option(False, "--wandb", help="Also log the fit, comparison and figures to "
                                                  "wandb and save the figures beside the report (off by default: "
                                                  "without it nothing but the HTML file is written)."),
                   budget: Optional[list[float]] = BUDGET_OPT, all_runs: bool = ALL_OPT,
                   _no_wandb: bool = typer.Option(False, "--no-wandb", hidden=True,
                                                  help="The default now; accepted for old scripts.")) -> None:
    """Write one self-contained HTML report: the answer and forest plot, summary, provenance, runs, fit, frontier,
    figures, and the full comparison in an appendix. A sweep that cannot be fitted still gets a report saying why."""
    from harness.report.pipeline import load_inputs, metrics_of, plan_of, write_sweep_report
    from harness.store import resolve_sweep_source

    directory = resolve_sweep_source(sweep, results)
    table, fit_result, ctx, fit_error = load_inputs(sweep, results, fit, tolerate=True, all_runs=all_runs)
    path = write_sweep_report(directory, table, fit_result, out or directory / "report.html", _budgets(budget),
                              plan=plan_of(sweep), metrics=metrics_of(sweep, results), use_wandb=use_wandb,
                              context=ctx, fit_error=fit_error)
    typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add ``compare``, ``plot`` and ``report`` to the harness CLI."""
    app.command("compare")(compare_command)
    app.command("plot")(plot_command)
    app.command("report")(report_command)
