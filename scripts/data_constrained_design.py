"""Which runs would identify R_D* on the synthetic language? Simulated sweeps drawn from the fit of the first 24 runs
of sweeps/data_constrained.yaml (its own grid), before the extra runs train.

usage: PYTHONPATH=. .venv/bin/python scripts/data_constrained_design.py [--sweeps 20] [--bootstrap 50]
           [--designs own_grid,sweep_file] [--truth 15.4,40] [--noise 0.0097] [--fit-on own_grid|all]
Truth: the two-stage fit of the sweep's own grid (scripts/data_constrained.py's primary fit: E at the floor,
alpha = beta) with R_D* held at each --truth value and R_N* refitted on its repeated runs given it. Noise (sd of log
loss): that fit's residuals, sqrt(SSR / (n - 5)) over the runs it uses, unless --noise. Designs: the own grid's runs
the fit uses (over-fitted ones left out, as the fit leaves them out) plus blocks of runs; ``sweep_file`` adds the
sweep file's extra_grids exactly as planned. For each design and truth, ``--sweeps`` simulated sweeps are fitted as the
reference is (harness.fit.two_stage, bootstrap redoing both stages); printed: how often R_D* is identified, how often
its interval then covers the truth, the median interval, and the new tokens with the estimated training minutes.
``--fit-on all --designs all_records,all_records+next`` asks the same of every committed record and a next step.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from harness.config import load_sweep
from harness.fit import get_law, simulate
from harness.fit.fitting import make_objective
from harness.fit.two_stage import _best, _decay_problem, fit_two_stage, fresh_mask, overfitted_mask
from harness.plan import expand
from harness.store import load_table

SWEEP = "sweeps/data_constrained.yaml"
S30, S63, S108 = 29568, 62784, 108288        # N_total of L2-d32, L2-d48, L2-d64 (sizes 25k, 60k, 100k non-embedding)
BOTH, M, CORPUS = (S30, S63), 2 ** 20, 4_000_000
# one-thread training throughput (tokens/s) measured on the shared 2-core box with 262k-token runs; the estimate
# halves it for load
TOKENS_PER_S = {S30: 1.84e5, S63: 1.17e5, S108: 4.2e4}


def grid(sizes, budgets, cap, seeds: int = 1) -> list[tuple]:
    """(N, D, cap) rows of one block: every size x budget, ``seeds`` times (replicates with their own noise)."""
    return [(n, d, cap) for n in sizes for d in budgets for _ in range(seeds)]


BLOCKS = {   # alternatives to the sweep file's extra grids
    "fresh": grid(BOTH, [2 * M, 3.75 * M], CORPUS),
    "size108k": grid([S108], [M / 4, M / 2, M, 2 * M, 3.75 * M], CORPUS),
    "u65k": grid(BOTH, [2 * M, 4 * M], 65536),
    "u131k": grid(BOTH, [M, 2 * M, 4 * M, 8 * M], 131072),
    "seeds": grid(BOTH, [M / 4, M / 2, M], 16384, 2) + grid(BOTH, [M / 4, M / 2, M], 65536, 2)
    + grid(BOTH, [M / 4, M / 2, M], CORPUS, 2),
    # after the sweep file: 3 more seeds at 16 and 32 epochs of U = 32k, 65k, 131k (below the memorisation onset)
    "next": grid(BOTH, [M / 2, M], 32768, 3) + grid(BOTH, [M, 2 * M], 65536, 3) + grid(BOTH, [2 * M, 4 * M], 131072, 3),
}
DESIGNS = {"own_grid": [], "fresh+size108k": ["fresh", "size108k"], "fresh+u65k+u131k": ["fresh", "u65k", "u131k"],
           "seeds": ["seeds"], "sweep_file": ["sweep_file"], "all_records": [], "all_records+next": ["next"]}


def sweep_file_rows() -> list[tuple]:
    """(N, D, cap) of the runs the sweep file's extra_grids add to its own grid."""
    sweep = load_sweep(SWEEP)
    own = {s.run_id for s in expand(sweep.model_copy(update={"extra_grids": []}), cuda=False)}
    return [(s.N_total, s.tokens, s.unique_tokens) for s in expand(sweep, cuda=False) if s.run_id not in own]


def own_grid(table: pd.DataFrame) -> pd.DataFrame:
    """The records of the sweep file's own grid (its first 24 runs, without the extra grids)."""
    ids = {s.run_id for s in expand(load_sweep(SWEEP).model_copy(update={"extra_grids": []}), cuda=False)}
    return table[table["run_id"].isin(ids)].reset_index(drop=True)


def block_rows(blocks: list[str]) -> list[tuple]:
    """(N, D, cap) rows of the named blocks."""
    return [row for b in blocks for row in (sweep_file_rows() if b == "sweep_file" else BLOCKS[b])]


def design_rows(base: pd.DataFrame, blocks: list[str]) -> pd.DataFrame:
    """The own grid's runs the fit uses plus the blocks' runs; U is the unique tokens seen, min(cap, D)."""
    extra = pd.DataFrame(block_rows(blocks), columns=["N", "D", "U"], dtype=float)
    rows = pd.concat([base, extra], ignore_index=True)
    return rows.assign(U=np.minimum(rows["U"], rows["D"]))


def new_cost(blocks: list[str]) -> tuple[float, float]:
    """(new tokens, estimated minutes at half the measured single-thread throughput) of the blocks."""
    rows = block_rows(blocks)
    return sum(d for _, d, _ in rows), sum(d / (TOKENS_PER_S[n] / 2) for n, d, _ in rows) / 60


def truth_and_noise(table: pd.DataFrame, floor: float, rd_values: list[float]) -> tuple[list[dict], float, int]:
    """Per R_D* value: the seven parameters (stage 1 of ``table``, R_N* refitted given R_D*); the log-noise; the
    number of runs the fit uses."""
    fit = fit_two_stage(table, fixed={"E": floor}, bootstrap=0)
    law = get_law("data_constrained")
    use = table[~overfitted_mask(table, "N_total")]
    x = {"N": use["N_total"].to_numpy(float), "D": use["D"].to_numpy(float), "U": use["U"].to_numpy(float)}
    resid = np.log(use["loss"].to_numpy()) - np.log(law.predict(fit.params, **x))
    noise = float(np.sqrt(np.sum(resid ** 2) / (len(resid) - 5)))   # 5 fitted: A, B, alpha; R_D*, R_N*
    rep = ~fresh_mask(use)
    xr, yr = {k: v[rep] for k, v in x.items()}, use["loss"].to_numpy(float)[rep]
    truths = []
    for rd in rd_values:
        base = {k: fit.params[k] for k in ("E", "A", "B", "alpha", "beta")} | {"R_D_star": rd}
        problem = _decay_problem(xr, yr, base, False, make_objective("huber", 1e-3, "log", "sum"))
        theta, _, _ = _best(problem, np.ones(len(yr)), np.geomspace(0.5, 500, 7)[:, None])
        truths.append(dict(base, R_N_star=float(theta[0])))
    return truths, noise, len(use)


def run_design(rows: pd.DataFrame, truth: dict, noise: float, n_sweeps: int, n_boot: int) -> dict:
    """Simulate and fit ``n_sweeps`` sweeps of ``rows``: identified share, coverage, median interval."""
    found, cover, lows, highs = [], [], [], []
    for s in range(n_sweeps):
        sim = simulate("data_constrained", truth, N=rows["N"], D=rows["D"], U=rows["U"], noise=noise, seed=500 + s)
        est = fit_two_stage(sim, fixed={"E": truth["E"]}, bootstrap=n_boot, seed=s, workers=1).estimates["R_D_star"]
        found.append(est.identified)
        if est.identified:
            cover.append(est.ci[0] <= truth["R_D_star"] <= est.ci[1])
            lows.append(est.ci[0])
            highs.append(est.ci[1])
    med = (float(np.median(lows)), float(np.median(highs))) if lows else (np.nan, np.nan)
    return {"identified": np.mean(found), "covers": np.mean(cover) if cover else np.nan, "median_ci": med}


def main() -> None:
    """Truth and noise from the own grid's records, then every design."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sweeps", type=int, default=20)
    parser.add_argument("--bootstrap", type=int, default=50)
    parser.add_argument("--designs", default="own_grid,fresh+size108k,fresh+u65k+u131k,seeds,sweep_file")
    parser.add_argument("--truth", default="15.4,40", help="R_D* values to simulate, comma-separated")
    parser.add_argument("--noise", type=float, default=None, help="sd of log loss (default: the fit's residuals)")
    parser.add_argument("--fit-on", choices=("own_grid", "all"), default="own_grid",
                        help="records the truth, noise and base runs come from: the first 24 runs, or all (then use "
                        "designs all_records, all_records+next)")
    parser.add_argument("--results", default="results/reference")
    args = parser.parse_args()
    table = load_table(SWEEP, args.results)
    table = table[table["status"] == "done"].reset_index(drop=True)
    table = own_grid(table) if args.fit_on == "own_grid" else table
    truths, noise, used = truth_and_noise(table, float(table["floor"].iloc[0]),
                                          [float(v) for v in args.truth.split(",")])
    noise = args.noise if args.noise is not None else noise
    base = pd.DataFrame({k: table.loc[~overfitted_mask(table, "N_total"), c].to_numpy(float)
                         for k, c in (("N", "N_total"), ("D", "D"), ("U", "U"))})
    print(f"{args.fit_on}: {len(table)} runs, {used} used by the fit; simulated noise {noise:.4f} (sd of log loss"
          + (", --noise)" if args.noise is not None else ", the fit's residuals)")
          + f"; {args.sweeps} sweeps per design, bootstrap {args.bootstrap}")
    for truth in truths:
        print("truth: " + ", ".join(f"{k}={v:.4g}" for k, v in truth.items()))
        for name in args.designs.split(","):
            start = time.time()
            rows = design_rows(base, DESIGNS[name])
            tokens, minutes = new_cost(DESIGNS[name])
            out = run_design(rows, truth, noise, args.sweeps, args.bootstrap)
            lo, hi = out["median_ci"]
            print(f"  {name:<17} {len(rows):>3} runs, new {tokens / 1e6:5.1f}M tokens ~{minutes:4.1f} min | R_D* "
                  f"identified {out['identified']:4.0%}, covers {out['covers']:4.0%} of those, median 95 % CI "
                  f"[{lo:.3g}, {hi:.3g}]  ({time.time() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
