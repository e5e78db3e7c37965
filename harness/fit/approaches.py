"""Hoffmann et al.'s three approaches side by side, each giving N_opt ∝ C^a and D_opt ∝ C^b with an interval.

1: the lower envelope of the training curves (``envelope_fit`` on the logged evaluations);
2: IsoFLOP parabolas with the interior-minimum check (``isoflop_fit``);
3: the parametric law (``fit_law``), a = β/(α+β), b = α/(α+β).
Approaches 1 and 2 use total parameters N and C = 6·N·D (the run table's ``N`` and ``C``). An approach the data
cannot support gives a result with ``error`` set (the reason), never an exception.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np
import pandas as pd

from harness.fit.derived import derived_inputs
from harness.errors import ConfigError
from harness.sizing import training_compute

APPROACHES = (1, 2, 3)
NAMES = {1: "training-curve envelope", 2: "IsoFLOP parabolas", 3: "parametric law"}
FRONTIER_INTERVAL = ("percentile bootstrap ({n} resamples) over the {what} points, refitting the log-log line "
                     "each time")
APPROACH1_CAVEAT = ("intermediate evaluations of a run are read as if a run had been trained for that many tokens; "
                    "with a schedule matched to each run's full length they lie above the loss of a run stopped "
                    "there, which biases the envelope towards larger models (Hoffmann et al. train several "
                    "schedule lengths per size for this reason)")


@dataclass(frozen=True)
class ApproachResult:
    """One approach's frontier exponents: ``a`` (N_opt ∝ C^a) and ``b`` (D_opt ∝ C^b) with their intervals at
    ``level``, ``interval`` saying how the intervals were made, ``points`` the number of frontier points (or runs)
    used, ``error`` why the approach gave nothing (then a, b are NaN), ``extra`` the fitter's own outputs
    (parabolas, isoflop_minima, envelope) for figures."""

    approach: int
    a: float = math.nan
    a_ci: tuple = (math.nan, math.nan)
    b: float = math.nan
    b_ci: tuple = (math.nan, math.nan)
    level: float = 0.95
    interval: str = ""
    points: int = 0
    n_convention: str = "total"
    warnings: tuple = ()
    error: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        """Plain name of the approach."""
        return NAMES[self.approach]

    def to_dict(self, extra: bool = True) -> dict:
        """JSON-ready (tuples as lists; ``extra`` only if asked)."""
        out = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items() if k != "extra"}
        out["name"] = self.name
        if extra:
            out["extra"] = self.extra
        return out


def _ci(values) -> tuple:
    return tuple(float(v) for v in values)


def with_compute(table: pd.DataFrame) -> pd.DataFrame:
    """The table with a ``C`` column (6·N·D where absent) and only done runs with finite N, C and loss."""
    done = table[table["status"] == "done"] if "status" in table else table
    if "N" not in done or "loss" not in done:
        raise ConfigError("table: approaches 1 and 2 need columns N and loss")
    if "C" not in done or done["C"].isna().all():
        done = done.assign(C=training_compute(done["N"].astype(float), done["D"].astype(float)))
    done = done.assign(**{c: pd.to_numeric(done[c], errors="coerce") for c in ("N", "C", "loss")})
    return done.dropna(subset=["N", "C", "loss"])


def approach_1(table: pd.DataFrame, metrics: Optional[pd.DataFrame], bootstrap: int = 1000,
               seed: int = 0) -> ApproachResult:
    """Approach 1 from the logged evaluations (``metrics``: run_id, tokens, eval_loss) of the table's runs."""
    from harness.fit.isoflop import envelope_fit

    if metrics is None or "eval_loss" not in metrics or metrics["eval_loss"].notna().sum() == 0:
        return ApproachResult(1, error="no training curves (intermediate evaluations) recorded")
    runs = with_compute(table)
    if "run_id" not in runs:
        return ApproachResult(1, error="the run table has no run ids to match the training curves")
    try:
        out = envelope_fit(metrics, dict(zip(runs["run_id"], runs["N"])), bootstrap=bootstrap, seed=seed)
    except (ConfigError, ValueError, np.linalg.LinAlgError) as exc:
        return ApproachResult(1, error=str(exc))
    envelope = out["envelope"]
    return ApproachResult(1, out["a"], _ci(out["a_ci"]), out["b"], _ci(out["b_ci"]),
                          interval=FRONTIER_INTERVAL.format(n=bootstrap, what=f"{len(envelope)} envelope"),
                          points=len(envelope), warnings=(APPROACH1_CAVEAT,), extra={"envelope": envelope})


def approach_2(table: pd.DataFrame, bootstrap: int = 1000, seed: int = 0) -> ApproachResult:
    """Approach 2: a parabola in log N per compute budget; minima outside the sampled sizes left out."""
    from harness.fit.isoflop import isoflop_fit

    try:
        result = isoflop_fit(with_compute(table), bootstrap=bootstrap, seed=seed)
    except (ConfigError, ValueError, np.linalg.LinAlgError) as exc:
        return ApproachResult(2, error=str(exc))
    out = result.to_dict()
    used = len(out["isoflop_minima"])
    return ApproachResult(2, out["a"], _ci(out["a_ci"]), out["b"], _ci(out["b_ci"]),
                          interval=FRONTIER_INTERVAL.format(n=bootstrap, what=f"{used} budgets' minimum"),
                          points=used, warnings=tuple(out["warnings"]),
                          extra={"parabolas": out["parabolas"], "isoflop_minima": out["isoflop_minima"]})


def approach_3(fit) -> ApproachResult:
    """Approach 3 from a parametric fit (a FitResult of a law with α and β, or None with the reason elsewhere)."""
    if fit is None:
        return ApproachResult(3, error="no parametric fit")
    a, b = fit.derived.get("a"), fit.derived.get("b")
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
        return ApproachResult(3, error=f"the {fit.law} law defines no compute-optimal exponents")
    loose = [k for k in derived_inputs("a") if (getattr(fit, "identified", None) or {}).get(k) is False]
    if loose:
        return ApproachResult(3, error=f"a and b are computed from {', '.join(loose)}, which the sweep does not "
                                       "pin down (bounds only, see the fit)")
    draws = len(next(iter(fit.samples.values()), ())) if fit.samples else 0
    interval = (f"percentile bootstrap ({draws} resamples) over runs, refitting the law each time" if draws
                else "the fitter's own interval (no bootstrap draws)")
    return ApproachResult(3, float(a), _ci(fit.ci.get("a", (math.nan, math.nan))), float(b),
                          _ci(fit.ci.get("b", (math.nan, math.nan))), level=fit.ci_level, interval=interval,
                          points=fit.n_points, n_convention=fit.n_convention, warnings=tuple(fit.warnings))


def all_approaches(table: pd.DataFrame, metrics: Optional[pd.DataFrame], fit, bootstrap: int = 1000,
                   seed: int = 0) -> list[ApproachResult]:
    """Approaches 1, 2 and 3 on one sweep (``fit``: the report's parametric FitResult, or None)."""
    return [approach_1(table, metrics, bootstrap, seed), approach_2(table, bootstrap, seed), approach_3(fit)]


def approaches_table(results) -> pd.DataFrame:
    """One row per approach: a and b with their intervals, points used, how the interval was made, or the reason
    there is no estimate."""
    rows = []
    for r in results:
        r = r if isinstance(r, ApproachResult) else ApproachResult(**{k: v for k, v in r.items() if k != "name"})
        rows.append({"approach": f"{r.approach}: {r.name}", "a (N_opt ∝ C^a)": r.a, "a low": r.a_ci[0],
                     "a high": r.a_ci[1], "b (D_opt ∝ C^b)": r.b, "b low": r.b_ci[0], "b high": r.b_ci[1],
                     "level": r.level, "points": r.points, "N": r.n_convention,
                     "interval / why none": r.error or r.interval})
    return pd.DataFrame(rows)
