"""Scaling-law harness: sweep transformer LMs over N and D, record test loss, fit and compare laws."""
from __future__ import annotations

__version__ = "0.1.0"


def load_results(path):
    """Return the run table (pandas DataFrame) of a sweep's results directory; see harness.store."""
    from harness.store import load_results as _load

    return _load(path)


__all__ = ["load_results", "__version__"]
