"""The report's calibration section: Brier terms per run and the calibration-vs-N figure (harness.calibration)."""
from __future__ import annotations

import base64
from typing import Optional

import numpy as np
import pandas as pd

from harness.plots.calibration import PANELS, calibration_vs_n
from harness.plots.style import close, png_bytes

COLUMNS = ["run_id", "N", "D", "brier", "brier_se", "brier_reliability", "brier_resolution", "brier_uncertainty",
           "brier_within_bin", "ece", "brier_bayes"]


def calibration_runs(table: pd.DataFrame) -> pd.DataFrame:
    """Finished runs with a recorded Brier score, sorted by N then D, with the calibration columns (numeric)."""
    if "brier" not in table or not len(table):
        return pd.DataFrame(columns=COLUMNS)
    done = table[table["status"] == "done"] if "status" in table else table
    runs = done[[c for c in COLUMNS if c in done]].copy()
    for col in runs.columns[1:]:
        runs[col] = pd.to_numeric(runs[col], errors="coerce")
    return runs.dropna(subset=["N", "D", "brier"]).sort_values(["N", "D"]).reset_index(drop=True)


def _floor(runs: pd.DataFrame, key: str) -> Optional[float]:
    """The (shared) value of a per-sweep reference column, e.g. the Bayes Brier of the fixed eval set; None if absent."""
    values = runs[key].dropna() if key in runs else pd.Series(dtype=float)
    return float(values.median()) if len(values) else None


def calibration_figure(runs: pd.DataFrame):
    """The Brier/reliability/resolution vs N figure of ``calibration_runs(table)``."""
    return calibration_vs_n(runs["N"], runs["D"], {key: runs[key] for key, _ in PANELS}, runs.get("brier_se"),
                            _floor(runs, "brier_bayes"), _floor(runs, "brier_uncertainty"))


def calibration_section(table: pd.DataFrame) -> dict:
    """{"figure": base64 PNG or "", "table": DataFrame or None, "note": text} for the report's calibration section."""
    runs = calibration_runs(table)
    if runs.empty:
        return {"figure": "", "table": None, "note": "No run records a Brier score (records made before "
                                                     "calibration metrics, or no finished runs)."}
    fig = calibration_figure(runs)
    image = base64.b64encode(png_bytes(fig)).decode("ascii")
    close(fig)
    bayes = _floor(runs, "brier_bayes")
    floor = f" The Bayes-optimal Brier of the eval set is {bayes:.4g}." if bayes is not None else ""
    best = runs.loc[int(np.argmin(runs["brier"].to_numpy()))]
    note = (f"Multi-class next-token Brier score with Murphy's class-wise decomposition (15 bins): brier ≈ "
            f"reliability − resolution + uncertainty (+ within-bin terms); ECE on top-1 confidence, 15 bins."
            f"{floor} Lowest Brier {best['brier']:.4g} at N={best['N']:.3g}, D={best['D']:.3g}.")
    return {"figure": image, "table": runs, "note": note}
