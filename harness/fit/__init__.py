"""The fitter: pure functions over a runs table (columns N, D, loss[, C, seed, loss_se, N_total, N_nonembed]).

Public API:
- ``fit_law(table, law="chinchilla", objective="huber", ...) -> FitResult`` (approach 3, bootstrap, warnings)
- ``get_law(name) -> Law`` with ``.predict(params, **vars)``; ``LAW_NAMES``
- ``isoflop_fit(table, ...)`` (approach 2) and ``envelope_fit(metrics, ...)`` (approach 1)
- ``compare_forms(x, loss, k_holdout=...)`` (power law or early sigmoid?)
- ``simulate(law, params, N=..., D=..., noise=..., seed=...) -> DataFrame``
- ``load_dataset(name)`` (public data sets, fetched at run time and cached)
"""
from harness.fit.datasets import load_dataset
from harness.fit.derived import chinchilla_derived, compute_optimal
from harness.fit.fitting import FitResult, fit_law
from harness.fit.isoflop import envelope_fit, isoflop_fit
from harness.fit.laws import LAW_NAMES, Law, get_law
from harness.fit.select import compare_forms, forms_payload
from harness.fit.simulate import simulate

__all__ = ["FitResult", "LAW_NAMES", "Law", "chinchilla_derived", "compare_forms", "compute_optimal", "envelope_fit",
           "fit_law", "forms_payload", "get_law", "isoflop_fit", "load_dataset", "simulate"]
