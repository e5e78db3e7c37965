"""The main job: a quick offline sweep, then the fit, the comparison with published fits, and the report."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Union

import typer

from harness.plan import load_and_expand, plan_table
from harness.store import load_results, sweep_dir
from harness.sweep import WorkerOptions, run_sweep
from harness.train import TrainOptions


def _section(title: str) -> None:
    typer.echo(f"\n== {title} ==")


def _show(table, columns: list[str]) -> None:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.float_format", "{:.4g}".format):
        typer.echo(table[columns].to_string(index=False))


def run_quickstart(sweep_file: Path, results_root: Path, use_wandb: bool = True, workers: Union[int, str] = 1) -> Path:
    """Run the quickstart sweep and everything after it; returns the sweep's results directory."""
    config, specs = load_and_expand(str(sweep_file))
    _section(f"plan: {config.name}, {len(specs)} runs")
    _show(plan_table(specs), ["run_id", "shape", "N_nonembed", "N_total", "D", "tok/param", "lr"])
    _section("run")
    start = time.perf_counter()
    outcome = run_sweep(config, results_root, workers=workers, options=WorkerOptions(TrainOptions(use_wandb=use_wandb)))
    typer.echo(f"trained {len(outcome.trained)}, already done {len(outcome.skipped)}, failed {len(outcome.failed)} "
               f"in {time.perf_counter() - start:.0f} s")
    directory = sweep_dir(results_root, config.name)
    table = load_results(directory)
    _section("results (test loss in nats/token; floor = exact Bayes loss of the eval windows)")
    _show(table, ["run_id", "status", "N_nonembed", "D", "loss", "loss_se", "loss_bpb", "floor"])
    _after_sweep(directory, table, use_wandb)
    return directory


def _after_sweep(directory: Path, table, use_wandb: bool) -> None:
    """Fit, compare and report."""
    from harness.report.pipeline import quickstart_summary

    quickstart_summary(directory, table, use_wandb=use_wandb)
