"""Muennighoff et al.'s two-stage fit of the data-constrained law, with intervals that redo both stages.

Muennighoff et al. (2023, arXiv 2305.16264; datablations ``utils/parametric_fit.ipynb``) do not fit the seven
parameters at once: the base law E + A/N^alpha + B/D^beta comes from runs on fresh data (their C4 fit ties
alpha = beta), and R_D*, R_N* are then fitted on the repeated-data runs with the base held fixed (Huber, delta 1e-3,
on log loss, summed). ``fit_two_stage`` does the same on a runs table with a U column:

1. stage 1: the Chinchilla law (``chinchilla_tied`` by default) on the fresh runs (D <= U: one epoch or less), with
   any ``fixed`` parameters (E at the exact eval-set floor for the synthetic language);
2. stage 2: R_D* (and R_N*, unless the repeated runs have a single N, when it is held at its bound 1000 so that
   N' = N and reported as not identified) on the repeated runs (D > U), the base held at stage 1's values.
   Runs whose test loss *rose* by more than ``rise`` nats over a run of the same N and U with fewer tokens are
   over-fitted: the law's effective data only saturates and cannot express a rise, so they are left out (listed).

Uncertainty: a stratified pairs bootstrap over runs (fresh runs resampled within each N, repeated runs within each
N, so every resample has both stages' inputs) that redoes both stages, giving percentile intervals that carry the
base law's uncertainty into R_D*; and the profile likelihood of stage 2 (``harness.fit.profile``), which is
conditional on the base. A constant is *identified* when its profile crosses the threshold on both sides and its
bootstrap interval stays off the parameter bounds; otherwise only bounds are reported, never an interval.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from harness.errors import ConfigError
from harness.fit.estimate import Problem, multistart
from harness.fit.fitting import FitResult, fit_law, fixed_theta, make_objective
from harness.fit.laws import get_law
from harness.fit.profile import profile_bounds
from harness.fit.table import _check, _n_column, best_lr_only

DECAY = ("R_D_star", "R_N_star")
R_BOUNDS = (1e-3, 1e3)                 # the data_constrained law's bounds on R_D*, R_N*
DECAY_STARTS = np.geomspace(0.5, 500.0, 7)      # stage 2's start grid per decay constant (7 x 7 with R_N*)
RESAMPLE_STARTS = np.array([2.0, 20.0, 200.0])    # a bootstrap refit starts here and from the full fit's optimum
RISE_NATS = 0.1


@dataclass(frozen=True)
class DecayEstimate:
    """One decay constant: its stage-2 estimate, whether the runs identify it, its interval (None when not
    identified; how it was made in ``ci_method``: the bootstrap redoing both stages, or without draws the profile),
    the stage-2 profile bounds (conditional on the base; None: unbounded on that side), the bootstrap draws'
    percentile range (NaN without draws), ``boot_at_bound`` (the share of draws at a bound of the law, NaN without
    draws) and ``held`` (not fitted, with the reason in ``note``)."""

    name: str
    value: float
    identified: bool
    ci: Optional[list]
    profile: list
    boot_range: list
    held: bool = False
    note: str = ""
    ci_method: str = ""
    boot_at_bound: float = float("nan")

    def verdict(self, published: float) -> str:
        """Whether ``published`` agrees: inside / outside the interval, or what the bounds allow when not identified."""
        if self.held:
            return f"not identified ({self.note})"
        if self.identified:
            inside = self.ci[0] <= published <= self.ci[1]
            return "agrees (inside the interval)" if inside else "disagrees (outside the interval)"
        lo, hi = self.profile
        off_profile = (lo is not None and published < lo) or (hi is not None and published > hi)
        drawn = bool(np.all(np.isfinite(self.boot_range)))
        off_boot = not (self.boot_range[0] <= published <= self.boot_range[1]) if drawn else off_profile
        if off_profile and off_boot:
            return "disagrees (outside its bounds, though not identified)"
        if off_profile:
            return ("cannot tell: not identified; the stage-2 profile (base held exact) excludes it, the bootstrap "
                    "(base refitted) does not")
        return "cannot tell: not identified by these runs (bounds only)"


@dataclass(frozen=True)
class TwoStageFit:
    """Both stages: ``base`` (stage 1's FitResult), ``params`` (all seven natural parameters), ``estimates`` (a
    DecayEstimate per decay constant), the runs used and left out, and the bootstrap counts."""

    base: FitResult
    params: dict
    estimates: dict
    objective_value: float
    n_fresh: int
    n_repeated: int
    overfitted: tuple
    bootstrap: dict
    level: float
    base_law: str


def fresh_mask(table: pd.DataFrame) -> np.ndarray:
    """True for runs without repetition: D <= U (one epoch or less); ConfigError without a U column."""
    if "U" not in table:
        raise ConfigError("table: no column 'U' (unique tokens); the two-stage fit needs it (records since "
                          "data.unique_tokens, or --col-U for a CSV)")
    return table["D"].to_numpy(float) <= table["U"].to_numpy(float) * (1 + 1e-9)


def overfitted_mask(table: pd.DataFrame, n_col: str, rise: float = RISE_NATS) -> np.ndarray:
    """True for repeated runs whose loss exceeds that of a run with the same N and U and fewer tokens by > ``rise``
    (runs with as many tokens, e.g. other seeds of the same point, are not compared)."""
    out = np.zeros(len(table), bool)
    rows = table.reset_index(drop=True)
    for _, cell in rows[~fresh_mask(rows)].groupby([n_col, "U"]):
        best_before = cell.groupby("D")["loss"].min().sort_index().cummin().shift(1)
        out[cell.index[(cell["loss"] > cell["D"].map(best_before) + rise).to_numpy()]] = True
    return out


def _arrays(table: pd.DataFrame, n_col: str) -> tuple[dict, np.ndarray]:
    """(N, D, U arrays, loss) of the repeated runs, each checked finite and positive."""
    x = {"N": _check(table, n_col, "repeated runs"), "D": _check(table, "D", "repeated runs"),
         "U": _check(table, "U", "repeated runs")}
    return x, _check(table, "loss", "repeated runs")


def _base_params(fit: FitResult) -> dict:
    """Stage 1's natural parameters as the data-constrained law's base (beta = alpha for the tied law)."""
    base = {k: fit.params[k] for k in ("E", "A", "B", "alpha")}
    base["beta"] = fit.params.get("beta", fit.params["alpha"])
    return base


def _decay_problem(x: dict, y: np.ndarray, base: dict, hold_rn: bool, objective) -> Problem:
    """Stage 2: the data-constrained law on the repeated runs with the base (and R_N* when held) fixed."""
    law = get_law("data_constrained")
    fixed = dict(base, **({"R_N_star": R_BOUNDS[1]} if hold_rn else {}))
    return Problem(law, x, y, objective, fixed_theta(law, fixed))


def _starts(hold_rn: bool, axis: np.ndarray = DECAY_STARTS) -> np.ndarray:
    if hold_rn:
        return axis[:, None]
    return np.array([(d, n) for d in axis for n in axis])


def _best(problem: Problem, weights: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, float, bool]:
    """(free theta, objective, converged) of stage 2, the best converged refit from ``starts``."""
    sol = multistart(problem, starts, weights, workers=1)
    values = np.where(sol.converged & np.isfinite(sol.value), sol.value, np.inf)
    if not np.isfinite(values).any():
        values = np.where(np.isfinite(sol.value), sol.value, np.inf)
    i = int(np.argmin(values))
    return sol.theta[i], float(sol.value[i]), bool(sol.converged[i])


def _stage1(fresh: pd.DataFrame, base_law: str, fixed: Optional[dict], options: dict) -> FitResult:
    """Stage 1 on the fresh runs, errors prefixed with what the runs are."""
    try:
        return fit_law(fresh, law=base_law, fixed=fixed, **options)
    except ConfigError as exc:
        raise ConfigError(f"stage 1 (fresh-data runs, D <= U): {exc}") from None


def _strata_counts(groups: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Multinomial counts [R, n] resampling rows with replacement within each group (stratified pairs bootstrap)."""
    counts = np.zeros((n_resamples, len(groups)))
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        counts[:, idx] = rng.multinomial(len(idx), np.full(len(idx), 1.0 / len(idx)), size=n_resamples)
    return counts


def _stage1_draws(base: FitResult, fresh: pd.DataFrame, n_col: str, fixed, counts, options) -> tuple:
    """Stage-1 refits per resample (batched): (natural parameter dicts, converged)."""
    law = get_law(base.law)
    x = {"N": _check(fresh, n_col, "fresh runs"), "D": _check(fresh, "D", "fresh runs")}
    objective = make_objective(options["objective"], options["delta"], "log", "sum")
    problem = Problem(law, x, _check(fresh, "loss", "fresh runs"), objective, fixed_theta(law, fixed))
    theta_hat = law.from_natural({k: base.params[k] for k in law.param_names})[problem.free]
    grid = np.unique(law.grid(x, problem.y)[:, problem.free], axis=0)
    starts = np.vstack([theta_hat[None, :], grid[:: max(1, len(grid) // 24)]])
    m, r = len(starts), len(counts)
    sol = multistart(problem, np.tile(starts, (r, 1)), np.repeat(counts, m, axis=0), workers=options["workers"])
    values = np.where(sol.converged & np.isfinite(sol.value), sol.value, np.inf).reshape(r, m)
    pick = np.arange(r) * m + np.argmin(values, axis=1)
    nat = law.to_natural(problem.full_theta(sol.theta[pick]))
    keys = ("E", "A", "B", "alpha", "beta")
    draws = [{k: float(nat.get(k, nat["alpha"])[i]) for k in keys} for i in range(r)]
    return draws, np.isfinite(values.min(axis=1))


def _bootstrap(base, fresh, repeated, n_col, fixed, theta, n_resamples, seed, options) -> tuple[np.ndarray, dict]:
    """Draws [R_used, q] of the decay constants, both stages refitted on each stratified resample of the runs."""
    q, hold_rn = len(theta), len(theta) == 1
    if not n_resamples:
        return np.empty((0, q)), {"requested": 0, "used": 0, "failed": 0}
    rng = np.random.default_rng(seed)
    c1 = _strata_counts(fresh[n_col].to_numpy(), n_resamples, rng)
    c2 = _strata_counts(repeated[n_col].to_numpy(), n_resamples, rng)
    bases, ok = _stage1_draws(base, fresh, n_col, fixed, c1, options)
    x, y = _arrays(repeated, n_col)
    objective = make_objective(options["objective"], options["delta"], "log", "sum")
    draws = np.full((n_resamples, q), np.nan)
    starts = np.vstack([theta[None, :], _starts(hold_rn, RESAMPLE_STARTS)])
    for r in np.flatnonzero(ok):
        refit, _, converged = _best(_decay_problem(x, y, bases[r], hold_rn, objective), c2[r], starts)
        draws[r] = refit if converged else np.nan
    used = np.all(np.isfinite(draws), axis=1)
    return draws[used], {"requested": int(n_resamples), "used": int(used.sum()), "failed": int((~used).sum())}


def _at_bound(value: float) -> bool:
    return value <= R_BOUNDS[0] * 1.01 or value >= R_BOUNDS[1] / 1.01


def _estimates(theta, problem, weights, draws, hold_rn, level, single_n) -> dict:
    """A DecayEstimate per decay constant from the stage-2 fit, its profile and the bootstrap draws (the interval is
    the bootstrap's when there are draws, else the profile's, which holds the base exact)."""
    scale = np.std(draws, axis=0, ddof=1) if len(draws) > 1 else np.full(len(theta), np.nan)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 0.05 * np.maximum(np.abs(theta), 1e-3))
    prof = profile_bounds(problem, theta, weights, scale, None, level)
    tail = 50.0 * (1.0 - level)
    out = {}
    for j, name in enumerate(DECAY[: len(theta)]):
        span = [float(v) for v in np.percentile(draws[:, j], [tail, 100 - tail])] if len(draws) > 1 else [np.nan] * 2
        lo, hi = prof.bounds[j]
        ok = lo is not None and hi is not None and not any(_at_bound(v) for v in span)
        ci = (span if len(draws) > 1 else [lo, hi]) if ok else None
        method = "bootstrap, both stages redone" if len(draws) > 1 else "profile, base held exact"
        at_bound = float(np.mean([_at_bound(v) for v in draws[:, j]])) if len(draws) else float("nan")
        out[name] = DecayEstimate(name, float(theta[j]), ok, ci, [lo, hi], span, ci_method=method,
                                  boot_at_bound=at_bound)
    if hold_rn:
        why = "the repeated runs have a single N" if single_n else "held by the caller"
        out["R_N_star"] = DecayEstimate("R_N_star", R_BOUNDS[1], False, None, [None, None], [np.nan, np.nan],
                                        True, f"{why}: held at {R_BOUNDS[1]:g}, N' = N")
    return out


def fit_decay(table: pd.DataFrame, base: dict, decay_n: bool = True, level: float = 0.95, objective: str = "huber",
              delta: float = 1e-3, n_convention: str = "total", starts=None) -> tuple[dict, float]:
    """Stage 2 alone, with a base law taken from elsewhere and held exact (as Muennighoff et al. held their C4 base):
    ({name: DecayEstimate} with profile-likelihood intervals, objective) on every run of ``table`` (N, D, U, loss).
    starts: rows of (R_D*, R_N*) to start from (default: a 7 x 7 grid from 0.5 to 500)."""
    n_col = _n_column(table, n_convention)
    x, y = _arrays(table, n_col)
    hold_rn = not decay_n
    problem = _decay_problem(x, y, base, hold_rn, make_objective(objective, delta, "log", "sum"))
    w = np.ones(len(y))
    grid = _starts(hold_rn) if starts is None else np.atleast_2d(np.asarray(starts, float))
    theta, value, _ = _best(problem, w, grid)
    return _estimates(theta, problem, w, np.empty((0, len(theta))), hold_rn, level, False), value


def fit_two_stage(table: pd.DataFrame, fixed: Optional[dict] = None, base_law: str = "chinchilla_tied",
                  decay_n: bool = True, exclude_overfitted: bool = True, rise: float = RISE_NATS,
                  bootstrap: int = 200, seed: int = 0, level: float = 0.95, objective: str = "huber",
                  delta: float = 1e-3, n_convention: str = "total", workers: int = 2) -> TwoStageFit:
    """Muennighoff et al.'s two-stage data-constrained fit (module docstring) of a runs table with N, D, U, loss.

    fixed: base parameters held in stage 1 (e.g. {"E": floor}); base_law: "chinchilla_tied" (alpha = beta, theirs)
    or "chinchilla"; decay_n: fit R_N* (held at 1000, N' = N, when False or when the repeated runs have one N);
    exclude_overfitted: leave out repeated runs whose loss rose by > ``rise`` nats with more tokens at the same N
    and U; bootstrap: stratified resamples redoing both stages (0: profile only, no interval)."""
    if base_law not in ("chinchilla", "chinchilla_tied"):
        raise ConfigError(f"base law: '{base_law}' is not a Chinchilla form (chinchilla or chinchilla_tied)")
    table = best_lr_only(table[table["status"] == "done"] if "status" in table else table)
    n_col = _n_column(table, n_convention)
    fresh_rows = fresh_mask(table)
    over = overfitted_mask(table, n_col, rise) if exclude_overfitted else np.zeros(len(table), bool)
    fresh, repeated = table[fresh_rows], table[~fresh_rows & ~over]
    if len(repeated) < 2:
        raise ConfigError(f"table: {len(repeated)} repeated-data runs (D > U) to fit R_D* on; need at least 2")
    options = {"objective": objective, "delta": delta, "n_convention": n_convention, "workers": workers}
    base = _stage1(fresh, base_law, fixed, dict(options, profile=True))
    single_n = repeated[n_col].nunique() < 2
    hold_rn = single_n or not decay_n
    x, y = _arrays(repeated, n_col)
    problem = _decay_problem(x, y, _base_params(base), hold_rn, make_objective(objective, delta, "log", "sum"))
    w = np.ones(len(y))
    theta, value, _ = _best(problem, w, _starts(hold_rn))
    draws, counts = _bootstrap(base, fresh, repeated, n_col, fixed, theta, bootstrap, seed, options)
    estimates = _estimates(theta, problem, w, draws, hold_rn, level, single_n)
    params = dict(_base_params(base), **{k: e.value for k, e in estimates.items()})
    ids = table["run_id"] if "run_id" in table else pd.Series(table.index.astype(str), index=table.index)
    return TwoStageFit(base, params, estimates, value, len(fresh), len(repeated), tuple(ids[over]), counts, level,
                       base_law)
