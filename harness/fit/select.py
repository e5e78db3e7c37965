"""Power law or early sigmoid? Several one-variable forms on the same curve: log-likelihood, AIC, BIC, extrapolation."""
from __future__ import annotations

import numpy as np
import pandas as pd

from harness.errors import ConfigError
from harness.fit.estimate import Objective, Problem, multistart
from harness.fit.laws import get_law

FORMS = ("power", "pure_power", "exp_saturation", "logistic", "broken_power")
LABELS = {"power": "power law with floor", "pure_power": "pure power law", "exp_saturation": "exponential saturation",
          "logistic": "logistic in log x", "broken_power": "broken power law"}
INDISTINCT_AIC = 2.0


def _fit_form(form: str, x: np.ndarray, y: np.ndarray, variable: str) -> tuple[np.ndarray, float, object]:
    """(theta, sum of squared log residuals, law) of one form, multi-start Newton on squared log error."""
    law = get_law(form, variable)
    data = {variable: x}
    problem = Problem(law, data, y, Objective("mse"))
    sol = multistart(problem, law.grid(data, y), workers=1)
    best = int(np.argmin(sol.value))
    return sol.theta[best], float(sol.value[best]), law


def _loglik(sse: float, n: int) -> float:
    """Gaussian log-likelihood of log residuals at the MLE variance."""
    var = max(sse / n, 1e-300)
    return -0.5 * n * (np.log(2 * np.pi * var) + 1.0)


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

    table columns: form, label, n_params, loglik, aic, bic, delta_aic, extrap_rel_error (fit on all but the
    ``k_holdout`` largest x, predict them); ``table.attrs['curves']`` holds fitted curves for plotting. The verdict
    says plainly when the forms cannot be told apart (AIC within 2 of the best)."""
    x, y = np.asarray(x, float), np.asarray(loss, float)
    if len(x) != len(y) or len(np.unique(x)) < 4 or np.any(~np.isfinite(y)) or np.any(y <= 0):
        raise ConfigError("compare_forms: need matching x and positive, finite loss with at least 4 distinct x")
    grid = np.geomspace(x.min(), x.max() * 4, 60)
    rows, curves = [], {}
    for form in forms:
        theta, sse, law = _fit_form(form, x, y, variable)
        k = len(law.theta_names) + 1
        ll = _loglik(sse, len(x))
        rows.append({"form": form, "label": LABELS[form], "n_params": len(law.theta_names), "loglik": ll,
                     "aic": 2 * k - 2 * ll, "bic": k * np.log(len(x)) - 2 * ll,
                     "extrap_rel_error": _extrapolation_error(form, x, y, variable, k_holdout)})
        curves[LABELS[form]] = [grid.tolist(), np.exp(law.log_predict(theta[None, :], {variable: grid})[0]).tolist()]
    table = pd.DataFrame(rows)
    table["delta_aic"] = table["aic"] - table["aic"].min()
    table.attrs["curves"] = curves
    return table, verdict(table)


def verdict(table: pd.DataFrame) -> str:
    """One sentence: which form the data prefer, or that they cannot tell the forms apart."""
    best = table.loc[table["aic"].idxmin()]
    close = table[(table["delta_aic"] < INDISTINCT_AIC) & (table["form"] != best["form"])]
    if len(close):
        names = ", ".join(close["label"])
        return (f"The data cannot tell the forms apart: {best['label']} is best by AIC, but {names} "
                f"{'is' if len(close) == 1 else 'are'} within {INDISTINCT_AIC:g} AIC units.")
    return f"The data prefer the {best['label']} (next best is {table['delta_aic'].nsmallest(2).iloc[-1]:.1f} AIC " \
           f"units worse)."


def forms_payload(x, loss, table: pd.DataFrame) -> dict:
    """The ``forms`` entry the plots expect: {x, y, curves, aic}."""
    return {"x": [float(v) for v in x], "y": [float(v) for v in loss], "curves": table.attrs.get("curves", {}),
            "aic": {row.label: float(row.aic) for row in table.itertuples()}}
