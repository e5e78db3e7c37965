"""The ``harness`` command: thin wrappers, each calling the library. User mistakes: one line, exit 2."""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Optional, Union

import typer

from harness.cli.options import lease_option, no_wandb_option, results_option
from harness.errors import ConfigError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Launch transformer LM sweeps over N and D, record test loss, fit and compare scaling laws.")

RESULTS_OPT = results_option()
FORMATS = ("table", "csv", "json")


def _check_format(fmt: str) -> str:
    """``--format`` callback: table, csv or json."""
    if fmt not in FORMATS:
        raise typer.BadParameter(f"unknown format '{fmt}' (table, csv or json)")
    return fmt


FORMAT_OPT = typer.Option("table", "--format", help="table, csv or json.", callback=_check_format)


def emit(table, fmt: str) -> None:
    """Print a DataFrame as CSV, JSON records or (``table``, the default) an aligned table."""
    import pandas as pd

    if fmt == "csv":
        typer.echo(table.to_csv(index=False), nl=False)
    elif fmt == "json":
        typer.echo(table.to_json(orient="records", indent=1))
    else:
        with pd.option_context("display.width", 250, "display.max_columns", 50, "display.max_rows", 10_000,
                               "display.float_format", "{:.4g}".format):
            typer.echo(table.to_string(index=False) if len(table) else "(no runs)")


@app.command()
def plan(sweep: str = typer.Argument(..., help="Sweep file (or name in sweeps/)."), fmt: str = FORMAT_OPT,
         gpu: str = typer.Option("h100", "--gpu", help="GPU for the cost estimate (h100, a100, …)."),
         mfu: float = typer.Option(0.4, "--mfu", help="Assumed model-FLOPs utilisation for the cost estimate.")) -> None:
    """Print the expanded run table (with GPU-hours and epochs), the total cost, data needs and warnings."""
    from harness.cost import cost_summary, cost_table
    from harness.design import plan_warnings
    from harness.plan import load_and_expand, plan_table

    config, specs = load_and_expand(sweep)
    table = plan_table(specs)
    costed, summary = cost_table(table, config, gpu, mfu), cost_summary(table, config, gpu, mfu)
    if fmt == "table":
        typer.echo(f"sweep {config.name}: {len(specs)} runs ({config.budgets.mode}, "
                   f"{', '.join(config.model.families) or config.model.family})")
    if config.budgets.branching != "none":
        from harness.branching import branch_plan_table, token_comparison

        emit(branch_plan_table(specs), fmt)
        if fmt == "table":
            typer.echo(f"\ntokens, cooldown branching ({config.budgets.branching}, f={config.budgets.cooldown_fraction:g}, "
                       f"{config.budgets.cooldown_shape}) vs independent runs:")
            emit(token_comparison(specs), fmt)
    else:
        emit(costed, fmt)
    for line in summary + [f"warning: {w}" for w in plan_warnings(config, specs)]:
        typer.echo(line, err=fmt != "table")


def _check_workers(workers: str) -> str:
    """``--workers`` callback: a positive integer or 'auto'."""
    if workers != "auto" and not (workers.isdigit() and int(workers) >= 1):
        raise typer.BadParameter(f"expected a positive integer or 'auto', got '{workers}'")
    return workers


def _parse_workers(workers: str) -> tuple[Union[int, str], int]:
    """(worker processes or 'auto', visible GPUs) for a checked ``--workers`` value."""
    import torch

    gpus = torch.cuda.device_count()
    return ("auto" if workers == "auto" else int(workers)), gpus


@app.command()
def run(
    sweep: str = typer.Argument(..., help="Sweep file (or name in sweeps/)."),
    results: Path = RESULTS_OPT,
    workers: str = typer.Option("1", help="Local worker processes, or 'auto' (one per GPU; on CPU cores // "
                                 "training.cpu_threads processes). On CPU every run trains with its own "
                                 "training.cpu_threads threads (default 1), so the layout never changes a loss.",
                                callback=_check_workers),
    no_wandb: bool = no_wandb_option(),
    save_model: bool = typer.Option(False, "--save-model", help="save_pretrained() each finished model."),
    threads: int = typer.Option(0, min=0, help="Override: CPU runs train with this many torch threads instead of "
                                "training.cpu_threads (0: no override). Changes the losses, not the run ids; recorded "
                                "as threads_override in result.json. On GPU: torch threads per worker."),
    lease: float = lease_option(),
) -> None:
    """Train every pending run of a sweep (finished runs are skipped; killed runs resume)."""
    from harness.plan import load_and_expand

    config, _ = load_and_expand(sweep)  # every sweep-file mistake surfaces here, before anything is written
    from harness.sweep import WorkerOptions, run_sweep
    from harness.train import TrainOptions

    count, gpus = _parse_workers(workers)
    if threads and not gpus and threads != config.training.cpu_threads:
        typer.echo(f"warning: --threads {threads} overrides training.cpu_threads={config.training.cpu_threads}: these "
                   "losses differ from the same run ids trained without it (recorded as threads_override)", err=True)
    options = WorkerOptions(TrainOptions(use_wandb=not no_wandb, save_model=save_model, threads_override=threads),
                            lease_s=lease, threads=threads)
    try:
        outcome = run_sweep(config, results, workers=count, options=options, gpus=gpus)
    except ConfigError as exc:
        raise ConfigError(f"{sweep}: {exc}") from None
    reused = f", reused {len(outcome.reused)} (equal branches of an earlier plan)" if outcome.reused else ""
    typer.echo(f"sweep {config.name}: trained {len(outcome.trained)}{reused}, already done {len(outcome.skipped)}, "
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
            fmt: str = FORMAT_OPT,
            all_runs: bool = typer.Option(False, "--all", help="Also show records of runs no longer in the plan."),
            by_point: bool = typer.Option(False, "--by-point", help="One row per (N, D): mean loss over seeds, "
                                          "their spread (loss_std, loss_sem) and count beside the eval SE.")) -> None:
    """Print the run table of a sweep's records (by default only the runs of the sweep file's current plan)."""
    from harness.store import aggregate_seeds, load_table

    table = load_table(sweep, results, all_runs=all_runs)
    if by_point:
        table = aggregate_seeds(table)
    if fmt == "table":
        cols = ["run_id", "status", "N_nonembed", "N_total", "D", "tokens_per_param", "U", "epochs", "tokens_per_unique",
                "seed_count", "loss", "loss_std", "loss_sem", "loss_se", "train_eval_loss", "loss_bpb", "floor",
                "spike_count", "tokens_per_s"]
        table = table[[c for c in cols if c in table]]
    emit(table, fmt)


@app.command()
def status(sweep: str = typer.Argument(..., help="Sweep file (or name in sweeps/)."), results: Path = RESULTS_OPT,
           lease: float = lease_option("Claim lease in seconds, as given to run/launch (a claim silent for longer "
                                       "is not running).")) -> None:
    """Show done / diverged / running / failed / pending runs (and, after a longer budget was added to a branched
    sweep, the branches that will reuse an equal record and the trunks that will continue a shorter one)."""
    from harness.config import load_sweep_or_name
    from harness.sweep import sweep_status

    table = sweep_status(load_sweep_or_name(sweep), results, lease)
    counts = table["state"].value_counts().to_dict()
    extended = tuple(k for k in ("reusable", "continues") if k in counts)   # a longer budget added (continuation)
    states = ("done", "diverged", "running", "failed", "pending") + extended
    typer.echo("  ".join(f"{k}: {counts.get(k, 0)}" for k in states))
    emit(table, "table")


def _quickstart_file() -> Path:
    for candidate in (Path("sweeps/quickstart.yaml"), Path(__file__).resolve().parents[1] / "sweeps/quickstart.yaml"):
        if candidate.is_file():
            return candidate
    raise ConfigError("sweeps/quickstart.yaml: not found (run from the repository root)")


@app.command()
def quickstart(results: Path = RESULTS_OPT, no_wandb: bool = no_wandb_option(),
               workers: str = typer.Option("auto", help="Local worker processes, or 'auto' (one single-thread process "
                                           "per core; see harness run --help).",
                                           callback=_check_workers)) -> None:
    """The main job: a quick offline sweep on the synthetic language, then fit, comparison and report."""
    from harness.quickstart import run_quickstart

    run_quickstart(_quickstart_file(), results, use_wandb=not no_wandb, workers=_parse_workers(workers)[0])


@functools.cache
def _register_rooms() -> None:
    """Add the subcommands that live in their own modules (fit, launch, report), once."""
    from harness.cli import fit, launch, report

    for room in (fit, launch, report):
        room.register(app)


def _click_errors() -> tuple[type, type]:
    """(ClickException, Abort) of the click that typer runs on. Recent typer (0.29 here) bundles its own copy as
    ``typer._click``, older typer (0.12) uses the ``click`` package; ``typer.BadParameter`` derives from the right
    ClickException in both (tests/test_cli_usage.py passes on both)."""
    click_exception = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
    return click_exception, typer.Abort


def _usage_line(exc) -> str:
    """A click usage error as one line naming the command and the option or argument at fault."""
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return f"error: {message}"
    return f"error: {ctx.command_path}: {message} (see '{ctx.command_path} --help')"


def _show_click_error(exc) -> int:
    """Print a click exception (help for a bare command group, else one line); its exit code."""
    if type(exc).__name__ == "NoArgsIsHelpError":  # bare `harness` / `harness launch`: help on stdout, exit 0
        text = exc.ctx.get_help()  # rich-formatted help is printed by get_help itself and returns ''
        if text:
            typer.echo(text)
        return 0
    typer.echo(_usage_line(exc), err=True)
    return 2


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point of the console script: user mistakes are one line on stderr with exit 2."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _register_rooms()
    click_exception, abort = _click_errors()
    try:
        code = app(args=argv, prog_name="harness", standalone_mode=False)  # returns an Exit's code, raises the rest
        if isinstance(code, int) and code:
            sys.exit(code)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except click_exception as exc:
        sys.exit(_show_click_error(exc))
    except abort:
        sys.exit(130)
    except OSError as exc:
        typer.echo(f"error: {exc.filename or ''}: {exc.strerror or exc}", err=True)
        sys.exit(1)
