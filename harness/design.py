"""isoFLOP designs like Chinchilla's: per budget, sizes centred on a predicted optimum, and the budget's FLOP count.

Hoffmann et al. 2022 (approach 2) train, per compute budget, a range of sizes around the expected optimum so
that each isoFLOP curve has a minimum to interpolate. ``budgets.centre`` predicts N_opt(C) from a tokens/param
rule (N = sqrt(C/(6·r)), Chinchilla's r ≈ 20) or a named published fit (its N_opt(C)); ``span`` and ``points``
place log-spaced sizes from N_opt/span to N_opt·span, each snapped to a rung of the shape ladder.
``budgets.convention`` says which FLOPs a budget counts per token: 6·N_total (Chinchilla), 6·N_nonembed
(Kaplan), 6·N_with_head (Porian 2024) or the full count with attention and logits; D = C / (FLOPs per token).
"""
from __future__ import annotations

import math

import numpy as np

from harness.config import BudgetConfig, SweepConfig
from harness.errors import ConfigError
from harness.sizing import FLOPS_PER_PARAM_TOKEN

# The N each budget convention counts, and the sizing count used to snap design sizes to shapes.
CONVENTION_COUNT = {"total": "N_total", "non_embedding": "N_nonembed", "with_head": "N_with_head", "full": "N_nonembed"}
CONVENTION_SIZE_BY = {"total": "total", "non_embedding": "non_embedding", "with_head": "with_head",
                      "full": "non_embedding"}


def flops_per_token_for(convention: str, flops: dict[str, float], n_with_head: int) -> float:
    """Training FLOPs per token under a budget convention (``flops`` from :func:`harness.sizing.flops_per_token`)."""
    if convention == "with_head":
        return FLOPS_PER_PARAM_TOKEN * n_with_head
    key = {"total": "6N_total", "non_embedding": "6N_nonembed", "full": "full"}[convention]
    return flops[key]


def predicted_optimum(budgets: BudgetConfig, compute: float) -> float:
    """N_opt(C) under the design's centre: sqrt(C/(6r)) for a tokens/param rule, else the published fit's N_opt
    (in that fit's own N and C conventions, e.g. non-embedding for Kaplan; the design treats it as a centre only)."""
    centre = budgets.centre
    if centre is None or centre.rule == "tokens_per_param":
        ratio = centre.value if centre is not None else 20.0
        return math.sqrt(compute / (FLOPS_PER_PARAM_TOKEN * ratio))
    from harness.published import load_registry

    registry = load_registry()
    if centre.fit not in registry:
        raise ConfigError(f"budgets.centre.fit: unknown published fit '{centre.fit}' (ids in harness/published_fits.yaml)")
    n_opt = registry[centre.fit].optimal_n(np.asarray([compute]))
    if n_opt is None or not np.isfinite(n_opt[0]):
        raise ConfigError(f"budgets.centre.fit: '{centre.fit}' publishes no compute-optimal frontier")
    return float(n_opt[0])


def design_sizes(budgets: BudgetConfig, compute: float) -> list[float]:
    """Log-spaced targets from N_opt/span to N_opt·span (``points`` of them) for one budget."""
    n_opt = predicted_optimum(budgets, compute)
    return [n_opt * budgets.span ** x for x in np.linspace(-1.0, 1.0, budgets.points)]


def bracket_warning(label: str, n_opt: float, sizes: list[float]) -> str | None:
    """A warning unless at least two sizes lie on each side of the predicted optimum N_opt."""
    below, above = sum(n < n_opt for n in sizes), sum(n > n_opt for n in sizes)
    if below >= 2 and above >= 2:
        return None
    side = "above" if above < 2 else "below"
    return (f"budget {label}: predicted optimum N≈{n_opt:.3g} has {min(below, above)} size(s) {side} it "
            f"(sizes {min(sizes):.3g}–{max(sizes):.3g}); the isoFLOP minimum cannot be bracketed")


def plan_warnings(config: SweepConfig, specs: list) -> list[str]:
    """Warnings for a plan: isoFLOP budgets whose sizes cannot bracket the predicted optimum, size errors over 5 %."""
    warnings = []
    b = config.budgets
    if b.mode == "isoflop":
        count = CONVENTION_COUNT[b.convention]
        for c in b.compute:
            label = f"C={c:.3g}"
            sizes = sorted({getattr(s, count) for s in specs if s.budget == label})
            note = bracket_warning(label, predicted_optimum(b, c), sizes) if sizes else None
            warnings += [note] if note else []
    centred = b.mode == "isoflop" and b.centre is not None  # design sizes are spread points, not targets to hit
    off = [] if centred else sorted({(s.target_size, s.size_error) for s in specs
                                     if s.target_size and abs(s.size_error) > 0.05})
    if off:
        listed = ", ".join(f"{t:.3g} ({e:+.0%})" for t, e in off[:4]) + (" …" if len(off) > 4 else "")
        warnings.append(f"size error beyond ±5% for {len(off)} target(s): {listed}; the shape ladder's rungs are "
                        "coarse at small depth and width (harness.sizing.shape_for_params)")
    return warnings
