"""Figures of the runs themselves: loss vs N and vs D with the fitted law, isoFLOP curves, residuals, curves.

Every function takes plain arrays (and, for laws, a callable ``law(N, D) -> loss``) and returns a Figure;
none of them fits anything.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
import pandas as pd

from harness.plots.style import colours, figure, legend_outside, note

Law = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _groups(values: np.ndarray, digits: int = 2) -> list[float]:
    """Distinct values after rounding to ``digits`` significant figures (sweeps repeat D or tokens/param)."""
    rounded = [float(f"{v:.{digits}g}") for v in values]
    return sorted(set(rounded))


def _match(values: np.ndarray, target: float, digits: int = 2) -> np.ndarray:
    return np.array([float(f"{v:.{digits}g}") == target for v in values])


def loss_vs_n(n, d, loss, law: Optional[Law] = None, by: str = "D", loss_se=None, n_label: str = "N (total)"):
    """Test loss vs N, one colour per D (``by='D'``) or per tokens/param (``by='tokens_per_param'``), with the law."""
    n, d, loss = (np.asarray(x, dtype=float) for x in (n, d, loss))
    key = d if by == "D" else d / n
    groups = _groups(key)
    fig, (ax,) = figure(title=f"Loss vs N, one line per {'D' if by == 'D' else 'tokens/param'}")
    grid = np.geomspace(n.min() / 1.5, n.max() * 1.5, 100)
    for colour, value in zip(colours(len(groups)), groups):
        sel = _match(key, value)
        label = f"D={value:.2g}" if by == "D" else f"{value:.3g} tok/param"
        ax.errorbar(n[sel], loss[sel], yerr=None if loss_se is None else np.asarray(loss_se)[sel], fmt="o",
                    color=colour, label=label)
        if law is not None:
            ax.plot(grid, law(grid, np.full_like(grid, value) if by == "D" else value * grid), color=colour, alpha=0.8)
    ax.set(xscale="log", yscale="log", xlabel=n_label, ylabel="test loss (nats/token)")
    legend_outside(ax)
    if law is not None:
        note(ax, "lines: fitted law")
    return fig


def loss_vs_d(n, d, loss, law: Optional[Law] = None, loss_se=None):
    """Test loss vs D, one colour per model size, with the law."""
    n, d, loss = (np.asarray(x, dtype=float) for x in (n, d, loss))
    sizes = _groups(n, 3)
    fig, (ax,) = figure(title="Loss vs D, one line per model size")
    grid = np.geomspace(d.min() / 1.5, d.max() * 1.5, 100)
    for colour, size in zip(colours(len(sizes)), sizes):
        sel = _match(n, size, 3)
        ax.errorbar(d[sel], loss[sel], yerr=None if loss_se is None else np.asarray(loss_se)[sel], fmt="o",
                    color=colour, label=f"N={size:.3g}")
        if law is not None:
            ax.plot(grid, law(np.full_like(grid, size), grid), color=colour, alpha=0.8)
    ax.set(xscale="log", yscale="log", xlabel="D (training tokens)", ylabel="test loss (nats/token)")
    legend_outside(ax)
    return fig


def isoflop(c, n, loss, parabolas: Sequence[dict] = (), why: str = "fit not available"):
    """IsoFLOP curves: loss vs N at each budget; ``parabolas`` (from the fitter) are dicts with ``C``,
    ``coef`` (loss = c0·x² + c1·x + c2 in x = log10 N), and optionally ``n_opt`` and ``loss_opt``; ``why`` says
    why there are none."""
    c, n, loss = (np.asarray(x, dtype=float) for x in (c, n, loss))
    labels = _budget_labels(c, parabolas)
    budgets = sorted(set(labels))
    by_budget = {float(p["C"]): p for p in parabolas}
    fig, (ax,) = figure(title="IsoFLOP curves")
    for colour, budget in zip(colours(len(budgets)), budgets):
        sel = labels == budget
        ax.plot(n[sel], loss[sel], "o", color=colour, label=f"C={budget:.2g}")
        fit = by_budget.get(budget)
        if fit is not None:
            x = np.linspace(np.log10(n[sel].min()) - 0.1, np.log10(n[sel].max()) + 0.1, 100)
            ax.plot(10 ** x, np.polyval(fit["coef"], x), color=colour, alpha=0.8)
            if fit.get("n_opt"):
                y = fit.get("loss_opt", np.polyval(fit["coef"], np.log10(fit["n_opt"])))
                ax.plot([fit["n_opt"]], [y], marker="*", ms=13, color=colour, mec="black", zorder=5)
    ax.set(xscale="log", xlabel="N (parameters)", ylabel="test loss (nats/token)")
    legend_outside(ax)
    note(ax, "lines: parabolas in log N; stars: minima" if parabolas else f"no parabolas ({why})")
    return fig


def _budget_labels(c: np.ndarray, parabolas: Sequence[dict], rtol: float = 0.1) -> np.ndarray:
    """Each run's budget: the C of the parabola within ``rtol`` of its own C (the fitter's grouping of budgets),
    else its C to two significant figures."""
    labels = np.array([float(f"{v:.2g}") for v in c])
    for p in parabolas:
        labels[np.abs(np.log(c / float(p["C"]))) <= np.log1p(rtol)] = float(p["C"])
    return labels


def residuals(n, d, residual, label: str = "log L − log L̂"):
    """Residuals of the fit vs N and vs D (two panels)."""
    n, d, residual = (np.asarray(x, dtype=float) for x in (n, d, residual))
    fig, axes = figure(2, title="Residuals of the fit")
    for ax, x, name in zip(axes, (n, d), ("N (parameters)", "D (tokens)")):
        ax.axhline(0.0, color="black", lw=0.8)
        ax.scatter(x, residual, c=np.log10(d if x is n else n), cmap="viridis", s=22)
        ax.set(xscale="log", xlabel=name, ylabel=label)
    note(axes[0], f"RMS {np.sqrt(np.mean(residual ** 2)):.3g}; colour: the other variable")
    return fig


SMOOTHING_SPAN = 10


def training_curves(metrics: pd.DataFrame, sizes: Optional[dict] = None, spikes: Optional[dict] = None):
    """Training loss (faint: as logged; line: its exponential moving average over ``SMOOTHING_SPAN`` logged points,
    since the losses of small batches are noisy) and eval loss (markers) vs tokens for every run; colour by model
    size when ``sizes`` maps run_id → N; loss spikes (``spikes``: run_id → steps, harness.curves.loss_spikes) marked
    with crosses."""
    fig, (ax,) = figure(title="Training curves of every run")
    runs = list(dict.fromkeys(metrics["run_id"]))
    order = sorted(runs, key=lambda r: (sizes or {}).get(r, 0))
    for colour, run in zip(colours(len(order)), order):
        rows = metrics[metrics["run_id"] == run]
        ax.plot(rows["tokens"], rows["train_loss"], color=colour, lw=0.5, alpha=0.25)
        ax.plot(rows["tokens"], rows["train_loss"].ewm(span=SMOOTHING_SPAN).mean(), color=colour, lw=1.2)
        evals = rows.dropna(subset=["eval_loss"]) if "eval_loss" in rows else rows.iloc[:0]
        ax.plot(evals["tokens"], evals["eval_loss"], "o", color=colour, ms=3)
        if (spikes or {}).get(run):
            marked = rows[rows["step"].isin(spikes[run])]
            ax.plot(marked["tokens"], marked["train_loss"], "x", color="red", ms=7, mew=1.5)
    ax.set(xscale="log", yscale="log", xlabel="tokens seen", ylabel="loss (nats/token)")
    note(ax, f"{len(runs)} runs; lines: train loss (faint: per logged batch, bold: moving average), dots: eval "
             "loss; colour: model size"
         + ("; red crosses: loss spikes" if any((spikes or {}).values()) else ""))
    return fig
