"""``fit_law``: approach 3 (a parametric law fitted to every run) with uncertainty, warnings and derived quantities."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

import numpy as np

from harness.fit.columns import Columns
from harness.fit.derived import DEFAULT_BUDGETS, derived_for, derived_inputs
from harness.fit.estimate import (OBJECTIVES, Objective, Problem, Solution, basin_count, distinct_optima,
                                  screened_multistart)
from harness.fit.laws import Law, get_law
from harness.fit.profile import profile_bounds
from harness.fit.table import data_warnings, excluded_runs_warnings, numbers_only, prepare
from harness.fit.uncertainty import (BOOTSTRAP_METHODS, bca_ci, bootstrap_thetas, hessian_se,
                                     identification_warnings, jackknife_thetas, percentile_ci)
from harness.errors import ConfigError

if TYPE_CHECKING:   # a table of numbers (Columns) is fitted without importing pandas
    import pandas as pd

CI_METHODS = ("percentile", "bca")


@dataclass(frozen=True)
class FitResult:
    """One fitted law. ``params``/``ci``/``se``/``derived`` are dicts by name; ``samples`` holds bootstrap draws.

    ``identified``: per free parameter, whether the sweep pins it down (its profile likelihood crosses the interval
    threshold on both sides); a parameter that is not has no two-sided ``ci`` and no ``se``, and ``profile_bounds``
    gives its one-sided profile bounds [low or None, high or None] (None: unbounded on that side). ``bootstrap``:
    {"requested", "used", "failed", "method"}: resamples whose refit did not converge are left out and counted.
    ``se_method``: "bootstrap" (SD of the used draws) or "sandwich" (robust asymptotic, scaled by sqrt(n / (n - q)))."""

    law: str
    objective: str
    params: dict
    ci: dict
    se: dict
    objective_value: float
    n_points: int
    n_starts: int
    n_best_basin: int
    converged: bool
    warnings: tuple
    derived: dict
    n_convention: str
    c_convention: str
    ci_level: float = 0.95
    objective_options: dict = field(default_factory=dict)
    ranges: dict = field(default_factory=dict)
    samples: Optional[dict] = field(default=None, repr=False)
    identified: dict = field(default_factory=dict)
    profile_bounds: dict = field(default_factory=dict)
    bootstrap: dict = field(default_factory=dict)
    se_method: str = "sandwich"

    def to_dict(self, samples: bool = True) -> dict:
        """The JSON shape of ``harness fit --json`` (plus bootstrap ``samples`` when present and asked for)."""
        out = {"law": self.law, "objective": self.objective, "params": _floats(self.params), "ci": self.ci,
               "se": _floats(self.se), "objective_value": self.objective_value, "n_points": self.n_points,
               "warnings": list(self.warnings), "derived": _floats(self.derived), "n_convention": self.n_convention,
               "c_convention": self.c_convention, "n_starts": self.n_starts, "n_best_basin": self.n_best_basin,
               "converged": self.converged, "ci_level": self.ci_level, "objective_options": self.objective_options,
               "ranges": self.ranges, "identified": dict(self.identified), "profile_bounds": self.profile_bounds,
               "bootstrap": dict(self.bootstrap), "se_method": self.se_method}
        if samples and self.samples:
            out["samples"] = {k: [float(v) for v in draws] for k, draws in self.samples.items()}
        return out

    @classmethod
    def from_dict(cls, raw, where: str = "fit") -> "FitResult":
        """A FitResult from the JSON shape of ``to_dict`` (``harness fit --json``); ConfigError naming ``where``
        and the offending key when it is not one (missing law/params, non-numeric values, malformed intervals)."""
        if not isinstance(raw, dict) or not isinstance(raw.get("params"), dict) or not raw["params"]:
            raise ConfigError(f"{where}: not a fit result (expected an object with 'law' and 'params')")
        values = {"law": str(raw.get("law") or "unknown"), "objective": str(raw.get("objective") or "unknown"),
                  "params": _number_map(raw["params"], f"{where}: params", allow_none=False),
                  "se": _number_map(raw.get("se") or {}, f"{where}: se"),
                  "derived": _number_map(raw.get("derived") or {}, f"{where}: derived"),
                  "ci": _interval_map(raw.get("ci") or {}, f"{where}: ci"),
                  "warnings": tuple(str(w) for w in _typed(raw, "warnings", list, [], where)),
                  "ranges": _interval_map(raw.get("ranges") or {}, f"{where}: ranges"),
                  "samples": _samples(raw.get("samples"), where)}
        for key, kind, default in _SCALARS:
            values[key] = _typed(raw, key, kind, default, where)
        values["ci_level"] = float(values["ci_level"])
        if not 0 < values["ci_level"] < 1:
            raise ConfigError(f"{where}: ci_level must lie in (0, 1), got {values['ci_level']}")
        extra = {k: raw[k] for k in EXTRA_FIELDS if k in raw and k in cls.__dataclass_fields__}
        return cls(**values, **extra)


# Optional fields of newer fit results (consumed when present, kept in to_dict when set).
EXTRA_FIELDS = ("identified", "profile_bounds", "bootstrap", "se_method")
_SCALARS = (("objective_value", (int, float), math.nan), ("n_points", int, 0), ("n_starts", int, 0),
            ("n_best_basin", int, 0), ("converged", bool, True), ("n_convention", str, "total"),
            ("c_convention", str, "C = 6ND"), ("ci_level", (int, float), 0.95), ("objective_options", dict, {}))


def _typed(raw: dict, key: str, kind, default, where: str):
    value = raw.get(key, default)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: '{key}' has the wrong type ({type(value).__name__})")
    return value


def _number(value, where: str, allow_none: bool = True) -> Optional[float]:
    if value is None and allow_none:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where} must be a number, got {value!r:.40}")
    return float(value)


def _number_map(raw, where: str, allow_none: bool = True) -> dict:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be an object of numbers")
    return {str(k): _number(v, f"{where}.{k}", allow_none) for k, v in raw.items()}


def _interval_map(raw, where: str) -> dict:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be an object of [low, high] pairs")
    out = {}
    for key, pair in raw.items():
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ConfigError(f"{where}.{key} must be [low, high]")
        out[str(key)] = [_number(v, f"{where}.{key}") for v in pair]
    return out


def _samples(raw, where: str) -> Optional[dict]:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not all(isinstance(v, list) for v in raw.values()):
        raise ConfigError(f"{where}: samples must be an object of lists of numbers")
    return {str(k): np.array([_number(x, f"{where}: samples.{k}") for x in v], dtype=float) for k, v in raw.items()}


def _floats(values: dict) -> dict:
    return {k: (float(v) if v is not None and math.isfinite(float(v)) else None) for k, v in values.items()}


def _theta_index(law: Law, name: str) -> int:
    """Which theta entry carries natural parameter ``name``."""
    base = {k: 1.5 for k in law.param_names}
    moved = dict(base, **{name: 2.5})
    diff = np.flatnonzero(~np.isclose(law.from_natural(base), law.from_natural(moved)))
    return int(diff[0])


def fixed_theta(law: Law, fixed: Optional[dict]) -> np.ndarray:
    """Full theta with NaN for free entries and the transformed value of each fixed natural parameter."""
    out = np.full(len(law.theta_names), np.nan)
    if fixed:
        unknown = set(fixed) - set(law.param_names)
        if unknown:
            raise ConfigError(f"fixed: unknown parameter(s) {', '.join(sorted(unknown))} of the {law.name} law")
        full = law.from_natural({k: float(fixed.get(k, 1.5)) for k in law.param_names})
        for name in fixed:
            i = _theta_index(law, name)
            out[i] = full[i]
    return out


def _starts(law: Law, x: dict, y: np.ndarray, problem: Problem, starts) -> np.ndarray:
    if starts is None:
        grid = law.grid(x, y)
    elif isinstance(starts, dict):
        grid = law.from_natural(starts)[None, :]
    else:
        grid = np.atleast_2d(np.asarray(starts, float))
    if grid.shape[1] == len(law.theta_names):
        grid = grid[:, problem.free]
    return _unique_rows(grid) if len(grid) > 1 else grid


def _unique_rows(rows: np.ndarray) -> np.ndarray:
    """``np.unique(rows, axis=0)``: rows sorted lexicographically, repeats dropped (np.unique imports numpy.ma, ~5 ms of
    every ``harness fit``)."""
    ordered = rows[np.lexsort(rows.T[::-1])]
    fresh = np.ones(len(ordered), bool)
    fresh[1:] = np.any(ordered[1:] != ordered[:-1], axis=1)
    return ordered[fresh]


def scipy_reference(problem: Problem, starts: np.ndarray, weights: np.ndarray, method: str = "L-BFGS-B",
                    options: Optional[dict] = None, exact_gradient: bool = True) -> tuple:
    """The plain approach: ``scipy.optimize.minimize`` from each start in turn (default tolerances unless
    ``options``; finite-difference gradients unless ``exact_gradient``). ``weights``: [n] or one row per start.
    Returns (theta [S, q], objective [S], success [S])."""
    from scipy.optimize import minimize  # here, not at the top: `harness fit` (newton) stays free of scipy's import

    rows = np.broadcast_to(weights, (len(starts), len(problem.y)))
    bounds = list(zip(problem.lower, problem.upper)) if method == "L-BFGS-B" else None
    results = []
    for start, w in zip(starts, rows):
        def fun(t, w=w):
            value, grad = problem.value_and_grad(t[None, :], w[None, :])
            return (float(value[0]), grad[0]) if exact_gradient else float(value[0])
        results.append(minimize(fun, start, jac=exact_gradient, method=method, bounds=bounds, options=options or {}))
    return (np.array([r.x for r in results]), np.array([r.fun for r in results]),
            np.array([bool(r.success) for r in results]))


def make_objective(objective: str, delta: float, space: str, reduction: str) -> Objective:
    """Validated Objective from option strings."""
    if objective not in OBJECTIVES:
        raise ConfigError(f"--objective: unknown '{objective}' ({', '.join(OBJECTIVES)})")
    if space not in ("log", "linear") or reduction not in ("sum", "mean") or not delta > 0:
        raise ConfigError(f"objective options: space log|linear, reduction sum|mean, delta > 0 "
                          f"(got {space}, {reduction}, {delta})")
    return Objective(objective, float(delta), space, reduction)


def fit_law(table: pd.DataFrame | Columns, law: str | Law = "chinchilla", objective: str = "huber",
            delta: float = 1e-3, space: str = "log", reduction: str = "sum", bootstrap: int = 0, seed: int = 0,
            n_convention: str = "total", weights=None, fixed: Optional[dict] = None, starts=None,
            optimizer: str = "newton", scipy_options: Optional[dict] = None, ci_level: float = 0.95,
            budgets=DEFAULT_BUDGETS, workers: int = 2, bootstrap_method: str = "pairs",
            ci_method: str = "bca", profile: bool = True) -> FitResult:
    """Fit ``law`` to a runs table (columns N or N_total/N_nonembed, D or C, loss; rows with status != done dropped):
    a DataFrame, or ``harness.fit.columns.Columns`` (a table of numbers, fitted without importing pandas).

    objective: huber (delta, default 1e-3), mse or lad, on log (default) or linear residuals, summed (default) or
    averaged; weights: per-row array or a column name; fixed: natural parameters held at given values; starts: None
    (the law's grid, for Chinchilla Epoch's 4500 points), a dict of natural values or an array of theta rows;
    optimizer: "newton" (batched, default; above 500 points the starts are screened on a subsample and the best
    16 distinct optima refined on all points, ``screened_multistart``) or "scipy" (L-BFGS-B per start,
    ``scipy_options`` passed through);
    bootstrap: number of resamples for CIs (seeded), restarted from every distinct optimum of the fit;
    bootstrap_method: "pairs" (default: runs resampled, as in Epoch's replication) or "residual" (residuals resampled
    onto the fixed design); ci_method: "bca" (default: bias-corrected and accelerated, acceleration from a
    leave-one-run-out jackknife) or "percentile" (Epoch's). Pairs + BCa is the default because it measured closest to
    nominal on simulated sweeps (scripts/bench_coverage.py: 95 % intervals of E, alpha, beta cover 93-96 %; pairs
    percentile 97-99 %, residual percentile 90-96 %); profile: compute
    profile likelihoods to tell which parameters are identified; budgets: compute budgets for derived N_opt/D_opt."""
    if ci_method not in CI_METHODS:
        raise ConfigError(f"ci method: unknown '{ci_method}' ({', '.join(CI_METHODS)})")
    if bootstrap_method not in BOOTSTRAP_METHODS:
        raise ConfigError(f"bootstrap method: unknown '{bootstrap_method}' ({', '.join(BOOTSTRAP_METHODS)})")
    law_obj = get_law(law) if isinstance(law, str) else law
    if isinstance(table, Columns) and numbers_only(table) is None:   # columns only the DataFrame code reads
        table = table.to_pandas()
    x, y, w, _ = prepare(table, law_obj, n_convention, weights=weights)
    problem = Problem(law_obj, x, y, make_objective(objective, delta, space, reduction), fixed_theta(law_obj, fixed))
    grid = _starts(law_obj, x, y, problem, starts)
    if optimizer == "scipy":
        sol = _scipy_solution(problem, grid, w, scipy_options)
        n_best = basin_count(sol.value)
    elif optimizer == "newton":
        sol, n_best = screened_multistart(problem, grid, w, workers=workers)
    else:
        raise ConfigError(f"optimizer: unknown '{optimizer}' (newton or scipy)")
    options = {"n_boot": bootstrap, "seed": seed, "method": bootstrap_method, "ci_level": ci_level,
               "budgets": budgets, "workers": workers, "profile": profile, "ci_method": ci_method, "n_best": n_best}
    return _result(problem, sol, len(grid), w, table, n_convention, options)


def _scipy_solution(problem: Problem, grid: np.ndarray, w: np.ndarray, options: Optional[dict]) -> Solution:
    thetas, values, ok = scipy_reference(problem, grid, w, options=options)
    return Solution(thetas, values, np.zeros(len(grid), int), ok)


def _natural(problem: Problem, theta: np.ndarray) -> dict:
    full = problem.full_theta(np.atleast_2d(theta))
    return {k: np.asarray(v) for k, v in problem.law.to_natural(full).items()}


def _free_names(law: Law, problem: Problem) -> list:
    """Natural names of the free theta coordinates, in order."""
    natural_names = {_theta_index(law, k): k for k in law.param_names}
    return [natural_names[i] for i in np.flatnonzero(problem.free)]


def _bootstrap(problem, theta, basins, w, options) -> tuple[Optional[np.ndarray], dict]:
    """(converged draws or None, the {requested, used, failed, method} count)."""
    n_boot = options["n_boot"]
    if not n_boot:
        return None, {"requested": 0, "used": 0, "failed": 0, "method": options["method"]}
    draws, ok = bootstrap_thetas(problem, theta, w, n_boot, options["seed"], options["workers"], options["method"],
                                 basins)
    return draws[ok], {"requested": int(n_boot), "used": int(ok.sum()), "failed": int((~ok).sum()),
                       "method": options["method"]}


def _natural_bounds(problem: Problem, theta: np.ndarray, j: int, name: str, bounds: list) -> list:
    """Profile bounds of free coordinate ``j`` in natural units (monotone maps; ordered low, high)."""
    out = []
    for value in bounds:
        if value is None:
            out.append(None)
            continue
        moved = theta.copy()
        moved[j] = value
        out.append(float(_natural(problem, moved)[name][0]))
    return out if None in out else sorted(out)


def _result(problem, sol, n_starts, w, table, n_convention, options) -> FitResult:
    law = problem.law
    best = int(np.argmin(np.where(np.isfinite(sol.value), sol.value, np.inf)))
    theta, value, converged = sol.theta[best], float(sol.value[best]), bool(sol.converged[best])
    params = {k: float(v[0]) for k, v in _natural(problem, theta).items()}
    derived = {k: float(v) for k, v in derived_for(law.name, params, options["budgets"]).items()}
    se, cov = hessian_se(problem, theta, w, law.param_names)
    free_names = _free_names(law, problem)
    basins = distinct_optima(sol) if len(sol.theta) > 1 else theta[None, :]
    draws, counts = _bootstrap(problem, theta, basins, w, options)
    identified, bounds = _identification(problem, theta, basins, w, cov, draws, free_names, options)
    warnings = excluded_runs_warnings(table) + data_warnings(table) + list(identification_warnings(
        problem, theta, cov, options["n_best"], converged, free_names, identified)) + _bootstrap_warnings(counts)
    samples, ci, se_method = None, {}, "sandwich"
    if draws is not None and len(draws):
        nat = _natural(problem, draws)
        samples = {**nat, **{k: np.asarray(v) for k, v in derived_for(law.name, nat, options["budgets"]).items()}}
        ci = _intervals(problem, theta, w, samples, {**params, **derived}, options)
        se, se_method = {k: float(np.std(nat[k], ddof=1)) if len(draws) > 1 else float("nan") for k in nat}, \
            "bootstrap"
    for name, ok in identified.items():
        if not ok:
            ci.pop(name, None)
            se[name] = float("nan")
    for name in [k for k in ci if any(identified.get(p) is False for p in derived_inputs(k))]:
        ci.pop(name)             # a, b, N_opt, ... computed from a parameter the sweep does not pin down
    ranges = {v: [float(problem.x[v].min()), float(problem.x[v].max())] for v in problem.x}
    obj = problem.objective
    return FitResult(law.name, obj.kind, params, ci, se, value, len(problem.y), n_starts, options["n_best"],
                     converged, tuple(warnings), derived, n_convention, _c_convention(law, table), options["ci_level"],
                     {"delta": obj.delta, "space": obj.space, "reduction": obj.reduction}, ranges, samples,
                     identified, bounds, counts, se_method)


def _intervals(problem, theta, w, samples: dict, estimates: dict, options) -> dict:
    """{name: [low, high]} from the bootstrap draws: percentile, or BCa with a leave-one-run-out jackknife."""
    if options["ci_method"] == "percentile":
        return percentile_ci(samples, options["ci_level"])
    nat = _natural(problem, jackknife_thetas(problem, theta, w, options["workers"]))
    jack = {**nat, **{k: np.asarray(v) for k, v in derived_for(problem.law.name, nat, options["budgets"]).items()}}
    return {k: bca_ci(samples[k], estimates[k], jack[k], options["ci_level"]) for k in samples}


def _identification(problem, theta, basins, w, cov, draws, free_names, options) -> tuple[dict, dict]:
    """({free name: identified}, {name: natural profile bounds} for those not identified)."""
    if not options["profile"]:
        return {}, {}
    if draws is not None and len(draws) > 1:
        scale = np.std(draws, axis=0, ddof=1)
    elif cov is not None:
        scale = np.sqrt(np.clip(np.diag(cov), 0, None))
    else:
        scale = np.full(len(theta), np.nan)
    prof = profile_bounds(problem, theta, w, scale, basins, options["ci_level"], options["workers"])
    identified = {name: bool(ok) for name, ok in zip(free_names, prof.identified)}
    bounds = {name: _natural_bounds(problem, theta, j, name, prof.bounds[j])
              for j, name in enumerate(free_names) if not identified[name]}
    return identified, bounds


def _bootstrap_warnings(counts: dict) -> list[str]:
    if counts["failed"] and counts["failed"] > 0.05 * counts["requested"]:
        return [f"{counts['failed']} of {counts['requested']} bootstrap resamples did not converge and were left "
                f"out: the intervals rest on the {counts['used']} that did"]
    return []


def _c_convention(law: Law, table: pd.DataFrame) -> str:
    if "C" in law.variables:
        return "C column" if "C" in table else "C = 6ND"
    return "C = 6ND (D = C/(6N) from the C column)" if "D" not in table else "C = 6ND"
