"""The ``harness`` command starts fast: heavy libraries are imported only by the commands that use them
(``harness fit`` on a CSV needs neither torch nor scipy.optimize/stats; ``harness status`` needs no torch)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from harness.fit.simulate import simulate, sweep_grid
from tests.conftest import REPO, SHARED_EXTERNAL

HEAVY = ["torch", "transformers", "accelerate", "datasets", "scipy", "matplotlib", "wandb", "ray", "submitit"]
SLOW_SCIPY = ["scipy.optimize", "scipy.stats"]  # ~0.2 s and ~0.5 s of CPU to import (scipy.special: ~0.1 s)
PROBE = """
import json, sys
from harness.cli import _register_rooms, main
_register_rooms()
try:
    main(sys.argv[1:]) if sys.argv[1:] else None
finally:
    print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _imported(*args: str) -> set[str]:
    """Packages (top level, scipy's slow ones and urllib.request) imported after running ``harness ARGS`` in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=REPO, env=env, text=True, capture_output=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stderr.strip().splitlines()[-1])
    named = (*SLOW_SCIPY, "urllib.request", "numpy.ma")
    return {m.split(".")[0] for m in modules} | {m for m in modules if m in named}


def test_loading_the_cli_imports_no_heavy_library():
    assert _imported() & {*HEAVY, "pandas"} == set()


def test_fit_on_a_csv_imports_neither_torch_nor_slow_scipy(tmp_path):
    n, d = sweep_grid(np.geomspace(1e7, 1e9, 4), [5, 20, 80])
    path = tmp_path / "runs.csv"
    simulate("chinchilla", {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}, N=n, D=d,
             noise=0.005, seed=0).to_csv(path, index=False)
    assert _imported("fit", str(path), "--bootstrap", "20") & {*HEAVY, *SLOW_SCIPY} - {"scipy"} == set()


def test_fit_without_bootstrap_imports_no_scipy_and_no_http_client(tmp_path):
    """The profile-likelihood threshold needs no scipy.special (~0.1 s to import) and a local data set no urllib."""
    n, d = sweep_grid(np.geomspace(1e7, 1e9, 4), [5, 20, 80])
    path = tmp_path / "runs.csv"
    simulate("chinchilla", {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}, N=n, D=d,
             noise=0.005, seed=0).to_csv(path, index=False)
    assert "scipy" not in _imported("fit", str(path), "--bootstrap", "0")
    path.rename(tmp_path / "df.csv")    # the local copy of the 'kyo' data set
    modules = _imported("fit", "--dataset", "kyo", "--data-dir", str(tmp_path), "--bootstrap", "0")
    assert "scipy" not in modules and "urllib.request" not in modules


def test_fit_of_numbers_imports_no_pandas(tmp_path):
    """A CSV of plain numbers, or Epoch's data set, is fitted without pandas (~0.16 s of a 1.5 s command), numpy.ma
    (~5 ms, which np.unique imports) or concurrent.futures (~5 ms with logging; threads serve only off Linux)."""
    n, d = sweep_grid(np.geomspace(1e7, 1e9, 4), [5, 20, 80])
    path = tmp_path / "runs.csv"
    simulate("chinchilla", {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}, N=n, D=d,
             noise=0.005, seed=0).to_csv(path, index=False)
    unwanted = {"pandas", "numpy.ma", "concurrent"}
    assert _imported("fit", str(path), "--bootstrap", "0") & unwanted == set()
    epoch = SHARED_EXTERNAL / "epoch_chinchilla"
    if epoch.is_dir():   # the golden tests require it; here it only widens the check
        modules = _imported("fit", "--dataset", "chinchilla-epoch", "--data-dir", str(epoch), "--bootstrap", "0")
        assert modules & unwanted == set()


def test_status_imports_no_torch(sweep_file, tmp_path):
    assert "torch" not in _imported("status", str(sweep_file()), "--results", str(tmp_path / "results"))


def test_fit_ends_without_the_final_garbage_collection(tmp_path):
    """`harness fit` freezes the objects left at exit (gc.freeze), so the interpreter's last collections (0.05-0.13 s
    of the command) walk nothing: probed by an atexit handler registered before the command, which runs after it."""
    n, d = sweep_grid(np.geomspace(1e7, 1e9, 4), [5, 20, 80])
    path = tmp_path / "runs.csv"
    simulate("chinchilla", {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}, N=n, D=d,
             noise=0.005, seed=0).to_csv(path, index=False)
    probe = ("import atexit, gc, sys\natexit.register(lambda: print('frozen', gc.get_freeze_count(), file=sys.stderr))\n"
             "from harness.cli import main\nmain(sys.argv[1:])\n")
    done = subprocess.run([sys.executable, "-c", probe, "fit", str(path), "--bootstrap", "0"], cwd=REPO, text=True,
                          capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stderr.split("frozen")[-1]) > 10_000
