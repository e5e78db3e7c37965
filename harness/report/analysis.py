"""The questions a report asks of a sweep beyond the main fit: power law or early sigmoid, and extrapolation.

Both are computed here from the run table with the fitter's library, so the plots and the report only
draw and describe them (``analysis`` keys ``forms`` and ``extrapolation``; see harness.plots.sweep).
"""
from __future__ import annotations

import warnings
from typing import Callable, Optional

import numpy as np
import pandas as pd

from harness.errors import ConfigError
from harness.fit.table import best_lr_only


def compute_frontier(table: pd.DataFrame) -> pd.DataFrame:
    """Runs on the lower envelope of loss against compute C (each lower than every cheaper run)."""
    done = table.dropna(subset=["C", "loss"]).sort_values("C")
    best = np.minimum.accumulate(done["loss"].to_numpy())
    keep = np.r_[True, np.diff(best) < 0] if len(done) else np.array([], bool)
    return done[keep]


def forms_on_frontier(table: pd.DataFrame) -> Optional[dict]:
    """Power law vs pure power, exponential, logistic and broken power law on loss(C) along the frontier."""
    from harness.fit import compare_forms, forms_payload

    frontier = compute_frontier(table)
    try:
        forms, verdict = compare_forms(frontier["C"].to_numpy(), frontier["loss"].to_numpy(), k_holdout=1,
                                       variable="C")
    except ConfigError:
        return None
    return {**forms_payload(frontier["C"].to_numpy(), frontier["loss"].to_numpy(), forms), "verdict": verdict,
            "x_label": "C = 6·N·D (FLOP), runs on the loss–compute frontier",
            "table": forms.to_dict(orient="records")}


def predict_with_band(fit, n: np.ndarray, d: np.ndarray, level: float = 0.95) -> tuple:
    """(predicted, low, high): a fitted law's loss at (N, D) with the central ``level`` band of its bootstrap draws'
    predictions (NaN bands when the fit kept no draws)."""
    from harness.fit import get_law

    law, draws = get_law(fit.law), fit.samples or {}
    predicted = np.asarray(law.predict(fit.params, N=n, D=d), float)
    names = [p for p in law.param_names if p in draws]
    if len(names) == len(law.param_names) and len(draws[names[0]]):
        sims = np.array([law.predict({p: draws[p][i] for p in names}, N=n, D=d) for i in range(len(draws[names[0]]))])
        lo, hi = np.nanpercentile(sims, [50 * (1 - level), 50 * (1 + level)], axis=0)
    else:
        lo = hi = np.full_like(predicted, np.nan)
    return predicted, lo, hi


def largest_n_holdout(table: pd.DataFrame, fit_fn: Callable[[pd.DataFrame], object], level: float = 0.95,
                      predict: Optional[Callable] = None) -> Optional[dict]:
    """Fit without the runs of the largest N, predict them; interval from the refit's bootstrap draws.
    ``fit_fn`` returns a FitResult (or its dict); ``predict(fit, n, d, level)`` -> (predicted, low, high) turns
    what it returns into predictions (default: ``predict_with_band``)."""
    from harness.compare import as_fit

    predict = predict or (lambda fit, n, d, lvl: predict_with_band(as_fit(fit), n, d, lvl))
    largest = table["N"].max()
    train, held = table[table["N"] < largest], table[table["N"] == largest]
    if train["N"].nunique() < 2 or len(train) < 5:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_fn(train)
    predicted, lo, hi = predict(fit, held["N"].to_numpy(float), held["D"].to_numpy(float), level)
    return {"run_ids": held["run_id"].tolist(), "predicted": predicted.tolist(), "lo": lo.tolist(),
            "hi": hi.tolist(), "actual": held["loss"].tolist(),
            "rel_error": (np.abs(predicted - held["loss"].to_numpy()) / held["loss"].to_numpy()).tolist()}


def sweep_analysis(table: pd.DataFrame, fit_fn: Callable[[pd.DataFrame], object]) -> dict:
    """Both analyses for the done runs of a sweep; a key is absent when the data cannot support it."""
    done = table[table["status"] == "done"] if "status" in table else table
    done = best_lr_only(done)  # LR-sweep runs that lost to another LR stay out (harness.fit.table)
    if "N" not in done and "N_total" in done:
        done = done.assign(N=done["N_total"])
    if not {"N", "D", "C", "loss", "run_id"} <= set(done.columns):
        return {}
    out = {}
    forms = forms_on_frontier(done)
    if forms:
        out["forms"] = forms
    extrapolation = largest_n_holdout(done, fit_fn)
    if extrapolation:
        out["extrapolation"] = extrapolation
    return out


def with_approaches(analysis: Optional[dict], table: Optional[pd.DataFrame], metrics: Optional[pd.DataFrame], fit,
                    bootstrap: int = 1000) -> dict:
    """``analysis`` plus Hoffmann et al.'s approaches 1–3 side by side (key ``approaches``: their dicts) and approach
    2's ``parabolas`` and ``isoflop_minima`` for the figures (keys already in ``analysis`` are kept)."""
    from harness.compare import as_fit
    from harness.fit.approaches import all_approaches

    analysis = dict(analysis or {})
    if table is None or not len(table) or "N" not in table:
        return analysis
    results = all_approaches(table, metrics, as_fit(fit) if fit else None, bootstrap=bootstrap)
    extra = results[1].extra
    return {"approaches": [r.to_dict(extra=False) for r in results],
            **{k: extra[k] for k in ("parabolas", "isoflop_minima") if extra.get(k)}, **analysis}
