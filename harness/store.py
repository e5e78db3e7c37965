"""Run records on disk: atomic writes, reading them back, and the run table (pandas).

Layout: ``<results>/<sweep>/<run_id>/`` holds ``spec.json``, ``metrics.jsonl``, ``result.json`` (and,
while a run is unfinished, ``checkpoint.pt`` and a ``claim`` file). Records are the only state.

Records are written with the permissions the umask allows (like any file the user creates), so
colleagues on a shared cluster filesystem can read them. Reading is defensive: a record that does not
parse, nests absurdly deep, holds a non-number where a number belongs, or sits beside an edited spec is
left out of tables with a warning naming the file (and field).
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any, Optional

import pandas as pd

from harness.errors import ConfigError

from harness.config import SweepConfig, load_sweep
from harness.calibration import CALIBRATION_KEYS

RESULT_FILE, SPEC_FILE, METRICS_FILE, CHECKPOINT_FILE = "result.json", "spec.json", "metrics.jsonl", "checkpoint.pt"
TRUNK_PREFIX = "trunk-"  # run ids of cooldown-branching trunks: their records stay out of tables and curves


def current_umask() -> int:
    """The process umask, read without changing it (os.umask() would, briefly, for every thread)."""
    try:
        match = re.search(r"^Umask:\s*([0-7]+)", Path("/proc/self/status").read_text(), re.M)
    except OSError:
        match = None
    if match:
        return int(match.group(1), 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write bytes to ``path`` via a temp file in the same directory, fsync, then rename.

    The file gets mode 0o666 minus the umask, as ``open()`` would give it (mkstemp alone gives 0o600).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
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
    except (json.JSONDecodeError, UnicodeDecodeError, OSError, RecursionError) as exc:
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
            row = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def sweep_dir(results_root: Path, sweep_name: str) -> Path:
    """The directory of a sweep's records, refusing names that would escape the results root."""
    root = Path(results_root).resolve()
    target = (root / sweep_name).resolve()
    if target.parent != root:
        raise ConfigError(f"{sweep_name}: sweep name would leave the results directory {root}")
    return target


def run_dirs(sweep_path: Path) -> list[Path]:
    """Run directories of a sweep (those holding a spec.json; not cooldown-branching trunks), sorted."""
    sweep_path = Path(sweep_path)
    if not sweep_path.is_dir():
        return []
    return sorted(p for p in sweep_path.iterdir()
                  if p.is_dir() and (p / SPEC_FILE).exists() and not p.name.startswith(TRUNK_PREFIX))


def spec_problem(run_dir: Path) -> Optional[str]:
    """Why a run directory's stored spec.json cannot be trusted (it no longer produces the directory's run id,
    i.e. it was edited), or None when it is absent or sound."""
    from harness.plan import RunSpec, make_run_id

    run_dir = Path(run_dir)
    stored = read_json(run_dir / SPEC_FILE)
    if stored is None:
        return None
    try:
        stored_id = make_run_id(RunSpec.model_validate({**stored, "run_id": ""}))
    except (ValueError, TypeError, RecursionError):
        stored_id = None
    if stored_id != run_dir.name or stored.get("run_id") != run_dir.name:
        return f"{run_dir / SPEC_FILE}: stored spec does not match run id {run_dir.name}"
    return None


_TABLE_KEYS = [
    "run_id", "sweep", "status", "reason", "family", "n_layer", "d_model", "n_head", "d_ff", "seed",
    "N_total", "N_nonembed", "N_with_head", "D", "C", "C_kaplan", "C_full", "tokens_per_param", "steps", "lr",
    "loss", "loss_se", "loss_bpb", "train_loss", "floor", "floor_se", "floor_expected", "wall_time_s", "tokens_per_s", "mfu", "device",
    "git_commit", "corpus_fingerprint", "bytes_per_token", "epochs",
    "train_eval_loss", "train_eval_loss_se", "best_eval_step", "overfit", "spike_count", "spike_steps",
    "U", "unique_tokens_cap", "tokens_per_unique",
]


_NUMERIC_KEYS = [
    "n_layer", "d_model", "n_head", "d_ff", "seed", "N_total", "N_nonembed", "N_with_head", "D", "C", "C_kaplan",
    "C_full", "tokens_per_param", "steps", "lr", "loss", "loss_se", "loss_bpb", "train_loss", "floor", "floor_se", "floor_expected", "wall_time_s",
    "tokens_per_s", "mfu", "bytes_per_token", "epochs",
    "train_eval_loss", "train_eval_loss_se", "best_eval_step", "spike_count",
    "U", "unique_tokens_cap", "tokens_per_unique",
]

# calibration (harness.calibration): Brier score, its decomposition, ECE, the synthetic Bayes Brier; NaN in older records
_TABLE_KEYS += CALIBRATION_KEYS
_NUMERIC_KEYS += CALIBRATION_KEYS


def _not_a_number(result: dict) -> Optional[str]:
    """The first numeric field of a record holding something else than a number (or null), else None."""
    for key in _NUMERIC_KEYS:
        value = result.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"field {key} is not a number ({str(value)[:40]!r})"
    return None


def _trusted_result(run_dir: Path, problems: list[str]) -> Optional[dict]:
    """A finished record fit for a table; a record beside an edited spec or with a non-number is left out (a warning,
    and the reason appended to ``problems``)."""
    result = read_result(run_dir)
    if result is None:
        return None
    problem = spec_problem(run_dir)
    if problem is None and (bad := _not_a_number(result)):
        problem = f"{run_dir / RESULT_FILE}: {bad}"
    if problem:
        warnings.warn(f"{problem}; record left out", stacklevel=3)
        problems.append(problem)
        return None
    return result


def _table_row(result: dict) -> dict:
    row = {key: result.get(key) for key in _TABLE_KEYS}
    row["N"] = result.get("N_total")
    row["versions"] = json.dumps(result.get("versions", {}), sort_keys=True)
    return row


def load_results(path: str | Path) -> pd.DataFrame:
    """The run table of one sweep directory: one row per finished record (see docs/CONTRACTS.md). Records left out
    (an edited spec, a non-number in a numeric field) are named in ``table.attrs["record_problems"]``."""
    problems: list[str] = []
    rows = [_table_row(r) for d in run_dirs(Path(path)) if (r := _trusted_result(d, problems)) is not None]
    columns = _TABLE_KEYS + ["N", "versions"]
    table = pd.DataFrame(rows, columns=columns)
    if not rows:
        table = table.assign(lr_sweep_best=pd.Series(dtype=bool))
        table.attrs["record_problems"] = problems
        return table
    for col in _NUMERIC_KEYS + ["N"]:
        table[col] = pd.to_numeric(table[col], errors="coerce")
    table = mark_lr_sweep_best(table)
    table = table.sort_values(["N_total", "D", "seed"], kind="stable").reset_index(drop=True)
    table.attrs["record_problems"] = problems
    return table


def load_done_runs(paths) -> pd.DataFrame:
    """The finished (status ``done``) runs of one or several sweep directories as one run table, sorted like
    :func:`load_results` (e.g. a grid and a later column of more tokens trained as its own sweep)."""
    tables = [load_results(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    table = pd.concat([t for t in tables if len(t)] or tables[:1], ignore_index=True)
    table = table[table["status"] == "done"]
    return table.sort_values(["N_total", "D", "seed"], kind="stable").reset_index(drop=True)


LR_SWEEP_GROUP = ["family", "n_layer", "d_model", "n_head", "d_ff", "D", "seed"]


def mark_lr_sweep_best(table: pd.DataFrame) -> pd.DataFrame:
    """Add ``lr_sweep_best``: among finished runs with the same shape, D and seed but different LRs
    (training.lr.sweep), True only for the lowest loss; True for every finished run without such siblings."""
    table = table.copy()
    table["lr_sweep_best"] = False
    done = table[(table["status"] == "done") & table["loss"].notna()] if len(table) else table
    keys = LR_SWEEP_GROUP + [c for c in ("unique_tokens_cap",) if c in done]  # data.unique_tokens: one group per U
    for _, group in done.groupby(keys, dropna=False):
        swept = group["lr"].nunique() > 1
        table.loc[[group["loss"].idxmin()] if swept else list(group.index), "lr_sweep_best"] = True
    return table


def load_metrics(path: str | Path) -> pd.DataFrame:
    """Training/eval curves of every run in a sweep directory (one row per logged step)."""
    frames = []
    for run_dir in run_dirs(Path(path)):
        rows = read_metrics(run_dir / METRICS_FILE)
        if rows:
            frame = pd.DataFrame(rows)
            frame.insert(0, "run_id", run_dir.name)
            frames.append(frame)
    columns = ["run_id", "step", "tokens", "lr", "train_loss", "eval_loss", "eval_loss_se", "tokens_per_s",
               "train_eval_loss", "train_eval_loss_se"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True).reindex(columns=columns)


def resolve_sweep_source(source: str, results_root: Path) -> Path:
    """A sweep YAML path or a bare sweep name → the sweep's results directory."""
    if source.endswith((".yaml", ".yml")):
        return sweep_dir(results_root, load_sweep(source).name)
    return sweep_dir(results_root, source)


def plan_source(source: str) -> Optional[SweepConfig]:
    """The sweep a table source names: a sweep YAML, or a bare name with a sweeps/<name>.yaml; else None."""
    if source.endswith((".yaml", ".yml")):
        return load_sweep(source)
    candidate = Path("sweeps") / f"{source}.yaml"
    return load_sweep(candidate) if "/" not in source and candidate.is_file() else None


def keep_planned(table: pd.DataFrame, sweep: SweepConfig, source: str) -> pd.DataFrame:
    """Only the rows of runs in the sweep's current plan; how many others were left out is in
    ``table.attrs["left_out"]`` and a warning (records of runs from an earlier version of the sweep file)."""
    from harness.plan import planned_run_ids  # sizing only: no torch

    planned = planned_run_ids(sweep)
    keep = table["run_id"].isin(planned)
    kept = table[keep].reset_index(drop=True)
    kept.attrs.update(table.attrs, left_out=int((~keep).sum()))
    if kept.attrs["left_out"]:
        warnings.warn(f"{source}: {kept.attrs['left_out']} record(s) of runs not in the current plan left out "
                      "(pass --all to include them)", stacklevel=3)
    return kept


def load_table(source: str, results_root: str | Path = "results", all_runs: bool = False) -> pd.DataFrame:
    """A run table from a CSV file, a sweep YAML file or a sweep name under ``results_root``.

    For a sweep with a sweep file (YAML, or sweeps/<name>.yaml), only the runs of its current plan are
    read unless ``all_runs``: records left from an earlier version of the file are left out, with a warning.
    """
    if source.endswith(".csv"):
        try:
            return pd.read_csv(source)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{source}: cannot read CSV ({exc})".splitlines()[0]) from None
    directory = resolve_sweep_source(source, Path(results_root))
    if not directory.is_dir():
        raise ConfigError(f"{source}: no results at {directory} (run the sweep first, or pass --results)")
    table = load_results(directory)
    sweep = None if all_runs else plan_source(source)
    return keep_planned(table, sweep, source) if sweep is not None else table


POINT_KEYS = ["N", "D"]
POINT_EXTRA_KEYS = ["unique_tokens_cap", "family"]  # runs differing in these are different points, not seeds


def aggregate_seeds(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (N, D) point (and unique-token cap and family, where recorded) of the finished runs (best LR of an LR sweep): ``loss`` the mean over seeds,
    ``loss_std`` their sample standard deviation (NaN for one seed), ``seed_count``, ``loss_sem`` the standard
    error of the mean from the seed spread (std / sqrt(count)), ``loss_se`` the mean eval SE, and the other
    columns of the first run of the point (N conventions, C, tokens_per_param …)."""
    done = table[table["loss"].notna()] if len(table) else table
    if "status" in done.columns:
        done = done[done["status"] == "done"]
    if "lr_sweep_best" in done.columns:
        done = done[done["lr_sweep_best"].fillna(True).astype(bool)]
    if done.empty:
        return pd.DataFrame(columns=list(table.columns) + ["loss_std", "seed_count", "loss_sem"])
    keys = POINT_KEYS + [c for c in POINT_EXTRA_KEYS if c in done.columns]
    groups = done.groupby(keys, sort=True, dropna=False)
    first = groups.first().reset_index()
    stats = groups["loss"].agg(loss="mean", loss_std="std", seed_count="count").reset_index()
    out = first.drop(columns=["loss"]).merge(stats, on=keys)
    out["loss_se"] = groups["loss_se"].mean().to_numpy() if "loss_se" in done.columns else float("nan")
    out["loss_sem"] = out["loss_std"] / out["seed_count"].pow(0.5)
    return out.drop(columns=[c for c in ("seed", "run_id") if c in out.columns])


def seed_variance_weights(points: pd.DataFrame, space: str = "log") -> pd.Series:
    """Fit weights of aggregated points: the inverse variance of each point's mean loss (of its log under
    ``space='log'``, the delta method: var / loss²). A point's variance is its seed variance / count, with the
    pooled seed variance of all multi-seed points standing in for points with one seed, floored at the point's
    squared eval SE (and at 1e-12). Normalised to mean 1."""
    multi = points["seed_count"] > 1
    if not multi.any():
        raise ValueError("--weights seed-variance: no point has more than one seed (add seeds to the sweep)")
    dof = points.loc[multi, "seed_count"] - 1
    pooled = float((points.loc[multi, "loss_std"] ** 2 * dof).sum() / dof.sum())
    var = points["loss_std"].pow(2).where(multi, pooled) / points["seed_count"]
    floor = points["loss_se"].fillna(0.0).pow(2).clip(lower=1e-12) if "loss_se" in points else 1e-12
    scale = points["loss"] ** 2 if space == "log" else 1.0
    weights = scale / var.clip(lower=floor)
    return weights / weights.mean()
