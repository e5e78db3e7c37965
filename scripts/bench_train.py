"""Training throughput: the harness's train step against two references on the same batches.

Prints tokens/s for each shape through ``harness.train._train_step`` (accelerate, grad clipping, loss),
through a bare loop on the same transformers model (forward, cross-entropy, backward, clip, AdamW) and
through a plain PyTorch GPT of the same shape written here (``plain_gpt.py``: nanoGPT's layout, SDPA with
``is_causal``). Rounds are interleaved in one process so machine noise hits all alike; the table shows
median tokens/s and the ratio harness / plain GPT (>= 1.0: the harness step is as fast as hand-written
PyTorch; the median of per-round ratios, with their quartiles) and, on a GPU, MFU. The order of the contenders
rotates from round to round: whichever runs first in a round wakes the thread pool and refills caches after the
others (or another process) ran, a cost that a fixed order would always charge to the same one. The harness
tunes its process's allocator (``harness.cpualloc``: no page faults on activations), which the in-process
references share; so in fp32 without ``--compile`` the plain GPT also runs in a child process with every
default, as a stand-alone script would, interleaved the same way ("own-process plain",
"vs it": harness / that). Usage: ``python scripts/bench_train.py [--steps 20] [--rounds 5]
[--precision auto|bf16|fp32] [--compile] [--no-plain-process]``.
"""
from __future__ import annotations

import argparse
import copy
import multiprocessing
import statistics
import sys
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plain_gpt import PlainGPT, plain_step, serve_steps  # noqa: E402

SHAPES = [(2, 64, 128, 32), (4, 128, 256, 16), (6, 192, 256, 16)]  # n_layer, d_model, context, batch sequences


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


def _plain(spec, device: torch.device, compile_: bool):
    torch.manual_seed(0)
    shape = spec.shape
    model = PlainGPT(spec.vocab_size, spec.context_length, shape.n_layer, shape.d_model, shape.n_head, shape.d_ff)
    model = model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.lr, fused=device.type == "cuda")
    return (torch.compile(model) if compile_ else model), optimizer


def _plain_process(spec, batches: list, device: torch.device):
    """The plain GPT in a child process (default allocator and settings): a round runner and a closer."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    shape = spec.shape
    dims = (spec.vocab_size, spec.context_length, shape.n_layer, shape.d_model, shape.n_head, shape.d_ff)
    proc = ctx.Process(target=serve_steps, args=(child, dims, spec.lr, [b.cpu().numpy() for b in batches],
                                                 torch.get_num_threads(), str(device)), daemon=True)
    proc.start()

    def round_time(first: int, steps: int) -> float:
        parent.send((first, steps))
        return parent.recv()

    def close() -> None:
        parent.send(None)
        proc.join()
    return round_time, close


def bench_shape(shape: tuple, steps: int, precision: str, compile_: bool, rounds: int = 5,
                plain_process: bool = False) -> dict:
    """Median tokens/s of the harness step, the bare loop and the plain GPT for one shape (interleaved rounds);
    with ``plain_process`` also of the plain GPT in its own process (``plain_proc_tok_s``, ``vs_plain_proc``)."""
    spec = _spec(*shape, precision, compile_)
    with tempfile.TemporaryDirectory() as tmp:
        ctx, corpus, _ = _setup(spec, Path(tmp) / "sweep" / "run", TrainOptions(progress=False))
    device = ctx.accelerator.device
    bare_model = copy.deepcopy(ctx.accelerator.unwrap_model(ctx.model)).to(device)
    if compile_:
        bare_model = torch.compile(bare_model)
    bare_opt = torch.optim.AdamW(bare_model.parameters(), lr=spec.lr, fused=device.type == "cuda")
    plain_model, plain_opt = _plain(spec, device, compile_)
    autocast = ctx.accelerator.mixed_precision == "bf16"
    batches = [torch.from_numpy(np.asarray(ctx.train_windows[ctx.order.indices(i, spec.batch_size)], dtype=np.int64)).to(device)
               for i in range(steps)]
    runners = {"harness": lambda i: _train_step(ctx, i),
               "bare": lambda i: _bare_step(bare_model, bare_opt, batches[i], autocast),
               "plain": lambda i: _plain_step(plain_model, plain_opt, batches[i], autocast)}
    for fn in runners.values():
        _time(fn, 3, device)  # warm-up (and compile)
    times = {name: [] for name in runners}
    child = _plain_process(spec, batches, device) if plain_process and not (compile_ or autocast) else None
    if child:
        child[0](0, 3)
        times["plain_proc"] = []
    timed = {name: (lambda fn=fn: _time(fn, steps, device)) for name, fn in runners.items()}
    if child:
        timed["plain_proc"] = lambda: child[0](0, steps)
    order = list(timed)
    for r in range(rounds):   # the order rotates: none always runs first, after another process's burst
        for name in order[r % len(order):] + order[:r % len(order)]:
            times[name].append(timed[name]())
    if child:
        child[1]()
    tokens = steps * spec.batch_size * spec.context_length
    tps = {name: tokens / statistics.median(t) for name, t in times.items()}
    ratios = [p / h for h, p in zip(times["harness"], times["plain"])]  # per round: same noise for both
    peak = peak_flops(device)
    return {"shape": f"{shape[0]}x{shape[1]} ctx{shape[2]} b{shape[3]}", "N_total": spec.N_total,
            "harness_tok_s": tps["harness"], "bare_tok_s": tps["bare"], "plain_tok_s": tps["plain"],
            "vs_plain": statistics.median(ratios), "vs_plain_quartiles": _quartiles(ratios),
            "vs_bare": statistics.median(
                b / h for h, b in zip(times["harness"], times["bare"])),
            "mfu": spec.flops["full"] * tps["harness"] / peak if peak else None,
            **_process_columns(times, tokens)}


def _quartiles(values: list) -> tuple:
    """25th and 75th percentiles of the per-round ratios: the spread the median's third decimal sits in."""
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return q[0], q[2]


def _process_columns(times: dict, tokens: int) -> dict:
    if "plain_proc" not in times:
        return {}
    return {"plain_proc_tok_s": tokens / statistics.median(times["plain_proc"]),
            "vs_plain_proc": statistics.median(p / h for h, p in zip(times["harness"], times["plain_proc"]))}


def _plain_step(model, optimizer, windows: torch.Tensor, autocast: bool) -> None:
    with torch.autocast(windows.device.type, dtype=torch.bfloat16, enabled=autocast):
        plain_step(model, optimizer, windows, 1.0)


def main() -> None:
    """Run the benchmark and print the side-by-side table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds (median taken)")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--shapes", default="all", help="'all' or comma-separated indices into SHAPES")
    parser.add_argument("--no-plain-process", action="store_true",
                        help="skip the plain GPT in its own process (run by default in fp32 without --compile)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    picked = SHAPES if args.shapes == "all" else [SHAPES[int(i)] for i in args.shapes.split(",")]
    print(f"device: {'cuda ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'}, "
          f"threads {torch.get_num_threads()}, precision {args.precision}, compile {args.compile}")
    print(f"{'shape':<24}{'N_total':>10}{'harness tok/s':>15}{'bare tok/s':>12}{'plain GPT tok/s':>17}"
          f"{'vs bare':>9}{'vs plain [quartiles]':>24}{'MFU':>8}{'own-process plain tok/s':>25}{'vs it':>8}")
    for shape in picked:
        r = bench_shape(shape, args.steps, args.precision, args.compile, args.rounds, not args.no_plain_process)
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "-"
        own = (f"{r['plain_proc_tok_s']:>25,.0f}{r['vs_plain_proc']:>7.2f}x" if "vs_plain_proc" in r
               else f"{'-':>25}{'-':>8}")
        print(f"{r['shape']:<24}{r['N_total']:>10,}{r['harness_tok_s']:>15,.0f}{r['bare_tok_s']:>12,.0f}"
              f"{r['plain_tok_s']:>17,.0f}{r['vs_bare']:>8.2f}x{_ratio_cell(r):>24}{mfu:>8}{own}")


def _ratio_cell(r: dict) -> str:
    low, high = r["vs_plain_quartiles"]
    return f"{r['vs_plain']:.3f}x [{low:.3f}, {high:.3f}]"


if __name__ == "__main__":
    main()
