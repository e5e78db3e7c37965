"""Run records on disk: atomic writes, reading them back, and the run table (pandas).

Layout: ``<results>/<sweep>/<run_id>/`` holds ``spec.json``, ``metrics.jsonl``, ``result.json`` (and,
while a run is unfinished, ``checkpoint.pt`` and a ``claim`` file). Records are the only state.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Optional

import pandas as pd

from harness.errors import ConfigError

from harness.config import load_sweep

RESULT_FILE, SPEC_FILE, METRICS_FILE, CHECKPOINT_FILE = "result.json", "spec.json", "metrics.jsonl", "checkpoint.pt"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write bytes to ``path`` via a temp file in the same directory, fsync, then rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, payload: Any) -> None:
    """Atomically write a JSON document (sorted keys, indented)."""
    atomic_write_bytes(path, (json.dumps(payload, indent=1, sort_keys=True, default=str) + "\n").encode())


def read_json(path: Path) -> Optional[dict]:
    """A JSON object from ``path``; None (with a warning) when it is missing, truncated or corrupt."""
    try:
        payload = json.loads(Path(path).read_text())
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        warnings.warn(f"{path}: unreadable record ({type(exc).__name__}); it will be redone", stacklevel=2)
        return None
    return payload if isinstance(payload, dict) else None


def read_result(run_dir: Path, quarantine: bool = False) -> Optional[dict]:
    """The finished run's result, or None when absent or corrupt (with a warning).

    Only the runner, holding the run's claim, passes ``quarantine`` to move a corrupt record aside;
    read-only commands (status, results, fit, report) never change records.
    """
    path = Path(run_dir) / RESULT_FILE
    result = read_json(path)
    if result is None and quarantine and path.exists():
        path.replace(path.with_name(f"{RESULT_FILE}.corrupt"))
    if result is not None and result.get("run_id") != Path(run_dir).name:
        warnings.warn(f"{path}: run_id does not match its directory; ignored", stacklevel=2)
        return None
    return result


def read_metrics(path: Path) -> list[dict]:
    """Rows of a metrics.jsonl file; a torn last line (from a kill) is skipped."""
    rows = []
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return rows
    for line in lines:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def sweep_dir(results_root: Path, sweep_name: str) -> Path:
    """The directory of a sweep's records, refusing names that would escape the results root."""
    root = Path(results_root).resolve()
    target = (root / sweep_name).resolve()
    if target.parent != root:
        raise ConfigError(f"{sweep_name}: sweep name would leave the results directory {root}")
    return target


def run_dirs(sweep_path: Path) -> list[Path]:
    """Run directories of a sweep (those holding a spec.json), sorted."""
    sweep_path = Path(sweep_path)
    if not sweep_path.is_dir():
        return []
    return sorted(p for p in sweep_path.iterdir() if p.is_dir() and (p / SPEC_FILE).exists())


_TABLE_KEYS = [
    "run_id", "sweep", "status", "reason", "family", "n_layer", "d_model", "n_head", "d_ff", "seed",
    "N_total", "N_nonembed", "N_with_head", "D", "C", "C_kaplan", "C_full", "tokens_per_param", "steps", "lr",
    "loss", "loss_se", "loss_bpb", "train_loss", "floor", "floor_se", "floor_expected", "wall_time_s", "tokens_per_s", "mfu", "device",
    "git_commit", "corpus_fingerprint", "bytes_per_token", "epochs",
]


def _table_row(result: dict) -> dict:
    row = {key: result.get(key) for key in _TABLE_KEYS}
    row["N"] = result.get("N_total")
    row["versions"] = json.dumps(result.get("versions", {}), sort_keys=True)
    return row


def load_results(path: str | Path) -> pd.DataFrame:
    """The run table of one sweep directory: one row per finished record (see docs/CONTRACTS.md)."""
    rows = [_table_row(r) for d in run_dirs(Path(path)) if (r := read_result(d)) is not None]
    columns = _TABLE_KEYS + ["N", "versions"]
    table = pd.DataFrame(rows, columns=columns)
    for col in ("floor", "floor_se", "floor_expected", "loss", "loss_se", "loss_bpb", "mfu"):
        table[col] = pd.to_numeric(table[col], errors="coerce")
    return table.sort_values(["N_total", "D", "seed"], kind="stable").reset_index(drop=True) if rows else table


def load_metrics(path: str | Path) -> pd.DataFrame:
    """Training/eval curves of every run in a sweep directory (one row per logged step)."""
    frames = []
    for run_dir in run_dirs(Path(path)):
        rows = read_metrics(run_dir / METRICS_FILE)
        if rows:
            frame = pd.DataFrame(rows)
            frame.insert(0, "run_id", run_dir.name)
            frames.append(frame)
    columns = ["run_id", "step", "tokens", "lr", "train_loss", "eval_loss", "eval_loss_se", "tokens_per_s"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True).reindex(columns=columns)


def resolve_sweep_source(source: str, results_root: Path) -> Path:
    """A sweep YAML path or a bare sweep name → the sweep's results directory."""
    if source.endswith((".yaml", ".yml")):
        return sweep_dir(results_root, load_sweep(source).name)
    return sweep_dir(results_root, source)


def load_table(source: str, results_root: str | Path = "results") -> pd.DataFrame:
    """A run table from a CSV file, a sweep YAML file or a sweep name under ``results_root``."""
    if source.endswith(".csv"):
        try:
            return pd.read_csv(source)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{source}: cannot read CSV ({exc})".splitlines()[0]) from None
    directory = resolve_sweep_source(source, Path(results_root))
    if not directory.is_dir():
        raise ConfigError(f"{source}: no results at {directory} (run the sweep first, or pass --results)")
    return load_results(directory)
