"""Power law or early sigmoid? Several one-variable forms on the same curve: log-likelihood, AICc, Akaike weights, BIC,
extrapolation. (The same rule between two-variable laws fitted to one sweep: harness.fit.law_choice.)

The verdict rests on AICc (AIC with the small-sample term 2k(k+1)/(n-k-1), Hurvich & Tsai 1989; plain AIC favours
the many-parameter forms on a dozen points) and its Akaike weights exp(-ΔAICc/2), normalised: the data prefer a form
only when its weight is at least ``CONFIDENT_WEIGHT``; otherwise the verdict says they cannot tell the forms apart.
A form with k + 1 >= n (parameters plus the noise variance) gets no AICc (infinite) and weight 0.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from harness.errors import ConfigError
from harness.fit.estimate import Objective, Problem, multistart
from harness.fit.laws import get_law

FORMS = ("power", "pure_power", "exp_saturation", "logistic", "broken_power")
LABELS = {"power": "power law with floor", "pure_power": "pure power law", "exp_saturation": "exponential saturation",
          "logistic": "logistic in log x", "broken_power": "broken power law"}
INDISTINCT_AIC = 2.0      # kept for readers of plain AIC; the verdict uses the Akaike weights below
CONFIDENT_WEIGHT = 0.99   # best form's AICc weight needed to name it: at 0.9 a sigmoid seen before its midpoint was
                          # confidently called exponential in 3 of 4 simulated curves (weights .86-.96)
MAX_ITER, ABANDON = 150, 3.0   # per-form multi-start: iteration cap; crawling starts 3x worse than the best dropped


def _fit_form(form: str, x: np.ndarray, y: np.ndarray, variable: str) -> tuple[np.ndarray, float, object]:
    """(theta, sum of squared log residuals, law) of one form, multi-start Newton on squared log error."""
    law = get_law(form, variable)
    data = {variable: x}
    problem = Problem(law, data, y, Objective("mse"))
    sol = multistart(problem, law.grid(data, y), workers=1, max_iter=MAX_ITER, abandon=ABANDON)
    best = int(np.argmin(sol.value))
    return sol.theta[best], float(sol.value[best]), law


def _loglik(sse: float, n: int) -> float:
    """Gaussian log-likelihood of log residuals at the MLE variance."""
    var = max(sse / n, 1e-300)
    return -0.5 * n * (np.log(2 * np.pi * var) + 1.0)


def _aicc(loglik: float, k: int, n: int) -> float:
    """AICc of a model with ``k`` parameters (the noise variance included) on ``n`` points; infinite when
    n - k - 1 <= 0."""
    return 2 * k - 2 * loglik + (2 * k * (k + 1) / (n - k - 1) if n - k - 1 > 0 else np.inf)


def _extrapolation_error(form: str, x, y, variable: str, k: int) -> float:
    """Mean relative error on the k largest-x points of a fit on the others."""
    order = np.argsort(x)
    train, test = order[:-k], order[-k:]
    law = get_law(form, variable)
    if len(train) < len(law.theta_names) + 1:
        return float("nan")
    theta, _, law = _fit_form(form, x[train], y[train], variable)
    pred = np.exp(law.log_predict(theta[None, :], {variable: x[test]})[0])
    return float(np.mean(np.abs(pred - y[test]) / y[test]))


def compare_forms(x, loss, k_holdout: int = 2, variable: str = "N", forms=FORMS) -> tuple[pd.DataFrame, str]:
    """Fit every form to loss(x) (squared error on log loss) and return (table, verdict).

    table columns: form, label, n_params, loglik, aic, aicc, bic, delta_aic, delta_aicc, weight (Akaike weight from
    AICc), extrap_rel_error (fit on all but the ``k_holdout`` largest x, predict them); ``table.attrs['curves']``
    holds fitted curves for plotting. The verdict names a form only when its weight is >= ``CONFIDENT_WEIGHT`` and
    says plainly otherwise that the forms cannot be told apart."""
    x, y = np.asarray(x, float), np.asarray(loss, float)
    if len(x) != len(y) or len(np.unique(x)) < 4 or np.any(~np.isfinite(y)) or np.any(y <= 0):
        raise ConfigError("compare_forms: need matching x and positive, finite loss with at least 4 distinct x")
    grid = np.geomspace(x.min(), x.max() * 4, 60)
    rows, curves = [], {}
    for form in forms:
        theta, sse, law = _fit_form(form, x, y, variable)
        k = len(law.theta_names) + 1
        ll = _loglik(sse, len(x))
        n = len(x)
        rows.append({"form": form, "label": LABELS[form], "n_params": len(law.theta_names), "loglik": ll,
                     "aic": 2 * k - 2 * ll, "aicc": _aicc(ll, k, n), "bic": k * np.log(n) - 2 * ll,
                     "extrap_rel_error": _extrapolation_error(form, x, y, variable, k_holdout)})
        curves[LABELS[form]] = [grid.tolist(), np.exp(law.log_predict(theta[None, :], {variable: grid})[0]).tolist()]
    table = pd.DataFrame(rows)
    table["delta_aic"] = table["aic"] - table["aic"].min()
    table["delta_aicc"] = table["aicc"] - table["aicc"].min()
    table["weight"] = akaike_weights(table["aicc"].to_numpy())
    table.attrs["curves"] = curves
    return table, verdict(table)


def akaike_weights(ic: np.ndarray) -> np.ndarray:
    """exp(-Δ/2) normalised over the forms, from any information criterion (infinite: weight 0)."""
    ic = np.asarray(ic, float)
    finite = np.isfinite(ic)
    if not finite.any():
        return np.full(len(ic), 1.0 / len(ic))
    raw = np.where(finite, np.exp(-0.5 * (ic - ic[finite].min())), 0.0)
    return raw / raw.sum()


def verdict(table: pd.DataFrame) -> str:
    """One sentence: which form the data prefer (AICc weight >= ``CONFIDENT_WEIGHT``), or that they cannot tell."""
    ranked = table.sort_values("weight", ascending=False)
    best = ranked.iloc[0]
    scored = ranked[np.isfinite(ranked["aicc"])]
    if len(scored) < 2:  # AICc is infinite for a form with n - k - 1 <= 0: too few points to weigh it at all
        unscored = ", ".join(ranked.loc[~np.isfinite(ranked["aicc"]), "label"])
        return (f"The data cannot tell the forms apart: too few points to score {unscored} by AICc, so no form "
                "can be preferred over them.")
    if best["weight"] >= CONFIDENT_WEIGHT:
        return (f"The data prefer the {best['label']} (Akaike weight {best['weight']:.2f} by AICc; next best "
                f"{ranked['delta_aicc'].iloc[1]:.1f} AICc units worse).")
    close = ranked[ranked["weight"] >= 0.05]
    names = ", ".join(f"{row.label} {row.weight:.2f}" for row in close.itertuples())
    return (f"The data cannot tell the forms apart: no form reaches an Akaike weight of {CONFIDENT_WEIGHT:g} "
            f"by AICc ({names}).")


def is_confident(table: pd.DataFrame) -> bool:
    """Whether the verdict names a form: weight >= ``CONFIDENT_WEIGHT`` among at least two forms AICc can score."""
    return bool(np.isfinite(table["aicc"]).sum() >= 2 and table["weight"].max() >= CONFIDENT_WEIGHT)


def forms_payload(x, loss, table: pd.DataFrame) -> dict:
    """The ``forms`` entry the plots expect: {x, y, curves, aic}, plus aicc and weights (by label; an infinite AICc
    is None), best (the label with the largest weight) and confident (whether the verdict names it)."""
    return {"x": [float(v) for v in x], "y": [float(v) for v in loss], "curves": table.attrs.get("curves", {}),
            "aic": {row.label: float(row.aic) for row in table.itertuples()},
            "aicc": {row.label: (float(row.aicc) if np.isfinite(row.aicc) else None) for row in table.itertuples()},
            "weights": {row.label: float(row.weight) for row in table.itertuples()},
            "best": str(table.loc[table["weight"].idxmax(), "label"]), "confident": is_confident(table)}
