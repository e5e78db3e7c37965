"""The train step with harness/forward.py's direct GPT-2 forward against the same step through ``model(input_ids=...)``.

Two identical runs (same spec, seed, batches) step in interleaved rounds in one process, one through each forward;
the table shows ms/step and the median per-round ratio old/new of wall and CPU time (> 1: the direct forward is
faster), and checks that both runs' train losses are equal to the last bit at every step. Usage:
``python scripts/bench_forward.py [--rounds 11] [--steps 10] [--threads 0] [--shapes all|0,1,2]``; shapes as
``bench_train.py``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

import harness.train as train_module
from harness.train import TrainOptions, _setup, _train_step

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import SHAPES, _spec  # noqa: E402

DIRECT = train_module.lm_logits


def _via_model(model, input_ids):
    return model(input_ids=input_ids).logits


def _run(spec):
    with tempfile.TemporaryDirectory() as tmp:
        ctx, _, _ = _setup(spec, Path(tmp) / "bench" / "run", TrainOptions(progress=False))
    return ctx


def bench_shape(shape: tuple, rounds: int, steps: int) -> dict:
    """Median ms/step and old/new ratios for one shape; ``same_losses``: both runs' losses equal at every step."""
    spec = _spec(*shape, "fp32", False)
    runs = {"new": (_run(spec), DIRECT), "old": (_run(spec), _via_model)}
    losses = {name: [] for name in runs}
    wall, cpu = {name: [] for name in runs}, {name: [] for name in runs}
    for r in range(rounds + 1):  # round 0 warms up
        for name, (ctx, logits_fn) in runs.items():
            train_module.lm_logits = logits_fn
            c0, w0 = time.process_time(), time.perf_counter()
            losses[name] += [_train_step(ctx, r * steps + i) for i in range(steps)]
            if r:
                cpu[name].append(time.process_time() - c0)
                wall[name].append(time.perf_counter() - w0)
    train_module.lm_logits = DIRECT
    ratio = lambda t: statistics.median(o / n for o, n in zip(t["old"], t["new"]))  # noqa: E731
    return {"shape": f"{shape[0]}x{shape[1]} ctx{shape[2]} b{shape[3]}",
            "new_ms": statistics.median(wall["new"]) / steps * 1e3, "old_ms": statistics.median(wall["old"]) / steps * 1e3,
            "wall": ratio(wall), "cpu": ratio(cpu), "same_losses": losses["new"] == losses["old"]}


def main() -> None:
    """Run the A/B and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--shapes", default="all", help="'all' or comma-separated indices into bench_train's SHAPES")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    picked = SHAPES if args.shapes == "all" else [SHAPES[int(i)] for i in args.shapes.split(",")]
    print(f"cpu threads {torch.get_num_threads()}, fp32; old = model(input_ids=...), new = harness.forward")
    print(f"{'shape':<24}{'new ms/step':>12}{'old ms/step':>12}{'old/new wall':>14}{'old/new cpu':>13}{'same losses':>13}")
    for shape in picked:
        r = bench_shape(shape, args.rounds, args.steps)
        print(f"{r['shape']:<24}{r['new_ms']:>12.2f}{r['old_ms']:>12.2f}{r['wall']:>13.3f}x{r['cpu']:>12.3f}x"
              f"{str(r['same_losses']):>13}")


if __name__ == "__main__":
    main()
