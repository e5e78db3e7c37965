"""Scaling-law forms. Each law is a pure prediction function over named variables with named parameters.

Internally every law is fitted in an unconstrained-ish *theta* space (mostly logs of the scale constants) and predicts
``log L``; ``Law.predict`` takes the natural parameters (E, A, B, alpha, beta, ...). Laws whose log-prediction is a
log-sum-exp of terms linear in theta (Chinchilla, power with floor, pure power) carry a ``design`` matrix, which gives
exact derivatives cheaply; a law may instead carry closed-form ``derivatives`` (the coupled law); the others are
differentiated numerically by the estimator.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

INF = np.inf


@dataclass(frozen=True)
class Law:
    """A scaling-law form: ``predict(params, **vars)`` returns the loss; ``log_predict`` works on theta batches.

    ``derivatives(theta [B, p], x)``, when set, returns (log L̂ [B, n], its Jacobian [B, p, n], curvature terms): a
    list of (weight [B, n], vector [B, p, n]) pairs with d²log L̂_i = Σ_t weight_ti vector_ti vector_tiᵀ."""

    name: str
    variables: tuple[str, ...]
    param_names: tuple[str, ...]
    theta_names: tuple[str, ...]
    bounds: tuple[tuple[float, float], ...]
    to_natural: Callable[[np.ndarray], dict] = field(repr=False)
    from_natural: Callable[[dict], np.ndarray] = field(repr=False)
    log_predict: Callable[[np.ndarray, dict], np.ndarray] = field(repr=False)
    grid: Callable[[dict, np.ndarray], np.ndarray] = field(repr=False)
    design: Optional[Callable[[dict], np.ndarray]] = field(default=None, repr=False)
    doc: str = ""
    derivatives: Optional[Callable[[np.ndarray, dict], tuple]] = field(default=None, repr=False)

    def predict(self, params: dict, **variables) -> np.ndarray:
        """Loss predicted at ``variables`` (arrays, broadcast) from natural ``params`` (a dict by name)."""
        missing = [v for v in self.variables if v not in variables]
        if missing:
            raise ValueError(f"law {self.name}: missing variable(s) {', '.join(missing)}")
        arrays = {k: np.asarray(variables[k], dtype=float) for k in self.variables}
        shape = np.broadcast_shapes(*(a.shape for a in arrays.values()))
        flat = {k: np.broadcast_to(a, shape).ravel() for k, a in arrays.items()}
        theta = self.from_natural({k: float(params[k]) for k in self.param_names})[None, :]
        return np.exp(self.log_predict(theta, flat)[0]).reshape(shape)


def _lse(u: np.ndarray) -> np.ndarray:
    """log-sum-exp over the last axis."""
    top = u.max(axis=-1, keepdims=True)
    return (top + np.log(np.exp(u - top).sum(axis=-1, keepdims=True)))[..., 0]


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow (scipy's expit, whose import costs every ``harness fit`` ~0.1 s)."""
    return np.exp(-np.logaddexp(0.0, -x))


def _linear_lse(design: Callable[[dict], np.ndarray]) -> Callable[[np.ndarray, dict], np.ndarray]:
    """log_predict for a law whose log L = LSE_k(M_k(x) · theta)."""
    def log_predict(theta: np.ndarray, x: dict) -> np.ndarray:
        return _lse(np.einsum("nkp,bp->bnk", design(x), theta))
    return log_predict


def _product_grid(*axes) -> np.ndarray:
    return np.array(list(itertools.product(*axes)), dtype=float)


# --- Chinchilla --------------------------------------------------------------------------------------------------

def _chinchilla_design(x: dict) -> np.ndarray:
    ln_n, ln_d = np.log(x["N"]), np.log(x["D"])
    m = np.zeros((len(ln_n), 3, 5))
    m[:, 0, 0], m[:, 0, 3] = 1.0, -ln_n   # a - alpha log N
    m[:, 1, 1], m[:, 1, 4] = 1.0, -ln_d   # b - beta log D
    m[:, 2, 2] = 1.0                      # e
    return m


def chinchilla_law() -> Law:
    """Hoffmann et al. 2022 (arXiv 2203.15556) Approach 3: L = E + A/N^alpha + B/D^beta.

    theta = (a, b, e, alpha, beta) with A = e^a, B = e^b, E = e^e, as in Epoch's replication (Besiroglu et al. 2024,
    arXiv 2404.10102); the default grid is their 4500 points: alpha, beta in {0,.5,..,2}, e in {-1,-.5,..,1},
    a, b in {0,5,..,25}."""
    def natural(t):
        return {"E": np.exp(t[..., 2]), "A": np.exp(t[..., 0]), "B": np.exp(t[..., 1]),
                "alpha": t[..., 3], "beta": t[..., 4]}

    def theta(p):
        return np.array([np.log(p["A"]), np.log(p["B"]), np.log(p["E"]), p["alpha"], p["beta"]])

    def grid(x, y):
        ab = np.arange(0, 30, 5.0)
        g = _product_grid(np.linspace(0, 2, 5), np.linspace(0, 2, 5), np.linspace(-1, 1, 5), ab, ab)
        return g[:, [3, 4, 2, 0, 1]]   # to (a, b, e, alpha, beta)

    return Law("chinchilla", ("N", "D"), ("E", "A", "B", "alpha", "beta"), ("a", "b", "e", "alpha", "beta"),
               ((-20, 80), (-20, 80), (-20, 10), (0, 10), (0, 10)), natural, theta,
               _linear_lse(_chinchilla_design), grid, _chinchilla_design, chinchilla_law.__doc__)


def _tied_design(x: dict) -> np.ndarray:
    """Chinchilla's design with its beta column folded into alpha's: a - alpha log N, b - alpha log D, e."""
    m = _chinchilla_design(x)
    m[..., 3] += m[..., 4]
    return m[..., :4]


def chinchilla_tied_law() -> Law:
    """Chinchilla with one exponent for both terms, L = E + A/N^alpha + B/D^alpha: the base law of Muennighoff et al.
    2023 (their C4 fit ties alpha = beta = 0.3526596). theta = (a, b, e, alpha); the grid is Chinchilla's without beta."""
    def grid(x, y):
        ab = np.arange(0, 30, 5.0)
        return _product_grid(ab, ab, np.linspace(-1, 1, 5), np.linspace(0, 2, 5))

    return Law("chinchilla_tied", ("N", "D"), ("E", "A", "B", "alpha"), ("a", "b", "e", "alpha"),
               ((-20, 80), (-20, 80), (-20, 10), (0, 10)),
               lambda t: {"E": np.exp(t[..., 2]), "A": np.exp(t[..., 0]), "B": np.exp(t[..., 1]), "alpha": t[..., 3]},
               lambda p: np.array([np.log(p["A"]), np.log(p["B"]), np.log(p["E"]), p["alpha"]]),
               _linear_lse(_tied_design), grid, _tied_design, chinchilla_tied_law.__doc__)


# --- one-variable forms -------------------------------------------------------------------------------------------

def _span(x: dict, var: str) -> tuple[float, float]:
    lx = np.log(x[var])
    return float(lx.min()), float(lx.max())


def power_law(var: str = "N") -> Law:
    """Power law with a floor, L(x) = E + A·x^-alpha for x in {N, D, C} (Kaplan et al. 2020 with an offset, as in
    Henighan et al. 2020, arXiv 2010.14701). theta = (a, e, alpha)."""
    def design(x):
        lx = np.log(x[var])
        m = np.zeros((len(lx), 2, 3))
        m[:, 0, 0], m[:, 0, 2], m[:, 1, 1] = 1.0, -lx, 1.0
        return m

    def grid(x, y):
        lo, hi = _span(x, var)
        alphas = np.array([0.05, 0.1, 0.2, 0.35, 0.5, 0.8])
        floors = np.log(np.min(y)) + np.log([0.2, 0.5, 0.8, 0.95])
        rows = [(np.log(max(np.max(y) - np.exp(e), 1e-3)) + al * lo, e, al) for al in alphas for e in floors]
        return np.array(rows)

    return Law(f"power_{var}", (var,), ("E", "A", "alpha"), ("a", "e", "alpha"),
               ((-50, 200), (-20, 10), (0, 10)),
               lambda t: {"E": np.exp(t[..., 1]), "A": np.exp(t[..., 0]), "alpha": t[..., 2]},
               lambda p: np.array([np.log(p["A"]), np.log(p["E"]), p["alpha"]]),
               _linear_lse(design), grid, design, power_law.__doc__)


def pure_power_law(var: str = "N") -> Law:
    """Pure power law without a floor, L(x) = A·x^-alpha (Kaplan et al. 2020, arXiv 2001.08361, Eq. 1.1–1.3)."""
    def design(x):
        lx = np.log(x[var])
        m = np.zeros((len(lx), 1, 2))
        m[:, 0, 0], m[:, 0, 1] = 1.0, -lx
        return m

    def grid(x, y):
        lo, _ = _span(x, var)
        return np.array([(np.log(np.max(y)) + al * lo, al) for al in (0.01, 0.05, 0.1, 0.3, 1.0)])

    return Law(f"pure_power_{var}", (var,), ("A", "alpha"), ("a", "alpha"), ((-50, 200), (-1, 10)),
               lambda t: {"A": np.exp(t[..., 0]), "alpha": t[..., 1]},
               lambda p: np.array([np.log(p["A"]), p["alpha"]]),
               _linear_lse(design), grid, design, pure_power_law.__doc__)


def exp_saturation_law(var: str = "N") -> Law:
    """Exponential saturation, L(x) = E + A·exp(-x/tau) (a common non-power-law alternative; see Caballero et al.
    2022, arXiv 2210.14891, for the comparison of forms). theta = (a, e, log tau)."""
    def log_predict(t, x):
        return np.logaddexp(t[:, 0:1] - x[var][None, :] * np.exp(-t[:, 2:3]), t[:, 1:2])

    def grid(x, y):
        lo, hi = _span(x, var)
        taus = np.linspace(lo - 1, hi, 6)
        floors = np.log(np.min(y)) + np.log([0.5, 0.8, 0.95])
        return _product_grid([np.log(np.max(y))], floors, taus)

    return Law(f"exp_saturation_{var}", (var,), ("E", "A", "tau"), ("a", "e", "log_tau"),
               ((-20, 20), (-20, 10), (-50, 100)),
               lambda t: {"E": np.exp(t[..., 1]), "A": np.exp(t[..., 0]), "tau": np.exp(t[..., 2])},
               lambda p: np.array([np.log(p["A"]), np.log(p["E"]), np.log(p["tau"])]),
               log_predict, grid, None, exp_saturation_law.__doc__)


def logistic_law(var: str = "N") -> Law:
    """Logistic in log x, L(x) = E + A / (1 + exp(k·(log x - x0))): an early sigmoid that saturates at E.
    theta = (a, e, k, x0)."""
    def log_predict(t, x):
        lx = np.log(x[var])[None, :]
        first = t[:, 0:1] - _softplus(t[:, 2:3] * (lx - t[:, 3:4]))
        return np.logaddexp(first, t[:, 1:2])

    def grid(x, y):
        lo, hi = _span(x, var)
        floors = np.log(np.min(y)) + np.log([0.5, 0.8, 0.95])
        return _product_grid(np.log(np.max(y)) + np.array([-1.0, 0.0, 1.0]), floors, [0.3, 1.0, 3.0],
                             np.linspace(lo, hi, 5))

    return Law(f"logistic_{var}", (var,), ("E", "A", "k", "x0"), ("a", "e", "k", "x0"),
               ((-20, 20), (-20, 10), (0, 100), (-100, 200)),
               lambda t: {"E": np.exp(t[..., 1]), "A": np.exp(t[..., 0]), "k": t[..., 2], "x0": t[..., 3]},
               lambda p: np.array([np.log(p["A"]), np.log(p["E"]), p["k"], p["x0"]]),
               log_predict, grid, None, logistic_law.__doc__)


def broken_power_law(var: str = "N") -> Law:
    """Broken power law with one break (Caballero et al. 2022, arXiv 2210.14891, BNSL with n = 1):
    L(x) = E + A·x^-c0 · (1 + (x/d)^(1/f))^(-c1·f). theta = (a, e, c0, c1, log d, log f)."""
    def log_predict(t, x):
        lx = np.log(x[var])[None, :]
        f = np.exp(t[:, 5:6])
        first = t[:, 0:1] - t[:, 2:3] * lx - t[:, 3:4] * f * _softplus((lx - t[:, 4:5]) / f)
        return np.logaddexp(first, t[:, 1:2])

    def grid(x, y):
        lo, hi = _span(x, var)
        top = np.log(np.max(y))
        floors = np.log(np.min(y)) + np.log([0.5, 0.9])
        rows = [(top + c0 * lo, e, c0, c1, d, lf) for e in floors for c0 in (0.05, 0.3) for c1 in (-0.2, 0.1, 0.5)
                for d in np.linspace(lo, hi, 4)[1:3] for lf in (-1.0, 0.5)]
        return np.array(rows)

    return Law(f"broken_power_{var}", (var,), ("E", "A", "c0", "c1", "d", "f"), ("a", "e", "c0", "c1", "log_d", "log_f"),
               ((-50, 200), (-20, 10), (-1, 10), (-10, 10), (-50, 150), (-5, 3)),
               lambda t: {"E": np.exp(t[..., 1]), "A": np.exp(t[..., 0]), "c0": t[..., 2], "c1": t[..., 3],
                          "d": np.exp(t[..., 4]), "f": np.exp(t[..., 5])},
               lambda p: np.array([np.log(p["A"]), np.log(p["E"]), p["c0"], p["c1"], np.log(p["d"]), np.log(p["f"])]),
               log_predict, grid, None, broken_power_law.__doc__)


# --- Kaplan joint law --------------------------------------------------------------------------------------------

def kaplan_law() -> Law:
    """Kaplan et al. 2020 (arXiv 2001.08361) Eq. 1.5: L = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D.
    theta = (log N_c, log D_c, alpha_N, alpha_D); Table 2 gives alpha_N 0.076, alpha_D 0.103, N_c 6.4e13, D_c 1.8e13."""
    def log_predict(t, x):
        ln_n, ln_d = np.log(x["N"])[None, :], np.log(x["D"])[None, :]
        ratio = t[:, 2:3] / t[:, 3:4]
        return t[:, 3:4] * np.logaddexp(ratio * (t[:, 0:1] - ln_n), t[:, 1:2] - ln_d)

    def grid(x, y):
        return _product_grid([25.0, 30.0, 35.0], [25.0, 30.0, 35.0], [0.05, 0.1, 0.3], [0.05, 0.1, 0.3])

    return Law("kaplan", ("N", "D"), ("N_c", "D_c", "alpha_N", "alpha_D"), ("log_N_c", "log_D_c", "alpha_N", "alpha_D"),
               ((-10, 120), (-10, 120), (1e-4, 5), (1e-4, 5)),
               lambda t: {"N_c": np.exp(t[..., 0]), "D_c": np.exp(t[..., 1]), "alpha_N": t[..., 2], "alpha_D": t[..., 3]},
               lambda p: np.array([np.log(p["N_c"]), np.log(p["D_c"]), p["alpha_N"], p["alpha_D"]]),
               log_predict, grid, None, kaplan_law.__doc__)


def _coupled_parts(t: np.ndarray, x: dict) -> tuple:
    """The coupled law's pieces for a theta batch: u = a - alpha log N, v = b - beta log D, e, gamma, the log of
    the reducible term R = gamma LSE(u/gamma, v/gamma) and log L̂ = LSE(e, R)."""
    a, b, e, al, be, lg = (t[:, i:i + 1] for i in range(6))
    u, v = a - al * np.log(x["N"])[None, :], b - be * np.log(x["D"])[None, :]
    gamma = np.exp(lg)
    reducible = gamma * np.logaddexp(u / gamma, v / gamma)
    return u, v, np.broadcast_to(e, reducible.shape), gamma, reducible, np.logaddexp(e, reducible)


def _coupled_derivatives(t: np.ndarray, x: dict) -> tuple:
    """log L̂, its Jacobian and curvature terms in closed form. With p = sigma((u - v)/gamma) (the N term's share of
    R), s = sigma(R - e) (the reducible share of L̂), and per point the theta-vectors m_u = d u, m_v = d v, g = d lg:
    dR = p m_u + (1-p) m_v + R_g g with R_g = R - p u - (1-p) v; d log L̂ = s dR + (1-s) de;
    d²R = p(1-p)/gamma h hᵀ + R_g g gᵀ with h = m_u - m_v - (u - v) g (R is gamma times a LSE of (u, v)/gamma);
    d² log L̂ = s(1-s) k kᵀ + s d²R with k = dR - de (e enters linearly)."""
    u, v, e, gamma, reducible, f = _coupled_parts(t, x)
    ln_n, ln_d = np.log(x["N"]), np.log(x["D"])
    bsz, n = f.shape
    p, s = _sigmoid((u - v) / gamma), _sigmoid(reducible - e)
    r_g = reducible - p * u - (1 - p) * v
    d_r = np.zeros((bsz, 6, n))
    d_r[:, 0], d_r[:, 3], d_r[:, 1], d_r[:, 4], d_r[:, 5] = p, -p * ln_n, 1 - p, -(1 - p) * ln_d, r_g
    d_e = np.zeros((bsz, 6, n))
    d_e[:, 2] = 1.0
    jac = s[:, None, :] * d_r + (1 - s)[:, None, :] * d_e
    h = np.zeros((bsz, 6, n))
    h[:, 0], h[:, 3], h[:, 1], h[:, 4], h[:, 5] = 1.0, -ln_n, -1.0, ln_d, -(u - v)
    g = np.zeros((bsz, 6, n))
    g[:, 5] = 1.0
    terms = [(s * (1 - s), d_r - d_e), (s * p * (1 - p) / gamma, h), (s * r_g, g)]
    return f, jac, terms


def coupled_law() -> Law:
    """Chinchilla's terms combined as in Kaplan et al. 2020 Eq. 1.5, with a floor:
    L = E + [(A/N^alpha)^(1/gamma) + (B/D^beta)^(1/gamma)]^gamma. gamma = 1 is Chinchilla's sum; gamma < 1 moves
    towards the larger of the two terms (a bottleneck), gamma > 1 makes them compound; E = 0 with beta = gamma is
    Kaplan's law (their alpha_D is gamma here, N_c and D_c fold into A and B). theta = (a, b, e, alpha, beta,
    log_gamma). Starts: a, b in {0, 10, 20}, e in {-1, 0, 1}, alpha, beta in {0, .5, 1, 2}, gamma in {1/2, 1, 2}
    (1296; Chinchilla's 4500-point grid times three gammas found the same optimum on the ground-truth runs and
    simulated sweeps from them, at 10x the cost). Derivatives in closed form (``_coupled_derivatives``)."""
    def log_predict(t, x):
        return _coupled_parts(t, x)[-1]

    def grid(x, y):
        return _product_grid([0.0, 10.0, 20.0], [0.0, 10.0, 20.0], [-1.0, 0.0, 1.0], [0.0, 0.5, 1.0, 2.0],
                             [0.0, 0.5, 1.0, 2.0], np.log([0.5, 1.0, 2.0]))

    return Law("coupled", ("N", "D"), ("E", "A", "B", "alpha", "beta", "gamma"),
               ("a", "b", "e", "alpha", "beta", "log_gamma"),
               ((-20, 80), (-20, 80), (-20, 10), (0, 10), (0, 10), (-3, 3)),
               lambda t: {"E": np.exp(t[..., 2]), "A": np.exp(t[..., 0]), "B": np.exp(t[..., 1]), "alpha": t[..., 3],
                          "beta": t[..., 4], "gamma": np.exp(t[..., 5])},
               lambda p: np.array([np.log(p["A"]), np.log(p["B"]), np.log(p["E"]), p["alpha"], p["beta"],
                                   np.log(p["gamma"])]),
               log_predict, grid, None, coupled_law.__doc__, _coupled_derivatives)


# --- Data-constrained (Muennighoff et al. 2023) -----------------------------------------------------------------

def effective_data(d: np.ndarray, u: np.ndarray, r_star) -> np.ndarray:
    """D' = U + U·R*·(1 - exp(-R/R*)) with R = max(D/U - 1, 0) repeated epochs (Muennighoff et al. 2023, Eq. 5)."""
    repeats = np.maximum(d / u - 1.0, 0.0)
    return u + u * r_star * (-np.expm1(-repeats / r_star))


def _log_effective(base_log_u, excess, r_star):
    """log(U·(1 + R*(1 - e^{-R/R*}))), broadcast over a theta batch."""
    return base_log_u + np.log1p(r_star * (-np.expm1(-excess / r_star)))


def data_constrained_law() -> Law:
    """Muennighoff et al. 2023 (arXiv 2305.16264) Eq. 5: L = E + A/N'^alpha + B/D'^beta with effective data
    D' = U_D(1 + R_D*(1 - e^{-R_D/R_D*})), R_D = max(D/U - 1, 0), and effective parameters N' likewise with
    U_N = min(N, N_opt(C(U))), R_N = max(N/U_N - 1, 0), where C(U) makes U the Chinchilla-optimal data and
    N_opt(C) = G (C/6)^(beta/(alpha+beta)), G = (alpha A/(beta B))^(1/(alpha+beta)). Variables N, D, U.
    theta = (a, b, e, alpha, beta, R_D_star, R_N_star); published: a 6.255414, b 7.3049974, e 0.6254804,
    alpha = beta = 0.3526596, R_D* 15.387756, R_N* 5.309743 (datablations utils/parametric_fit.ipynb)."""
    def log_predict(t, x):
        a, b, e, al, be, rd, rn = (t[:, i:i + 1] for i in range(7))
        ln_n, ln_d, ln_u = (np.log(x[k])[None, :] for k in ("N", "D", "U"))
        log_g = (np.log(al * np.exp(a)) - np.log(be * np.exp(b))) / (al + be)
        log_un = np.minimum(ln_n, log_g + (be / al) * (log_g + ln_u))
        log_np = _log_effective(log_un, np.maximum(np.exp(ln_n - log_un) - 1.0, 0.0), rn)
        log_dp = _log_effective(ln_u, np.maximum(np.exp(ln_d - ln_u) - 1.0, 0.0), rd)
        return _lse(np.stack([a - al * log_np, b - be * log_dp, np.broadcast_to(e, log_np.shape)], axis=-1))

    def grid(x, y):
        ab = np.linspace(0, 25, 5)
        base = _product_grid(ab, ab, np.linspace(-1, 1, 4), np.linspace(0.1, 2, 4))
        return np.array([(a, b, e, al, al, 15.0, 5.0) for a, b, e, al in base])

    names = ("a", "b", "e", "alpha", "beta", "R_D_star", "R_N_star")
    return Law("data_constrained", ("N", "D", "U"), ("E", "A", "B", "alpha", "beta", "R_D_star", "R_N_star"), names,
               ((-20, 80), (-20, 80), (-20, 10), (1e-3, 10), (1e-3, 10), (1e-3, 1e3), (1e-3, 1e3)),
               lambda t: {"E": np.exp(t[..., 2]), "A": np.exp(t[..., 0]), "B": np.exp(t[..., 1]), "alpha": t[..., 3],
                          "beta": t[..., 4], "R_D_star": t[..., 5], "R_N_star": t[..., 6]},
               lambda p: np.array([np.log(p["A"]), np.log(p["B"]), np.log(p["E"]), p["alpha"], p["beta"],
                                   p["R_D_star"], p["R_N_star"]]),
               log_predict, grid, None, data_constrained_law.__doc__)


# --- registry -----------------------------------------------------------------------------------------------------

ONE_VARIABLE = {"power": power_law, "pure_power": pure_power_law, "exp_saturation": exp_saturation_law,
                "logistic": logistic_law, "broken_power": broken_power_law}
JOINT = {"chinchilla": chinchilla_law, "kaplan": kaplan_law, "data_constrained": data_constrained_law,
         "chinchilla_tied": chinchilla_tied_law, "coupled": coupled_law}
LAW_NAMES = tuple(JOINT) + tuple(ONE_VARIABLE) + tuple(f"{k}_{v}" for k in ONE_VARIABLE for v in ("N", "D", "C"))


def get_law(name: str, variable: Optional[str] = None) -> Law:
    """The law called ``name``: chinchilla, chinchilla_tied, coupled, kaplan, data_constrained, or a one-variable
    form (power, pure_power, exp_saturation, logistic, broken_power) in x = ``variable`` (N, D or C), also spelled
    ``power_C`` etc."""
    if isinstance(name, Law):
        return name
    if name in JOINT:
        return JOINT[name]()
    base, _, var = name.rpartition("_")
    if base in ONE_VARIABLE and var in ("N", "D", "C"):
        return ONE_VARIABLE[base](var)
    if name in ONE_VARIABLE:
        return ONE_VARIABLE[name](variable or "N")
    raise ValueError(f"unknown law '{name}' (choose from {', '.join(LAW_NAMES)})")
