"""Quantities derived from a fitted Chinchilla-form law (Hoffmann et al. 2022, Eq. 4 and Appendix D.2)."""
from __future__ import annotations

import numpy as np

from harness.sizing import FLOPS_PER_PARAM_TOKEN, tokens_for_compute, training_compute  # noqa: F401 (C = 6ND)

DEFAULT_BUDGETS = (1e21, 5.76e23)

_FRONTIER_INPUTS = ("alpha", "beta", "A", "B")
DERIVED_INPUTS = {"a": ("alpha", "beta"), "b": ("alpha", "beta"), "G": _FRONTIER_INPUTS, "N_opt": _FRONTIER_INPUTS,
                  "D_opt": _FRONTIER_INPUTS, "tokens_per_param": _FRONTIER_INPUTS, "halve_factor_N": ("alpha",),
                  "halve_factor_D": ("beta",), "halve_factor": ("alpha",)}


def derived_inputs(name: str) -> tuple:
    """The law parameters a derived quantity is computed from (``N_opt@1e+21`` -> A, B, alpha, beta); () for a
    law parameter. A derived quantity is identified only when all of them are."""
    return DERIVED_INPUTS.get(name.split("@")[0], ())


def exponents(alpha, beta) -> dict:
    """a = beta/(alpha+beta) (N_opt ∝ C^a) and b = alpha/(alpha+beta) (D_opt ∝ C^b)."""
    with np.errstate(all="ignore"):
        return {"a": beta / (alpha + beta), "b": alpha / (alpha + beta)}


def g_factor(params: dict):
    """G = (alpha·A / (beta·B))^(1/(alpha+beta)), so N_opt = G (C/6)^a and D_opt = G^-1 (C/6)^b."""
    p = params
    with np.errstate(all="ignore"):
        return (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1.0 / (p["alpha"] + p["beta"]))


def frontier_undefined(params: dict) -> str:
    """Why a Chinchilla-form law has no compute-optimal frontier ('' when it has one): α, β, A, B must be
    finite and positive, else the loss does not fall with N or D and no optimal split exists."""
    bad = [k for k in ("alpha", "beta", "A", "B")
           if not (np.isfinite(params.get(k, np.nan)) and float(params.get(k, np.nan)) > 1e-8)]
    return f"{', '.join(bad)} not positive: the loss does not fall with N or D, so there is no optimal split" \
        if bad else ""


def compute_optimal(params: dict, compute) -> tuple:
    """(N_opt, D_opt) at compute C = 6ND for a Chinchilla-form law (Hoffmann Eq. 4); NaN where undefined."""
    c = np.asarray(compute, dtype=float) / FLOPS_PER_PARAM_TOKEN
    ex, g = exponents(params["alpha"], params["beta"]), g_factor(params)
    with np.errstate(all="ignore"):
        n_opt, d_opt = g * c ** ex["a"], c ** ex["b"] / g
    if np.ndim(params["alpha"]) == 0 and frontier_undefined(params):
        return np.full(np.shape(c), np.nan), np.full(np.shape(c), np.nan)
    return n_opt, d_opt


def frontier_functions(params: dict) -> tuple:
    """(N_opt(C), D_opt(C)) callables of a Chinchilla-form law, both from ``compute_optimal``."""
    return (lambda c: compute_optimal(params, c)[0]), (lambda c: compute_optimal(params, c)[1])


def halving_cost(params: dict) -> dict:
    """Factor by which N (resp. D) must grow to halve its reducible-loss term: 2^(1/alpha), 2^(1/beta)."""
    with np.errstate(all="ignore"):
        return {"halve_factor_N": np.exp2(1.0 / np.asarray(params["alpha"], float)),
                "halve_factor_D": np.exp2(1.0 / np.asarray(params["beta"], float))}


def chinchilla_derived(params: dict, budgets=DEFAULT_BUDGETS) -> dict:
    """a, b, G, halving factors and, per budget C, N_opt, D_opt and tokens per parameter (keys like N_opt@1e+21).
    Works elementwise, so ``params`` may hold arrays of bootstrap draws."""
    out = {**exponents(params["alpha"], params["beta"]), "G": g_factor(params), **halving_cost(params)}
    for c in budgets:
        n_opt, d_opt = compute_optimal(params, c)
        out.update({f"N_opt@{c:.3g}": n_opt, f"D_opt@{c:.3g}": d_opt, f"tokens_per_param@{c:.3g}": d_opt / n_opt})
    return out


def power_derived(params: dict) -> dict:
    """For a one-variable power law with floor: the factor on x that halves the reducible loss, 2^(1/alpha)."""
    with np.errstate(all="ignore"):
        return {"halve_factor": np.exp2(1.0 / np.asarray(params["alpha"], float))}


def derived_for(law_name: str, params: dict, budgets=DEFAULT_BUDGETS) -> dict:
    """Derived quantities for a law's natural parameters (empty for laws without any)."""
    if law_name in ("chinchilla", "data_constrained"):
        with np.errstate(all="ignore"):
            return chinchilla_derived(params, budgets)
    if law_name.startswith("power_"):
        return power_derived(params)
    return {}
