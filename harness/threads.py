"""A run's CPU thread count is a property of the run (``training.cpu_threads``), not of the worker layout.

On CPU the loss depends on torch's intra-op thread count: reductions (LayerNorm gradients, matmul blocks, norm
sums) add their parts in an order set by the number of threads, and a run drifts by up to 0.03 nats at quickstart
sizes between 1 and 2 threads. Every CPU run therefore trains with its spec's ``cpu_threads`` whether it is one of
``--workers 2`` processes or alone in ``--workers 1``; on a GPU the count changes no result and is left alone.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional


def run_thread_count(cpu_threads: int, override: int = 0, cuda: Optional[bool] = None) -> Optional[int]:
    """torch threads for one run: ``override`` if set, else the spec's ``cpu_threads``; None on a GPU (unchanged)."""
    import torch  # here, not at the top: read-only commands (status, results) import this module without torch

    if torch.cuda.is_available() if cuda is None else cuda:
        return None
    return override or cpu_threads


@contextmanager
def torch_threads(count: Optional[int]) -> Iterator[None]:
    """Within the block torch uses ``count`` intra-op threads (None: as it is); the previous count comes back after."""
    import torch

    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if count and torch.get_num_threads() != before:
            torch.set_num_threads(before)


def cpu_processes(cpu_count: int, cpu_threads: int, runs: int) -> int:
    """Worker processes that fill ``cpu_count`` cores with runs of ``cpu_threads`` threads each, at most ``runs``."""
    return max(1, min(cpu_count // max(1, cpu_threads), runs))


def plan_cpu_threads(specs: list) -> int:
    """The most torch threads any run of a plan trains with on CPU (``training.cpu_threads``; 1 for none)."""
    return max((getattr(s, "cpu_threads", 1) for s in specs), default=1)
