"""Cooldown branching against independent runs: one grid trained both ways, compared side by side.

Runs a sweep file (default ``sweeps/branching.yaml``: 3 sizes × 4 doubling budgets) twice: as independent
runs with the file's own schedule (cosine; sweep ``<name>-cosine``) and as WSD branches off one constant-LR
trunk per size (sweep ``<name>-wsd``). Prints total tokens trained, wall time, every point's loss, and
the Chinchilla fit (α, β with 95 % bootstrap intervals, ``harness.fit.fit_law``; E free, and E held at the
synthetic language's exact floor) of both, then checks:
tokens ratio within 2 % of (D_max + f·Σ_{i<max} D_i)/Σ D_i, every branched loss within 1 % of its cosine
twin, α and β of each fit inside the other's interval. Records are resumable: a rerun reuses finished runs
(wall time is summed from the records, so it stays the training time of the runs themselves).

Usage: ``python scripts/bench_branching.py [--sweep sweeps/branching.yaml ...] [--results results/bench-branching]
[--bootstrap 1000] [--workers 1] [--threads 1]``; it also writes ``<results>/bench_branching.json``.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Optional

import pandas as pd

from harness.config import SweepConfig, load_sweep
from harness.fit import fit_law
from harness.store import atomic_write_json, load_results, read_json
from harness.sweep import WorkerOptions, run_sweep
from harness.train import TrainOptions


def variants(config: SweepConfig) -> dict[str, SweepConfig]:
    """The sweep as independent runs ('cosine') and as cooldown branches ('wsd'), under their own names."""
    f, shape = config.budgets.cooldown_fraction, config.budgets.cooldown_shape
    out = {}
    for label, branching in (("cosine", "none"), ("wsd", "wsd")):
        budgets = config.budgets.model_copy(update={"branching": branching, "cooldown_fraction": f,
                                                    "cooldown_shape": shape})
        out[label] = config.model_copy(update={"name": f"{config.name}-{label}", "budgets": budgets})
    return out


def records(directory: Path) -> list[dict]:
    """Every finished record of a sweep directory, trunks included."""
    return [r for p in sorted(directory.glob("*/result.json")) if (r := read_json(p))]


def trained_tokens(record: dict) -> float:
    """Tokens a record's run trained itself (a branch: only from its branch point on)."""
    per_step = record["D"] / record["steps"]
    return record["D"] - record.get("branch_step", 0) * per_step


def target_ratio(table: pd.DataFrame, f: float) -> float:
    """(D_max + f·Σ_{i<max} D_i) / Σ D_i per size, summed over sizes: the tokens branching should train."""
    branched = total = 0.0
    for _, group in table.groupby(["N_total", "seed"]):
        d = sorted(group["D"])
        branched += d[-1] + f * sum(d[:-1])
        total += sum(d)
    return branched / total


FITS = ("E free", "E = floor")  # the synthetic language's exact floor, when the records carry one


def fit(table: pd.DataFrame, bootstrap: int, fixed_floor: bool) -> dict:
    """α and β with their 95 % bootstrap intervals (E free, or held at the records' exact floor)."""
    floor = table["floor"].dropna()
    fixed = {"E": float(floor.iloc[0])} if fixed_floor and len(floor) else None
    result = fit_law(table, "chinchilla", bootstrap=bootstrap, seed=0, fixed=fixed)
    return {name: (float(result.params[name]), *map(float, result.ci[name])) for name in ("alpha", "beta")}


def inside_each_other(fits: dict, param: str) -> bool:
    """Whether each variant's estimate lies inside the other's interval."""
    return all(fits[a][param][1] <= fits[b][param][0] <= fits[a][param][2] for a, b in (("cosine", "wsd"), ("wsd", "cosine")))


def run_both(config: SweepConfig, results: Path, workers: int, threads: int) -> dict[str, float]:
    """Train both variants (finished runs are skipped); wall clock of this invocation per variant."""
    options = WorkerOptions(TrainOptions(use_wandb=False, progress=False), threads=threads)
    clock = {}
    for label, sweep in variants(config).items():
        start = time.perf_counter()
        outcome = run_sweep(sweep, results, workers=workers, options=options)
        clock[label] = time.perf_counter() - start
        print(f"{sweep.name}: trained {len(outcome.trained)}, already done {len(outcome.skipped)}, "
              f"failed {len(outcome.failed)} in {clock[label]:.0f} s", flush=True)
    return clock


def seed_spread(table: pd.DataFrame) -> Optional[dict]:
    """Same N and D, other seed: |loss / loss of the first seed − 1| (mean and max); None with one seed."""
    wide = table.pivot_table(index=["N_total", "D"], columns="seed", values="loss")
    if wide.shape[1] < 2:
        return None
    diffs = wide.iloc[:, 1:].div(wide.iloc[:, 0], axis=0).sub(1).abs().stack()
    return {"mean_abs": float(diffs.mean()), "max_abs": float(diffs.max())}


def compare(configs: list[SweepConfig], results: Path, bootstrap: int) -> dict:
    """The side-by-side numbers (tokens, wall time, losses, fits) and the target checks, over all given sweeps."""
    names = {label: [variants(c)[label].name for c in configs] for label in ("cosine", "wsd")}
    recs = {label: [r for n in ns for r in records(results / n)] for label, ns in names.items()}
    tables = {label: pd.concat([load_results(results / n) for n in ns], ignore_index=True) for label, ns in names.items()}
    tokens = {label: sum(trained_tokens(r) for r in rs) for label, rs in recs.items()}
    wall = {label: sum(r["wall_time_s"] for r in rs) for label, rs in recs.items()}
    keys = ["N_total", "D", "seed"]
    points = tables["cosine"][keys + ["loss"]].merge(tables["wsd"][keys + ["loss"]], on=keys, suffixes=("_cosine", "_wsd"))
    points["rel_diff"] = points["loss_wsd"] / points["loss_cosine"] - 1
    config = configs[0]
    fits = {kind: {label: fit(table, bootstrap, kind == FITS[1]) for label, table in tables.items()} for kind in FITS}
    ratio, target = tokens["wsd"] / tokens["cosine"], target_ratio(tables["cosine"], config.budgets.cooldown_fraction)
    checks = {"tokens_within_2pct_of_target": abs(ratio / target - 1) <= 0.02,
              "every_loss_within_1pct": bool((points["rel_diff"].abs() <= 0.01).all())}
    for kind in FITS:
        for param in ("alpha", "beta"):
            checks[f"{param}_inside_each_others_ci ({kind})"] = inside_each_other(fits[kind], param)
    return {"tokens": tokens, "token_ratio": ratio, "target_ratio": target, "wall_time_s": wall, "sweeps": names,
            "seed_spread": {label: seed_spread(table) for label, table in tables.items()},
            "points": points.to_dict("records"), "fits": fits, "checks": checks,
            "cooldown_fraction": config.budgets.cooldown_fraction, "cooldown_shape": config.budgets.cooldown_shape}


def show(summary: dict, clock: dict[str, float]) -> None:
    """Print the side-by-side table."""
    t, w = summary["tokens"], summary["wall_time_s"]
    print(f"\n{'':<34}{'independent cosine':>20}{'WSD branches':>16}{'ratio':>8}")
    print(f"{'tokens trained':<34}{t['cosine']:>20,.0f}{t['wsd']:>16,.0f}{summary['token_ratio']:>8.3f}"
          f"   (target {summary['target_ratio']:.3f})")
    print(f"{'wall time, Σ records (s)':<34}{w['cosine']:>20.1f}{w['wsd']:>16.1f}{w['wsd'] / w['cosine']:>8.3f}")
    if clock:
        print(f"{'wall time, this invocation (s)':<34}{clock['cosine']:>20.1f}{clock['wsd']:>16.1f}")
    print(f"\n{'N_total':>9}{'D':>10}{'seed':>5}{'loss cosine':>13}{'loss WSD':>10}{'diff':>8}")
    for p in summary["points"]:
        print(f"{p['N_total']:>9,}{p['D']:>10.3g}{p['seed']:>5}{p['loss_cosine']:>13.4f}{p['loss_wsd']:>10.4f}"
              f"{p['rel_diff']:>+8.2%}")
    diffs = pd.Series([p["rel_diff"] for p in summary["points"]])
    print(f"mean diff {diffs.mean():+.2%}, mean |diff| {diffs.abs().mean():.2%}, within 1 %: {(diffs.abs() <= 0.01).sum()} of {len(diffs)}, "
          f"WSD lower: {(diffs < 0).sum()} of {len(diffs)}")
    for label, spread in summary["seed_spread"].items():
        if spread:
            print(f"seed to seed ({label}, same N and D): mean |diff| {spread['mean_abs']:.2%}, "
                  f"max {spread['max_abs']:.2%}")
    print(f"\n{'chinchilla fit (95 % bootstrap CI)':<34}{'independent cosine':>28}{'WSD branches':>28}")
    for kind in FITS:
        for name in ("alpha", "beta"):
            cells = [f"{v:.3f} [{lo:.3f}, {hi:.3f}]" for v, lo, hi in (summary["fits"][kind][k][name]
                                                                       for k in ("cosine", "wsd"))]
            print(f"{name + ', ' + kind:<34}{cells[0]:>28}{cells[1]:>28}")
    print()
    for name, ok in summary["checks"].items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")


def main() -> None:
    """Run (or resume) both variants, then print and save the comparison."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", nargs="+", default=["sweeps/branching.yaml"],
                        help="sweep files (e.g. one per seed); compared and fitted together")
    parser.add_argument("--results", type=Path, default=Path("results/bench-branching"))
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker (1: steady on a busy machine)")
    parser.add_argument("--compare-only", action="store_true", help="Only compare existing records.")
    args = parser.parse_args()
    configs = [load_sweep(path) for path in args.sweep]
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    clock: dict[str, float] = {}
    for config in [] if args.compare_only else configs:
        for label, seconds in run_both(config, args.results, args.workers, args.threads).items():
            clock[label] = clock.get(label, 0.0) + seconds
    summary = compare(configs, args.results, args.bootstrap)
    summary["load_average_end"] = os.getloadavg()[0]
    show(summary, clock)
    atomic_write_json(args.results / "bench_branching.json", summary)


if __name__ == "__main__":
    main()
