"""Exact, fast derivatives for laws whose log-prediction is a log-sum-exp of terms linear in theta.

For such a law log L̂ = log Σ_k exp(u_k) with u_k = M_k θ + o_k (Chinchilla: u = a − α log N, b − β log D, e), the
softmax weights s_k = exp(u_k) / L̂ give every derivative in closed form:

    d log L̂ / dθ = J = Σ_k s_k M_k,        d² log L̂ / dθ² = Σ_k s_k M_k M_kᵀ − J Jᵀ.

A weighted sum over points of J_i J_j then splits into one sum per pair of terms (k, l) of a per-point weight times
the fixed vector M_ki M_lj, so gradient, Hessian and majorant of the whole objective are a handful of elementwise
products followed by matrix-vector products with a few fixed vectors, instead of one reduction per Hessian entry.
Arrays are reused per thread and each pair's products are summed while still in cache: on the 2-core machines this
runs on, memory traffic, not arithmetic, is what costs. With one term the same at every point (a floor E, term c),
s_c = 1 − Σ_k≠c s_k turns J into M_c + Σ_k≠c s_k (M_k − M_c): a unit term (s ≡ 1) takes c's place in the pairs and
its products with the weights need no multiplication, which saves a third of the elementwise passes for Chinchilla.
"""
from __future__ import annotations

import math
import threading

import numpy as np

EXP_SAFE = 700.0   # |u| below this over the whole parameter box: exp(u) neither overflows nor underflows to 0
UNIT = -1          # the contraction's stand-in for a constant term: s ≡ 1


class LseKernel:
    """The fixed tables of one data set under one log-sum-exp-linear law, for the free theta entries.

    ``m_free`` [K, n, q] (term, point, free entry), ``offset`` [K, n] (fixed entries' contribution), ``lower`` /
    ``upper`` the box of the free entries (used to decide whether exponentials can skip the max-shift).

    The per-point products M_ki M_lj of all pairs reduce to a few distinct vectors (for Chinchilla 1, log N, log D
    and their squares and cross product): ``basis_rows`` [nb, n]. Every weighted sum is a product of a per-point
    weight array with some of them, and ``assemble`` [products, outputs] adds the results into the Hessian,
    majorant and gradient entries."""

    def __init__(self, m_free: np.ndarray, offset: np.ndarray, lower: np.ndarray, upper: np.ndarray):
        self.k, self.n, self.q = m_free.shape
        self.m_aug = np.concatenate([m_free.transpose(0, 2, 1), offset[:, None, :]], axis=1)   # [K, q+1, n]
        entries = [np.flatnonzero(np.abs(m_free[k]).max(axis=0) > 0) for k in range(self.k)]
        reach = np.abs(m_free) * np.maximum(np.abs(lower), np.abs(upper))[None, None, :]
        self.shift_free = bool(np.all(reach.sum(-1) + np.abs(offset) < EXP_SAFE))
        flat = np.all(self.m_aug == self.m_aug[:, :, :1], axis=(1, 2))          # the same at every point (E)
        self.constant = [k for k in range(self.k) if flat[k] and self.shift_free and not flat.all()]
        self.varying = [k for k in range(self.k) if k not in self.constant]
        # rows of m_aug a term needs: its free entries, and the offset row only where fixed entries add one (a row of
        # zeros would add a third of the matmul's work for nothing: x + 1 * 0 is x)
        self.uses = [list(entries[k]) + ([self.q] if np.any(offset[k]) else []) for k in range(self.k)]
        self.used_rows = [np.ascontiguousarray(self.m_aug[k][self.uses[k]]) for k in range(self.k)]   # (once)
        designs, moments = self._contraction_terms(m_free)
        self.moving = [t for t in designs if np.any(designs[t])]                 # terms of the pairs (UNIT first)
        self.pairs = [(k, l) for i, k in enumerate(self.moving) for l in self.moving[i:]]
        self.grad_terms = [t for t in designs if np.any(designs[t]) or np.any(moments[t])]
        self.basis_rows, self.groups, self.assemble = self._tables(designs, moments)
        self._scratch = threading.local()

    def _buffer(self, name: str, shape: tuple) -> np.ndarray:
        """A scratch array reused across calls of this thread (fresh large arrays cost a page fault per 4 KB)."""
        size = math.prod(shape)                            # (np.prod of a tuple costs microseconds)
        buf = getattr(self._scratch, name, None)
        if buf is None or buf.size < size:
            buf = np.empty(size)
            setattr(self._scratch, name, buf)
        return buf[:size].reshape(shape)

    def _contraction_terms(self, m_free: np.ndarray) -> tuple[dict, dict]:
        """Per term of the contraction: its design rows [n, q] (J = Σ s_t design_t) and second moments [n, q, q]
        (d²log L̂ = Σ s_t moment_t − J Jᵀ). With one constant term c, c becomes UNIT (s ≡ 1, design M_c, moment
        M_c M_cᵀ) and every other term k gets M_k − M_c and M_k M_kᵀ − M_c M_cᵀ."""
        outer = {k: np.einsum("ni,nj->nij", m_free[k], m_free[k]) for k in range(self.k)}
        if len(self.constant) != 1:
            return {k: m_free[k] for k in range(self.k)}, outer
        c = self.constant[0]
        designs, moments = {UNIT: m_free[c]}, {UNIT: outer[c]}
        for k in self.varying:
            designs[k], moments[k] = m_free[k] - m_free[c], outer[k] - outer[c]
        return designs, moments

    def _contributions(self, designs: dict, moments: dict) -> list:
        """(weight array, vector, output slot) triples: weight arrays are Hessian and majorant of each pair of terms
        (2p, 2p + 1), then the gradient weight times each term's s (which also carries the Hessian's curvature part);
        outputs are Hessian (q*q), majorant (q*q), gradient (q)."""
        q, n_pairs, out = self.q, len(self.pairs), []
        used = {t: np.flatnonzero(np.abs(m).max(axis=0) > 0) for t, m in designs.items()}
        for p, (k, l) in enumerate(self.pairs):
            for i in used[k]:
                for j in used[l]:
                    if k == l and j < i:
                        continue
                    vec = designs[k][:, i] * designs[l][:, j]
                    slots = [i * q + j] + ([j * q + i] if k != l or i != j else [])   # (k, l) stands for (l, k)
                    out += [(2 * p, vec, slot) for slot in slots] + [(2 * p + 1, vec, q * q + slot) for slot in slots]
        for g, t in enumerate(self.grad_terms):
            out += [(2 * n_pairs + g, designs[t][:, j], 2 * q * q + j) for j in used[t]]
            for i, j in zip(*np.triu_indices(q)):   # the Hessian's Σ (grad weight · s_t) moment_t uses the same array
                if np.any(moments[t][:, i, j]):
                    out += [(2 * n_pairs + g, moments[t][:, i, j], slot) for slot in {i * q + j, j * q + i}]
        return out

    def _tables(self, designs: dict, moments: dict) -> tuple[np.ndarray, list, np.ndarray]:
        """``basis_rows``: the distinct vectors up to sign; ``groups``: (first, last + 1, basis columns) of the weight
        arrays summed together (each pair of terms, then each gradient term), only the columns they use;
        ``assemble``: ±1 from each (weight array, column) of those products to an output slot."""
        contributions = self._contributions(designs, moments)
        vectors = np.stack([vec for _, vec, _ in contributions])
        lead = vectors[np.arange(len(vectors)), np.argmax(vectors != 0, axis=1)]
        signs = np.where(lead < 0, -1.0, 1.0)
        basis, which = _distinct_rows(vectors * signs[:, None] + 0.0)     # + 0.0: -0.0 and 0.0 alike
        n_pairs = len(self.pairs)
        bounds = [(2 * p, 2 * p + 2) for p in range(n_pairs)] + [(2 * n_pairs + g, 2 * n_pairs + g + 1)
                                                                 for g in range(len(self.grad_terms))]
        groups, row_of, rows = [], {}, 0
        for first, last in bounds:
            cols = sorted({int(v) for (p, _, _), v in zip(contributions, which.ravel()) if first <= p < last})
            for p in range(first, last):
                row_of.update({(p, v): rows + (p - first) * len(cols) + c for c, v in enumerate(cols)})
            groups.append((first, last, cols))
            rows += (last - first) * len(cols)
        assemble = np.zeros((rows, 2 * self.q * self.q + self.q))
        for (p, _, slot), v, sign in zip(contributions, which.ravel(), signs):
            assemble[row_of[(p, int(v))], slot] += sign
        return np.ascontiguousarray(basis), groups, assemble

    def forward(self, theta: np.ndarray, softmax: bool = False):
        """log L̂ [b, n] for a batch of free thetas, and with ``softmax`` also the term weights s [K, b, n] (a scratch
        array of this thread, valid until its next ``forward``). Terms that are the same at every point (a floor
        E) are exponentiated once per row."""
        b = len(theta)
        aug = np.empty((b, self.q + 1))
        aug[:, :-1], aug[:, -1] = theta, 1.0
        u = self._buffer("terms", (self.k, b, self.n))
        for k in self.varying:
            np.matmul(aug[:, self.uses[k]], self.used_rows[k], out=u[k])
        top = None
        if not self.shift_free:
            top = u.max(axis=0)
            u -= top
        for k in self.varying:
            np.exp(u[k], out=u[k])
        total = u[self.varying[0]] + u[self.varying[1]] if len(self.varying) > 1 else u[self.varying[0]].copy()
        for k in self.varying[2:]:
            total += u[k]
        flat = {k: np.exp(aug @ self.m_aug[k][:, 0]) for k in self.constant}
        if flat:
            total += sum(flat.values())[:, None]
        f = np.log(total)
        if top is not None:
            f += top
        if not softmax:
            return f
        inverse = np.divide(1.0, total, out=total)         # faster than np.reciprocal
        for k in self.varying:
            u[k] *= inverse
        for k, scale in flat.items():
            np.multiply(inverse, scale[:, None], out=u[k])
        return f, u

    def contract(self, s: np.ndarray, grad_weight: np.ndarray, jj_weight: np.ndarray,
                 major_weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Weighted sums over points, per batch row, with weights [b, n]:

        gradient  Σ grad_weight · J,
        Hessian   Σ jj_weight · J Jᵀ + Σ grad_weight · d²log L̂   (true of any objective that is a function of L̂),
        majorant  Σ major_weight · J Jᵀ.
        Returns ([b, q], [b, q, q], [b, q, q])."""
        b, n = s.shape[1], self.n
        pair = self._buffer("pair", (2, b, n))
        # the weights of J Jᵀ for the unit term: Hessian (d²log L̂'s −J Jᵀ part joins it) and majorant
        unit = self._buffer("unit", (2, b, n))
        np.subtract(jj_weight, grad_weight, out=unit[0])
        unit[1] = major_weight
        scaled = self._buffer("scaled", (len(self.moving), 2, b, n))
        sums = self._buffer("sums", (self.assemble.shape[0], b))
        ready, row = {UNIT: unit}, 0

        def weights_times_s(k: int) -> np.ndarray:
            if k not in ready:
                ready[k] = np.multiply(unit, s[k], out=scaled[self.moving.index(k)])
            return ready[k]

        for (k, l), (_, _, cols) in zip(self.pairs, self.groups):   # each pair's two arrays summed while in cache
            arrays = weights_times_s(l) if k == UNIT else np.multiply(weights_times_s(k), s[l], out=pair)
            row = self._sums(arrays, cols, sums, row)
        for t, (_, _, cols) in zip(self.grad_terms, self.groups[len(self.pairs):]):
            row = self._sums(grad_weight[None] if t == UNIT else np.multiply(grad_weight, s[t], out=pair[:1]),
                             cols, sums, row)
        out = sums.T @ self.assemble
        q2 = self.q * self.q
        return (out[:, 2 * q2:], out[:, :q2].reshape(b, self.q, self.q),
                out[:, q2:2 * q2].reshape(b, self.q, self.q))

    def gradient(self, s: np.ndarray, grad_weight: np.ndarray) -> np.ndarray:
        """Σ over points of grad_weight · J, [b, q]."""
        groups = self.groups[len(self.pairs):]
        first = self.assemble.shape[0] - sum(len(cols) for _, _, cols in groups)
        sums, row = self._buffer("sums", (self.assemble.shape[0] - first, s.shape[1])), 0
        for t, (_, _, cols) in zip(self.grad_terms, groups):
            row = self._sums((grad_weight if t == UNIT else grad_weight * s[t])[None], cols, sums, row)
        return sums.T @ self.assemble[first:, 2 * self.q * self.q:]

    def _sums(self, arrays: np.ndarray, cols: list, sums: np.ndarray, row: int) -> int:
        """Weight arrays [a, b, n] times the basis vectors ``cols``, written to ``sums[row:]`` (one row per array and
        vector, in ``assemble``'s order) by matrix-vector products, each straight into its row (faster here than a
        GEMM with a few columns, or than stacking the products); returns the next free row."""
        for array in arrays:
            for c in cols:
                np.matmul(array, self.basis_rows[c], out=sums[row])
                row += 1
        return row


def _distinct_rows(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct rows in first-seen order, index of each row's distinct row): ``np.unique(axis=0)`` without sorting
    rows as long as the data (hashing bytes is O(n) a row; the sort cost seconds per problem at 1e4 points)."""
    seen: dict = {}
    which = np.array([seen.setdefault(row.tobytes(), len(seen)) for row in vectors])
    first = np.zeros(len(seen), int)
    first[which[::-1]] = np.arange(len(vectors))[::-1]
    return vectors[first], which
