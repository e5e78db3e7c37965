"""Approach-3 estimation: objectives on residuals and a batched, bounded Levenberg–Marquardt Newton optimiser.

Every start (and every bootstrap resample) is one row of a batch; all rows advance together with numpy array
operations, and rows leave the batch as they converge. Derivatives are exact for log-sum-exp-linear laws (their
design matrix gives gradient and Hessian in closed form) and central finite differences otherwise.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Optional

import numpy as np

from harness.fit.laws import Law

OBJECTIVES = ("huber", "mse", "lad")
LAD_DELTA = 1e-6   # least absolute deviation is a Huber loss with this tiny delta, divided by delta


@dataclass(frozen=True)
class Objective:
    """What is minimised: ``kind`` (huber, mse, lad) of residuals in ``space`` (log: log L - log L̂; linear: L - L̂),
    ``reduction`` sum (default, as in Epoch's replication) or mean (Hoffmann's, which stops L-BFGS early)."""

    kind: str = "huber"
    delta: float = 1e-3
    space: str = "log"
    reduction: str = "sum"

    def rho(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rho, rho', rho'') of the residuals."""
        if self.kind == "mse":
            return r * r, 2.0 * r, np.full_like(r, 2.0)
        delta = LAD_DELTA if self.kind == "lad" else self.delta
        scale = 1.0 / delta if self.kind == "lad" else 1.0
        inside = np.abs(r) <= delta
        value = np.where(inside, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta))
        return scale * value, scale * np.clip(r, -delta, delta), scale * inside.astype(float)


def _gram(jac: np.ndarray, c: np.ndarray) -> np.ndarray:
    """sum_i c_i J_i J_i^T per batch row; ``jac`` is [B, q, n]. Plain array loops: tiny BLAS calls are slower."""
    b, q, _ = jac.shape
    out = np.empty((b, q, q))
    for i in range(q):
        weighted = jac[:, i] * c
        for j in range(i, q):
            out[:, i, j] = out[:, j, i] = np.einsum("bn,bn->b", weighted, jac[:, j])
    return out


class Problem:
    """One data set (x, y) under one law and objective; theta has ``fixed`` entries (NaN where free)."""

    def __init__(self, law: Law, x: dict, y: np.ndarray, objective: Objective, fixed: Optional[np.ndarray] = None):
        self.law, self.x, self.y, self.objective = law, x, np.asarray(y, float), objective
        p = len(law.theta_names)
        self.fixed = np.full(p, np.nan) if fixed is None else np.asarray(fixed, float)
        self.free = np.isnan(self.fixed)
        self.lower = np.array([b[0] for b in law.bounds])[self.free]
        self.upper = np.array([b[1] for b in law.bounds])[self.free]
        self.target = np.log(self.y) if objective.space == "log" else self.y
        if law.design is not None:
            m = law.design(x).transpose(1, 0, 2)                      # [K, n, p]
            self.m_free = m[:, :, self.free]                           # [K, n, q]
            self.offset = m[:, :, ~self.free] @ self.fixed[~self.free]  # [K, n]
            used = np.abs(self.m_free).max(axis=1) > 0                  # [K, q]: which theta enters which term
            self.entries = [[j for j in range(used.shape[1]) if used[k, j]] for k in range(len(used))]

    def with_objective(self, objective: Objective) -> "Problem":
        """The same problem under another objective."""
        return Problem(self.law, self.x, self.y, objective, self.fixed)

    @property
    def n_free(self) -> int:
        """Number of free theta entries."""
        return int(self.free.sum())

    def full_theta(self, theta: np.ndarray) -> np.ndarray:
        """Free entries → full theta (batch of rows)."""
        out = np.broadcast_to(self.fixed, (len(theta), len(self.fixed))).copy()
        out[:, self.free] = theta
        return out

    def log_pred(self, theta: np.ndarray) -> np.ndarray:
        """log L̂ for a batch of free thetas, shape [B, n]."""
        if self.law.design is not None:
            u = self._terms(theta)
            top = u[0].copy()
            for term in u[1:]:
                np.maximum(top, term, out=top)
            total = np.zeros_like(top)
            for term in u:
                total += np.exp(term - top)
            return top + np.log(total)
        with np.errstate(all="ignore"):
            return self.law.log_predict(self.full_theta(theta), self.x)

    def _terms(self, theta: np.ndarray) -> list[np.ndarray]:
        """The log-sum-exp terms u_k = M_k theta, one [B, n] array per k."""
        out = []
        for k, entries in enumerate(self.entries):
            term = np.broadcast_to(self.offset[k], (len(theta), self.offset.shape[1])).copy()
            for j in entries:
                term += theta[:, j, None] * self.m_free[k, :, j]
            out.append(term)
        return out

    def _residual(self, f: np.ndarray) -> np.ndarray:
        return self.target - (f if self.objective.space == "log" else np.exp(f))

    def _reduce(self, per_point: np.ndarray, w: np.ndarray) -> np.ndarray:
        total = (w * per_point).sum(-1)
        return total / w.sum(-1) if self.objective.reduction == "mean" else total

    def value(self, theta: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Objective per batch row (inf where the prediction is not finite)."""
        with np.errstate(all="ignore"):
            out = self._reduce(self.objective.rho(self._residual(self.log_pred(theta)))[0], w)
        return np.where(np.isfinite(out), out, np.inf)

    def _jacobian(self, theta: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, Optional[list]]:
        """d log L̂ / d theta as [B, q, n], and the softmax weights of the terms when the law has a design."""
        if self.law.design is not None:
            s = [np.exp(term - f) for term in self._terms(theta)]
            jac = np.zeros((len(theta), self.n_free, len(self.y)))
            for k, entries in enumerate(self.entries):
                for j in entries:
                    jac[:, j] += s[k] * self.m_free[k, :, j]
            return jac, s
        return self._fd_jacobian(theta), None

    def _fd_jacobian(self, theta: np.ndarray) -> np.ndarray:
        q = theta.shape[1]
        h = 1e-6 * np.maximum(1.0, np.abs(theta))
        cols = []
        for k in range(q):
            step = np.zeros_like(theta)
            step[:, k] = h[:, k]
            cols.append((self.log_pred(theta + step) - self.log_pred(theta - step)) / (2 * h[:, k:k + 1]))
        return np.stack(cols, axis=1)

    def _curvature(self, theta: np.ndarray, c: np.ndarray, jac: np.ndarray, s: Optional[list]) -> np.ndarray:
        """sum_i c_i · Hessian_theta(log L̂_i), shape [B, q, q]."""
        b, q = theta.shape
        if s is not None:
            first = np.zeros((b, q, q))
            for k, entries in enumerate(self.entries):
                cs = c * s[k]
                for i in entries:
                    for j in entries:
                        first[:, i, j] += np.einsum("bn,n->b", cs, self.m_free[k, :, i] * self.m_free[k, :, j])
            return first - _gram(jac, c)
        h = 1e-4 * np.maximum(1.0, np.abs(theta))
        cols = []
        for k in range(q):
            step = np.zeros_like(theta)
            step[:, k] = h[:, k]
            diff = self._fd_jacobian(theta + step) - self._fd_jacobian(theta - step)
            cols.append(np.einsum("bn,bpn->bp", c, diff) / (2 * h[:, k:k + 1]))
        hess = np.stack(cols, axis=-1)
        return 0.5 * (hess + hess.transpose(0, 2, 1))

    def value_and_grad(self, theta: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(objective, gradient [B, q]) per batch row, without the Hessian (for quasi-Newton reference runs)."""
        with np.errstate(all="ignore"):
            f = self.log_pred(theta)
            val, psi, _ = self.objective.rho(self._residual(f))
            jac, _ = self._jacobian(theta, f)
            c = w * psi if self.objective.space == "log" else w * psi * np.exp(f)
            norm = w.sum(-1) if self.objective.reduction == "mean" else np.ones(len(theta))
            value = (w * val).sum(-1) / norm
        return value, -np.einsum("bn,bqn->bq", c, jac) / norm[:, None]

    def derivatives(self, theta: np.ndarray, w: np.ndarray) -> tuple:
        """(objective, gradient [B, q], Hessian [B, q, q], Gauss–Newton/IRLS Hessian [B, q, q]) per batch row."""
        with np.errstate(all="ignore"):
            f = self.log_pred(theta)
            r = self._residual(f)
            val, psi, dpsi = self.objective.rho(r)
            jac, s = self._jacobian(theta, f)
            irls = np.where(r == 0, dpsi, psi / np.where(r == 0, 1.0, r))
            if self.objective.space == "log":
                c, gn, majorant = w * psi, w * dpsi, w * irls
            else:
                pred = np.exp(f)
                c, gn, majorant = w * psi * pred, w * (dpsi * pred * pred - psi * pred), w * irls * pred * pred
            grad = -np.einsum("bn,bqn->bq", c, jac)
            hess = _gram(jac, gn) - self._curvature(theta, c, jac, s)
            norm = w.sum(-1) if self.objective.reduction == "mean" else np.ones(len(theta))
            value = (w * val).sum(-1) / norm
            nn = norm[:, None, None]
        return np.where(np.isfinite(value), value, np.inf), grad / norm[:, None], hess / nn, _gram(jac, majorant) / nn


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
    q = theta.shape[1]
    scale = np.abs(np.diagonal(hess, axis1=1, axis2=2)).mean(1) + 1e-300
    system = np.where(held[:, :, None] | held[:, None, :], 0.0, hess)
    system = system + (lam * scale)[:, None, None] * np.eye(q) + held[:, :, None] * np.eye(q)
    rhs = np.where(held, 0.0, -grad)
    try:
        step = np.linalg.solve(system, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:
        step = np.stack([np.linalg.lstsq(a, v, rcond=None)[0] for a, v in zip(system, rhs)])
    step = np.where(np.isfinite(step), step, 0.0)
    return np.clip(theta + step, lower, upper)


def _hopeless(value: np.ndarray, before: np.ndarray, done: np.ndarray, factor: float) -> np.ndarray:
    """Rows still > ``factor`` x the best objective in the batch that improved < 5 % over the last window."""
    best = np.min(value)
    return ~done & (value > factor * best + 1e-12) & (value > 0.95 * before)


def newton(problem: Problem, theta0: np.ndarray, weights: np.ndarray, max_iter: int = 400,
           ftol: float = 1e-13, xtol: float = 1e-10, abandon: float = 0.0) -> Solution:
    """Minimise ``problem`` from every row of ``theta0`` (free entries) with per-row ``weights`` [B, n] or [n].

    Levenberg–Marquardt-damped Newton, trying both the exact Hessian and the Gauss–Newton/IRLS majorant (which
    escapes the flat regions where one term of the law dominates) and keeping the better: a step is kept only if it lowers that row's objective; a row has converged when
    a kept step changes the objective by less than ``ftol`` (relative) or theta by less than ``xtol``, or when no
    damping finds a lower value (a minimum to machine precision). With ``abandon`` > 1 (multi-start only), a row is
    given up (not converged) when, at a 10-step checkpoint, it is still ``abandon`` x the batch's best objective and
    crawling (< 5 % better than 10 steps earlier): such starts end in poor local minima of flat regions."""
    theta = np.clip(np.array(theta0, float), problem.lower, problem.upper)
    b = len(theta)
    w = np.broadcast_to(weights, (b, len(problem.y)))
    value, grad, hess, major = problem.derivatives(theta, w)
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
        trials = [_newton_step(grad[idx], h[idx], lam[idx], theta[idx], problem.lower, problem.upper)
                  for h in (hess, major)]
        values = [problem.value(t, w[idx]) for t in trials]
        pick = values[1] < values[0]
        trial, new = np.where(pick[:, None], trials[1], trials[0]), np.where(pick, values[1], values[0])
        ok = new < value[idx]
        iters[idx] += 1
        small = ok & (((value[idx] - new) <= ftol * np.abs(new)) | (np.abs(trial - theta[idx]).max(1) <= xtol))
        stuck = ~ok & (lam[idx] > 1e10)
        lam[idx] = np.where(ok, np.maximum(lam[idx] / 5, 1e-12), lam[idx] * 10)
        acc = idx[ok]
        if len(acc):
            theta[acc] = trial[ok]
            value[acc], grad[acc], hess[acc], major[acc] = problem.derivatives(trial[ok], w[acc])
        converged[idx[small | stuck]] = True
        done[idx[small | stuck]] = True
    return Solution(theta, value, iters, converged)


def basin_count(values: np.ndarray, rtol: float = 1e-6) -> int:
    """How many starts ended within ``rtol`` (relative) of the lowest objective."""
    best = np.min(values)
    return int(np.sum(values <= best + rtol * abs(best) + 1e-15))


def _stack(parts: list[Solution]) -> Solution:
    return Solution(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("theta", "value", "iterations",
                                                                                "converged")))


def multistart(problem: Problem, starts: np.ndarray, weights: Optional[np.ndarray] = None,
               workers: int = 2, **options) -> Solution:
    """Run ``newton`` from every start; the batch is split across ``workers`` threads (numpy releases the GIL in
    its array loops, so two chunks run on two cores). ``weights``: [n] shared or [B, n] per start."""
    w = np.ones(len(problem.y)) if weights is None else np.asarray(weights, float)
    bounds = np.linspace(0, len(starts), max(1, min(workers, len(starts))) + 1).astype(int)
    pieces = [(starts[a:b], w[a:b] if w.ndim == 2 else w) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    if len(pieces) == 1:
        return newton(problem, *pieces[0], **options)
    with ThreadPoolExecutor(len(pieces)) as pool:
        return _stack(list(pool.map(lambda piece: newton(problem, *piece, **options), pieces)))
