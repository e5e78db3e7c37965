"""Options shared by several subcommands, with their checks at parse time (one line, exit 2, before anything is
written). Light imports only: every ``harness`` command loads this module."""
from __future__ import annotations

import inspect
from pathlib import Path

import typer

MAX_BOOTSTRAP = 100_000  # resamples; 1e5 already pins a 95 % percentile to ~0.1 %, and 1e9 would need ~150 GiB


def _min_lease_s() -> float:
    """Twice the claim heartbeat (read from :class:`harness.claims.Claim`, its one home)."""
    from harness.claims import Claim

    return 2 * float(inspect.signature(Claim).parameters["heartbeat_s"].default)


def check_lease(value: float) -> float:
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
    """The ``--lease`` option (default 300 s), checked by :func:`check_lease`."""
    return typer.Option(300.0, "--lease", help=help_text, callback=check_lease)


def no_wandb_option() -> bool:
    """The ``--no-wandb`` flag."""
    return typer.Option(False, "--no-wandb", help="Do not log to wandb (by default runs log offline without "
                                                   "WANDB_API_KEY; see README, 'wandb').")
