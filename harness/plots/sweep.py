"""All standard figures of one sweep, from its run table, metrics, fit result and the fitter's extra outputs.

``analysis`` (or the same keys inside the fit dict) carries what the fitter computed; every key is optional:
  parabolas        [{C, coef: [c0, c1, c2] in log10 N, n_opt, loss_opt}]   isoFLOP fits (approach 2)
  isoflop_minima   [[C, N_opt], ...]                                        points on our frontier
  extrapolation    {run_ids: [held-out run ids], predicted: [...], lo: [...], hi: [...]}
  samples          {alpha: [...], beta: [...], a: [...]}                    bootstrap draws
  forms            {x: [...], y: [...], curves: {name: [[x...], [y...]]}, aic: {name: value}, x_label?: str}
A figure whose inputs are missing is skipped and listed in ``missing`` with the reason.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import pandas as pd

from harness.compare import N_COLUMN, as_fit, law_params
from harness.errors import ConfigError
from harness.report.comparison import forest_data
from harness.plots import curves, data, fits
from harness.fit.derived import frontier_undefined
from harness.published import chinchilla_frontier, load_registry

FRONTIERS = {"Kaplan 2020": "kaplan2020", "Hoffmann 2022 (A3, unrounded)": "hoffmann2022_a3_unrounded",
             "Hoffmann 2022 (A1)": "hoffmann2022_a1", "Besiroglu 2024": "besiroglu2024"}


def law_callable(fit) -> Optional[Callable]:
    """law(N, D) -> loss for a fit (FitResult or its dict): the fitter's predictor for the fit's law."""
    if not fit or (isinstance(fit, dict) and not fit.get("params")):
        return None
    from harness.fit import get_law

    fit = as_fit(fit)
    try:
        law = get_law(fit.law)
    except (ConfigError, KeyError, ValueError):
        return None
    if set(law.param_names) - set(fit.params):
        return None
    return lambda n, d: np.asarray(law.predict(fit.params, N=n, D=d), dtype=float)


NUMERIC = ("N", "N_total", "N_nonembed", "N_with_head", "D", "C", "loss", "loss_se")


def _done(table: pd.DataFrame) -> pd.DataFrame:
    """Done runs with numeric N/D/C/loss columns (a record with a non-number there is left out, not fatal)."""
    done = table[table["status"] == "done"] if "status" in table else table
    done = done.assign(**{c: pd.to_numeric(done[c], errors="coerce") for c in NUMERIC if c in done})
    return done.dropna(subset=[c for c in ("loss", "D") if c in done])


def sweep_figures(table: pd.DataFrame, metrics: Optional[pd.DataFrame] = None, fit=None,
                  analysis: Optional[dict] = None, comparison: Optional[pd.DataFrame] = None) -> tuple[dict, dict]:
    """({name: Figure}, {name: reason skipped}) for the standard figures of a sweep; ``fit`` is a FitResult (or its
    dict), ``comparison`` the rows of harness.compare.compare_fit (for the forest plot)."""
    fit = as_fit(fit) if fit else None
    extra = {**({"samples": fit.samples} if fit and fit.samples else {}), **(analysis or {})}
    runs = _done(table)
    n_col = N_COLUMN.get(fit.n_convention if fit else "total", "N")
    n_col = n_col if n_col in runs else "N"
    runs = runs.dropna(subset=[n_col])
    n, d, loss = (runs[c].to_numpy(float) for c in (n_col, "D", "loss"))
    se = runs["loss_se"].to_numpy(float) if "loss_se" in runs and runs["loss_se"].notna().all() else None
    law = law_callable(fit)
    figs, missing = {}, {}

    def attempt(name: str, needs: bool, reason: str, build: Callable) -> None:
        if needs:
            figs[name] = build()
        else:
            missing[name] = reason

    has_runs = len(runs) > 0
    attempt("loss_vs_n", has_runs, "no finished runs",
            lambda: data.loss_vs_n(n, d, loss, law, by=_grouping(n, d), loss_se=se, n_label=f"N ({n_col})"))
    attempt("loss_vs_d", has_runs, "no finished runs", lambda: data.loss_vs_d(n, d, loss, law, loss_se=se))
    isoflop_ok = has_runs and "C" in runs and (bool(extra.get("parabolas")) or _largest_budget(runs["C"]) >= 3)
    attempt("isoflop", isoflop_ok, "no compute column" if "C" not in runs else
            "not an isoFLOP design: no compute budget has 3 or more model sizes (a grid's runs each have their own C)",
            lambda: data.isoflop(runs["C"].to_numpy(float), n, loss, extra.get("parabolas") or (),
                                 _approach_error(extra, 2) or "fit not available"))
    attempt("frontier", True, "", lambda: _frontier_figure(fit, runs, extra))
    attempt("residuals", has_runs and law is not None, "no fitted law",
            lambda: data.residuals(n, d, np.log(loss) - np.log(law(n, d))))
    attempt("extrapolation", "extrapolation" in extra and has_runs, "the fitter gave no hold-out prediction",
            lambda: _extrapolation_figure(runs, n, loss, extra["extrapolation"]))
    attempt("bootstrap", bool(extra.get("samples")), "the fitter gave no bootstrap draws",
            lambda: fits.bootstrap(extra["samples"], _point(fit), level=fit.ci_level if fit else 0.95))
    panels = forest_data(comparison)
    attempt("forest", bool(panels), "no comparison with published fits",
            lambda: fits.forest(panels, fit.ci_level if fit else 0.95))
    attempt("training_curves", metrics is not None and len(metrics) > 0, "no metrics logged",
            lambda: data.training_curves(metrics, dict(zip(runs["run_id"], n)) if "run_id" in runs else None,
                                         _spikes(runs)))
    if curves.has_gap_data(metrics, runs):  # opt-in (training.train_eval): not listed as missing without it
        figs["generalisation_gap"] = curves.generalisation_gap(metrics, runs)
    forms = extra.get("forms")
    attempt("forms", bool(forms), "the fitter gave no functional-form comparison",
            lambda: fits.form_comparison(forms["x"], forms["y"], {k: tuple(v) for k, v in forms["curves"].items()},
                                         forms.get("weights"), forms.get("x_label", "N (parameters)"),
                                         bool(forms.get("confident"))))
    return figs, missing


def _approach_error(extra: dict, approach: int) -> str:
    """Why an approach of ``extra['approaches']`` gave no estimate ('' if it did or was not tried)."""
    return next((r.get("error", "") for r in extra.get("approaches") or () if r.get("approach") == approach), "")


def _spikes(runs: pd.DataFrame) -> dict:
    """run_id → the steps of its loss spikes (result.json spike_steps), for runs that have any."""
    if "spike_steps" not in runs or "run_id" not in runs:
        return {}
    return {r: list(s) for r, s in zip(runs["run_id"], runs["spike_steps"]) if isinstance(s, (list, tuple)) and s}


def _largest_budget(compute: pd.Series) -> int:
    """How many runs share the most common compute budget (C to two significant figures)."""
    labels = pd.Series([float(f"{v:.2g}") for v in pd.to_numeric(compute, errors="coerce").dropna()])
    return int(labels.value_counts().max()) if len(labels) else 0


def _grouping(n: np.ndarray, d: np.ndarray) -> str:
    """Group by D when the sweep repeats D values, else by tokens/param."""
    return "D" if len(data._groups(d)) <= len(data._groups(d / n)) else "tokens_per_param"


def _point(fit) -> dict:
    return {**fit.params, **fit.derived} if fit else {}


def _frontier_figure(fit: Optional[dict], runs: pd.DataFrame, extra: dict):
    registry = load_registry()
    published = {label: (registry[key].optimal_n, registry[key].optimal_d) for label, key in FRONTIERS.items()}
    params = law_params(fit) if fit else None
    ours = chinchilla_frontier(params) if params and not frontier_undefined(params) else None
    c_lo = float(runs["C"].min()) if len(runs) and "C" in runs else 1e15
    minima = extra.get("isoflop_minima")
    points = tuple(np.asarray(minima, dtype=float).T) if minima else None
    return fits.frontier((min(c_lo, 1e18) / 10, 1e25), published, ours, points)


def _extrapolation_figure(runs: pd.DataFrame, n: np.ndarray, loss: np.ndarray, spec: dict):
    held = runs["run_id"].isin(spec["run_ids"]).to_numpy()
    return fits.extrapolation(n, loss, held, spec["predicted"], spec.get("lo"), spec.get("hi"))
