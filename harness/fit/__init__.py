"""The fitter: pure functions over a runs table (columns N, D, loss[, C, seed, loss_se, N_total, N_nonembed]).

Public API:
- ``fit_law(table, law="chinchilla", objective="huber", ...) -> FitResult`` (approach 3, bootstrap, warnings)
- ``get_law(name) -> Law`` with ``.predict(params, **vars)``; ``LAW_NAMES``
- ``isoflop_fit(table, ...)`` (approach 2) and ``envelope_fit(metrics, ...)`` (approach 1)
- ``compare_forms(x, loss, k_holdout=...)`` (power law or early sigmoid?)
- ``simulate(law, params, N=..., D=..., noise=..., seed=...) -> DataFrame``
- ``load_dataset(name)`` (public data sets, fetched at run time and cached)
"""
from importlib import import_module

from harness.fit.simulate import simulate  # eager: a lazy 'simulate' would be shadowed by its submodule's name

_EXPORTS = {"load_dataset": "datasets", "chinchilla_derived": "derived", "compute_optimal": "derived",
            "FitResult": "fitting", "fit_law": "fitting", "envelope_fit": "isoflop", "isoflop_fit": "isoflop",
            "LAW_NAMES": "laws", "Law": "laws", "get_law": "laws", "compare_forms": "select",
            "forms_payload": "select"}
__all__ = sorted([*_EXPORTS, "simulate"])


def __getattr__(name: str):
    """Load each part of the public API on first use, so ``harness fit`` imports only what a fit needs."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'harness.fit' has no attribute {name!r}")
    return getattr(import_module(f"harness.fit.{_EXPORTS[name]}"), name)
