"""Ground-truth validation: fit L(N, D) = E + A/N^α + B/D^β with E FREE and compare E with the known floor.

Reads the records of one or several sweeps on one synthetic language and eval set (default: the committed
reference records of sweeps/ground_truth.yaml and of its 32M-token column, sweeps/ground_truth_32m.yaml), fits
them with harness.fit.fit_law (E free, bootstrap CIs; ``--law coupled`` for Kaplan's combination of the two
terms; ``--law aicc`` fits both and keeps the one the pre-stated rule picks, harness.fit.law_choice.choose_law, on
the runs of each fit: all of them, then those left for the hold-out, and adds the model-averaged E; ``--law averaged``
reports the model average of both laws: E, alpha and beta with their MATA intervals and, for the hold-out, the
weighted mean of the laws' predictions, all with the AICc weights of the runs fitted) and prints side by
side: fitted E with its 95 % CI against the exact Bayes loss of the eval windows (the run table's ``floor``),
|ΔE|/floor, α and β with their CIs, and the error of predicting the runs of the largest size from a fit that leaves
them out. Targets (issue 9): |ΔE|/floor < 2 % with the CI covering the floor;
held-out prediction within 1 %.

    PYTHONPATH=. python scripts/validate_ground_truth.py [RECORDS_DIR ...] [--bootstrap 1000] [--n-convention total]
        [--law chinchilla|coupled|aicc|averaged]
"""
from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import pandas as pd

from harness.fit import fit_law
from harness.fit.law_choice import compare_laws, model_averaged_prediction
from harness.fit.table import best_lr_only
from harness.report.analysis import largest_n_holdout
from harness.store import load_done_runs

E_TARGET, HOLDOUT_TARGET = 0.02, 0.01
LAWS = ("chinchilla", "coupled")
RECORDS = ("results/reference/ground_truth", "results/reference/ground_truth_32m")


def _interval(fit: dict, name: str) -> str:
    """The estimate with its two-sided CI, or the profile bounds of a parameter the sweep does not identify."""
    if name in (fit.get("ci") or {}):
        lo, hi = fit["ci"][name]
        return f"{fit['params'][name]:.4f}  [{lo:.4f}, {hi:.4f}]  width {hi - lo:.4f}"
    if name not in (fit.get("profile_bounds") or {}):   # a model average: some law leaves it unidentified
        return f"{fit['params'][name]:.4f}  not identified by every law averaged: no interval"
    low, high = fit["profile_bounds"][name]
    bounds = " and ".join(s for s in (f"> {low:.4g}" if low is not None else "",
                                       f"< {high:.4g}" if high is not None else "") if s) or "unbounded both ways"
    return f"{fit['params'][name]:.4f}  not identified: no interval (profile likelihood: {bounds})"


def _fit(table: pd.DataFrame, bootstrap: int, convention: str, law: str = "chinchilla") -> dict:
    """The fit of ``law`` as a dict; for 'aicc' the law the pre-stated rule picks, with both laws' Akaike weights and
    the model-averaged E (estimate, low, high; harness.fit.law_choice.model_averaged_interval); for 'averaged' the
    model average of both laws (``_averaged``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if law in LAWS:
            return fit_law(table, law=law, bootstrap=bootstrap, n_convention=convention).to_dict()
        fits = {name: fit_law(table, law=name, bootstrap=bootstrap, n_convention=convention) for name in LAWS}
    if law == "averaged":
        return _averaged(fits, table)
    comparison = compare_laws(fits, table)   # the rule's pick (choose_law) and E averaged where both laws identify it
    return {**fits[comparison.chosen].to_dict(), "akaike_weights": comparison.weights,
            "weights_note": "the pre-stated rule: coupled only at >= 0.99",
            "model_averaged_E": comparison.averaged.get("E") if bootstrap else None}


def _averaged(fits: dict, table: pd.DataFrame) -> dict:
    """Both laws averaged with their AICc weights (harness.fit.law_choice.compare_laws), as a fit dict: E, alpha and
    beta (the weighted mean of the estimates) with their MATA intervals where both laws identify them; the
    FitResults under 'fits' for the hold-out's averaged prediction."""
    comparison = compare_laws(fits, table)
    some = next(iter(fits.values()))
    return {"law": "model average of " + " and ".join(fits), "n_points": some.n_points,
            "n_convention": some.n_convention, "akaike_weights": comparison.weights,
            "weights_note": "E, alpha and beta below are averaged with them",
            "params": comparison.estimates,
            "ci": {name: [lo, hi] for name, (_, lo, hi) in comparison.averaged.items()},
            "warnings": [f"{name}: {w}" for name, fit in fits.items() for w in fit.warnings], "fits": fits}


def _averaged_prediction(fit: dict, n, d, level: float) -> tuple:
    """The hold-out's prediction for a model average: the weighted mean of both laws' predictions and its band."""
    return model_averaged_prediction(fit["fits"], fit["akaike_weights"], n, d, level)


def _coverage(fit: dict, floor: float, covered: bool) -> str:
    """'yes'/'NO' for a two-sided CI; for a not-identified E, whether its one-sided profile bound holds the floor
    (which is not the target: the target needs E identified)."""
    if "E" in (fit.get("ci") or {}):
        return "yes" if covered else "NO"
    low, high = (fit.get("profile_bounds") or {}).get("E", [None, None])
    inside = (low is None or low <= floor) and (high is None or floor <= high)
    both = low is not None and high is not None
    verb = ("hold" if inside else "exclude") + ("" if both else "s")
    return f"NO two-sided CI (E not identified); the profile bound{'s' if both else ''} {verb} the floor"


def report_fit(table: pd.DataFrame, fit: dict) -> bool:
    """Print E (free) against the eval-set floor, α and β; True when the E targets are met."""
    floor, floor_se = float(table["floor"].iloc[0]), float(table["floor_se"].iloc[0])
    e_fit = fit["params"]["E"]
    lo, hi = (fit.get("ci") or {}).get("E") or (float("nan"), float("nan"))   # none when E is not identified
    rel = abs(e_fit - floor) / floor
    covered = lo <= floor <= hi
    print(f"runs fitted              {fit['n_points']}  (law: {fit['law']}; n convention: {fit['n_convention']})")
    if "akaike_weights" in fit:
        print("Akaike weights (AICc)    " + ", ".join(f"{k} {v:.3f}" for k, v in fit["akaike_weights"].items())
              + f" ({fit['weights_note']})")
    if "model_averaged_E" in fit and fit["model_averaged_E"] is None:
        print("E model-averaged         no interval: E is not identified by both laws (or no bootstrap)")
    if fit.get("model_averaged_E"):
        estimate, low, high = fit["model_averaged_E"]
        print(f"E model-averaged, 95% CI {estimate:.4f}  [{low:.4f}, {high:.4f}]  (MATA over both laws' draws; "
              f"holds the floor: {'yes' if low <= floor <= high else 'NO'})")
    print(f"E fitted (free), 95% CI  {_interval(fit, 'E')}")
    print(f"eval-set floor (exact)   {floor:.4f} ± {floor_se:.4f} (SE across eval windows); "
          f"expected floor {float(table['floor_expected'].iloc[0]):.4f}")
    print(f"|ΔE| / floor             {rel:.2%}  (target < {E_TARGET:.0%}: {'met' if rel < E_TARGET else 'MISSED'}); "
          f"CI covers the floor: {_coverage(fit, floor, covered)}")
    print(f"alpha, 95% CI            {_interval(fit, 'alpha')}")
    print(f"beta,  95% CI            {_interval(fit, 'beta')}")
    for note in fit["warnings"]:
        print(f"  warning: {note}")
    return rel < E_TARGET and covered


def report_holdout(table: pd.DataFrame, bootstrap: int, convention: str, law: str = "chinchilla") -> bool:
    """Fit without the largest size, predict its runs; True when every error is within the target."""
    held = largest_n_holdout(table.assign(N=table[_n_column(convention)]),
                             lambda t: _fit(t, bootstrap, convention, law),
                             predict=_averaged_prediction if law == "averaged" else None)
    if held is None:
        print("held-out extrapolation   not possible (too few sizes below the largest)")
        return False
    print("held-out largest size    predicted [95% band]          actual     error")
    for run, p, lo, hi, y, err in zip(held["run_ids"], held["predicted"], held["lo"], held["hi"], held["actual"],
                                      held["rel_error"]):
        print(f"  {run:38s} {p:.4f} [{lo:.4f}, {hi:.4f}]  {y:.4f}  {err:.2%}")
    worst = max(held["rel_error"])
    print(f"worst held-out error     {worst:.2%}  (target < {HOLDOUT_TARGET:.0%}: "
          f"{'met' if worst < HOLDOUT_TARGET else 'MISSED'})")
    return worst < HOLDOUT_TARGET


def print_grid(table: pd.DataFrame) -> None:
    """The measured losses as an N x D grid, each with its distance to the eval-set floor."""
    floor = float(table["floor"].iloc[0])
    grid = table.pivot_table(index="N_nonembed", columns="D", values="loss", aggfunc="mean")
    print(f"test loss (nats/token) [loss - floor], rows N_nonembed, columns D; floor {floor:.4f}")
    print(" " * 10 + "".join(f"{d / 1e6:>16.1f}M" for d in grid.columns))
    for n, row in grid.iterrows():
        print(f"{n:>10,}" + "".join(f"{v:>9.4f} [{v - floor:.3f}]" for v in row))


def add_records_argument(parser: argparse.ArgumentParser) -> None:
    """The positional ``RECORDS_DIR ...`` every ground-truth script takes (default: both committed sweeps)."""
    parser.add_argument("records", nargs="*", default=list(RECORDS),
                        help="sweep directories fitted together (default: the 2-16M sweep and its 32M column)")


def load_records(parser: argparse.ArgumentParser, records: list) -> pd.DataFrame:
    """The done runs of ``records`` as one table (of an LR sweep, only each point's best LR); a missing directory, or
    runs scored on different eval sets (more than one floor), is a usage error: one line, exit 2."""
    if missing := [r for r in records if not Path(r).is_dir()]:
        parser.error(f"records: no such directory: {missing[0]}")
    table = load_done_runs(records)
    if table.empty or table["floor"].isna().any() or table["floor"].nunique() != 1:
        parser.error(f"records: {', '.join(map(str, records))} need done runs with one known eval-set floor "
                     "(synthetic sweeps on one eval set)")
    best = best_lr_only(table)   # an LR sweep: each (size, D, seed) by its best LR, as every fit takes it
    if len(best) < len(table):
        print(f"records: {len(table) - len(best)} LR-sweep runs left out (not the best LR for their size and D)")
    return best.reset_index(drop=True)


def _n_column(convention: str) -> str:
    return {"total": "N_total", "non_embedding": "N_nonembed", "with_head": "N_with_head"}[convention]


def main() -> None:
    """Parse arguments, load the records, print the fit and the hold-out check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_records_argument(parser)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--n-convention", default="total", choices=["total", "non_embedding", "with_head"])
    parser.add_argument("--law", default="chinchilla", choices=[*LAWS, "aicc", "averaged"],
                        help="the form fitted (coupled: Kaplan's combination of the two terms, harness.fit.laws; "
                        "aicc: both, and the pre-stated rule picks one; averaged: both, averaged with their weights)")
    args = parser.parse_args()
    if args.law == "averaged" and args.bootstrap < 1:
        parser.error("--law averaged: the model-averaged intervals need --bootstrap of at least 1")
    table = load_records(parser, args.records)
    if len(table) < 6:
        parser.error(f"records: {', '.join(args.records)}: {len(table)} done runs; the validation needs at least 6 "
                     "(a fit and a hold-out)")
    print(f"{', '.join(args.records)}: {len(table)} done runs, N {table['N_total'].min()}..{table['N_total'].max()}, "
          f"D {table['D'].min()}..{table['D'].max()}")
    print_grid(table)
    ok_e = report_fit(table, _fit(table, args.bootstrap, args.n_convention, args.law))
    ok_h = report_holdout(table, args.bootstrap, args.n_convention, args.law)
    print(f"verdict                  E target {'met' if ok_e else 'missed'}; hold-out target {'met' if ok_h else 'missed'}")


if __name__ == "__main__":
    main()
