"""``harness fit --by family`` and ``harness compare --by family``: one fit per family, side by side."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Optional

import typer

from harness.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

BY_HELP = "Fit each value of this run-table column separately (family: GPT-2 vs Llama vs Mamba on one sweep)."


def check_by(by: Optional[str]) -> None:
    """Only ``family`` is a supported grouping (the only per-run architecture column)."""
    if by is not None and by != "family":
        raise ConfigError(f"--by: expected 'family', got '{by}'")


def fit_by(table: pd.DataFrame, by: str, fit_options: dict, as_json: bool, format_one) -> None:
    """Print one fit per group (``format_one``: the plain fit's table formatter), or one JSON object by group."""
    from harness.families import fit_by_family

    fits = fit_by_family(table, by, **fit_options)
    if as_json:
        typer.echo(json.dumps({name: fit.to_dict(samples=False) for name, fit in fits.items()}, indent=1))
        return
    typer.echo("\n\n".join(f"{by} {name}:\n{format_one(fit.to_dict(samples=False))}" for name, fit in fits.items()))


def compare_by(source: str, results, by: str, bootstrap: int, budget: Optional[float], reference: Optional[str],
               as_json: bool, all_runs: bool = False) -> None:
    """Fit every family of a sweep's runs (Chinchilla law, pairs bootstrap) and print verdicts and the table."""
    from harness.families import compare_families, default_budget, fit_by_family, side_by_side
    from harness.families import format_families
    from harness.store import load_table

    table = load_table(source, results, all_runs=all_runs)
    table = table[table["status"] == "done"] if "status" in table.columns else table
    if not len(table):
        raise ConfigError(f"{source}: no finished runs to compare")
    c = budget or default_budget(table)
    fits = fit_by_family(table, by, bootstrap=bootstrap, seed=0, budgets=(c,))
    side, diffs = side_by_side(fits, c), compare_families(fits, c, reference)
    if as_json:
        typer.echo(json.dumps({"budget": c, "side_by_side": side.to_dict("records"),
                               "differences": diffs.to_dict("records")}, indent=1, default=float))
        return
    typer.echo(f"families compared at C = {c:.3g} FLOP (6·N_total·D), {bootstrap} bootstrap draws per family")
    typer.echo(format_families(side, diffs))
