"""CPU seconds per optimiser step of GPT-2, Llama and Mamba at the same target size, side by side.

Usage: OMP_NUM_THREADS=1 python scripts/bench_families.py [--size 150000] [--steps 10]
Batch and context as the quickstart (64 sequences of 64 tokens, vocabulary 64). Mamba runs transformers'
reference PyTorch scan on CPU (the fused kernels need CUDA and mamba-ssm).
"""
from __future__ import annotations

import argparse
import time

import torch

from harness.model import build_model
from harness.sizing import count_params, shape_for_params


def step_seconds(family: str, size: float, steps: int, batch: int = 64, ctx: int = 64, vocab: int = 64) -> float:
    """Median seconds of one forward+backward+AdamW step (after one warm-up step)."""
    torch.manual_seed(0)
    shape, _ = shape_for_params(size, family, vocab, ctx, aspect_ratio=24)
    model = build_model(family, shape, vocab, ctx)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, vocab, (batch, ctx))
    times = []
    for _ in range(steps + 1):
        t0 = time.perf_counter()
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - t0)
    n = count_params(family, shape, vocab, ctx).non_embedding
    print(f"{family:6s} {shape.n_layer}x{shape.d_model} N={n:>7d}  {sorted(times[1:])[steps // 2]:.3f} s/step")
    return sorted(times[1:])[steps // 2]


def main() -> None:
    """Print each family's step time and its ratio to GPT-2's."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=float, default=150000)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    base = step_seconds("gpt2", args.size, args.steps)
    for family in ("llama", "mamba"):
        print(f"  {family}/gpt2 = {step_seconds(family, args.size, args.steps) / base:.2f}x")


if __name__ == "__main__":
    main()
