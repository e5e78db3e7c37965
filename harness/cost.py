"""Cost and data before launch: GPU-hours at an assumed MFU, unique tokens available, epochs each run would make.

GPU-hours = C_full / (peak bf16 FLOP/s × MFU) / 3600, with C_full the run's training FLOPs including attention
and logits (:func:`harness.sizing.flops_per_token`) and the peak from :mod:`harness.provenance`'s data-sheet
table. Unique training tokens are counted where that needs no download: the synthetic source's
``train_tokens``; local text with the byte tokenizer (file bytes × (1 − test_fraction)); otherwise
``data.available_tokens`` when the sweep states it, else unknown. Epochs = D / available.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import pandas as pd

from harness.config import DataConfig, SweepConfig
from harness.errors import ConfigError
from harness.provenance import peak_flops_named


def available_tokens(data: DataConfig) -> tuple[Optional[float], str]:
    """(unique training tokens or None, how it was known): stated, counted, or unknown."""
    if data.available_tokens is not None:
        return float(data.available_tokens), "data.available_tokens"
    if data.source == "synthetic":
        return float(data.synthetic.train_tokens), "synthetic train_tokens"
    if data.source == "text" and data.tokenizer == "byte":
        from harness.data.sources import text_files

        total = sum(f.stat().st_size for f in text_files(data.path) if Path(f).is_file())
        return total * (1 - data.test_fraction), "bytes of the local text files"
    return None, "unknown (set data.available_tokens)"


def gpu_hours(c_full: float, gpu: str, mfu: float) -> float:
    """Hours on one ``gpu`` at model-FLOPs utilisation ``mfu`` for ``c_full`` training FLOPs."""
    if not 0 < mfu <= 1:
        raise ConfigError(f"--mfu: {mfu} must be in (0, 1]")
    peak = peak_flops_named(gpu)
    if peak is None:
        raise ConfigError(f"--gpu: unknown GPU '{gpu}' (known: h200, h100, a100, l40s, a10g, l4, v100, 4090, 3090)")
    return c_full / (peak * mfu) / 3600.0


def cost_table(plan: pd.DataFrame, config: SweepConfig, gpu: str, mfu: float) -> pd.DataFrame:
    """The plan table with gpu_h (per run) and epochs (D / unique tokens; NaN when unknown) added."""
    available, _ = available_tokens(config.data)
    out = plan.copy()
    out["gpu_h"] = [gpu_hours(c, gpu, mfu) for c in out["C_full"]] if len(out) else []
    out["epochs"] = out["D"] / available if available else float("nan")
    if "U" in out:  # runs that cap their unique tokens (data.unique_tokens) repeat them D/U times
        out["epochs"] = out["epochs"].where(out["U"].isna(), out["D"] / out["U"])
    return out


def cost_summary(plan: pd.DataFrame, config: SweepConfig, gpu: str, mfu: float) -> list[str]:
    """Plain lines: total GPU-hours and FLOPs, data available vs needed, and a warning when data would repeat."""
    available, how = available_tokens(config.data)
    table = cost_table(plan, config, gpu, mfu)
    lines = [f"cost: {table['gpu_h'].sum():.4g} {gpu.upper()} GPU-hours at MFU {mfu:g} for {len(table)} runs "
             f"({table['C_full'].sum():.3g} FLOP with attention and logits); largest run {table['gpu_h'].max():.3g} h"]
    largest = float(table["D"].max()) if len(table) else 0.0
    if available is None:
        lines.append(f"data: unique tokens {how}; the largest run needs {largest:.3g} tokens")
        return lines
    lines.append(f"data: {available:.3g} unique training tokens ({how}); the largest run needs {largest:.3g}")
    asked = table["U"].notna() if "U" in table else False  # repetition the sweep asked for is no surprise
    repeated = table[(table["epochs"] > 1) & ~asked]
    if len(repeated):
        lines.append(f"warning: {len(repeated)} of {len(table)} runs would repeat data (up to "
                     f"{repeated['epochs'].max():.3g} epochs): {', '.join(repeated['run_id'].head(3))}"
                     + (f" and {len(repeated) - 3} more" if len(repeated) > 3 else ""))
    return lines
