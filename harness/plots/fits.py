"""Figures about fits: compute-optimal frontiers, extrapolation, bootstrap distributions, functional forms.

Inputs are plain arrays and callables computed elsewhere (the fitter, harness.compare); nothing is fitted here.
"""
from __future__ import annotations

from typing import Callable, Mapping, Optional

import numpy as np

from harness.sizing import tokens_for_compute
from harness.plots.style import OURS, colours, figure, legend_outside, note, published_colour

Frontier = tuple[Callable, Callable]


def frontier(c_range: tuple[float, float], published: Mapping[str, Frontier], ours: Optional[Frontier] = None,
             points: Optional[tuple] = None, ours_label: str = "this sweep"):
    """Compute-optimal N and D vs C: ours (with isoFLOP minima ``points`` = (C, N_opt)) beside published
    frontiers, each a pair of callables (N_opt(C), D_opt(C))."""
    grid = np.geomspace(*c_range, 200)
    fig, axes = figure(2, title="Compute-optimal frontier")
    taken: set = set()
    for name, (n_fn, d_fn) in published.items():
        style = dict(color=published_colour(name, taken), ls="--", label=name)
        axes[0].plot(grid, n_fn(grid), **style)
        axes[1].plot(grid, d_fn(grid), **style)
    if ours is not None:
        axes[0].plot(grid, ours[0](grid), color=OURS, lw=2.4, label=ours_label)
        axes[1].plot(grid, ours[1](grid), color=OURS, lw=2.4, label=ours_label)
    if points is not None:
        c, n = (np.asarray(x, dtype=float) for x in points)
        axes[0].plot(c, n, "*", color=OURS, ms=11, mec="black", label="isoFLOP minima")
        axes[1].plot(c, tokens_for_compute(c, n), "*", color=OURS, ms=11, mec="black", label="isoFLOP minima")
    for ax, label in zip(axes, ("N_opt (parameters)", "D_opt (tokens)")):
        ax.set(xscale="log", yscale="log", xlabel="C (FLOP)", ylabel=label)
    legend_outside(axes[1])
    note(axes[1], "each frontier in its own N convention")
    return fig


def extrapolation(n, loss, held_out, predicted, lo=None, hi=None, law_curve: Optional[tuple] = None):
    """Fitted points, held-out (largest) runs and the law's prediction for them with its interval."""
    n, loss, predicted = (np.asarray(x, dtype=float) for x in (n, loss, predicted))
    held = np.asarray(held_out, dtype=bool)
    fig, (ax,) = figure(title="Extrapolation to held-out runs")
    ax.plot(n[~held], loss[~held], "o", color="0.4", label="fitted")
    ax.plot(n[held], loss[held], "o", color=OURS, label="held out (actual)")
    if lo is not None and hi is not None:
        err = np.vstack([predicted - np.asarray(lo, dtype=float), np.asarray(hi, dtype=float) - predicted])
        ax.errorbar(n[held], predicted, yerr=err, fmt="s", mfc="none", color="black", capsize=4,
                    label="predicted (interval)")
    else:
        ax.plot(n[held], predicted, "s", mfc="none", color="black", label="predicted")
    if law_curve is not None:
        ax.plot(*law_curve, color="black", alpha=0.5, lw=1)
    errors = 100 * np.abs(predicted - loss[held]) / loss[held]
    ax.set(xscale="log", yscale="log", xlabel="N (parameters)", ylabel="test loss (nats/token)")
    legend_outside(ax)
    note(ax, f"error on held-out runs: max {errors.max():.2g} %, mean {errors.mean():.2g} %")
    return fig


def bootstrap(samples: Mapping[str, np.ndarray], point: Optional[Mapping[str, float]] = None,
              names=("alpha", "beta", "a"), level: float = 0.95):
    """Histograms of bootstrap draws of α, β and a, with the point estimate and the fit's ``level`` interval."""
    names = [k for k in names if k in samples]
    fig, axes = figure(max(len(names), 1), title="Bootstrap distributions")
    for ax, name in zip(axes, names):
        draws = np.asarray(samples[name], dtype=float)
        ax.hist(draws, bins=30, color="#1f77b4", alpha=0.75)
        draws = draws[np.isfinite(draws)]
        lo, hi = np.percentile(draws, [50 * (1 - level), 50 * (1 + level)]) if len(draws) else (np.nan, np.nan)
        ax.axvspan(lo, hi, color="0.8", alpha=0.5, zorder=0)
        if point and name in point:
            ax.axvline(point[name], color=OURS, lw=2)
        ax.set(xlabel=name, ylabel="count", title=f"{name}: {100 * level:.0f}% [{lo:.3g}, {hi:.3g}]")
    return fig


def form_comparison(x, y, curves: Mapping[str, tuple], weights: Optional[Mapping[str, float]] = None,
                    xlabel: str = "N (parameters)", confident: bool = False):
    """The same points with several functional forms (power law, logistic, exponential, broken power law);
    ``curves`` maps name → (x grid, y grid), ``weights`` name → Akaike weight by AICc (harness.fit.select), and
    ``confident`` says whether the fitter's verdict names the best form."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    fig, (ax,) = figure(title="Functional forms on the same points")
    ax.plot(x, y, "o", color="0.3", label="runs")
    best = max(weights, key=weights.get) if weights else None
    for colour, (name, (gx, gy)) in zip(colours(len(curves)), curves.items()):
        label = name + (f" (weight {weights[name]:.2f})" if weights and name in weights else "")
        ax.plot(gx, gy, color=colour, lw=2.4 if name == best else 1.4, label=label)
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel="test loss (nats/token)")
    legend_outside(ax)
    if best:
        note(ax, f"preferred by AICc: {best}" if confident else "AICc cannot tell the forms apart")
    return fig


def forest(panels: Mapping[str, dict], level: float = 0.95):
    """Forest plot: per quantity (one panel each, two columns: α, β above a, b), our value and interval (red, top)
    above the published values with their ±1.96σ intervals; filled markers are like-for-like comparisons, open
    ones are not. ``panels``: {quantity: {"ours": (value, lo, hi, status), "published": [(label, value, lo, hi,
    like)]}}."""
    names = list(panels)
    pairs = [names[i:i + 2] for i in range(0, len(names), 2)] or [[]]
    heights = [max(len(panels[q]["published"]) + 1 for q in pair) if pair else 1 for pair in pairs]
    fig, axes = figure(2, title="Our exponents beside the published ones", height=1.4 + 0.2 * sum(heights),
                       nrows=len(pairs), height_ratios=heights)
    for ax, quantity in zip(axes, [q for pair in pairs for q in pair + [None] * (2 - len(pair))]):
        if quantity is None:
            ax.set_visible(False)
        else:
            _forest_panel(ax, quantity, panels[quantity], level)
    handles = [axes[0].plot([], [], "o", color="0.2", label="published, like for like")[0],
               axes[0].plot([], [], "o", mfc="white", color="0.2", label="published, not like for like")[0]]
    fig.legend(handles=handles, loc="outside lower center", ncol=2)
    return fig


def _forest_limits(value: float, rows: list, ours: tuple = ()) -> tuple[float, float]:
    """x limits spanning the published values, their intervals and our value, with a margin; an end of our
    interval (``ours``: lo, hi) is included when it lies within one such span beyond them (a narrow interval is
    shown whole; one decades wide is clipped, with an arrow)."""
    xs = [value] + [x for r in rows for x in r[1:4] if np.isfinite(x)]
    xs = [x for x in xs if np.isfinite(x)] or [0.0, 1.0]
    low, high = min(xs), max(xs)
    span = (high - low) or 0.1 * max(abs(high), 1e-3)
    near = [x for x in ours if np.isfinite(x) and low - span <= x <= high + span]
    low, high = min([low, *near]), max([high, *near])
    pad = 0.15 * (high - low) or 0.1 * max(abs(high), 1e-3)
    return low - pad, high + pad


def _forest_panel(ax, quantity: str, panel: dict, level: float) -> None:
    value, lo, hi, status = panel["ours"]
    rows = panel["published"]
    y = np.arange(len(rows) + 1)[::-1]
    left, right = _forest_limits(value, rows, (lo, hi))
    if np.isfinite(lo) and np.isfinite(hi) and np.isfinite(value) and status != "not identified":
        shown_lo, shown_hi = max(lo, left), min(hi, right)
        ax.errorbar([value], [y[0]], xerr=[[value - shown_lo], [shown_hi - value]], fmt="s", color=OURS, capsize=4,
                    ms=7)
        ax.axvspan(shown_lo, shown_hi, color=OURS, alpha=0.08, zorder=0)
        for end, edge, mark in ((lo, left, "<"), (hi, right, ">")):
            if (end < edge) if mark == "<" else (end > edge):
                ax.plot([edge], [y[0]], mark, color=OURS, ms=7, clip_on=False)
                ax.annotate(f"{end:.3g}", (edge, y[0]), textcoords="offset points", xytext=(0, 6), ha="center",
                            fontsize=7, color=OURS)
    elif np.isfinite(value):
        ax.plot([value], [y[0]], "s", mfc="white", color=OURS, ms=7)
    ax.set_xlim(left, right)
    for yy, (label, theirs, t_lo, t_hi, like) in zip(y[1:], rows):
        style = dict(color="0.2", mfc="0.2" if like else "white", ms=5)
        if np.isfinite(t_lo):
            ax.errorbar([theirs], [yy], xerr=[[theirs - t_lo], [t_hi - theirs]], fmt="o", capsize=2, **style)
        else:
            ax.plot([theirs], [yy], "o", **style)
    ours_label = f"ours ({status})" if status != "estimated" else f"ours ({100 * level:.0f}%)"
    ax.set_yticks(y, [ours_label] + [r[0] for r in rows], fontsize=7)
    ax.set_ylim(-0.7, len(rows) + 0.7)
    ax.set_title({"alpha": "α", "beta": "β"}.get(quantity, quantity), loc="left", fontsize=10)
    ax.grid(True, axis="y", alpha=0.0)
