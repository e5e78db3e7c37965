"""Tokens/s and MFU of a sweep's runs, read from their records (scripts/gpu_check.sh's last step).

Usage: ``python scripts/sweep_throughput.py SWEEP RESULTS [--expect 6] [--require-mfu]``. Prints one line per run
and the medians; exits 1 when fewer than ``--expect`` runs are done, or (``--require-mfu``) a run has no MFU."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from harness.errors import ConfigError
from harness.store import load_table


def summarize(table: pd.DataFrame) -> list[str]:
    """One line per run (size, tokens, loss, tokens/s, MFU, device) and a line of medians."""
    lines = [f"{'run_id':<38}{'N_total':>12}{'D':>12}{'loss':>8}{'tok/s':>12}{'MFU':>8}  device"]
    for row in table.itertuples():
        mfu = f"{row.mfu:.1%}" if pd.notna(row.mfu) else "-"
        lines.append(f"{row.run_id:<38}{row.N_total:>12,}{row.D:>12,}{row.loss:>8.4f}{row.tokens_per_s:>12,.0f}"
                     f"{mfu:>8}  {row.device}")
    mfu = table["mfu"].median()
    lines.append(f"median tokens/s {table['tokens_per_s'].median():,.0f}; median MFU "
                 f"{'-' if pd.isna(mfu) else f'{mfu:.1%}'}; {len(table)} runs done")
    return lines


def main(argv=None) -> int:
    """Print the throughput table; the exit status says whether the check passed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sweep")
    parser.add_argument("results", type=Path)
    parser.add_argument("--expect", type=int, default=6, help="runs that must be done")
    parser.add_argument("--require-mfu", action="store_true", help="fail if a run recorded no MFU (GPU)")
    args = parser.parse_args(argv)
    try:
        table = load_table(args.sweep, args.results)
    except ConfigError as exc:
        print(f"FAIL: 0 of {args.expect} runs done ({exc})", file=sys.stderr)
        return 1
    done = table[table["status"] == "done"]
    for line in summarize(done):
        print(line)
    if len(done) < args.expect:
        print(f"FAIL: {len(done)} of {args.expect} runs done", file=sys.stderr)
        return 1
    if args.require_mfu and done["mfu"].isna().any():
        print("FAIL: a run recorded no MFU (no GPU peak known for this device?)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
