"""The data wall on the synthetic language: train-eval vs test loss over many epochs of a small train split.

Trains one run per model size on ``--train-tokens`` of the order-2 synthetic language for ``--epochs`` passes,
evaluating test and a fixed train sample every ``--eval-every`` steps (training.train_eval), and writes the
curves summary per run (final train-eval and test loss, the gap, over-fitting verdict, the step of the lowest
test loss) as JSON. Usage:

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD python scripts/overfit_wall.py --out results/reference/overfit_wall.json
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import yaml

from harness.config import load_sweep
from harness.plan import expand
from harness.train import TrainOptions, train


def sweep(train_tokens: int, epochs: int, eval_every: int, widths: list[int]) -> dict:
    """The sweep file: one 2-layer model per width on a small train split, ``epochs`` passes over it."""
    return {"name": "overfit_wall",
            "data": {"source": "synthetic", "context_length": 32, "eval_tokens": 4096,
                     "synthetic": {"vocab_size": 32, "order": 2, "train_tokens": train_tokens}},
            "model": {"family": "gpt2", "shapes": [{"n_layer": 2, "d_model": w, "n_head": 2} for w in widths]},
            "budgets": {"mode": "grid", "tokens": [train_tokens * epochs]},
            "training": {"batch_tokens": 512, "eval_interval": eval_every, "train_eval": True,
                         "checkpoint_interval": 100000, "lr": {"rule": "constant", "base": 3e-3}}}


def main() -> None:
    """Run the sweep in a temporary folder and write one summary row per run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-tokens", type=int, default=8192)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--eval-every", type=int, default=40)
    parser.add_argument("--widths", default="32,128")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    widths = [int(w) for w in args.widths.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sweep.yaml"
        path.write_text(yaml.safe_dump(sweep(args.train_tokens, args.epochs, args.eval_every, widths)))
        rows = []
        for spec in expand(load_sweep(path)):
            r = train(spec, Path(tmp) / spec.run_id, TrainOptions(progress=False))
            rows.append({k: r.get(k) for k in ("run_id", "N_total", "D", "epochs", "loss", "loss_se", "train_eval_loss",
                                               "train_eval_loss_se", "floor", "best_eval_step", "best_eval_loss",
                                               "overfit", "steps", "spike_count", "wall_time_s")})
            print(json.dumps(rows[-1]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "runs": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
