"""Sweep wall time: the quickstart sweep under three local layouts, side by side.

- ``--workers 1``: one process; every run trains with its ``training.cpu_threads`` (1) threads.
- ``1 x N threads``: the best single-process alternative, one process whose runs train with all N cores as
  threads (the same sweep with ``training.cpu_threads: N``: other run ids, and losses that differ from the
  single-thread ones by summation order, so it is not the same science bit for bit).
- ``--workers auto``: ``cores // cpu_threads`` single-thread processes.

All layouts train the same plan into fresh temporary result folders from one shared token cache (built once,
not timed), rotating the order each repeat so machine load hits all alike. Prints each wall time, the speed-ups
(median over repeats), whether ``auto`` reproduced ``--workers 1``'s losses bit for bit, how far the
N-thread losses are from them, and the load average. ``--scale`` shrinks the token budgets for a quicker check.
Usage: ``python scripts/bench_sweep.py [--repeats 1] [--scale 1.0] [--sweep sweeps/quickstart.yaml]``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from harness import load_results
from harness.config import load_sweep
from harness.plan import expand
from harness.sweep import WorkerOptions, auto_workers, prepare_data, run_sweep, worker_plan
from harness.threads import plan_cpu_threads
from harness.train import TrainOptions

REPO = Path(__file__).resolve().parent.parent


def _scaled(sweep, scale: float):
    budgets = sweep.budgets.model_copy(update={"tokens": [int(t * scale) for t in sweep.budgets.tokens]})
    return sweep.model_copy(update={"budgets": budgets})


def _with_threads(sweep, threads: int):
    return sweep.model_copy(update={"training": sweep.training.model_copy(update={"cpu_threads": threads})})


def _timed(sweep, workers, options: WorkerOptions) -> tuple[float, list[float]]:
    """Wall time of the whole sweep and its losses in plan order."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        outcome = run_sweep(sweep, Path(tmp), workers=workers, options=options)
        elapsed = time.perf_counter() - start
        table = load_results(Path(tmp) / sweep.name).set_index("run_id")
        losses = [float(table.loc[s.run_id, "loss"]) for s in expand(sweep) if not s.branch_steps]  # trunks: no row
    if outcome.failed or outcome.lost_workers:
        raise SystemExit(f"workers={workers}: failed {outcome.failed}, lost {outcome.lost_workers}")
    return elapsed, losses


def _layouts(sweep, cores: int) -> dict[str, tuple]:
    """name -> (sweep, workers, description)."""
    n_auto = auto_workers(expand(sweep), cores, 0)
    threads = plan_cpu_threads(expand(sweep))
    auto_layout = " + ".join(f"{t} thread(s)" for t, _ in worker_plan(n_auto, cores, 0, threads))
    return {"1": (sweep, 1, f"1 process x {threads} thread(s)"),
            f"1x{cores}": (_with_threads(sweep, cores), 1, f"1 process x {cores} threads (cpu_threads: {cores})"),
            "auto": (sweep, "auto", f"{n_auto} process(es): {auto_layout}")}


def _ratio(times: dict, slow: str, fast: str) -> str:
    return f"{statistics.median(a / b for a, b in zip(times[slow], times[fast])):.2f}x"


def main() -> None:
    """Time the sweep under each layout and print them side by side."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sweep", default=str(REPO / "sweeps" / "quickstart.yaml"))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every token budget by this")
    args = parser.parse_args()
    sweep = _scaled(load_sweep(Path(args.sweep)), args.scale) if args.scale != 1.0 else load_sweep(Path(args.sweep))
    cores = os.cpu_count() or 1
    layouts = _layouts(sweep, cores)
    names = list(layouts)
    times: dict[str, list[float]] = {name: [] for name in names}
    losses: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as cache:
        options = WorkerOptions(TrainOptions(cache_root=Path(cache), progress=False))
        prepare_data(sweep, Path(cache), options.train)
        load = os.getloadavg()
        for repeat in range(args.repeats):
            for name in names[repeat % len(names):] + names[:repeat % len(names)]:
                layout_sweep, workers, _ = layouts[name]
                elapsed, losses[name] = _timed(layout_sweep, workers, options)
                times[name].append(elapsed)
    print(f"sweep {sweep.name} x{args.scale:g} tokens, {len(expand(sweep))} runs, {cores} cores, "
          f"load average at start {load[0]:.2f} / end {os.getloadavg()[0]:.2f}")
    print(f"{'workers':<10}{'layout':<48}{'wall s (each repeat)':<28}")
    for name in names:
        print(f"{name:<10}{layouts[name][2]:<48}{', '.join(f'{t:.1f}' for t in times[name]):<28}")
    threaded = f"1x{cores}"
    print(f"speed-up auto / 1: {_ratio(times, '1', 'auto')}; auto / {threaded}: {_ratio(times, threaded, 'auto')}; "
          f"{threaded} / 1: {_ratio(times, '1', threaded)} (median of {args.repeats})")
    same = losses["auto"] == losses["1"]
    drift = max(abs(a - b) for a, b in zip(losses["1"], losses[threaded]))
    print(f"losses: auto {'bit-identical to' if same else 'DIFFER from'} --workers 1; {threaded} differs from them "
          f"by up to {drift:.4f} nats (summation order of {cores} threads)")


if __name__ == "__main__":
    main()
