"""``harness fit --law chinchilla,coupled``: several laws fitted to the same runs, then weighed against each other
(AICc weights, the pre-stated rule's pick and model-averaged intervals; harness.fit.law_choice)."""
from __future__ import annotations

import json
from typing import Callable

import typer

from harness.errors import ConfigError


def law_names(law: str) -> list:
    """The laws of ``--law`` ('chinchilla,coupled' -> two names); ConfigError for an empty, repeated or (among several)
    unknown name, before anything is fitted."""
    from harness.fit.laws import get_law

    names = [name.strip() for name in law.split(",")]
    if any(not name for name in names) or len(set(names)) < len(names):
        raise ConfigError(f"--law: expected distinct law names separated by commas, got '{law}'")
    for name in names if len(names) > 1 else ():
        try:
            get_law(name)
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"--law {name}: {str(exc).splitlines()[0]}") from None
    return names


def fit_laws(table, where: str, names: list, options: dict, as_json: bool, format_table: Callable) -> None:
    """Fit each law in ``names`` to ``table`` with ``options`` (harness.fit.fitting.fit_law's), print every fit and
    the comparison (JSON: {"fits": {law: fit}, "comparison": ...})."""
    from harness.fit.fitting import fit_law
    from harness.fit.law_choice import compare_laws

    fits = {}
    for name in names:
        try:
            fits[name] = fit_law(table, law=name, **options)
        except ValueError as exc:
            raise ConfigError(f"{where}: --law {name}: {str(exc).splitlines()[0]}") from None
    comparison = compare_laws(fits, table)
    dicts = {name: fit.to_dict(samples=False) for name, fit in fits.items()}
    if as_json:
        typer.echo(json.dumps({"fits": dicts, "comparison": comparison.to_dict()}, indent=1))
        return
    for name, result in dicts.items():
        typer.echo(f"== {name}\n{format_table(result)}\n")
    typer.echo(comparison_text(comparison, next(iter(dicts.values()))["n_points"]))


def comparison_text(comparison, n_points: int) -> str:
    """The comparison as a few lines: a table of AICc and weights, the rule's pick in words, the averaged intervals."""
    best = min(comparison.aicc.values())
    lines = [f"laws compared on the same {n_points} points (AICc of the Gaussian likelihood of the log residuals; "
             "Akaike weights exp(-ΔAICc/2), normalised):",
             f"{'law':>20} {'parameters':>10} {'AICc':>10} {'ΔAICc':>8} {'weight':>8}"]
    for name, aicc in comparison.aicc.items():
        lines.append(f"{name:>20} {comparison.n_parameters[name]:>10} {aicc:>10.2f} {aicc - best:>8.2f} "
                     f"{comparison.weights[name]:>8.3f}")
    from harness.fit.select import CONFIDENT_WEIGHT as threshold

    top = max(comparison.weights, key=comparison.weights.get)
    if comparison.chosen == top:
        lines.append(f"the data prefer {top} (weight {comparison.weights[top]:.3f} >= {threshold:g})"
                     if comparison.weights[top] >= threshold else
                     f"cannot tell the laws apart (no weight reaches {threshold:g}); {top}, the simplest, stands")
    else:
        lines.append(f"cannot tell the laws apart: {top}'s weight {comparison.weights[top]:.3f} is below "
                     f"{threshold:g}, so the simplest law, {comparison.chosen}, stands")
    if comparison.averaged:
        lines.append("model-averaged, 95 % (the laws' bootstrap draws mixed with these weights; Turek & Fletcher "
                     "2012): " + "; ".join(f"{name} {e:.5g} [{lo:.5g}, {hi:.5g}]"
                                           for name, (e, lo, hi) in comparison.averaged.items()))
    if comparison.unidentified:
        lines.append(f"no model-averaged interval for {', '.join(comparison.unidentified)}: not identified by "
                     "every law")
    elif not comparison.shared:
        lines.append("no model-averaged intervals: the laws share none of E, alpha, beta")
    elif not comparison.averaged:
        lines.append("no model-averaged intervals: they need bootstrap draws (--bootstrap) from every law")
    return "\n".join(lines)
