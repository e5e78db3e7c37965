"""The GPU check's throughput stage: scripts/bench_train.py's measurement (harness step against a bare loop on the
same model and batches, MFU on a GPU) at named sizes.

Usage: ``python scripts/gpu_bench.py [--sizes gpu|tiny] [--steps 10] [--precision bf16] [--compile]``. ``gpu``: ~3M,
~25M and ~85M parameters (GPT-2 shapes, context 512–1024); ``tiny``: three CPU-sized shapes (seconds)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_train  # noqa: E402

# n_layer, d_model, context, batch sequences
SIZES = {"gpu": [(4, 256, 512, 32), (8, 512, 1024, 16), (12, 768, 1024, 16)],
         "tiny": [(1, 32, 32, 4), (2, 32, 32, 4), (2, 64, 32, 4)]}


def main() -> None:
    """Print tokens/s and MFU for each shape of the named set."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="gpu", choices=sorted(SIZES))
    parser.add_argument("--steps", type=int, default=10, help="timed steps per round (at least 3)")
    parser.add_argument("--precision", default="bf16", choices=["auto", "bf16", "fp32"])
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    device = f"cuda {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "cpu"
    print(f"device: {device}, precision {args.precision}, compile {args.compile}, steps {args.steps}")
    print(f"{'shape':<24}{'N_total':>12}{'harness tok/s':>15}{'bare tok/s':>13}{'MFU':>8}")
    for shape in SIZES[args.sizes]:
        r = bench_train.bench_shape(shape, max(3, args.steps), args.precision, args.compile)
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "-"
        print(f"{r['shape']:<24}{r['N_total']:>12,}{r['harness_tok_s']:>15,.0f}{r['bare_tok_s']:>13,.0f}{mfu:>8}",
              flush=True)


if __name__ == "__main__":
    main()
