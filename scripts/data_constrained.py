"""The data wall at toy scale: Muennighoff et al.'s two-stage fit of the data-constrained law to the committed records
of sweeps/data_constrained.yaml, R_D* and R_N* (95 % intervals, or bounds when the runs do not identify them) beside
the published 15.4 and 5.3; each fixed-compute cell's loss vs epochs against its fresh-data run; a sensitivity
table over the fit's choices; the loss-vs-epochs figure (harness.plots).

usage: PYTHONPATH=. .venv/bin/python scripts/data_constrained.py [--results results/reference] [--bootstrap 200]
           [--sensitivity-bootstrap 50] [--figures results/reference/data_constrained] [--free-E]
Stage 1 (harness.fit.two_stage): the base law on the fresh runs (D <= U), E held at the synthetic language's exact
floor unless --free-E, alpha = beta as in Muennighoff et al.'s C4 base; stage 2: R_D*, R_N* on the repeated runs,
over-fitted runs (loss rose > 0.1 nats with more epochs) left out. Its output is committed as
results/reference/data_constrained_summary.txt.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from harness.fit import get_law
from harness.fit.two_stage import DECAY, TwoStageFit, fit_decay, fit_two_stage
from harness.plots import close, loss_vs_epochs, save
from harness.published import load_registry
from harness.store import aggregate_seeds, load_table

SWEEP = "sweeps/data_constrained.yaml"
DATABLATIONS = Path(__file__).resolve().parents[2] / "shared" / "external" / "datablations" / "runs_182_c4.csv"
MUENNIGHOFF_BASE = {"A": np.exp(6.255414), "B": np.exp(7.3049974), "E": np.exp(0.6254804), "alpha": 0.3526596,
                    "beta": 0.3526596}   # their C4 base law (datablations utils/parametric_fit.ipynb)
VARIANTS = [(law, excl, dn) for law in ("chinchilla_tied", "chinchilla") for excl in (True, False)
            for dn in (True, False)]


def published_constants() -> dict:
    """R_D*, R_N* of Muennighoff et al. 2023 from the registry (App. A: 15.387756, 5.309743)."""
    return dict(load_registry()["muennighoff2023"].constants)


def fresh_gap(table: pd.DataFrame) -> pd.DataFrame:
    """Per (N, D) cell and U: the mean loss over seeds minus the mean loss of the cell's runs without repetition
    (epochs <= 1), with the seed count and spread."""
    rows = []
    for (n, d), cell in table.groupby(["N_total", "D"]):
        fresh = cell[cell["epochs"] <= 1]
        if fresh.empty:
            continue
        base, se = float(fresh["loss"].mean()), float(fresh["loss_se"].mean())
        for u, runs in cell.groupby("U"):
            rows.append({"N": int(n), "D": int(d), "U": int(u), "epochs": runs["epochs"].max(), "seeds": len(runs),
                         "loss": runs["loss"].mean(), "seed_sd": runs["loss"].std(), "minus_fresh": runs["loss"].mean()
                         - base, "se_fresh": se})
    return pd.DataFrame(rows).sort_values(["N", "D", "epochs"], kind="stable") if rows else pd.DataFrame(rows)


def seed_noise(points: pd.DataFrame) -> list[str]:
    """The pooled seed standard deviation of the loss (nats, and of log loss) over the points with several seeds:
    fresh-data points, and repeated points up to 32 epochs (beyond, memorisation makes single seeds blow up)."""
    lines = []
    for label, sel in (("fresh (epochs <= 1)", points["epochs"] <= 1),
                       ("repeated, 2-32 epochs", (points["epochs"] > 1) & (points["epochs"] <= 32))):
        multi = points[sel & (points["seed_count"] > 1)]
        if multi.empty:
            lines.append(f"seed noise, {label}: no point has more than one seed")
            continue
        dof = multi["seed_count"] - 1
        sd = float(np.sqrt((multi["loss_std"] ** 2 * dof).sum() / dof.sum()))
        log_sd = float(np.sqrt(((multi["loss_std"] / multi["loss"]) ** 2 * dof).sum() / dof.sum()))
        lines.append(f"seed noise, {label}: pooled sd {sd:.4f} nats ({log_sd:.4f} of log loss) over {len(multi)} "
                     f"points, {int(multi['seed_count'].sum())} runs; their mean eval SE {multi['loss_se'].mean():.4f}")
    return lines


def fitted_law(params: dict):
    """law(N, D, U) -> loss of the fit, with U clamped to D (unique tokens seen)."""
    law = get_law("data_constrained")
    return lambda n, d, u: law.predict(params, N=n, D=d, U=np.minimum(u, d))


def _interval(est) -> str:
    if est.held:
        return f"held at {est.value:g} ({est.note})"
    if est.identified:
        return f"{est.value:.3g}, 95 % CI [{est.ci[0]:.3g}, {est.ci[1]:.3g}] ({est.ci_method})"
    lo, hi = (f"{v:.3g}" if v is not None else "-" for v in est.profile)
    return (f"{est.value:.3g}, NOT IDENTIFIED: no interval; stage-2 profile bounds [{lo}, {hi}] (base held exact), "
            f"bootstrap 2.5-97.5 % range [{est.boot_range[0]:.3g}, {est.boot_range[1]:.3g}] (both stages redone; "
            f"{est.boot_at_bound:.0%} of the draws at a bound of the law)")


def report(fit: TwoStageFit, published: dict) -> list[str]:
    """Lines: stage 1, the runs used, then R_D*, R_N* beside the published values with the verdict."""
    base = fit.base
    lines = ["primary fit (Muennighoff et al.'s recipe): tied base exponents, over-fitted runs left out, R_N* fitted",
             f"stage 1 ({fit.base_law}, {fit.n_fresh} fresh runs, D <= U): "
             + ", ".join(f"{k}={v:.4g}" for k, v in base.params.items())
             + "; identified: " + ", ".join(f"{k} {'yes' if ok else 'NO'}" for k, ok in base.identified.items()),
             f"stage 2 on {fit.n_repeated} repeated runs; over-fitted runs left out: {len(fit.overfitted)} "
             f"{list(fit.overfitted)}", f"bootstrap: {fit.bootstrap}"]
    for name in DECAY:
        est = fit.estimates[name]
        lines.append(f"{name:>9}: {_interval(est)}")
        lines.append(f"{'':>11}Muennighoff et al. 2023: {published[name]:g} -> {est.verdict(published[name])}")
    return lines


def sensitivity(table: pd.DataFrame, fixed, n_boot: int) -> tuple[list[str], list]:
    """One line per variant of the fit's choices (base law, over-fitted runs in or out, R_N* fitted or held), and
    the R_D* estimates."""
    lines, estimates = [f"sensitivity (bootstrap {n_boot}): base law | over-fitted runs | R_N* | R_D* | R_N*"], []
    for law, excl, dn in VARIANTS:
        fit = fit_two_stage(table, fixed=fixed, base_law=law, exclude_overfitted=excl, decay_n=dn, bootstrap=n_boot)
        estimates.append(fit.estimates["R_D_star"])
        cells = []
        for name in DECAY:
            est = fit.estimates[name]
            cells.append("held" if est.held else f"{est.value:.3g} " + (
                f"[{est.ci[0]:.3g}, {est.ci[1]:.3g}]" if est.identified else
                f"not identified (bootstrap range {est.boot_range[0]:.3g}-{est.boot_range[1]:.3g})"))
        lines.append(f"  {law:<15} | {'left out' if excl else 'kept':<8} | {'fitted' if dn else 'held':<6} | "
                     + " | ".join(cells))
    return lines, estimates


def conclusion(primary, estimates: list, published: float) -> str:
    """The plain answer over all variants: identified anywhere? the spread of R_D* estimates; the primary's answer."""
    values = [e.value for e in estimates]
    found = [e for e in estimates if e.identified]
    spread = f"its estimates range {min(values):.3g}-{max(values):.3g} across the {len(values)} variants"
    if primary.identified:
        low, high = primary.ci
        primary_says = f"The primary variant gives {primary.value:.3g} [{low:.3g}, {high:.3g}]"
    else:
        low, high = primary.boot_range
        primary_says = (f"The primary variant does not identify it: bootstrap range [{low:.3g}, {high:.3g}] "
                        f"({primary.boot_at_bound:.0%} of the draws at the bound)")
    primary_says += (", which " + ("excludes" if not low <= published <= high else "contains") + f" {published:g}")
    if found:
        agree = sum(e.ci[0] <= published <= e.ci[1] for e in found)
        return (f"CONCLUSION: {len(found)} of {len(values)} variants identify R_D*; {agree} of their intervals "
                f"contain {published:g}; {spread}. {primary_says}.")
    return (f"CONCLUSION: the committed records do not identify R_D*: no variant gives an interval (bounds only); "
            f"{spread}. {primary_says}, but it moves with the fit's choices (above), so whether R_D* agrees with "
            f"{published:g} cannot be told from these runs.")


def datablations_context(published: dict) -> list[str]:
    """Stage 2 on Muennighoff et al.'s own 182 runs with their base held: how well do *their* runs pin R_D*?"""
    if not DATABLATIONS.is_file():
        return [f"(datablations runs not found at {DATABLATIONS}: context skipped)"]
    runs = pd.read_csv(DATABLATIONS)
    lines = ["context: stage 2 on Muennighoff et al.'s 182 C4 runs, their base held exact (profile-likelihood bounds):"]
    for label, starts in (("from their published optimum", [[15.387756, 5.309743]]), ("global (7 x 7 grid)", None)):
        est, value = fit_decay(runs, MUENNIGHOFF_BASE, starts=starts)
        cells = [f"{name} {est[name].value:.4g} " + (f"[{est[name].ci[0]:.3g}, {est[name].ci[1]:.3g}]"
                 if est[name].identified else "bounds [" + ", ".join("-" if v is None else f"{v:.3g}"
                                                                   for v in est[name].profile) + "]")
                 for name in DECAY]
        lines.append(f"  {label}: objective {value:.7f}; " + "; ".join(cells))
    return lines


def main() -> None:
    """Fit, print, draw."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", default="results/reference")
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--sensitivity-bootstrap", type=int, default=50)
    parser.add_argument("--figures", default="results/reference/data_constrained")
    parser.add_argument("--free-E", action="store_true", help="fit E too (default: E fixed at the synthetic floor)")
    args = parser.parse_args()
    table = load_table(SWEEP, args.results)
    table = table[table["status"] == "done"]
    with pd.option_context("display.width", 200, "display.max_rows", 200):
        print(fresh_gap(table).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    points = aggregate_seeds(table)          # one point per (N, D, U): the mean over seeds
    print("\n".join(seed_noise(points)))
    fixed = None if args.free_E else {"E": float(table["floor"].iloc[0])}  # the language's exact entropy rate
    print("E fixed at the synthetic floor" if fixed else "E free", fixed or "")
    published = published_constants()
    fit = fit_two_stage(table, fixed=fixed, bootstrap=args.bootstrap, seed=0)
    print("\n".join(report(fit, published)))
    lines, estimates = sensitivity(table, fixed, args.sensitivity_bootstrap)
    print("\n".join(lines))
    print("\n".join(datablations_context(published)))
    print(conclusion(fit.estimates["R_D_star"], estimates, published["R_D_star"]))
    fig = loss_vs_epochs(points["N_total"], points["D"], points["epochs"], points["loss"], fitted_law(fit.params),
                         loss_se=points["loss_sem"].fillna(points["loss_se"]))
    print("figure:", ", ".join(str(p) for p in save(fig, Path(args.figures), "loss_vs_epochs")))
    close(fig)


if __name__ == "__main__":
    main()
