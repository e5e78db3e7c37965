"""Approaches 1 and 2 (owned by the isoFLOP engineer; the approach-3 fitter imports from here, do not rewrite).

Hoffmann et al. 2022 estimate the compute-optimal frontier N_opt(C) ∝ C^a, D_opt(C) ∝ C^b three ways; this
module holds the two that need no parametric loss law:

* **Approach 1** (:func:`envelope_fit`): the lower envelope of loss against compute C = 6·N·tokens over every
  run's intermediate evaluations; the size that achieves the envelope at each C is N_opt(C).
* **Approach 2** (:func:`isoflop_parabolas`, :func:`frontier_fit`, :func:`isoflop_fit`): per compute budget a
  parabola of loss in x = log10 N through the isoFLOP points; its vertex is N*(C), flagged when it lies outside
  the sampled sizes; then (weighted) least squares of log N* and log D* on log C with a seeded bootstrap over
  budgets. Porian et al. 2024's 15 published exponents are weighted OLS of this kind (tests reproduce them).

Everything is a pure function of DataFrames / arrays; user mistakes raise :class:`harness.config.ConfigError`
with a one-line ``"<column or argument>: <what is wrong>"`` message.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from harness.config import ConfigError

MIN_POINTS = 3          # a parabola needs three distinct sizes
BUDGET_DIGITS = 3       # budgets without a budget column: C rounded to this many significant figures


# ----------------------------------------------------------------------------------------------------- checks
def _require(table: pd.DataFrame, columns: Sequence[str]) -> None:
    if not isinstance(table, pd.DataFrame):
        raise ConfigError(f"table: expected a pandas DataFrame, got {type(table).__name__}")
    for col in columns:
        if col not in table.columns:
            raise ConfigError(f"{col}: missing column (have: {', '.join(map(str, table.columns))})")


def _values(table: pd.DataFrame, col: str, positive: bool = True) -> np.ndarray:
    """The column as floats; every value finite (and > 0 when ``positive``), else a one-line ConfigError."""
    try:
        v = pd.to_numeric(table[col], errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(f"{col}: values must be numeric") from None
    bad = ~np.isfinite(v) | ((v <= 0) if positive else False)
    if bad.any():
        what = "non-positive or non-finite" if positive else "non-finite"
        raise ConfigError(f"{col}: {int(bad.sum())} {what} value(s), first {v[bad][0]!r} at row {int(np.argmax(bad))}")
    return v


def _array(name: str, values, n: Optional[int] = None, positive: bool = True) -> np.ndarray:
    try:
        v = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: values must be numeric") from None
    if n is not None and v.size != n:
        raise ConfigError(f"{name}: has {v.size} values, expected {n}")
    if (~np.isfinite(v) | ((v <= 0) if positive else False)).any():
        raise ConfigError(f"{name}: every value must be finite{' and > 0' if positive else ''}")
    return v


def _budget_keys(c: np.ndarray, digits: int = BUDGET_DIGITS) -> np.ndarray:
    """C rounded to ``digits`` significant figures: runs of one isoFLOP budget differ only by step rounding."""
    return np.array([float(f"{x:.{digits}g}") for x in c])


def _json(x):
    """Plain Python floats, NaN → None, recursively (for JSON)."""
    if isinstance(x, dict):
        return {str(k): _json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [_json(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    return x


# ------------------------------------------------------------------------------------------------ approach 2
def _parabola(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Least-squares quadratic y = c0·x² + c1·x + c2; returns (coef, vertex x*, standard error of x*)."""
    coef, res, *_ = np.polyfit(x, y, 2, full=True)
    c0, c1, _ = coef
    if c0 <= 0:
        return coef, np.nan, np.nan
    xs = -c1 / (2 * c0)
    dof = len(x) - 3
    if dof <= 0:
        return coef, xs, np.nan
    s2 = float(res[0]) / dof if len(res) else 0.0
    design = np.vander(x, 3)
    cov = s2 * np.linalg.pinv(design.T @ design)
    grad = np.array([c1 / (2 * c0 ** 2), -1 / (2 * c0), 0.0])
    return coef, xs, float(np.sqrt(max(grad @ cov @ grad, 0.0)))


def isoflop_parabolas(table: pd.DataFrame, n_col: str = "N", c_col: str = "C", loss_col: str = "loss",
                      budget_col: Optional[str] = None, skip_small: bool = False) -> pd.DataFrame:
    """One row per compute budget: a parabola of loss in x = log10 N through its isoFLOP points and its vertex.

    Budgets are the values of ``budget_col`` when given, else C rounded to 3 significant figures. Columns:
    budget, C (geometric mean of the budget's C), c0, c1, c2 (loss = c0·x² + c1·x + c2, x = log10 N),
    N_star (vertex, NaN when the parabola has no minimum), D_star (= C / (6·N_star)), loss_star,
    log10_N_star_se (delta method; NaN with exactly 3 points), n_points, n_min, n_max, interior (the vertex lies
    inside [n_min, n_max]) and warning (empty when fine). A budget with fewer than 3 distinct sizes raises
    ConfigError, or is dropped when ``skip_small`` (listed in ``table.attrs['dropped']``).
    """
    _require(table, [n_col, c_col, loss_col] + ([budget_col] if budget_col else []))
    n, c, loss = _values(table, n_col), _values(table, c_col), _values(table, loss_col, positive=False)
    keys = table[budget_col].to_numpy() if budget_col else _budget_keys(c)
    rows, dropped = [], []
    for key in pd.unique(keys):
        sel = keys == key
        x, y, cc = np.log10(n[sel]), loss[sel], c[sel]
        if len(np.unique(x)) < MIN_POINTS:
            msg = f"budget {key:.3g}: {len(np.unique(x))} distinct sizes, a parabola needs at least {MIN_POINTS}" \
                if isinstance(key, (float, int, np.number)) else f"budget {key}: too few distinct sizes"
            if not skip_small:
                raise ConfigError(f"{budget_col or c_col}: {msg} (skip_small=True drops such budgets)")
            dropped.append(msg)
            continue
        coef, xs, se = _parabola(x, y)
        budget_c = float(np.exp(np.mean(np.log(cc))))
        interior = bool(np.isfinite(xs) and x.min() <= xs <= x.max())
        warning = ""
        if not np.isfinite(xs):
            warning = f"C={budget_c:.3g}: loss is not convex in log N (no minimum)"
        elif not interior:
            side = "below the smallest" if xs < x.min() else "above the largest"
            warning = f"C={budget_c:.3g}: minimum N*={10 ** xs:.3g} lies {side} sampled size"
        n_star = 10 ** xs if np.isfinite(xs) else np.nan
        rows.append(dict(budget=key, C=budget_c, c0=coef[0], c1=coef[1], c2=coef[2], N_star=n_star,
                         D_star=budget_c / (6 * n_star), loss_star=np.polyval(coef, xs) if np.isfinite(xs) else np.nan,
                         log10_N_star_se=se, n_points=int(sel.sum()), n_min=float(10 ** x.min()),
                         n_max=float(10 ** x.max()), interior=interior, warning=warning))
    if not rows:
        raise ConfigError(f"{budget_col or c_col}: no budget has {MIN_POINTS} distinct sizes")
    out = pd.DataFrame(rows).sort_values("C", kind="stable").reset_index(drop=True)
    out.attrs["dropped"] = dropped
    return out


def _wls_batch(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares y = i + s·x along the last axis of batched arrays; (slope, intercept)."""
    sw = w.sum(-1)
    xm, ym = (w * x).sum(-1) / sw, (w * y).sum(-1) / sw
    dx = x - xm[..., None]
    sxx = (w * dx * dx).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(sxx > 1e-12 * sw, (w * dx * (y - ym[..., None])).sum(-1) / sxx, np.nan)
    return slope, ym - slope * xm


def frontier_fit(C, N_star, weights=None, bootstrap: int = 1000, seed: int = 0, D_star=None, interior=None,
                 level: float = 0.95) -> dict:
    """Least squares of log N* and log D* on log C: N* = a_coef·C^a, D* = b_coef·C^b.

    ``weights`` multiply squared residuals (Porian et al. use 1/sd(log N*)²); ``D_star`` defaults to C/(6·N*),
    for which b = 1 − a exactly. CIs are ``level`` percentile intervals over a seeded bootstrap that resamples
    budgets with replacement (vectorised; degenerate resamples with a single distinct C are discarded).
    ``interior`` (booleans per budget) only adds a warning when some minimum lies outside its sampled sizes.
    Returns a JSON-able dict: a, a_coef, b, b_coef, r2_a, r2_b, ci {a: [lo, hi], b: [lo, hi], level},
    n_budgets, n_bootstrap, warnings.
    """
    c = _array("C", C)
    n = _array("N_star", N_star, c.size)
    d = c / (6 * n) if D_star is None else _array("D_star", D_star, c.size)
    w = np.ones_like(c) if weights is None else _array("weights", weights, c.size)
    if c.size < 2 or np.unique(c).size < 2:
        raise ConfigError(f"C: need at least 2 distinct budgets for a frontier, got {np.unique(c).size}")
    if not 0 < level < 1:
        raise ConfigError(f"level: must lie in (0, 1), got {level}")
    if bootstrap < 0:
        raise ConfigError(f"bootstrap: must be >= 0, got {bootstrap}")
    x, y = np.log(c), np.log(np.vstack([n, d]))
    slope, icpt = _wls_batch(np.broadcast_to(x, y.shape), y, np.broadcast_to(w, y.shape))
    resid = y - icpt[:, None] - slope[:, None] * x
    ym = (w * y).sum(-1) / w.sum()
    r2 = 1 - (w * resid ** 2).sum(-1) / (w * (y - ym[:, None]) ** 2).sum(-1)
    warnings = []
    if c.size < 3:
        warnings.append(f"only {c.size} budgets: the exponent is a line through 2 points, CIs are meaningless")
    if interior is not None and not np.all(np.asarray(interior, dtype=bool)):
        bad = c[~np.asarray(interior, dtype=bool)]
        warnings.append("minimum outside the sampled sizes at C=" + ", ".join(f"{v:.3g}" for v in bad))
    ci = {"a": [np.nan, np.nan], "b": [np.nan, np.nan], "level": level}
    kept = 0
    if bootstrap:
        idx = np.random.default_rng(seed).integers(0, c.size, size=(bootstrap, c.size))
        xb = x[idx]
        sb = np.stack([_wls_batch(xb, y[k][idx], w[idx])[0] for k in range(2)])
        ok = np.isfinite(sb).all(0)
        kept = int(ok.sum())
        q = [(1 - level) / 2, (1 + level) / 2]
        if kept:
            ci["a"], ci["b"] = (np.quantile(sb[k, ok], q).tolist() for k in range(2))
    return _json(dict(a=slope[0], a_coef=np.exp(icpt[0]), b=slope[1], b_coef=np.exp(icpt[1]), r2_a=r2[0],
                      r2_b=r2[1], ci=ci, n_budgets=int(c.size), n_bootstrap=kept, warnings=warnings))


@dataclass(frozen=True)
class IsoflopResult:
    """Approach 2: per-budget parabolas and the frontier fitted through their (interior) minima."""

    parabolas: pd.DataFrame
    a: float
    a_coef: float
    b: float
    b_coef: float
    ci: dict
    warnings: tuple
    n_col: str = "N"
    c_col: str = "C"
    weighted: bool = False

    @property
    def used(self) -> pd.DataFrame:
        """The parabola rows whose minima entered the frontier fit."""
        return self.parabolas[self.parabolas["used"]]

    def to_dict(self) -> dict:
        """JSON-able: the frontier plus ``parabolas`` [{C, coef (log10 N, highest power first), n_opt, loss_opt,
        N_star, D_star, loss_star, interior, n_min, n_max, ...}] and ``isoflop_minima`` [[C, N*], ...] (the
        minima used in the fit), the keys harness.plots.sweep reads."""
        parabolas = [dict(C=r.C, coef=[r.c0, r.c1, r.c2], coeffs=[r.c0, r.c1, r.c2], n_opt=r.N_star,
                          loss_opt=r.loss_star, N_star=r.N_star, D_star=r.D_star, loss_star=r.loss_star,
                          interior=r.interior, used=r.used, n_min=r.n_min, n_max=r.n_max, n_points=r.n_points,
                          warning=r.warning) for r in self.parabolas.itertuples()]
        return _json(dict(approach=2, n_col=self.n_col, c_col=self.c_col, weighted=self.weighted, a=self.a,
                          a_coef=self.a_coef, b=self.b, b_coef=self.b_coef, ci=self.ci,
                          n_budgets=int(self.parabolas["used"].sum()), warnings=list(self.warnings),
                          parabolas=parabolas, isoflop_minima=[[r.C, r.N_star] for r in self.used.itertuples()]))


def isoflop_fit(table: pd.DataFrame, n_col: str = "N", c_col: str = "C", loss_col: str = "loss",
                budget_col: Optional[str] = None, weighted: bool = False, include_non_interior: bool = False,
                skip_small: bool = False, bootstrap: int = 1000, seed: int = 0, level: float = 0.95) -> IsoflopResult:
    """Approach 2 end to end: :func:`isoflop_parabolas`, then :func:`frontier_fit` through the minima.

    Minima outside their budget's sampled sizes (or of non-convex parabolas) are flagged and left out of the
    frontier unless ``include_non_interior`` (non-convex ones always are). ``weighted`` weights each minimum by
    1/se(log N*)² from its parabola (needs ≥ 4 points per budget). Say which N and C convention you fit:
    ``n_col``/``c_col`` (e.g. N_nonembed with C_kaplan reproduces Kaplan-style counting).
    """
    par = isoflop_parabolas(table, n_col, c_col, loss_col, budget_col, skip_small)
    finite = np.isfinite(par["N_star"].to_numpy())
    par["used"] = finite & (par["interior"].to_numpy() | include_non_interior)
    warnings = list(par.attrs.get("dropped", [])) + [w for w in par["warning"] if w]
    use = par[par["used"]]
    if len(use) < 2:
        raise ConfigError(f"{c_col}: only {len(use)} budget(s) with an interior minimum, a frontier needs 2")
    weights = None
    if weighted:
        se = use["log10_N_star_se"].to_numpy()
        if not (np.isfinite(se) & (se > 0)).all():
            raise ConfigError("weighted: every budget needs >= 4 points (and a non-exact fit) for a standard error")
        weights = 1 / se ** 2
    front = frontier_fit(use["C"], use["N_star"], weights=weights, bootstrap=bootstrap, seed=seed, level=level,
                         interior=par.loc[finite, "interior"] if include_non_interior else None)
    if not include_non_interior and (~par["used"]).any():
        warnings.append(f"{int((~par['used']).sum())} budget(s) left out of the frontier: minimum not interior")
    warnings += front["warnings"]
    return IsoflopResult(parabolas=par, a=front["a"], a_coef=front["a_coef"], b=front["b"], b_coef=front["b_coef"],
                         ci=front["ci"], warnings=tuple(dict.fromkeys(warnings)), n_col=n_col, c_col=c_col,
                         weighted=weighted)


# ------------------------------------------------------------------------------------------------ approach 1
@dataclass(frozen=True)
class EnvelopeResult:
    """Approach 1: the lower envelope of loss vs C and the frontier fitted through the sizes that achieve it."""

    envelope: pd.DataFrame
    a: float
    a_coef: float
    b: float
    b_coef: float
    warnings: tuple
    n_col: str = "N"

    def to_dict(self) -> dict:
        """JSON-able: the frontier, ``envelope`` [{C, loss, N_opt, D_opt, run_id, edge, used}] and
        ``envelope_minima`` [[C, N_opt], ...] for the grid points used in the fit."""
        used = self.envelope[self.envelope["used"]]
        return _json(dict(approach=1, n_col=self.n_col, a=self.a, a_coef=self.a_coef, b=self.b, b_coef=self.b_coef,
                          warnings=list(self.warnings), envelope=self.envelope.to_dict(orient="records"),
                          envelope_minima=used[["C", "N_opt"]].to_numpy().tolist()))


def _curves_on_grid(merged: pd.DataFrame, grid: np.ndarray) -> tuple[np.ndarray, list, np.ndarray]:
    """Loss of every run on the C grid (log-log interpolation inside each run's C range, NaN outside)."""
    runs, sizes, rows = [], [], []
    for run_id, g in merged.groupby("run_id", sort=False):
        g = g.sort_values("C_eval")
        lc, ll = np.log(g["C_eval"].to_numpy()), np.log(g["loss_eval"].to_numpy())
        if lc.size < 2:
            continue
        lg = np.log(grid)
        rows.append(np.where((lg >= lc[0]) & (lg <= lc[-1]), np.exp(np.interp(lg, lc, ll)), np.nan))
        runs.append(run_id)
        sizes.append(g["N_run"].iloc[0])
    return np.array(rows), runs, np.array(sizes, dtype=float)


def envelope_fit(metrics: pd.DataFrame, runs: pd.DataFrame, n_col: str = "N", tokens_col: str = "tokens",
                 loss_col: str = "eval_loss", n_grid: int = 60, min_runs: int = 2,
                 include_edges: bool = False) -> EnvelopeResult:
    """Approach 1: N_opt(C) and D_opt(C) from the lower envelope of every run's evaluation curve.

    ``metrics`` (run_id, tokens, eval_loss; rows without an eval are ignored) is joined to ``runs`` (run_id,
    ``n_col``); each eval point sits at C = 6·N·tokens. Curves are interpolated in log-log on ``n_grid``
    log-spaced C values where at least ``min_runs`` runs have data; at each C the run with the lowest loss gives
    N_opt and D_opt = C/(6·N_opt). Grid points won by the smallest or largest size in the sweep are marked
    ``edge`` (the optimum may lie outside the sizes) and left out of the fit unless ``include_edges``.
    log N_opt and log D_opt are fitted on log C by ordinary least squares (the grid points are strongly
    correlated, so no bootstrap interval is given). As in Hoffmann et al., intermediate evaluations of a run
    stand for shorter runs only if the schedule allows it (e.g. several cosine lengths per size or a constant LR).
    """
    _require(metrics, ["run_id", tokens_col, loss_col])
    _require(runs, ["run_id", n_col])
    if n_grid < 3 or min_runs < 1:
        raise ConfigError(f"n_grid: need n_grid >= 3 and min_runs >= 1, got {n_grid} and {min_runs}")
    evals = metrics[["run_id", tokens_col, loss_col]].dropna(subset=[loss_col])
    if evals.empty:
        raise ConfigError(f"{loss_col}: no evaluation points in metrics")
    size = runs[["run_id", n_col]].drop_duplicates("run_id")
    _values(size, n_col)
    merged = evals.merge(size.rename(columns={n_col: "N_run"}), on="run_id", how="inner")
    if merged.empty:
        raise ConfigError("run_id: no run in metrics matches a run in runs")
    tokens = _values(merged, tokens_col)
    merged = merged.assign(C_eval=6 * merged["N_run"].to_numpy(float) * tokens,
                           loss_eval=_values(merged, loss_col))
    lo, hi = merged["C_eval"].min(), merged["C_eval"].max()
    grid = np.geomspace(lo, hi, n_grid)
    curves, run_ids, sizes = _curves_on_grid(merged, grid)
    if len(run_ids) < 2:
        raise ConfigError(f"{loss_col}: need at least 2 runs with 2 or more evaluations each, got {len(run_ids)}")
    covered = np.isfinite(curves).sum(0) >= min_runs
    if covered.sum() < 3:
        raise ConfigError(f"min_runs: fewer than 3 grid points are covered by {min_runs} runs")
    grid, curves = grid[covered], curves[:, covered]
    best = np.nanargmin(curves, axis=0)
    n_opt = sizes[best]
    edge = (n_opt == sizes.min()) | (n_opt == sizes.max())
    used = ~edge | include_edges
    env = pd.DataFrame(dict(C=grid, loss=curves[best, np.arange(grid.size)], N_opt=n_opt, D_opt=grid / (6 * n_opt),
                            run_id=[run_ids[i] for i in best], edge=edge, used=used))
    warnings = []
    if edge.any() and not include_edges:
        warnings.append(f"{int(edge.sum())} of {grid.size} envelope points are won by the smallest or largest size "
                        "and left out")
    if np.unique(n_opt[used]).size < 2:
        raise ConfigError(f"{n_col}: the envelope is won by fewer than 2 interior sizes; sample more sizes")
    front = frontier_fit(grid[used], n_opt[used], bootstrap=0)
    return EnvelopeResult(envelope=env, a=front["a"], a_coef=front["a_coef"], b=front["b"], b_coef=front["b_coef"],
                          warnings=tuple(warnings + front["warnings"]), n_col=n_col)
