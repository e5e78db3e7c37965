"""Training throughput: the harness's train step against a bare PyTorch loop on the same model and batches.

Prints tokens/s for each shape through ``harness.train._train_step`` (accelerate, schedule-free step,
grad clipping, loss reduction) and through a minimal loop (forward, cross-entropy, backward, clip,
AdamW), interleaved in one process so machine noise hits both alike, plus the overhead ratio and,
on a GPU, MFU. Usage: ``python scripts/bench_train.py [--steps 30] [--precision auto|bf16|fp32] [--compile]``.
"""
from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from harness.config import SweepConfig
from harness.plan import expand
from harness.provenance import peak_flops
from harness.train import TrainOptions, _setup, _train_step

SHAPES = [(2, 64, 128, 32), (4, 128, 256, 16), (6, 256, 256, 16)]  # n_layer, d_model, context, batch sequences


def _spec(n_layer: int, d_model: int, ctx: int, batch: int, precision: str, compile_: bool):
    sweep = SweepConfig.model_validate({
        "name": "bench", "data": {"source": "synthetic", "context_length": ctx, "eval_tokens": ctx * 4,
                                  "synthetic": {"vocab_size": 256, "order": 1, "train_tokens": 200_000}},
        "model": {"family": "gpt2", "shapes": [{"n_layer": n_layer, "d_model": d_model, "n_head": max(1, d_model // 32)}]},
        "budgets": {"mode": "grid", "tokens": [batch * ctx * 1000]},
        "training": {"batch_tokens": batch * ctx, "precision": precision, "compile": compile_},
    })
    return expand(sweep)[0]


def _bare_step(model, optimizer, windows: torch.Tensor, autocast: bool) -> None:
    with torch.autocast(windows.device.type, dtype=torch.bfloat16, enabled=autocast):
        logits = model(input_ids=windows[:, :-1]).logits
    loss = F.cross_entropy(logits.float().flatten(0, 1), windows[:, 1:].flatten())
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    loss.item()


def _time(fn, steps: int, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(steps):
        fn(i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def bench_shape(shape: tuple, steps: int, precision: str, compile_: bool) -> dict:
    """Tokens/s of the harness step and of the bare loop for one shape (3 interleaved rounds each)."""
    spec = _spec(*shape, precision, compile_)
    with tempfile.TemporaryDirectory() as tmp:
        ctx, corpus, _ = _setup(spec, Path(tmp) / "sweep" / "run", TrainOptions(progress=False))
    device = ctx.accelerator.device
    bare_model = copy.deepcopy(ctx.accelerator.unwrap_model(ctx.model)).to(device)
    if compile_:
        bare_model = torch.compile(bare_model)
    bare_opt = torch.optim.AdamW(bare_model.parameters(), lr=spec.lr, fused=device.type == "cuda")
    autocast = ctx.accelerator.mixed_precision == "bf16"
    batches = [torch.from_numpy(np.asarray(ctx.train_windows[ctx.order.indices(i, spec.batch_size)], dtype=np.int64)).to(device)
               for i in range(steps)]
    _time(lambda i: _train_step(ctx, i), 3, device)  # warm-up (and compile)
    _time(lambda i: _bare_step(bare_model, bare_opt, batches[i], autocast), 3, device)
    harness_s = bare_s = 0.0
    for _ in range(3):
        harness_s += _time(lambda i: _train_step(ctx, i), steps, device)
        bare_s += _time(lambda i: _bare_step(bare_model, bare_opt, batches[i], autocast), steps, device)
    tokens = 3 * steps * spec.batch_size * spec.context_length
    peak = peak_flops(device)
    harness_tps = tokens / harness_s
    return {"shape": f"{shape[0]}x{shape[1]} ctx{shape[2]} b{shape[3]}", "N_total": spec.N_total,
            "harness_tok_s": harness_tps, "bare_tok_s": tokens / bare_s, "overhead": bare_s and harness_s / bare_s - 1,
            "mfu": spec.flops["full"] * harness_tps / peak if peak else None}


def main() -> None:
    """Run the benchmark and print the side-by-side table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--shapes", default="all", help="'all' or comma-separated indices into SHAPES")
    args = parser.parse_args()
    picked = SHAPES if args.shapes == "all" else [SHAPES[int(i)] for i in args.shapes.split(",")]
    print(f"device: {'cuda ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'}, "
          f"threads {torch.get_num_threads()}, precision {args.precision}, compile {args.compile}")
    print(f"{'shape':<24}{'N_total':>10}{'harness tok/s':>15}{'bare tok/s':>13}{'overhead':>10}{'MFU':>8}")
    for shape in picked:
        r = bench_shape(shape, args.steps, args.precision, args.compile)
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "-"
        print(f"{r['shape']:<24}{r['N_total']:>10,}{r['harness_tok_s']:>15,.0f}{r['bare_tok_s']:>13,.0f}"
              f"{r['overhead']:>+10.1%}{mfu:>8}")


if __name__ == "__main__":
    main()
