"""What approach 3 minimises: an objective on residuals, and a data set under one law with its exact derivatives.

Everything works on batches of parameter rows (every start of a multi-start fit, every bootstrap resample), in chunks
of about ``CHUNK_ELEMENTS`` (rows x points) so that each elementwise pass runs on arrays that stay in the core's cache.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Optional

import numpy as np

from harness.fit.laws import Law
from harness.fit.lse import LseKernel

OBJECTIVES = ("huber", "mse", "lad")
LAD_DELTA = 1e-6   # least absolute deviation is a Huber loss with this tiny delta, divided by delta
CHUNK_ELEMENTS = 30_000   # rows x points per elementwise pass (240 KB arrays): measured best on the 2-core EPYC


@dataclass(frozen=True)
class Objective:
    """What is minimised: ``kind`` (huber, mse, lad) of residuals in ``space`` (log: log L - log L̂; linear: L - L̂),
    ``reduction`` sum (default, as in Epoch's replication) or mean (Hoffmann's, which stops L-BFGS early)."""

    kind: str = "huber"
    delta: float = 1e-3
    space: str = "log"
    reduction: str = "sum"

    def _delta_scale(self) -> tuple[float, float]:
        return (LAD_DELTA, 1.0 / LAD_DELTA) if self.kind == "lad" else (self.delta, 1.0)

    def loss(self, r: np.ndarray) -> np.ndarray:
        """rho of the residuals. Huber as psi (r - psi/2) with psi = clip(r, ±delta): r²/2 inside, delta (|r| - delta/2)
        outside."""
        if self.kind == "mse":
            return r * r
        delta, scale = self._delta_scale()
        psi = np.clip(r, -delta, delta)
        out = r - 0.5 * psi
        out *= psi
        return out * scale if scale != 1.0 else out

    def rho(self, r: np.ndarray, value: bool = True) -> tuple:
        """(rho or None without ``value``, rho', rho'', rho'/r) of the residuals; the last is the IRLS weight of the
        quadratic majorant. (Huber: rho' = clip(r, ±delta), rho'/r = delta / max(|r|, delta), which is exactly 1
        inside, so rho'' = floor(rho'/r).)"""
        if self.kind == "mse":
            two = np.full_like(r, 2.0)
            return (r * r if value else None), 2.0 * r, two, two
        delta, scale = self._delta_scale()
        val = self.loss(r) if value else None
        psi = np.clip(r, -delta, delta)
        irls = np.abs(r)
        np.clip(irls, delta, None, out=irls)
        np.divide(delta, irls, out=irls)
        inside = np.floor(irls)
        if scale != 1.0:
            psi, irls, inside = psi * scale, irls * scale, inside * scale
        return val, psi, inside, irls


def _gram(jac: np.ndarray, c: np.ndarray) -> np.ndarray:
    """sum_i c_i J_i J_i^T per batch row; ``jac`` is [B, q, n]."""
    return np.einsum("bin,bjn->bij", jac * c[:, None, :], jac)


def _rows(w: np.ndarray, a: int, b: int) -> np.ndarray:
    """Weights for batch rows a:b: a shared [n] vector as is, per-row weights (and shifts) sliced."""
    return w if w.ndim == 1 else w[a:b]


def split_rows(w: np.ndarray) -> tuple[np.ndarray, object]:
    """(weights, target shifts or 0.0) of a weights argument: [n] or [B, n] are weights alone; [B, 2, n] carries per
    row its weights ([:, 0]) and a shift added to that row's target ([:, 1], the residual bootstrap's resampled
    residuals)."""
    return (w[:, 0], w[:, 1]) if w.ndim == 3 else (w, 0.0)


class Problem:
    """One data set (x, y) under one law and objective; theta has ``fixed`` entries (NaN where free).

    Weights passed to the methods are [n] (shared by every row), [B, n] (one row per batch row) or [B, 2, n] (per
    row: weights and a shift of the target, see ``split_rows``)."""

    def __init__(self, law: Law, x: dict, y: np.ndarray, objective: Objective, fixed: Optional[np.ndarray] = None):
        self.law, self.x, self.y, self.objective = law, x, np.asarray(y, float), objective
        p = len(law.theta_names)
        self.fixed = np.full(p, np.nan) if fixed is None else np.asarray(fixed, float)
        self.free = np.isnan(self.fixed)
        self.lower = np.array([b[0] for b in law.bounds])[self.free]
        self.upper = np.array([b[1] for b in law.bounds])[self.free]
        self.target = np.log(self.y) if objective.space == "log" else self.y
        self.kernel = None
        if law.design is not None:
            m = law.design(x).transpose(1, 0, 2)                      # [K, n, p]
            self.m_free = m[:, :, self.free]                           # [K, n, q]
            self.offset = m[:, :, ~self.free] @ self.fixed[~self.free]  # [K, n]
            self.kernel = LseKernel(self.m_free, self.offset, self.lower, self.upper)

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
        with np.errstate(all="ignore"):
            if self.kernel is not None:
                return self.kernel.forward(theta)
            return self.law.log_predict(self.full_theta(theta), self.x)

    def _residual(self, f: np.ndarray, shift=0.0) -> np.ndarray:
        """Prediction minus target (plus ``shift``; every objective is symmetric; this sign makes rho' the gradient's
        weight)."""
        return (f if self.objective.space == "log" else np.exp(f)) - (self.target + shift)

    def _reduce(self, per_point: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Weighted sum (or mean) over points, per row."""
        total = per_point @ w if w.ndim == 1 else np.einsum("bn,bn->b", per_point, w)
        return total / w.sum(-1) if self.objective.reduction == "mean" else total

    def _total(self, per_point: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Objective per row, inf where not finite."""
        value = self._reduce(per_point, w)
        return np.where(np.isfinite(value), value, np.inf)

    def _divisor(self, w: np.ndarray, rows: int) -> np.ndarray:
        """What the summed derivatives are divided by, per row: the weight total under mean reduction, else 1."""
        return np.broadcast_to(w.sum(-1) if self.objective.reduction == "mean" else 1.0, (rows,))

    def _by_chunks(self, method, theta: np.ndarray, w: np.ndarray):
        """``method(theta_rows, weight_rows)`` over row chunks, results concatenated."""
        w = np.asarray(w, float)
        rows = max(8, CHUNK_ELEMENTS // len(self.y))
        if len(theta) <= rows:
            return method(theta, w)
        parts = [method(theta[a:a + rows], _rows(w, a, a + rows)) for a in range(0, len(theta), rows)]
        if isinstance(parts[0], tuple):
            return tuple(None if column[0] is None else np.concatenate(column) for column in zip(*parts))
        return np.concatenate(parts)

    def value(self, theta: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Objective per batch row (inf where the prediction is not finite)."""
        return self._by_chunks(self._value, theta, w)

    def _value(self, theta: np.ndarray, w: np.ndarray) -> np.ndarray:
        w, shift = split_rows(w)
        with np.errstate(all="ignore"):
            return self._total(self.objective.loss(self._residual(self.log_pred(theta), shift)), w)

    def value_and_grad(self, theta: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(objective, gradient [B, q]) per batch row, without second derivatives (for quasi-Newton runs)."""
        return self._by_chunks(self._value_and_grad, theta, w)

    def _value_and_grad(self, theta: np.ndarray, w: np.ndarray) -> tuple:
        with np.errstate(all="ignore"):
            if self.kernel is not None:
                f, s = self.kernel.forward(theta, softmax=True)
                val, grad_w, _, _ = self._point_weights(f, w)
                grad = self.kernel.gradient(s, grad_w)
            else:
                f, jac, _ = self._jacobian_and_prediction(theta)
                val, grad_w, _, _ = self._point_weights(f, w)
                grad = np.einsum("bn,bqn->bq", grad_w, jac)
            value = self._total(val, w)
        return value, grad / self._divisor(w, len(theta))[:, None]

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        """d log L̂ / d theta for a batch of free thetas, [B, q, n] (the law's closed form, else central
        differences)."""
        with np.errstate(all="ignore"):
            return self._jacobian_and_prediction(theta)[1]

    def _jacobian_and_prediction(self, theta: np.ndarray) -> tuple:
        """(log L̂ [B, n], its Jacobian [B, q, n], curvature terms) of a law without a design matrix: the law's closed
        form (``Law.derivatives``), else central differences (terms None)."""
        if self.law.derivatives is not None:
            f, jac, terms = self.law.derivatives(self.full_theta(theta), self.x)
            return f, jac[:, self.free], terms
        return self.log_pred(theta), self._fd_jacobian(theta), None

    def _curvature(self, theta: np.ndarray, c: np.ndarray, terms: Optional[list]) -> np.ndarray:
        """sum_i c_i · Hessian_theta(log L̂_i), [B, q, q]: from the law's curvature terms, else central differences."""
        if terms is None:
            return self._fd_curvature(theta, c)
        return sum(_gram(vector[:, self.free], c * weight) for weight, vector in terms)

    def point_scores(self, theta: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Each point's term of the gradient at one free ``theta`` [q], [n, q] (their sum over points is the
        gradient; under mean reduction each is divided by the weight total), in O(n q) memory."""
        w = np.asarray(w, float)
        with np.errstate(all="ignore"):
            f, jac, _ = self._jacobian_and_prediction(theta[None, :])
            _, grad_w, _, _ = self._point_weights(f, w[None, :])
            jac = jac[0]                                                   # [q, n]
        return (grad_w[0] * jac).T / self._divisor(w, 1)[0]

    def derivatives(self, theta: np.ndarray, w: np.ndarray, value: bool = True) -> tuple:
        """(objective, gradient [B, q], Hessian [B, q, q], Gauss–Newton/IRLS majorant [B, q, q]) per batch row; the
        objective is None without ``value`` (an optimiser that valued the step already)."""
        return self._by_chunks(partial(self._derivatives, value=value), theta, w)

    def _point_weights(self, f: np.ndarray, w: np.ndarray, value: bool = True, shift=0.0) -> tuple:
        """Per point: rho (None without ``value``), and the weights of J (gradient), J Jᵀ (Hessian) and J Jᵀ
        (majorant); the Hessian's weight of d²log L̂ equals the gradient's. Unit weights are not multiplied in."""
        val, psi, dpsi, irls = self.objective.rho(self._residual(f, shift), value)
        if self.objective.space == "linear":
            pred = np.exp(f)
            psi, dpsi, irls = psi * pred, (dpsi * pred + psi) * pred, irls * pred * pred
        if w.ndim == 1 and not np.any(w != 1.0):
            return val, psi, dpsi, irls
        return val, w * psi, w * dpsi, w * irls

    def _derivatives(self, theta: np.ndarray, w: np.ndarray, value: bool = True) -> tuple:
        w, shift = split_rows(w)
        with np.errstate(all="ignore"):
            if self.kernel is not None:
                f, s = self.kernel.forward(theta, softmax=True)
            else:
                f, jac, terms = self._jacobian_and_prediction(theta)
            val, grad_w, hess_w, major_w = self._point_weights(f, w, value, shift)
            if self.kernel is not None:
                grad, hess, major = self.kernel.contract(s, grad_w, hess_w, major_w)
            else:
                grad = np.einsum("bn,bqn->bq", grad_w, jac)
                hess = _gram(jac, hess_w) + self._curvature(theta, grad_w, terms)
                major = _gram(jac, major_w)
            total = self._total(val, w) if value else None
        norm = self._divisor(w, len(theta))
        nn = norm[:, None, None]
        return total, grad / norm[:, None], hess / nn, major / nn

    def _fd_jacobian(self, theta: np.ndarray) -> np.ndarray:
        """d log L̂ / d theta by central differences, [B, q, n]."""
        h = 1e-6 * np.maximum(1.0, np.abs(theta))
        cols = []
        for k in range(theta.shape[1]):
            step = np.zeros_like(theta)
            step[:, k] = h[:, k]
            cols.append((self.log_pred(theta + step) - self.log_pred(theta - step)) / (2 * h[:, k:k + 1]))
        return np.stack(cols, axis=1)

    def _fd_curvature(self, theta: np.ndarray, c: np.ndarray) -> np.ndarray:
        """sum_i c_i · Hessian_theta(log L̂_i) by central differences of the Jacobian, [B, q, q]."""
        h = 1e-4 * np.maximum(1.0, np.abs(theta))
        cols = []
        for k in range(theta.shape[1]):
            step = np.zeros_like(theta)
            step[:, k] = h[:, k]
            diff = self._fd_jacobian(theta + step) - self._fd_jacobian(theta - step)
            cols.append(np.einsum("bn,bpn->bp", c, diff) / (2 * h[:, k:k + 1]))
        hess = np.stack(cols, axis=-1)
        return 0.5 * (hess + hess.transpose(0, 2, 1))
