"""The data-wall figure: test loss vs epochs at fixed compute (fixed N and D, unique tokens U varied).

Takes plain arrays and, optionally, a callable ``law(N, D, U) -> loss`` (a fitted data-constrained law); fits nothing.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from harness.plots.style import colours, figure, legend_outside, note

LawU = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def loss_vs_epochs(n, d, epochs, loss, law: Optional[LawU] = None, loss_se=None):
    """Test loss vs epochs (D/U), one line per (N, D) cell, i.e. per fixed compute 6ND; dashed: the law if given."""
    n, d, epochs, loss = (np.asarray(x, dtype=float) for x in (n, d, epochs, loss))
    cells = sorted({(a, b) for a, b in zip(n, d)})
    fig, (ax,) = figure(title="Loss vs epochs at fixed compute (N, D fixed; unique tokens U = D/epochs)")
    for colour, (size, tokens) in zip(colours(len(cells)), cells):
        sel = (n == size) & (d == tokens)
        order = np.argsort(epochs[sel])
        x, y = epochs[sel][order], loss[sel][order]
        se = None if loss_se is None else np.asarray(loss_se, dtype=float)[sel][order]
        ax.errorbar(x, y, yerr=se, fmt="o-", color=colour, label=f"N={size:.3g}, D={tokens:.2g}")
        if law is not None:
            grid = np.geomspace(max(x.min(), 1e-3), x.max(), 60)
            ax.plot(grid, law(np.full_like(grid, size), np.full_like(grid, tokens), tokens / grid), "--",
                    color=colour, alpha=0.7)
    ax.axvspan(ax.get_xlim()[0] if len(epochs) else 0.1, 4, color="#999999", alpha=0.08)
    ax.set(xscale="log", yscale="log", xlabel="epochs (D / U)", ylabel="test loss (nats/token)")
    legend_outside(ax)
    note(ax, "shaded: up to 4 epochs (≈ fresh data in Muennighoff et al. 2023)" + ("; dashed: fitted law" if law else ""))
    return fig
