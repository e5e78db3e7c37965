"""Cost of the calibration metrics in the eval pass: evaluate() with and without them, side by side.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python scripts/bench_calibration.py [--vocab 64 50257]

For each vocabulary size: a GPT-2 of width 64 (2 layers) over 64 eval windows of 64 tokens, timed best of 3.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from harness.calibration import CalibrationAccumulator
from harness.model import build_model
from harness.sizing import ModelShape
from harness.train import evaluate


def _best(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    """Print seconds per eval pass without and with calibration, and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, nargs="+", default=[64, 50257])
    args = parser.parse_args()
    torch.set_num_threads(1)
    for vocab in args.vocab:
        model = build_model("gpt2", ModelShape(2, 64, 4, 256), vocab, 64)
        windows = np.random.default_rng(0).integers(0, vocab, size=(64, 65))
        plain = _best(lambda: evaluate(model, windows, 16, torch.device("cpu")))
        calibrated = _best(lambda: evaluate(model, windows, 16, torch.device("cpu"), None, CalibrationAccumulator()))
        print(f"V={vocab:>6}: eval {plain:.3f} s, with calibration {calibrated:.3f} s, ratio {calibrated / plain:.2f}")


if __name__ == "__main__":
    main()
