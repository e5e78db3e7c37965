"""Approach-3 estimation: a batched, bounded Levenberg–Marquardt Newton optimiser over a ``Problem``.

Every start (and every bootstrap resample) is one row of a batch; all rows advance together with numpy array
operations, and rows leave the batch as they converge. Derivatives come from the problem: exact for
log-sum-exp-linear laws (``harness.fit.lse``), central finite differences otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Optional

import numpy as np

from harness.fit.parallel import map_pieces
from harness.fit.problem import OBJECTIVES, Objective, Problem

__all__ = ["OBJECTIVES", "Objective", "Problem", "Solution", "newton", "basin_count", "distinct_optima", "multistart",
           "screened_multistart"]

SCREEN_ROWS = 500     # above this many points, starts are screened on a subsample of this size (2x Epoch's 240)
SCREEN_KEEP = 16      # distinct subsample optima refined on the full data


@dataclass(frozen=True)
class Solution:
    """Per start: final free theta, objective, iterations and whether it converged."""

    theta: np.ndarray
    value: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray


def _newton_step(grad, hess, lam, theta, lower, upper):
    """Damped Newton step on the free (not bound-held) coordinates."""
    held = ((theta <= lower + 1e-12) & (grad > 0)) | ((theta >= upper - 1e-12) & (grad < 0))
    diagonal = np.arange(theta.shape[1])
    system = hess.copy()
    rhs = -grad
    if held.any():
        system[held[:, :, None] | held[:, None, :]] = 0.0
        system[:, diagonal, diagonal] += held
        rhs[held] = 0.0
    scale = np.abs(hess[:, diagonal, diagonal]).sum(1) / len(diagonal) + 1e-300   # (the mean, without its wrapper)
    system[:, diagonal, diagonal] += (lam * scale)[:, None]
    try:
        step = np.linalg.solve(system, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:
        step = np.stack([np.linalg.lstsq(a, v, rcond=None)[0] for a, v in zip(system, rhs)])
    step[~np.isfinite(step)] = 0.0
    return np.minimum(np.maximum(theta + step, lower), upper)   # np.clip's numbers, without its wrapper


def _select(w: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Weights of batch rows ``idx``: a shared [n] vector as is (no copy), per-row weights indexed."""
    return w if w.ndim == 1 else w[idx]


def _hopeless(value: np.ndarray, before: np.ndarray, done: np.ndarray, factor: float) -> np.ndarray:
    """Rows still > ``factor`` x the best objective in the batch that improved < 5 % over the last window."""
    best = np.min(value)
    return ~done & (value > factor * best + 1e-12) & (value > 0.95 * before)


STATIONARY_RTOL = 1e-3   # a stuck row is a minimum only if its projected gradient is this small (relative)


def _stationary(grad, theta, value, lower, upper) -> np.ndarray:
    """Rows whose gradient, less the components held at a bound, is negligible: |g_j| max(1, |theta_j|) <=
    ``STATIONARY_RTOL`` |value| + 1e-10 for every j (at the optima of Epoch's 4500 starts it is below 1e-4 |value|)."""
    held = ((theta <= lower + 1e-12) & (grad > 0)) | ((theta >= upper - 1e-12) & (grad < 0))
    size = np.where(held, 0.0, np.abs(grad)) * np.maximum(1.0, np.abs(theta))
    return np.isfinite(value) & np.all(np.isfinite(grad), axis=1) & \
        (size.max(1) <= STATIONARY_RTOL * np.abs(value) + 1e-10)


def newton(problem: Problem, theta0: np.ndarray, weights: np.ndarray, max_iter: int = 400,
           ftol: float = 1e-13, xtol: float = 1e-10, abandon: float = 0.0) -> Solution:
    """Minimise ``problem`` from every row of ``theta0`` (free entries) with per-row ``weights`` [B, n] or [n].

    Levenberg–Marquardt-damped Newton, trying both the exact Hessian and the Gauss–Newton/IRLS majorant (which
    escapes the flat regions where one term of the law dominates) and keeping the better: a step is kept only if it
    lowers that row's objective; a row has converged when a kept step changes the objective by less than ``ftol``
    (relative) or theta by less than ``xtol``, or when no step lowers it and the projected gradient is negligible
    (``_stationary``), either because the trial steps leave the objective within ``ftol`` (a minimum to rounding: the
    row stops at once rather than raising its damping until a step changes nothing) or because no damping finds a
    lower value (a row whose damping ran away elsewhere has not converged). Both trial steps of every row are solved
    in one batched call and valued in one pass. With ``abandon`` > 1 (multi-start only), a row is given up (not
    converged) when, at a 10-step checkpoint, it is still ``abandon`` x the batch's best objective and crawling
    (< 5 % better than 10 steps earlier): such starts end in poor local minima of flat regions."""
    theta = np.clip(np.array(theta0, float), problem.lower, problem.upper)
    b, q = theta.shape
    w = np.asarray(weights, float)
    value, grad, hess, major = problem.derivatives(theta, w)
    curvature = np.stack([hess, major])                # the two step models: exact Hessian, IRLS majorant
    lam, iters = np.full(b, 1e-6), np.zeros(b, int)
    done, converged = ~np.isfinite(value), np.zeros(b, bool)
    before = value.copy()
    for step in range(max_iter):
        if abandon > 1 and step and step % 10 == 0:
            done |= _hopeless(value, before, done, abandon)
            before = value.copy()
        idx = np.flatnonzero(~done)
        if not len(idx):
            break
        w_idx, m = _select(w, idx), len(idx)
        grad_i, theta_i, lam_i = grad[idx], theta[idx], lam[idx]
        both = _newton_step(np.concatenate([grad_i, grad_i]), curvature[:, idx].reshape(-1, q, q),
                            np.concatenate([lam_i, lam_i]), np.concatenate([theta_i, theta_i]), problem.lower,
                            problem.upper)
        values = problem.value(both, w_idx if w.ndim == 1 else np.concatenate([w_idx, w_idx]))
        pick = values[m:] < values[:m]
        trial, new = np.where(pick[:, None], both[m:], both[:m]), np.where(pick, values[m:], values[:m])
        ok = new < value[idx]
        iters[idx] += 1
        small = ok & (((value[idx] - new) <= ftol * np.abs(new)) | (np.abs(trial - theta_i).max(1) <= xtol))
        stuck = ~ok & (lam_i > 1e10)
        level = ~ok & (new - value[idx] <= ftol * np.abs(value[idx]))   # no trial moved the objective beyond ftol
        still = np.zeros(m, bool)    # a stuck or level row has converged if its projected gradient is negligible
        ask = stuck | level
        if ask.any():
            still[ask] = _stationary(grad_i[ask], theta_i[ask], value[idx[ask]], problem.lower, problem.upper)
        lam[idx] = np.where(ok, np.maximum(lam_i / 5, 1e-12), lam_i * 10)
        theta[idx[ok]], value[idx[ok]] = trial[ok], new[ok]
        moved = idx[ok & ~small]                       # rows that just converged need no new derivatives
        if len(moved):
            _, grad[moved], curvature[0, moved], curvature[1, moved] = problem.derivatives(
                theta[moved], _select(w, moved), value=False)
        converged[idx[small | still]] = True
        done[idx[small | stuck | still]] = True
    return Solution(theta, value, iters, converged)


def basin_count(values: np.ndarray, rtol: float = 1e-6) -> int:
    """How many starts ended within ``rtol`` (relative) of the lowest objective."""
    best = np.min(values)
    return int(np.sum(values <= best + rtol * abs(best) + 1e-15))


def distinct_optima(sol: Solution, k: int = 4, rtol: float = 1e-3) -> np.ndarray:
    """Up to ``k`` distinct local optima of a multi-start run, best first: converged finite rows whose theta differs
    from every better one kept by more than ``rtol`` (relative, per coordinate). Bootstrap resamples restart from
    each, so that a degenerate best optimum does not trap them all; [m, q], m >= 1."""
    ok = np.flatnonzero(sol.converged & np.isfinite(sol.value))
    order = ok[np.argsort(sol.value[ok], kind="stable")] if len(ok) else np.array([int(np.argmin(sol.value))])
    candidates = sol.theta[order]
    fresh = np.ones(len(order), bool)              # differs from every optimum kept so far
    kept: list[np.ndarray] = []
    while len(kept) < k and fresh.any():
        t = candidates[int(np.argmax(fresh))]      # the best candidate still fresh
        kept.append(t)
        fresh &= np.any(np.abs(candidates - t) > rtol * np.maximum(1.0, np.abs(t)), axis=1)
    return np.array(kept)


def _stack(parts: list[Solution]) -> Solution:
    return Solution(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("theta", "value", "iterations",
                                                                                "converged")))


def multistart(problem: Problem, starts: np.ndarray, weights: Optional[np.ndarray] = None,
               workers: int = 2, **options) -> Solution:
    """Run ``newton`` from every start; the batch is dealt round-robin into ``workers`` pieces (neighbouring starts
    cost alike, so the pieces take about as long) run in parallel by ``harness.fit.parallel``. ``weights``: [n]
    shared, [B, n] per start or [B, 2, n] (weights and target shifts, ``problem.split_rows``)."""
    w = np.ones(len(problem.y)) if weights is None else np.asarray(weights, float)
    rows = [np.arange(i, len(starts), workers) for i in range(max(1, min(workers, len(starts))))]
    pieces = [(problem, starts[r], w[r] if w.ndim >= 2 else w) for r in rows]
    stacked = _stack(map_pieces(partial(newton, **options), pieces))
    order = np.argsort(np.concatenate(rows), kind="stable")
    return Solution(*(getattr(stacked, f)[order] for f in ("theta", "value", "iterations", "converged")))


def _subsample(problem: Problem, rows: np.ndarray) -> Problem:
    """The same law, objective and fixed entries on the given rows."""
    return Problem(problem.law, {k: v[rows] for k, v in problem.x.items()}, problem.y[rows], problem.objective,
                   problem.fixed)


def screened_multistart(problem: Problem, starts: np.ndarray, weights: np.ndarray, workers: int = 2,
                        rows: int = SCREEN_ROWS, keep: int = SCREEN_KEEP) -> tuple[Solution, int]:
    """``multistart`` for large tables: every start runs on a fixed random subsample of ``rows`` points (seed 0),
    and only the ``keep`` best distinct optima found there are refined on all points. Work and memory grow with
    starts x ``rows`` + ``keep`` x n instead of starts x n. Below ``rows`` points it is plain ``multistart``.
    Returns (solution, how many starts reached the best basin: of the screen when screened)."""
    n = len(problem.y)
    w = np.asarray(weights, float)
    if n <= rows or len(starts) <= keep or w.ndim != 1:
        sol = multistart(problem, starts, w, workers=workers)
        return sol, basin_count(sol.value)
    pick = np.sort(np.random.default_rng(0).choice(n, rows, replace=False))
    screen = multistart(_subsample(problem, pick), starts, w[pick], workers=workers)
    return multistart(problem, distinct_optima(screen, keep), w, workers=workers), basin_count(screen.value)
