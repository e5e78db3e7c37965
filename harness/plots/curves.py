"""Figures of what the curves say beyond the final loss: the generalisation gap (test − train-eval loss)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from harness.plots.style import colours, figure, note


def generalisation_gap(metrics: pd.DataFrame, runs: pd.DataFrame):
    """Test − train-eval loss vs epochs at every eval of every run with a train-eval loss, one colour per N.
    ``runs`` has run_id, N, D and epochs (the run's whole passes over its train split)."""
    fig, (ax,) = figure(title="Generalisation gap: test − train-eval loss")
    info = runs.set_index("run_id")[["N", "D", "epochs"]]
    rows = metrics.dropna(subset=["eval_loss", "train_eval_loss"])
    rows = rows[rows["run_id"].isin(info.index)]
    sizes = sorted(info.loc[rows["run_id"].unique(), "N"].unique())
    for colour, n in zip(colours(len(sizes)), sizes):
        for i, run in enumerate(info.index[(info["N"] == n) & info.index.isin(rows["run_id"])]):
            curve = rows[rows["run_id"] == run]
            epochs = curve["tokens"].to_numpy(float) / info.at[run, "D"] * info.at[run, "epochs"]
            gap = (curve["eval_loss"] - curve["train_eval_loss"]).to_numpy(float)
            ax.plot(epochs, gap, "o-", color=colour, ms=3, lw=0.9, label=f"N={n:.3g}" if i == 0 else None)
    ax.axhline(0.0, color="grey", lw=0.6)
    ax.set(xscale="log", xlabel="epochs over the train split", ylabel="test − train-eval loss (nats/token)")
    if sizes:
        ax.legend(fontsize=7)
    note(ax, "above 0: the model fits its training tokens better than held-out ones")
    return fig


def has_gap_data(metrics, runs: pd.DataFrame) -> bool:
    """Whether any run has both an eval and a train-eval loss logged (the gap figure can be drawn)."""
    if metrics is None or "train_eval_loss" not in metrics or not {"run_id", "N", "D", "epochs"} <= set(runs):
        return False
    both = metrics.dropna(subset=["eval_loss", "train_eval_loss"])
    return bool(np.isin(both["run_id"], runs["run_id"]).any())
