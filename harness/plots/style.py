"""Shared figure styling and saving (PNG + SVG), so every figure reads the same at a glance."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
import numpy as np  # noqa: E402

RC = {
    "figure.figsize": (6.4, 4.4), "figure.dpi": 110, "savefig.dpi": 130, "savefig.bbox": "tight",
    "font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 8, "legend.frameon": False,
    "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
    "lines.linewidth": 1.6, "lines.markersize": 5,
}
OURS = "#d62728"
PUBLISHED = {"kaplan": "#7f7f7f", "hoffmann": "#1f77b4", "besiroglu": "#2ca02c", "other": "#9467bd"}
SPARE = ("#17becf", "#ff7f0e", "#8c564b", "#e377c2", "#bcbd22")


def figure(ncols: int = 1, title: str = "", height: float = None, nrows: int = 1, **grid):
    """A new styled figure with ``nrows`` × ``ncols`` axes (``height`` in inches overrides the default); returns
    (fig, flat list of axes). ``grid`` goes to ``subplots`` (e.g. height_ratios)."""
    with plt.rc_context(RC):  # a bare Figure: no pyplot registry, nothing to close
        fig = Figure(figsize=(RC["figure.figsize"][0] * (1 + 0.75 * (ncols - 1)), height or RC["figure.figsize"][1]),
                     layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False, gridspec_kw=grid or None)
    if title:
        fig.suptitle(title)
    flat = list(axes.ravel())
    for ax in flat:
        ax.grid(True, which="major", alpha=0.3)
    return fig, flat


def colours(n: int):
    """``n`` distinguishable colours along viridis (small → large)."""
    return plt.cm.viridis(np.linspace(0.05, 0.9, max(n, 1)))


def published_colour(name: str, taken: Optional[set] = None) -> str:
    """The colour of a published frontier, keyed on the author's name in ``name``; a second line of the same
    author (already in ``taken``) gets the next free colour of ``SPARE``, so no two lines share one."""
    colour = next((c for key, c in PUBLISHED.items() if key in name.lower()), PUBLISHED["other"])
    if taken is not None:
        colour = next((c for c in (colour, *SPARE) if c not in taken), colour)
        taken.add(colour)
    return colour


def legend_outside(ax, **kwargs) -> None:
    """A legend to the right of the axes, so it never covers data."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kwargs)


def note(ax, text: str) -> None:
    """A small grey note in the axes' lower-left corner."""
    ax.text(0.02, 0.03, text, transform=ax.transAxes, fontsize=8, color="0.35", va="bottom")


def _plain_log_ticks(fig) -> None:
    """Loss axes span well under a decade: label log-scaled y ticks as plain numbers (3.4, not 3.4×10⁰)."""
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda value, _: f"{value:.3g}")
    for ax in fig.axes:
        if ax.get_yscale() == "log":
            low, high = ax.get_ylim()
            if 0 < low and high / low < 10:
                ax.yaxis.set_major_formatter(plain)
                ax.yaxis.set_minor_formatter(plain)


def save(fig, out_dir: Path, name: str) -> list[Path]:
    """Write ``name``.png and ``name``.svg into ``out_dir``; returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.svg"]
    _plain_log_ticks(fig)
    with plt.rc_context(RC):
        for path in paths:
            fig.savefig(path)
    return paths


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes (for embedding)."""
    buffer = io.BytesIO()
    _plain_log_ticks(fig)
    with plt.rc_context(RC):
        fig.savefig(buffer, format="png")
    return buffer.getvalue()


def close(fig) -> None:
    """Release a figure's memory (figures are not registered with pyplot; this clears its artists)."""
    fig.clear()
