"""Sweep wall time: the quickstart sweep with ``--workers 1`` and with ``--workers auto``, side by side.

Both layouts train the same plan into fresh temporary result folders from one shared token cache (built
once, not timed), alternating layouts each repeat so machine load hits both alike; prints each wall time,
the speed-up (median over repeats) and the load average. ``--scale`` shrinks the token budgets for a
quicker check. Usage: ``python scripts/bench_sweep.py [--repeats 1] [--scale 1.0] [--sweep sweeps/quickstart.yaml]``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from harness.config import load_sweep
from harness.plan import expand
from harness.sweep import WorkerOptions, auto_workers, prepare_data, run_sweep, worker_plan
from harness.train import TrainOptions

REPO = Path(__file__).resolve().parent.parent


def _scaled(sweep, scale: float):
    budgets = sweep.budgets.model_copy(update={"tokens": [int(t * scale) for t in sweep.budgets.tokens]})
    return sweep.model_copy(update={"budgets": budgets})


def _timed(sweep, workers, options: WorkerOptions) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        outcome = run_sweep(sweep, Path(tmp), workers=workers, options=options)
        elapsed = time.perf_counter() - start
    if outcome.failed or outcome.lost_workers:
        raise SystemExit(f"workers={workers}: failed {outcome.failed}, lost {outcome.lost_workers}")
    return elapsed


def main() -> None:
    """Time the sweep under both layouts and print them side by side."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sweep", default=str(REPO / "sweeps" / "quickstart.yaml"))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every token budget by this")
    args = parser.parse_args()
    sweep = _scaled(load_sweep(Path(args.sweep)), args.scale) if args.scale != 1.0 else load_sweep(Path(args.sweep))
    cores = os.cpu_count() or 1
    n_auto = auto_workers(expand(sweep), cores, 0)
    with tempfile.TemporaryDirectory() as cache:
        options = WorkerOptions(TrainOptions(cache_root=Path(cache), progress=False))
        prepare_data(sweep, Path(cache), options.train)
        times: dict[str, list[float]] = {"1": [], "auto": []}
        load = os.getloadavg()
        for _ in range(args.repeats):
            for workers in ("1", "auto"):
                times[workers].append(_timed(sweep, 1 if workers == "1" else "auto", options))
    layout = " + ".join(f"{t} thread(s)" for t, _ in worker_plan(n_auto, cores, 0))
    speedups = [a / b for a, b in zip(times["1"], times["auto"])]
    print(f"sweep {sweep.name} x{args.scale:g} tokens, {len(expand(sweep))} runs, {cores} cores, "
          f"load average at start {load[0]:.2f} / end {os.getloadavg()[0]:.2f}")
    print(f"{'workers':<10}{'layout':<42}{'wall s (each repeat)':<28}")
    print(f"{'1':<10}{f'1 process, {cores} thread(s)':<42}{', '.join(f'{t:.1f}' for t in times['1']):<28}")
    print(f"{'auto':<10}{f'{n_auto} process(es): {layout}':<42}{', '.join(f'{t:.1f}' for t in times['auto']):<28}")
    print(f"speed-up auto / 1: {statistics.median(speedups):.2f}x (median of {len(speedups)})")


if __name__ == "__main__":
    main()
