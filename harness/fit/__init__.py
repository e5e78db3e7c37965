"""The fitter: pure functions over a runs table (columns N, D, loss[, C, seed, loss_se, N_total, N_nonembed]).

Public API:
- ``fit_law(table, law="chinchilla", objective="huber", ...) -> FitResult`` (approach 3, bootstrap, warnings)
- ``get_law(name) -> Law`` with ``.predict(params, **vars)``; ``LAW_NAMES``
- ``isoflop_fit(table, ...)`` (approach 2) and ``envelope_fit(metrics, ...)`` (approach 1)
- ``compare_forms(x, loss, k_holdout=...)`` (power law or early sigmoid?)
- ``simulate(law, params, N=..., D=..., noise=..., seed=...) -> DataFrame``
- ``load_dataset(name)`` (public data sets, fetched at run time and cached)
"""
from harness.fit.derived import chinchilla_derived, compute_optimal
from harness.fit.fitting import FitResult, fit_law
from harness.fit.laws import LAW_NAMES, Law, get_law

__all__ = ["FitResult", "LAW_NAMES", "Law", "chinchilla_derived", "compute_optimal", "fit_law", "get_law"]
