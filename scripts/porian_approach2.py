"""Approach 2 by parabolas (harness.fit.isoflop_fit) on Porian et al. 2024's own isoFLOP points, beside their
published exponents (minima by Akima interpolation with a seed bootstrap, fits_published.csv).

Usage: ``python scripts/porian_approach2.py [PORIAN_DIR]`` (default ../shared/external/porian2024). Prints, per
configuration, our a with its 95% bootstrap interval over budgets, theirs with their interval, and how many budgets
had an interior minimum."""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from harness.errors import ConfigError
from harness.fit.isoflop import isoflop_fit

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "external" / "porian2024"


def main() -> None:
    """Print the side-by-side table."""
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    points = pd.read_csv(folder / "isoflop_points.csv").rename(columns={"n": "N", "flops": "C"})
    published = pd.read_csv(folder / "fits_published.csv").set_index("config_id")
    print(f"{'configuration':<46}{'ours a [95%]':>24}{'published a [95%]':>26}{'diff':>8}  budgets used")
    for config, rows in points.groupby("config_id"):
        if config not in published.index:
            continue
        try:
            fit = isoflop_fit(rows, bootstrap=1000, seed=0)
        except ConfigError as exc:
            print(f"{config:<46} {exc}")
            continue
        pub = published.loc[config]
        used = sum(p["used"] for p in fit.parabolas)
        print(f"{config:<46}{fit.n_opt.exponent:>8.3f} [{fit.n_opt.ci[0]:.3f}, {fit.n_opt.ci[1]:.3f}]"
              f"{pub['a_n_exponent']:>10.3f} [{pub['a_ci95_lo']:.3f}, {pub['a_ci95_hi']:.3f}]"
              f"{fit.n_opt.exponent - pub['a_n_exponent']:>+8.3f}  {used}/{len(fit.parabolas)}")


if __name__ == "__main__":
    main()
