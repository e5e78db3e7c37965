"""Bench: wall and CPU time of the real ``harness fit`` command on Epoch's 240 Chinchilla points (imports included),
this tree beside a baseline tree, run alternately so that both see the same load on a shared machine.

usage: .venv/bin/python scripts/bench_fit_cli.py --baseline DIR [--repeats 5] [--data-dir .../epoch_chinchilla]
                                                 [-- extra fit options]

DIR is any checkout (or ``git archive`` of one) holding a ``harness`` package, e.g.
``mkdir /tmp/base && git archive main harness | tar -x -C /tmp/base``. Prints per tree the median wall time and the
median CPU time (user + system, the command and its forked fit workers) and the ratios this / baseline; checks that
both trees print the same fit.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_once(tree: Path, args: list[str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the process and its children, stdout) of one ``python -m harness fit``."""
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    # cwd=tree as well as PYTHONPATH: ``python -m`` puts the working directory first on sys.path
    proc = subprocess.Popen([sys.executable, "-m", "harness", "fit", *args], env=env, cwd=tree,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{tree}: exit {proc.returncode}: {err.strip().splitlines()[-1:]}")
    return wall, _cpu(), out


_last_children = [0.0]


def _cpu() -> float:
    """CPU seconds (user + system) of the children reaped since the previous call."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = ru.ru_utime + ru.ru_stime
    spent, _last_children[0] = total - _last_children[0], total
    return spent


def main() -> None:
    """Time both trees alternately; print medians, ratios and whether the printed fits agree."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", type=Path, required=True, help="tree with the baseline harness package")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data-dir", default=str(ROOT.parents[0] / "shared" / "external" / "epoch_chinchilla"))
    parser.add_argument("extra", nargs="*", help="more fit options (after --), default --bootstrap 0")
    args = parser.parse_args()
    fit_args = ["--dataset", "chinchilla-epoch", "--data-dir", args.data_dir, *(args.extra or ["--bootstrap", "0"])]
    trees = {"baseline": args.baseline.resolve(), "this": ROOT}
    times: dict = {name: [] for name in trees}
    outputs: dict = {}
    _cpu()
    for _ in range(args.repeats):
        for name, tree in trees.items():
            wall, cpu, out = run_once(tree, fit_args)
            times[name].append((wall, cpu))
            outputs[name] = out
    print(f"harness fit {' '.join(fit_args)}  ({args.repeats} alternating runs each)")
    print(f"{'tree':<10}{'median wall (s)':>17}{'min wall (s)':>14}{'median CPU (s)':>16}")
    med = {}
    for name, rows in times.items():
        walls, cpus = [w for w, _ in rows], [c for _, c in rows]
        med[name] = (statistics.median(walls), statistics.median(cpus))
        print(f"{name:<10}{med[name][0]:>17.3f}{min(walls):>14.3f}{med[name][1]:>16.3f}")
    print(f"ratio this/baseline: wall {med['this'][0] / med['baseline'][0]:.3f}, "
          f"CPU {med['this'][1] / med['baseline'][1]:.3f}")
    same = outputs["this"] == outputs["baseline"]
    print("printed fits identical" if same else "printed fits DIFFER:\n--- baseline\n" + outputs["baseline"]
          + "--- this\n" + outputs["this"])


if __name__ == "__main__":
    main()
