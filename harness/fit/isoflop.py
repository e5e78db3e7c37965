"""Approaches 1 and 2 of Hoffmann et al. 2022: the training-curve envelope and IsoFLOP parabolas, each followed by
power laws N_opt ∝ C^a and D_opt ∝ C^b (weighted least squares in log space, bootstrap CIs)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.errors import ConfigError
from harness.fit.table import best_lr_only

C_FACTOR = 6.0


@dataclass(frozen=True)
class PowerFit:
    """y = coef · C^exponent fitted in log space, with a percentile CI on the exponent."""

    exponent: float
    coef: float
    ci: tuple = (float("nan"), float("nan"))

    def __call__(self, compute):
        """Predicted y at compute C."""
        return self.coef * np.asarray(compute, float) ** self.exponent


def power_fit(compute, values, weights=None) -> PowerFit:
    """Weighted least squares of log(values) on log(C) (Porian et al. weight by 1/std(log n*)^2)."""
    lc, lv = np.log(np.asarray(compute, float)), np.log(np.asarray(values, float))
    w = np.ones_like(lc) if weights is None else np.asarray(weights, float)
    if len(lc) < 2 or len(np.unique(lc)) < 2:
        raise ConfigError(f"{len(lc)} compute budgets: need at least 2 distinct ones to fit an exponent")
    slope, intercept = np.polyfit(lc, lv, 1, w=np.sqrt(w))
    return PowerFit(float(slope), float(np.exp(intercept)))


def frontier_fit(compute, n_opt, weights=None, bootstrap: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """N_opt(C) and D_opt(C) = C/(6 N_opt) power laws with CIs from resampling the frontier points."""
    c, n = np.asarray(compute, float), np.asarray(n_opt, float)
    w = np.ones_like(c) if weights is None else np.asarray(weights, float)
    out = {}
    for name, values in (("N_opt", n), ("D_opt", c / (C_FACTOR * n))):
        fit = power_fit(c, values, w)
        draws = _resampled_slopes(c, values, w, bootstrap, seed)
        tail = 50 * (1 - level)
        ci = tuple(float(v) for v in np.nanpercentile(draws, [tail, 100 - tail])) if len(draws) else fit.ci
        out[name] = PowerFit(fit.exponent, fit.coef, ci)
    return out


def _resampled_slopes(c, values, w, n_resamples, seed) -> np.ndarray:
    rng = np.random.default_rng(seed)
    slopes = []
    for _ in range(n_resamples):
        idx = rng.integers(0, len(c), len(c))
        if len(np.unique(c[idx])) >= 2:
            slopes.append(np.polyfit(np.log(c[idx]), np.log(values[idx]), 1, w=np.sqrt(w[idx]))[0])
    return np.array(slopes)


def group_budgets(compute, rtol: float = 0.1) -> np.ndarray:
    """Label each run with its compute budget: sorted C values within ``rtol`` (relative) of a group's first member
    share a label, the group's geometric-mean C."""
    c = np.asarray(compute, float)
    order = np.argsort(c)
    labels, start = np.empty_like(c), 0
    for i in range(1, len(c) + 1):
        if i == len(c) or c[order[i]] > c[order[start]] * (1 + rtol):
            members = order[start:i]
            labels[members] = np.exp(np.mean(np.log(c[members])))
            start = i
    return labels


def parabola(n, loss) -> dict:
    """Quadratic in x = log10 N through one IsoFLOP slice: coef [c0, c1, c2], n_opt, loss_opt and whether the
    minimum lies inside the sampled sizes (``interior``)."""
    x, y = np.log10(np.asarray(n, float)), np.asarray(loss, float)
    coef = np.polyfit(x, y, 2)
    has_min = coef[0] > 0
    x_opt = -coef[1] / (2 * coef[0]) if has_min else float(x[np.argmin(y)])
    interior = bool(has_min and x.min() <= x_opt <= x.max())
    return {"coef": [float(v) for v in coef], "n_opt": float(10 ** x_opt),
            "loss_opt": float(np.polyval(coef, x_opt)), "interior": interior, "n_points": int(len(x))}


@dataclass(frozen=True)
class IsoflopResult:
    """Approach 2: one parabola per budget and the frontier power laws fitted on the interior minima."""

    parabolas: tuple
    n_opt: PowerFit
    d_opt: PowerFit
    warnings: tuple = ()
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready: parabolas, isoflop_minima [[C, N_opt]], a, b with CIs, warnings."""
        used = [p for p in self.parabolas if p["used"]]
        return {"approach": 2, "parabolas": list(self.parabolas),
                "isoflop_minima": [[p["C"], p["n_opt"]] for p in used],
                "a": self.n_opt.exponent, "a_ci": list(self.n_opt.ci), "b": self.d_opt.exponent,
                "b_ci": list(self.d_opt.ci), "n_coef": self.n_opt.coef, "d_coef": self.d_opt.coef,
                "warnings": list(self.warnings)}


def isoflop_fit(table: pd.DataFrame, n_col: str = "N", c_col: str = "C", loss_col: str = "loss",
                rtol: float = 0.1, min_points: int = 3, bootstrap: int = 1000, seed: int = 0,
                keep_edge: bool = False) -> IsoflopResult:
    """Approach 2: per compute budget a parabola in log N; minima outside the sampled sizes are flagged and (unless
    ``keep_edge``) left out; then N_opt ∝ C^a, D_opt ∝ C^b by least squares with bootstrap CIs over budgets."""
    for col in (n_col, c_col, loss_col):
        if col not in table:
            raise ConfigError(f"table: no column '{col}' for an IsoFLOP fit")
    table = best_lr_only(table)
    budgets = group_budgets(table[c_col].to_numpy(float), rtol)
    rows, warnings = [], []
    for budget in np.unique(budgets):
        sel = table[budgets == budget]
        if len(sel) < min_points or sel[n_col].nunique() < 3:
            warnings.append(f"budget C={budget:.3g}: {len(sel)} runs, too few for a parabola")
            continue
        fit = parabola(sel[n_col], sel[loss_col])
        if not fit["interior"]:
            warnings.append(f"budget C={budget:.3g}: the minimum lies outside the sampled sizes (N_opt "
                            f"{fit['n_opt']:.3g}, sampled {sel[n_col].min():.3g}–{sel[n_col].max():.3g})")
        rows.append({"C": float(budget), **fit, "d_opt": float(budget / (C_FACTOR * fit["n_opt"])),
                     "used": bool(fit["interior"] or keep_edge)})
    used = [r for r in rows if r["used"]]
    if len(used) < 2:
        edge, few = sum(not r["interior"] for r in rows), len(np.unique(budgets)) - len(rows)
        hint = "".join([f" ({edge} with the minimum at the edge of the sampled sizes: widen them)" if edge else "",
                        f" ({few} with fewer than 3 sizes: approach 2 needs an isoFLOP design)" if few else ""])
        raise ConfigError(f"IsoFLOP fit: {len(used)} budgets with an interior minimum; need at least 2{hint}")
    front = frontier_fit([r["C"] for r in used], [r["n_opt"] for r in used], bootstrap=bootstrap, seed=seed)
    return IsoflopResult(tuple(rows), front["N_opt"], front["D_opt"], tuple(warnings))


def envelope_fit(metrics: pd.DataFrame, n_by_run: dict, loss_col: str = "eval_loss", n_bins: int = 20,
                 bootstrap: int = 1000, seed: int = 0) -> dict:
    """Approach 1: from every run's intermediate evaluations (run_id, tokens, loss), C = 6·N·tokens; the lower
    envelope of loss vs C (the lowest point in each of ``n_bins`` log-C bins) gives N_opt(C) and D_opt(C). Bins won
    by the smallest or largest model are left out: there the optimum lies outside the sampled sizes."""
    for col in ("run_id", "tokens", loss_col):
        if col not in metrics:
            raise ConfigError(f"metrics: no column '{col}' for the envelope fit")
    m = metrics.dropna(subset=[loss_col])
    m = m[m["run_id"].isin(list(n_by_run)) & (m["tokens"] > 0)].copy()
    m["N"] = m["run_id"].map(n_by_run).astype(float)
    m["C"] = C_FACTOR * m["N"] * m["tokens"].astype(float)
    edges = np.linspace(np.log(m["C"].min()), np.log(m["C"].max()), n_bins + 1)
    m["bin"] = np.clip(np.digitize(np.log(m["C"]), edges) - 1, 0, n_bins - 1)
    best = m.loc[m.groupby("bin")[loss_col].idxmin()].sort_values("C")
    best = best[(best["N"] > m["N"].min()) & (best["N"] < m["N"].max())]   # the smallest/largest size: an edge
    if best["N"].nunique() < 2:
        raise ConfigError("envelope fit: the lower envelope uses a single model size; train more sizes")
    front = frontier_fit(best["C"], best["N"], bootstrap=bootstrap, seed=seed)
    return {"approach": 1, "envelope": best[["run_id", "C", "N", "tokens", loss_col]].to_dict("records"),
            "a": front["N_opt"].exponent, "a_ci": list(front["N_opt"].ci), "b": front["D_opt"].exponent,
            "b_ci": list(front["D_opt"].ci), "n_coef": front["N_opt"].coef, "d_coef": front["D_opt"].coef}
