"""Standard figures (matplotlib, PNG + SVG, one style). Figure functions take plain arrays and callables and do
no fitting; :mod:`harness.plots.sweep` gathers their inputs from a run table and the fitter's results."""
from harness.plots.data import isoflop, loss_vs_d, loss_vs_n, residuals, training_curves
from harness.plots.fits import bootstrap, extrapolation, forest, form_comparison, frontier
from harness.plots.repetition import loss_vs_epochs
from harness.plots.style import close, png_bytes, save

__all__ = ["bootstrap", "close", "extrapolation", "forest", "form_comparison", "frontier", "isoflop", "loss_vs_d", "loss_vs_epochs", "loss_vs_n",
           "png_bytes", "residuals", "save", "training_curves"]
