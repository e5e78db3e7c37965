"""Uncertainty of a fit: bootstrap over runs, asymptotic (sandwich) standard errors, identification warnings."""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from harness.fit.estimate import Problem, multistart

CORRELATION_WARN = 0.99
SINGULAR_RCOND = 1e-10   # Hessian eigenvalue ratio below which the optimum is treated as not identified


BOOTSTRAP_METHODS = ("residual", "pairs")


def _resample_rows(problem: Problem, theta_hat: np.ndarray, weights: np.ndarray, n_resamples: int, method: str,
                   rng: np.random.Generator) -> np.ndarray:
    """Per resample, what the batched optimiser takes as its weights argument (``problem.split_rows``).

    pairs: multinomial counts over the runs used as weights, [R, n] (Epoch's replication). residual: the design and
    weights kept, the target moved to the fitted value plus residuals drawn with replacement from the fit's
    modified residuals, scaled by sqrt(w) / sqrt(1 - h_i) with h the leverages of the linearised fit, then centred
    (Davison & Hinkley 1997, section 6.2.3), [R, 2, n]."""
    n = len(problem.y)
    if method == "pairs":
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_resamples).astype(float)
        return counts * weights[None, :]
    if method != "residual":
        raise ValueError(f"bootstrap method: unknown '{method}' ({', '.join(BOOTSTRAP_METHODS)})")
    fitted = problem.log_pred(theta_hat[None, :])[0]
    fitted = fitted if problem.objective.space == "log" else np.exp(fitted)
    resid = problem.target - fitted
    root = np.sqrt(weights / weights.mean())
    standard = resid * root / np.sqrt(1.0 - _leverage(problem, theta_hat, root))
    standard -= standard.mean()
    drawn = standard[rng.integers(0, n, size=(n_resamples, n))] / np.where(root > 0, root, np.inf)
    return np.stack([np.broadcast_to(weights, (n_resamples, n)), drawn - resid[None, :]], axis=1)


def _leverage(problem: Problem, theta: np.ndarray, root: np.ndarray) -> np.ndarray:
    """Diagonal of the hat matrix of the fit linearised at ``theta`` (rows scaled by sqrt weights), capped below 1."""
    jac = problem.jacobian(theta[None, :])[0].T * root[:, None]     # [n, q]
    if problem.objective.space == "linear":
        jac = jac * np.exp(problem.log_pred(theta[None, :])[0])[:, None]
    h = np.einsum("ij,ij->i", jac @ np.linalg.pinv(jac.T @ jac), jac)
    return np.clip(h, 0.0, 0.99)


def bootstrap_thetas(problem: Problem, theta_hat: np.ndarray, weights: np.ndarray, n_resamples: int = 1000,
                     seed: int = 0, workers: int = 2, method: str = "pairs",
                     basins: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap refits of the free theta: (draws [R, q], converged [R]).

    ``method``: pairs (resample runs, Epoch's replication) or residual (resample the fit's residuals onto the fixed
    design, see ``_resample_rows``). All resamples are fitted together as one batch, each started from every row of
    ``basins`` (distinct local optima of the full fit; default: ``theta_hat`` alone); a resample's draw is its best
    converged refit, and it counts as converged when any start converged. Callers drop the non-converged."""
    rng = np.random.default_rng(seed)
    starts = np.atleast_2d(theta_hat if basins is None else basins)
    m = len(starts)
    rows = _resample_rows(problem, theta_hat, weights, n_resamples, method, rng)
    sol = multistart(problem, np.tile(starts, (n_resamples, 1)), np.repeat(rows, m, axis=0), workers=workers)
    values = np.where(sol.converged & np.isfinite(sol.value), sol.value, np.inf).reshape(n_resamples, m)
    pick = np.argmin(values, axis=1)
    index = np.arange(n_resamples) * m + pick
    return sol.theta[index], np.isfinite(values[np.arange(n_resamples), pick])


def percentile_ci(samples: dict, level: float = 0.95) -> dict:
    """{name: [low, high]} percentile intervals of finite draws."""
    tail = 50.0 * (1.0 - level)
    out = {}
    for name, draws in samples.items():
        draws = np.asarray(draws, float)
        draws = draws[np.isfinite(draws)]
        out[name] = [float(v) for v in np.percentile(draws, [tail, 100 - tail])] if len(draws) else [np.nan, np.nan]
    return out


def jackknife_thetas(problem: Problem, theta_hat: np.ndarray, weights: np.ndarray, workers: int = 2) -> np.ndarray:
    """Leave-one-run-out refits (weight 0 for one run each, all in one batch from ``theta_hat``): [n, q]."""
    rows = np.tile(weights, (len(weights), 1))
    np.fill_diagonal(rows, 0.0)
    return multistart(problem, np.tile(theta_hat, (len(weights), 1)), rows, workers=workers).theta


def bca_ci(draws: np.ndarray, estimate: float, jackknife: np.ndarray, level: float = 0.95) -> list:
    """Bias-corrected and accelerated percentile interval (Efron 1987; Davison & Hinkley 1997, 5.3.2) of one
    quantity: bias correction z0 from the share of draws below ``estimate``, acceleration from the jackknife
    values' skewness."""
    from scipy.special import ndtr, ndtri  # here: a fit without bootstrap (``harness fit``) skips scipy's import

    draws = np.asarray(draws, float)
    draws = draws[np.isfinite(draws)]
    if len(draws) < 2:
        return [np.nan, np.nan]
    share = (np.sum(draws < estimate) + 0.5 * np.sum(draws == estimate)) / len(draws)
    z0 = ndtri(np.clip(share, 1.0 / len(draws), 1.0 - 1.0 / len(draws)))
    d = np.mean(jackknife) - jackknife
    accel = np.sum(d ** 3) / (6.0 * np.sum(d ** 2) ** 1.5) if np.sum(d ** 2) > 0 else 0.0
    z = ndtri([0.5 - level / 2, 0.5 + level / 2])
    tails = ndtr(z0 + (z0 + z) / (1.0 - accel * (z0 + z)))
    return [float(v) for v in np.percentile(draws, 100.0 * np.clip(tails, 0.0, 1.0))]


def _natural_jacobian(to_natural: Callable, theta: np.ndarray, names: tuple) -> np.ndarray:
    """d natural / d theta by central differences, [n_natural, q]."""
    q = len(theta)
    jac = np.zeros((len(names), q))
    for j in range(q):
        h = 1e-6 * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        hi, lo = to_natural(up), to_natural(down)
        jac[:, j] = [(float(hi[k]) - float(lo[k])) / (2 * h) for k in names]
    return jac


def sandwich_cov(problem: Problem, theta: np.ndarray, weights: np.ndarray) -> Optional[np.ndarray]:
    """Robust covariance of the free theta, H^-1 (sum_i g_i g_i^T) H^-1 n / (n - q) with g_i each point's gradient
    (HC1; on issue 9's simulated sweeps its 95 % t intervals still cover only 70-80 % under Huber with a tiny delta,
    whose Hessian counts only the few points inside delta: report the bootstrap SE there); None when
    the Hessian is singular or not positive definite (its smallest eigenvalue below ``SINGULAR_RCOND`` x the largest):
    some direction is not identified, and an inverse would be rounding noise."""
    _, _, hess, _ = problem.derivatives(theta[None, :], weights[None, :])
    eigenvalues = np.linalg.eigvalsh(0.5 * (hess[0] + hess[0].T))
    if not np.all(np.isfinite(eigenvalues)) or eigenvalues[0] <= SINGULAR_RCOND * eigenvalues[-1]:
        return None
    scores = problem.point_scores(theta, weights)      # row i: point i's term of the gradient
    inv = np.linalg.inv(hess[0])                       # positive definite, checked above
    n, q = len(weights), len(theta)
    return inv @ (scores.T @ scores) @ inv * (n / max(n - q, 1))     # HC1 small-sample factor


def hessian_se(problem: Problem, theta: np.ndarray, weights: np.ndarray,
               names: tuple) -> tuple[dict, Optional[np.ndarray]]:
    """({natural name: asymptotic SE}, theta covariance) by the delta method on the sandwich covariance."""
    cov = sandwich_cov(problem, theta, weights)
    if cov is None or not np.all(np.isfinite(cov)):
        return {k: float("nan") for k in names}, None
    full = problem.full_theta(theta[None, :])[0]

    def natural_of_free(t):
        f = full.copy()
        f[problem.free] = t
        return problem.law.to_natural(f)

    jac = _natural_jacobian(natural_of_free, theta, names)
    var = np.einsum("ij,jk,ik->i", jac, cov, jac)
    return {k: float(np.sqrt(v)) if v >= 0 else float("nan") for k, v in zip(names, var)}, cov


def identification_warnings(problem: Problem, theta: np.ndarray, cov: Optional[np.ndarray], n_best_basin: int,
                            converged: bool, names: Optional[list] = None,
                            identified: Optional[dict] = None) -> list[str]:
    """Plain-language warnings when the data cannot pin the parameters down (``names``: the free parameters;
    ``identified``: the profile-likelihood verdict per name, when computed)."""
    out = []
    names = names or [n for n, free in zip(problem.law.theta_names, problem.free) if free]
    for var in ("N", "D", "C"):
        distinct = len(set(problem.x[var].tolist())) if var in problem.x else 0   # (np.unique imports numpy.ma)
        if 1 < distinct < 4:
            out.append(f"only {distinct} distinct {var} values: its exponent is weakly identified")
    if len(problem.y) < 3 * len(names):
        out.append(f"{len(problem.y)} points for {len(names)} free parameters: too few for stable estimates")
    span = problem.upper - problem.lower
    at_bound = [n for n, t, lo, hi, s in zip(names, theta, problem.lower, problem.upper, span)
                if min(t - lo, hi - t) <= 1e-6 * max(1.0, s)]
    if at_bound:
        out.append(f"parameter(s) at their bounds: {', '.join(at_bound)}")
    if not converged:
        out.append("the optimiser did not converge from the best start")
    if n_best_basin <= 1:
        out.append("only one start reached the best objective: the optimum may not be global")
    loose = [n for n, ok in (identified or {}).items() if not ok]
    if loose:
        out.append(f"not identified by this sweep: {', '.join(loose)} (no two-sided interval; see the profile "
                   f"bounds)")
    out += _correlation_warnings(names, cov, identified)
    return out


def _correlation_warnings(names: list, cov: Optional[np.ndarray], identified: Optional[dict] = None) -> list[str]:
    """A warning per pair correlated beyond ``CORRELATION_WARN`` where it matters: when profiles were computed, only
    pairs with a parameter they leave unidentified (a high correlation alone, as between A and alpha on Epoch's
    240 points, still leaves both bounded)."""
    if cov is None:
        return ["the Hessian is singular at the optimum: some direction is not identified"]
    sd = np.sqrt(np.clip(np.diag(cov), 1e-300, None))
    corr = cov / np.outer(sd, sd)
    out = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            matters = identified is None or not (identified.get(names[i], True) and identified.get(names[j], True))
            if matters and abs(corr[i, j]) > CORRELATION_WARN:
                out.append(f"flat direction: {names[i]} and {names[j]} are nearly confounded "
                           f"(correlation {corr[i, j]:+.3f})")
    return out
