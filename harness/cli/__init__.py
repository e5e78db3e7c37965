"""The ``harness`` command: thin wrappers, each calling the library. User mistakes: one line, exit 2."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from harness.errors import ConfigError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Launch transformer LM sweeps over N and D, record test loss, fit and compare scaling laws.")

RESULTS_OPT = typer.Option(Path("results"), "--results", help="Results root directory.")
FORMAT_OPT = typer.Option("table", "--format", help="table, csv or json.")


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error to stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def emit(table, fmt: str) -> None:
    """Print a DataFrame as an aligned table, CSV or JSON records."""
    if fmt == "csv":
        typer.echo(table.to_csv(index=False), nl=False)
    elif fmt == "json":
        typer.echo(table.to_json(orient="records", indent=1))
    elif fmt == "table":
        with __import__("pandas").option_context("display.width", 250, "display.max_columns", 50,
                                                 "display.max_rows", 10_000, "display.float_format", "{:.4g}".format):
            typer.echo(table.to_string(index=False) if len(table) else "(no runs)")
    else:
        fail(f"--format: unknown format '{fmt}' (table, csv or json)")


@app.command()
def plan(sweep: str = typer.Argument(..., help="Sweep file (or name in sweeps/)."), fmt: str = FORMAT_OPT) -> None:
    """Print the expanded run table before anything trains."""
    from harness.plan import load_and_expand, plan_table

    config, specs = load_and_expand(sweep)
    if fmt == "table":
        typer.echo(f"sweep {config.name}: {len(specs)} runs ({config.budgets.mode}, {config.model.family})")
    if config.budgets.branching != "none":
        from harness.branching import branch_plan_table, token_comparison

        emit(branch_plan_table(specs), fmt)
        if fmt == "table":
            typer.echo(f"\ntokens, cooldown branching ({config.budgets.branching}, f={config.budgets.cooldown_fraction:g}, "
                       f"{config.budgets.cooldown_shape}) vs independent runs:")
            emit(token_comparison(specs), fmt)
        return
    emit(plan_table(specs), fmt)


def _parse_workers(workers: str) -> tuple[int, int]:
    import torch

    gpus = torch.cuda.device_count()
    if workers == "auto":
        return max(1, gpus), gpus
    if not workers.isdigit() or int(workers) < 1:
        fail(f"--workers: expected a positive integer or 'auto', got '{workers}'")
    return int(workers), gpus


@app.command()
def run(
    sweep: str = typer.Argument(..., help="Sweep file (or name in sweeps/)."),
    results: Path = RESULTS_OPT,
    workers: str = typer.Option("1", help="Local worker processes, or 'auto' (one per visible GPU)."),
    no_wandb: bool = typer.Option(False, "--no-wandb", help="Do not log to wandb."),
    save_model: bool = typer.Option(False, "--save-model", help="save_pretrained() each finished model."),
    threads: int = typer.Option(0, help="torch threads per worker (0: default)."),
    lease: float = typer.Option(300.0, help="Seconds after which a silent worker's claim is taken over."),
) -> None:
    """Train every pending run of a sweep (finished runs are skipped; killed runs resume)."""
    from harness.plan import load_and_expand

    config, _ = load_and_expand(sweep)  # every sweep-file mistake surfaces here, before anything is written
    from harness.sweep import WorkerOptions, run_sweep
    from harness.train import TrainOptions

    count, gpus = _parse_workers(workers)
    options = WorkerOptions(TrainOptions(use_wandb=not no_wandb, save_model=save_model), lease_s=lease, threads=threads)
    try:
        outcome = run_sweep(config, results, workers=count, options=options, gpus=gpus)
    except ConfigError as exc:
        raise ConfigError(f"{sweep}: {exc}") from None
    typer.echo(f"sweep {config.name}: trained {len(outcome.trained)}, already done {len(outcome.skipped)}, "
               f"busy elsewhere {len(outcome.busy)}, failed {len(outcome.failed)} → {results / config.name}")
    if outcome.lost_workers:
        typer.echo(f"warning: {outcome.lost_workers} worker process(es) died; rerun to finish their runs", err=True)
    if outcome.failed:
        from harness.store import read_json, sweep_dir

        for run_id in outcome.failed:
            failure = read_json(sweep_dir(results, config.name) / run_id / "failure.json") or {}
            typer.echo(f"failed: {run_id}: {failure.get('error', 'unknown error')}", err=True)
        raise typer.Exit(1)
    if outcome.lost_workers:
        raise typer.Exit(1)


@app.command()
def results(sweep: str = typer.Argument(..., help="Sweep file or name."), results: Path = RESULTS_OPT,
            fmt: str = FORMAT_OPT) -> None:
    """Print the run table of a sweep's records."""
    from harness.store import load_table

    table = load_table(sweep, results)
    if fmt == "table":
        cols = ["run_id", "status", "N_nonembed", "N_total", "D", "tokens_per_param", "loss", "loss_se", "loss_bpb",
                "floor", "tokens_per_s"]
        table = table[[c for c in cols if c in table]]
    emit(table, fmt)


@app.command()
def status(sweep: str = typer.Argument(..., help="Sweep file (or name in sweeps/)."), results: Path = RESULTS_OPT,
           lease: float = typer.Option(300.0, help="Claim lease in seconds.")) -> None:
    """Show done / diverged / running / failed / pending runs."""
    from harness.config import load_sweep_or_name
    from harness.sweep import sweep_status

    table = sweep_status(load_sweep_or_name(sweep), results, lease)
    counts = table["state"].value_counts().to_dict()
    typer.echo("  ".join(f"{k}: {counts.get(k, 0)}" for k in ("done", "diverged", "running", "failed", "pending")))
    emit(table, "table")


def _quickstart_file() -> Path:
    for candidate in (Path("sweeps/quickstart.yaml"), Path(__file__).resolve().parents[1] / "sweeps/quickstart.yaml"):
        if candidate.is_file():
            return candidate
    raise ConfigError("sweeps/quickstart.yaml: not found (run from the repository root)")


@app.command()
def quickstart(results: Path = RESULTS_OPT, no_wandb: bool = typer.Option(False, "--no-wandb"),
               workers: str = typer.Option("1", help="Local worker processes.")) -> None:
    """The main job: a quick offline sweep on the synthetic language, then fit, comparison and report."""
    from harness.quickstart import run_quickstart

    run_quickstart(_quickstart_file(), results, use_wandb=not no_wandb, workers=_parse_workers(workers)[0])


def _register_rooms() -> None:
    from harness.cli import fit, launch, report

    for room in (fit, launch, report):
        room.register(app)


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point of the console script."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _register_rooms()
    try:
        code = app(args=argv, standalone_mode=False)  # click returns an Exit's code instead of raising it
        if isinstance(code, int) and code:
            sys.exit(code)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except __import__("click").exceptions.ClickException as exc:
        exc.show()
        sys.exit(2)
    except __import__("click").exceptions.Abort:
        sys.exit(130)
    except OSError as exc:
        typer.echo(f"error: {exc.filename or ''}: {exc.strerror or exc}", err=True)
        sys.exit(1)
