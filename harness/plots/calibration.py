"""Calibration across scale: Brier score, reliability and resolution vs N, one line per D (harness.calibration).

Plain arrays in, a Figure out; nothing is fitted. Each panel shows its floor where one is known: the
Bayes-optimal Brier of the synthetic source, 0 for reliability, and the Bayes forecaster's resolution
(uncertainty − Bayes Brier, the most a calibrated model can resolve) for resolution.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from harness.plots.data import _groups, _match
from harness.plots.style import colours, figure, legend_outside

PANELS = (("brier", "Brier score"), ("brier_reliability", "reliability (calibration error)"),
          ("brier_resolution", "resolution"))


def calibration_vs_n(n, d, terms: dict, brier_se=None, bayes_brier: Optional[float] = None,
                     uncertainty: Optional[float] = None, n_label: str = "N (total)"):
    """Three panels vs N (Brier, reliability, resolution), one colour per D; ``terms`` maps the PANELS keys to arrays.

    ``bayes_brier`` (the source's Bayes-optimal Brier) and ``uncertainty`` (the targets' Brier uncertainty) draw
    the floors: Brier ≥ Bayes Brier, reliability ≥ 0, resolution ≤ uncertainty − Bayes Brier (for a calibrated model).
    """
    n, d = np.asarray(n, dtype=float), np.asarray(d, dtype=float)
    fig, axes = figure(ncols=3, title="Calibration across scale, one line per D")
    groups = _groups(d)
    for ax, (key, label) in zip(axes, PANELS):
        values = np.asarray(terms[key], dtype=float)
        for colour, value in zip(colours(len(groups)), groups):
            sel = _match(d, value)
            order = np.argsort(n[sel])
            err = None if key != "brier" or brier_se is None else np.asarray(brier_se, dtype=float)[sel][order]
            ax.errorbar(n[sel][order], values[sel][order], yerr=err, fmt="o-", color=colour, label=f"D={value:.2g}")
        ax.set(xscale="log", xlabel=n_label, ylabel=label)
    _floors(axes, bayes_brier, uncertainty)
    legend_outside(axes[-1])
    return fig


def _floors(axes, bayes_brier: Optional[float], uncertainty: Optional[float]) -> None:
    """Dashed reference lines: the Bayes Brier, zero reliability, the Bayes forecaster's resolution."""
    style = dict(color="grey", linestyle="--", linewidth=1)
    if bayes_brier is not None and np.isfinite(bayes_brier):
        axes[0].axhline(bayes_brier, label="Bayes-optimal", **style)
    axes[1].axhline(0.0, **style)
    if bayes_brier is not None and uncertainty is not None and np.isfinite(bayes_brier + uncertainty):
        axes[2].axhline(uncertainty - bayes_brier, label="Bayes-optimal", **style)
