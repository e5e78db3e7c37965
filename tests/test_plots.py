"""Every standard figure builds from a small synthetic table (no fitting happens in the plotting code)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from harness import plots
from harness.plots.sweep import law_callable, sweep_figures

LAW = {"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.36}
FIT = {"law": "chinchilla", "params": LAW, "ci": {"alpha": [0.32, 0.36]}, "derived": {"a": 0.514},
       "n_convention": "total", "warnings": []}


def chinchilla(n, d):
    return LAW["E"] + LAW["A"] / np.asarray(n) ** LAW["alpha"] + LAW["B"] / np.asarray(d) ** LAW["beta"]


@pytest.fixture(scope="module")
def table():
    rows = []
    for c in (1e15, 1e16, 1e17):
        for n in (2e5, 5e5, 1.2e6, 3e6, 8e6):
            d = c / (6 * n)
            rows.append({"run_id": f"r{len(rows)}", "status": "done", "N": n, "N_total": n, "N_nonembed": 0.8 * n,
                         "D": d, "C": c, "loss": float(chinchilla(n, d)) * (1 + 0.003 * np.sin(len(rows))),
                         "loss_se": 0.004})
    rows.append({**rows[-1], "run_id": "bad", "status": "diverged", "loss": 99.0})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def metrics(table):
    frames = [pd.DataFrame({"run_id": r, "step": np.arange(1, 6), "tokens": np.arange(1, 6) * 1000.0,
                            "train_loss": 4 - 0.1 * np.arange(5), "eval_loss": [np.nan, 3.8, np.nan, 3.6, 3.5]})
              for r in table["run_id"][:4]]
    return pd.concat(frames, ignore_index=True)


def _lines(fig: Figure) -> int:
    return sum(len(ax.get_lines()) for ax in fig.axes)


def test_each_figure_function(table, tmp_path):
    n, d, loss = table["N"].to_numpy(), table["D"].to_numpy(), table["loss"].to_numpy()
    fig = plots.loss_vs_n(n, d, loss, chinchilla, by="tokens_per_param")
    assert len(fig.axes[0].get_legend().get_texts()) >= 3 and _lines(fig) >= 3
    assert _lines(plots.loss_vs_d(n, d, loss, chinchilla)) >= 5
    x = np.log10([2e5, 1e6, 8e6])
    parabola = {"C": 1e16, "coef": np.polyfit(x, [4.0, 3.7, 3.9], 2), "n_opt": 1.5e6}
    fig = plots.isoflop(table["C"], n, loss, [parabola])
    assert any(line.get_marker() == "*" for line in fig.axes[0].get_lines())
    residual = np.log(loss) - np.log(chinchilla(n, d))
    assert len(plots.residuals(n, d, residual).axes) == 2
    held = n == n.max()
    fig = plots.extrapolation(n, loss, held, loss[held] * 1.01, loss[held] * 0.99, loss[held] * 1.03)
    assert "error on held-out runs" in "".join(t.get_text() for t in fig.axes[0].texts)
    rng = np.random.default_rng(0)
    fig = plots.bootstrap({k: rng.normal(v, 0.01, 200) for k, v in (("alpha", .34), ("beta", .36), ("a", .51))},
                          {"alpha": 0.34})
    assert len(fig.axes) == 3 and "95%" in fig.axes[0].get_title()
    grid = np.geomspace(1e5, 1e7, 20)
    curves = {"power law": (grid, 2 + 30 * grid ** -0.3), "logistic": (grid, 2.1 + grid * 0)}
    fig = plots.form_comparison(n, loss, curves, {"power law": 0.9975, "logistic": 0.0025}, confident=True)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()][1:] == ["power law (weight 1.00)", "logistic (weight 0.00)"]
    assert "preferred by AICc: power law" in "".join(t.get_text() for t in fig.axes[0].texts)
    paths = plots.save(fig, tmp_path, "forms")
    assert [p.suffix for p in paths] == [".png", ".svg"] and all(p.stat().st_size > 1000 for p in paths)
    assert plots.png_bytes(fig)[:8] == b"\x89PNG\r\n\x1a\n"


def test_frontier_draws_ours_beside_published():
    from harness.published import chinchilla_frontier, load_registry

    entry = load_registry()["kaplan2020"]
    fig = plots.frontier((1e17, 1e24), {"Kaplan 2020": (entry.optimal_n, entry.optimal_d)},
                         chinchilla_frontier(LAW), points=([1e18, 1e19], [3e7, 1e8]))
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert labels == ["Kaplan 2020", "this sweep", "isoFLOP minima"]


def test_frontier_lines_have_distinct_colours_and_legends_sit_outside_the_axes(table):
    figs, _ = sweep_figures(table, None, FIT)
    lines = [line for line in figs["frontier"].axes[0].get_lines() if line.get_label() and line.get_ls() == "--"]
    colours = [line.get_color() for line in lines]
    assert len(lines) == 4 and len(set(colours)) == 4  # two Hoffmann lines no longer share a colour
    for name in ("loss_vs_n", "loss_vs_d", "isoflop", "frontier"):
        fig = figs[name]
        renderer = FigureCanvasAgg(fig).get_renderer()
        fig.draw(renderer)
        ax = next(a for a in fig.axes if a.get_legend() is not None)
        legend = ax.get_legend().get_window_extent(renderer)
        assert not legend.overlaps(ax.get_window_extent(renderer)), name


def test_forest_plot_marks_like_for_like():
    from harness.compare import compare_fit
    from harness.report.comparison import forest_data
    from tests.test_compare import EPOCH_FIT

    panels = forest_data(compare_fit(EPOCH_FIT))
    assert list(panels) == ["alpha", "beta", "a", "b"]
    value, lo, hi, status = panels["alpha"]["ours"]
    assert (value, lo, hi, status) == (0.348, 0.317, 0.373, "estimated")
    besiroglu = next(p for p in panels["alpha"]["published"] if p[0].startswith("Besiroglu"))
    assert besiroglu[2] == pytest.approx(0.348 - 1.95996 * 0.015, rel=1e-4) and besiroglu[4] is True
    fig = plots.forest(panels)
    assert len([ax for ax in fig.axes if ax.get_title(loc="left")]) == 4
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == "ours (95%)" and len(labels) == len(panels["alpha"]["published"]) + 1
    kaplan = [p for p in panels["a"]["published"] if p[0].startswith("Kaplan")]
    assert kaplan and kaplan[0][4] is False  # not like for like: drawn as an open marker


def test_forest_shows_a_narrow_interval_whole_and_none_for_a_parameter_not_identified():
    published = [("P1", 0.28, np.nan, np.nan, False), ("P2", 0.37, 0.32, 0.41, True)]
    panels = {"beta": {"ours": (0.204, 0.164, 0.247, "estimated"), "published": published},
              "alpha": {"ours": (8.15, 0.37, 8.3, "not identified"), "published": published}}
    fig = plots.forest(panels)
    by_title = {ax.get_title(loc="left"): ax for ax in fig.axes if ax.get_title(loc="left")}
    left, right = by_title["β"].get_xlim()
    assert left < 0.164 and right > 0.41                    # our whole interval and theirs: no clipping arrow
    alpha_ax = by_title["α"]
    assert len(alpha_ax.containers) == 1 and len(by_title["β"].containers) == 2   # error bars: P2's (+ our β)
    assert not alpha_ax.patches and by_title["β"].patches                         # the shaded band: only for β
    ours = [line for line in alpha_ax.lines if line.get_marker() == "s"]
    assert ours and ours[0].get_markerfacecolor() == "white"  # an open square: a value, no interval


def test_sweep_figures_all_built_with_full_analysis(table, metrics, tmp_path):
    rng = np.random.default_rng(1)
    analysis = {
        "parabolas": [{"C": 1e16, "coef": [0.3, -3.6, 14.5], "n_opt": 1e6}],
        "isoflop_minima": [[1e15, 4e5], [1e16, 1e6], [1e17, 3e6]],
        "extrapolation": {"run_ids": ["r14"], "predicted": [3.0], "lo": [2.9], "hi": [3.1]},
        "samples": {"alpha": rng.normal(0.34, 0.01, 100), "beta": rng.normal(0.36, 0.01, 100)},
        "forms": {"x": [1, 2, 3], "y": [3, 2, 1.5], "curves": {"power law": [[1, 3], [3, 1.5]]}, "aic": {"power law": 1}},
    }
    from harness.compare import compare_fit

    figs, missing = sweep_figures(table, metrics, FIT, analysis, compare_fit(FIT))
    assert missing == {}
    assert set(figs) == {"loss_vs_n", "loss_vs_d", "isoflop", "frontier", "residuals", "extrapolation", "bootstrap",
                         "training_curves", "forms", "forest"}
    # The diverged run (loss 99) is not drawn.
    points = [line for line in figs["loss_vs_d"].axes[0].get_lines() if line.get_marker() == "o"]
    assert len(points) == 5 and max(max(line.get_ydata()) for line in points) < 10
    written = [p for name, fig in figs.items() for p in plots.save(fig, tmp_path, name)]
    assert len(written) == 20


def test_sweep_figures_say_what_is_missing(table):
    figs, missing = sweep_figures(table, None, None)
    assert {"loss_vs_n", "loss_vs_d", "isoflop", "frontier"} <= set(figs)
    assert {"residuals", "bootstrap", "extrapolation", "training_curves", "forms", "forest"} == set(missing)


def test_non_numeric_sizes_in_a_record_are_left_out_not_fatal(table):
    broken = table.astype({"N_total": object})
    broken.loc[0, "N_total"] = "lots"
    figs, _ = sweep_figures(broken, None, FIT)
    points = [line for line in figs["loss_vs_d"].axes[0].get_lines() if line.get_marker() == "o"]
    assert sum(len(line.get_xdata()) for line in points) == 14


def test_law_callable_evaluates_the_chinchilla_form():
    law = law_callable(FIT)
    assert law(np.array([1e6]), np.array([1e8]))[0] == pytest.approx(float(chinchilla(1e6, 1e8)))
    assert law_callable({"law": "x", "params": {}}) is None


def test_a_grid_sweep_gets_no_isoflop_figure_and_is_told_why():
    n, d = np.meshgrid([3e4, 6e4, 1.5e5], [2.5e5, 5e5, 1e6, 2e6])   # the quickstart's grid: every C its own
    grid = pd.DataFrame({"run_id": [f"g{i}" for i in range(n.size)], "status": "done", "N": n.ravel(),
                         "N_total": n.ravel(), "D": d.ravel(), "C": 6 * n.ravel() * d.ravel(),
                         "loss": chinchilla(n.ravel(), d.ravel())})
    figs, missing = sweep_figures(grid, None, None)
    assert "isoflop" not in figs and missing["isoflop"].startswith("not an isoFLOP design")
    assert {"loss_vs_n", "loss_vs_d", "frontier"} <= set(figs)
