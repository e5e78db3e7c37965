"""Usage errors of every subcommand: one line on stderr naming the option or argument, exit 2, no traceback,
nothing written; bare ``harness`` and ``--help`` print help and exit 0."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from harness.cli import main
from tests.conftest import REPO

USAGE_ERRORS = [
    (["nosuch"], "nosuch"),
    (["plan"], "sweep"),
    (["plan", "SWEEP", "--format"], "--format"),
    (["run", "SWEEP", "--bogus"], "--bogus"),
    (["run", "SWEEP", "--threads", "two"], "--threads"),
    (["run", "SWEEP", "--lease", "soon"], "--lease"),
    (["status"], "sweep"),
    (["status", "SWEEP", "--lease", "x"], "--lease"),
    (["results", "SWEEP", "--format"], "--format"),
    (["fit", "x.csv", "--bootstrap", "1e3"], "--bootstrap"),
    (["fit", "x.csv", "--seed", "one"], "--seed"),
    (["fit", "x.csv", "--delta"], "--delta"),
    (["simulate", "--noise", "loud"], "--noise"),
    (["compare"], "source"),
    (["plot", "SWEEP"], "--out"),
    (["report", "SWEEP", "--bogus"], "--bogus"),
    (["quickstart", "extra-argument"], "extra-argument"),
    (["launch", "nosuch"], "nosuch"),
    (["launch", "slurm"], "sweep"),
    (["launch", "slurm", "SWEEP", "--time", "long"], "--time"),
    (["launch", "ray", "SWEEP", "--cpus-per-run", "many"], "--cpus-per-run"),
    (["launch", "ray", "SWEEP", "--bogus"], "--bogus"),
]

OPTION_ERRORS = [  # well-formed but impossible values, refused while parsing (before anything is imported or written)
    (["plan", "SWEEP", "--format", "xml"], "--format"),
    (["run", "SWEEP", "--threads", "-1"], "--threads"),
    (["run", "SWEEP", "--workers", "0"], "--workers"),
    (["run", "SWEEP", "--lease", "3"], "--lease"),
    (["run", "SWEEP", "--lease", "-1"], "--lease"),
    (["status", "SWEEP", "--lease", "0"], "--lease"),
    (["status", "SWEEP", "--lease", "nan"], "--lease"),
    (["launch", "slurm", "SWEEP", "--cluster", "local", "--lease", "10"], "--lease"),
    (["launch", "ray", "SWEEP", "--address", "local", "--lease", "-300"], "--lease"),
    (["fit", "x.csv", "--seed", "-1"], "--seed"),
    (["fit", "x.csv", "--bootstrap", "1000000000"], "--bootstrap"),
    (["fit", "x.csv", "--bootstrap", "-5"], "--bootstrap"),
    (["simulate", "--seed", "-1"], "--seed"),
    (["simulate", "--noise", "-0.1"], "--noise"),
    (["quickstart", "--workers", "many"], "--workers"),
]


def _main(args, capsys) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0  # success returns (older click prints a bare group's help and returns)
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("args,names", USAGE_ERRORS + OPTION_ERRORS,
                         ids=[" ".join(a) for a, _ in USAGE_ERRORS + OPTION_ERRORS])
def test_usage_error_is_one_line_exit_2(args, names, sweep_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default ./results, too, must stay unwritten
    results = tmp_path / "results"
    args = [str(sweep_file()) if a == "SWEEP" else a for a in args]
    code, out, err = _main(args, capsys)
    assert code == 2 and out == "", (code, out, err)
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert names.lower() in err.lower() and "Traceback" not in err
    assert not results.exists()


@pytest.mark.parametrize("args", [[], ["launch"]], ids=["harness", "harness launch"])
def test_bare_command_group_prints_help_and_exits_0(args, capsys):
    code, out, err = _main(args, capsys)
    assert code == 0 and "Usage: harness" in out and err == ""


def _harness(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO, env=env, text=True,
                          capture_output=True, timeout=120)


def test_console_usage_error_and_help_exit_codes():
    done = _harness("run", "sweeps/quickstart.yaml", "--bogus")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "error: harness run: No such option: --bogus (see 'harness run --help')\n"
    done = _harness("fit", "--help")
    assert done.returncode == 0 and "--bootstrap" in done.stdout and done.stderr == ""


def _commands(command, path=("harness",)):
    """(path, click command) for every leaf subcommand of the harness CLI."""
    children = getattr(command, "commands", None)
    if not children:
        yield " ".join(path), command
    for name, child in sorted((children or {}).items()):
        yield from _commands(child, (*path, name))


def test_every_option_and_argument_has_help_text():
    import typer

    from harness.cli import _register_rooms, app

    _register_rooms()
    leaves = list(_commands(typer.main.get_command(app)))
    assert len(leaves) == 12  # plan run results status quickstart fit simulate compare plot report, launch slurm/ray
    missing = [f"{path} {param.name}" for path, command in leaves for param in command.params
               if not (getattr(param, "help", None) or "").strip()]
    assert missing == []
