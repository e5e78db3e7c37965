"""Print the exact floors of a synthetic sweep's eval set: the eval-set floor (Bayes loss of the actual
eval windows, with its SE across windows) beside the expected floor over all eval sets.

    PYTHONPATH=. python scripts/eval_set_floor.py [sweeps/quickstart.yaml ...]
"""
from __future__ import annotations

import sys

from harness.config import load_sweep
from harness.data.synthetic import floors


def main() -> None:
    """One line per sweep file given (default: the quickstart and the ground-truth sweep)."""
    for path in sys.argv[1:] or ["sweeps/quickstart.yaml", "sweeps/ground_truth.yaml"]:
        data = load_sweep(path).data
        floor = floors(data.synthetic, data.context_length, data.eval_tokens)
        windows = -(-data.eval_tokens // data.context_length)
        print(f"{path}: {windows} eval windows; eval-set floor {floor.nats:.4f} ± {floor.se:.4f} nats/token, "
              f"expected floor {floor.expected:.5f}, difference {floor.nats - floor.expected:+.4f}")


if __name__ == "__main__":
    main()
