"""Profile likelihood: which parameters a sweep pins down, and one-sided bounds for the ones it does not.

Each free theta coordinate is held at values walked outward from the estimate (steps doubling from its standard
error) and the others refitted, warm-started from the previous step (and, at the first step, from every distinct
optimum of the full fit). Calibration, a Gaussian approximation for every objective: log (or linear) residuals are
taken as normal with the variance s² = SSR / (n - q) of the full fit's residuals, so that the profile statistic
(SSR(held) - SSR(fit)) / s² is compared with the F(1, n - q) quantile at the interval level (the likelihood-ratio
test with an estimated variance; chi²(1) as n grows). A side on which the statistic never crosses that threshold
before the parameter's bound is not identified: the data set no limit there. Nor is one where the crossing is the
search box's doing (another parameter pinned at its upper search limit, and the crossing gone once that limit
is raised). Each refit also starts on the ridge of the terms the held coordinate scales (``_along_ridge``), so
that a walk along a direction the data do not pin down does not stall where a term has vanished.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Optional

import numpy as np
from harness.fit.distributions import f_quantile
from harness.fit.estimate import Problem, multistart
from harness.fit.parallel import map_pieces

MAX_STEPS = 24          # doublings per side: from 1e-3 x the scale to beyond any law's bounds


@dataclass(frozen=True)
class Profile:
    """Per free theta coordinate: (low, high) where the profile crosses the threshold, None where it never does."""

    bounds: list
    threshold: float

    @property
    def identified(self) -> list:
        """Per coordinate: bounded on both sides."""
        return [lo is not None and hi is not None for lo, hi in self.bounds]


def _ssr(problem: Problem, theta: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted sum of squared residuals (in the objective's space) per row of ``theta``."""
    f = problem.log_pred(theta)
    f = f if problem.objective.space == "log" else np.exp(f)
    r = f - problem.target[None, :]
    with np.errstate(all="ignore"):
        out = (r * r) @ weights
    return np.where(np.isfinite(out), out, np.inf)


def _held(problem: Problem, j: int, value: float) -> Problem:
    """The problem with free coordinate ``j`` held at ``value``."""
    fixed = problem.fixed.copy()
    fixed[np.flatnonzero(problem.free)[j]] = value
    return Problem(problem.law, problem.x, problem.y, problem.objective, fixed)


def _statistic(problem: Problem, j: int, value: float, starts: np.ndarray, weights: np.ndarray, base: float,
               s2: float) -> tuple[float, np.ndarray]:
    """(profile statistic, refitted free theta with coordinate ``j`` at ``value``)."""
    held = _held(problem, j, value)
    if held.n_free == 0:             # a one-parameter problem: nothing left to refit
        theta = np.array([value])
        return max(float(_ssr(problem, theta[None, :], weights)[0]) - base, 0.0) / s2, theta
    sol = multistart(held, np.delete(starts, j, axis=1), weights, workers=1)
    best = int(np.argmin(sol.value))
    theta = np.insert(sol.theta[best], j, value)
    return max(float(_ssr(problem, theta[None, :], weights)[0]) - base, 0.0) / s2, theta


def _widened(problem: Problem, coords: np.ndarray) -> Problem:
    """The problem with the upper search limits of free coordinates ``coords`` raised by one box width."""
    bounds = list(problem.law.bounds)
    for c in np.flatnonzero(problem.free)[coords]:
        lo, hi = bounds[c]
        bounds[c] = (lo, hi + (hi - lo))
    return Problem(replace(problem.law, bounds=tuple(bounds)), problem.x, problem.y, problem.objective, problem.fixed)


def _made_by_box(problem, j, value, theta, last_theta, weights, base, s2, threshold) -> bool:
    """Whether a crossing is the search box's doing, not the data's: in the refit holding coordinate ``j`` another
    free coordinate sits at its upper search limit (within 0.1 % of the box), and with that limit raised the held
    fit no longer crosses. E.g. alpha held high needs A above the box's e^80, so the fit worsens only because A
    cannot follow (the ridge A, alpha -> infinity of a sweep whose loss does not depend on N). Lower limits are
    physical (a zero floor or term, a flat exponent) and do bound."""
    top = problem.upper - theta <= 1e-3 * np.maximum(1.0, problem.upper - problem.lower)
    top[j] = False
    if not top.any():
        return False
    wider = _widened(problem, np.flatnonzero(top))
    starts = np.vstack([_along_ridge(wider, last_theta, j, value), theta])
    stat, _ = _statistic(wider, j, value, starts, weights, base, s2)
    return stat < threshold


def _along_ridge(problem: Problem, theta: np.ndarray, j: int, value: float) -> np.ndarray:
    """``theta`` with coordinate ``j`` at ``value`` and, for every term of the law's design that ``j`` scales, that
    term's own intercept moved to keep the term unchanged where it is largest in the data (e.g. alpha up by t, a up
    by t·log N_min, so A/N_min^alpha stays). A start on the ridge of a term the data do not pin down (A, alpha ->
    infinity): a warm start from the last step alone stalls there, where the term has vanished and so has its
    gradient. ``theta`` itself, with j moved, for laws without a design."""
    out = theta.copy()
    out[j] = value
    m = getattr(problem, "m_free", None)
    if m is None:
        return out
    for k in range(m.shape[0]):
        column = m[k, :, j]
        others = np.delete(m, k, axis=0)
        intercepts = [c for c in range(m.shape[2])
                      if c != j and np.all(m[k, :, c] == 1.0) and not others[:, :, c].any()]
        if np.ptp(column) == 0 or not intercepts:
            continue
        peak = int(np.argmax(m[k] @ theta + problem.offset[k]))
        out[intercepts[0]] -= column[peak] * (value - theta[j])
    return np.clip(out, problem.lower, problem.upper)


def _side(problem, j, theta_hat, basins, weights, base, s2, threshold, step, sign) -> Optional[float]:
    """Where the profile of coordinate ``j`` crosses ``threshold`` walking in direction ``sign``; None at the bound."""
    limit = problem.upper[j] if sign > 0 else problem.lower[j]
    starts, last_value, last_stat, last_theta = basins, theta_hat[j], 0.0, theta_hat
    for k in range(MAX_STEPS):
        value = theta_hat[j] + sign * step * 2.0 ** k
        value = min(value, limit) if sign > 0 else max(value, limit)
        ridge = _along_ridge(problem, last_theta, j, value)[None, :]
        stat, theta = _statistic(problem, j, value, np.vstack([ridge, starts]), weights, base, s2)
        if stat >= threshold:        # interpolate sqrt(statistic), linear in the parameter for a quadratic profile
            if _made_by_box(problem, j, value, theta, last_theta, weights, base, s2, threshold):
                return None
            lo, hi = np.sqrt(last_stat), np.sqrt(stat)
            return float(last_value + (value - last_value) * (np.sqrt(threshold) - lo) / max(hi - lo, 1e-300))
        if value == limit:
            return None
        starts, last_value, last_stat, last_theta = np.vstack([theta[None, :], basins]), value, stat, theta
    return None


def _sides(problem, theta_hat, starts, weights, base, s2, threshold, walks: list) -> list:
    """``_side`` for each (coordinate, first step, direction) of ``walks``, in order."""
    return [_side(problem, j, theta_hat, starts, weights, base, s2, threshold, step, sign) for j, step, sign in walks]


def profile_bounds(problem: Problem, theta_hat: np.ndarray, weights: np.ndarray, scale: np.ndarray,
                   basins: Optional[np.ndarray] = None, level: float = 0.95, workers: int = 2) -> Profile:
    """Profile-likelihood bounds of every free theta coordinate (see the module docstring for the calibration).

    ``scale``: a first step per coordinate (a standard error, or any rough size where none is known); ``basins``:
    distinct optima of the full fit to start the first refits from. The walks (two per coordinate, independent)
    are dealt round-robin to ``workers`` pieces run in parallel (``harness.fit.parallel``): the same numbers as one
    after the other."""
    n, q = len(problem.y), problem.n_free
    base = float(_ssr(problem, theta_hat[None, :], weights)[0])
    s2 = max(base / max(n - q, 1), 1e-300)
    threshold = f_quantile(level, 1, max(n - q, 1))
    starts = np.vstack([theta_hat[None, :]] + ([basins] if basins is not None else []))
    walks = []
    for j in range(q):
        step = float(scale[j]) if np.isfinite(scale[j]) and scale[j] > 0 else 1e-3 * max(1.0, abs(theta_hat[j]))
        walks += [(j, step, sign) for sign in (-1.0, 1.0)]
    parts = max(1, min(workers, len(walks)))
    pieces = [(walks[i::parts],) for i in range(parts)]
    found = map_pieces(partial(_sides, problem, theta_hat, starts, weights, base, s2, threshold), pieces)
    ends = [None] * len(walks)
    for i, values in enumerate(found):
        ends[i::parts] = values
    return Profile([ends[2 * j:2 * j + 2] for j in range(q)], threshold)
