"""Options shared by several subcommands, with their checks at parse time (one line, exit 2, before anything is
written). Light imports only: every ``harness`` command loads this module."""
from __future__ import annotations

import inspect
from pathlib import Path

import typer

MAX_BOOTSTRAP = 100_000  # resamples: a 2.5 % percentile's Monte Carlo error is then ~0.05 points; 1e9 needed 149 GiB


def _min_lease_s() -> float:
    """Twice the claim heartbeat (read from :class:`harness.claims.Claim`, its one home)."""
    from harness.claims import Claim

    return 2 * float(inspect.signature(Claim).parameters["heartbeat_s"].default)


def _lease_callback(value: float) -> float:
    """``--lease`` callback: a claim's lease must span more than two heartbeats of its live owner."""
    floor = _min_lease_s()
    if not value > floor:  # also refuses nan
        raise typer.BadParameter(f"{value:g} s is too short: it must exceed twice the claim heartbeat ({floor:g} s), "
                                 "or a live worker's run could be trained twice")
    return value


def results_option(help_text: str = "Results root directory.") -> Path:
    """The ``--results`` option (default ./results)."""
    return typer.Option(Path("results"), "--results", help=help_text)


def lease_option(help_text: str = "Seconds after which a silent worker's claim is taken over.") -> float:
    """The ``--lease`` option (default 300 s), checked by :func:`_lease_callback`."""
    return typer.Option(300.0, "--lease", help=help_text, callback=_lease_callback)


def no_wandb_option() -> bool:
    """The ``--no-wandb`` flag."""
    return typer.Option(False, "--no-wandb", help="Do not log to wandb (by default runs log offline without "
                                                   "WANDB_API_KEY; README, 'Weights & Biases').")
