"""From a results table (or CSV) to the arrays a law is fitted on, with one-line errors for bad input."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from harness.errors import ConfigError
from harness.fit.laws import Law

N_COLUMNS = {"total": "N_total", "non_embedding": "N_nonembed", "with_head": "N_with_head"}
C_FACTOR = 6.0


def read_csv(path: str | Path, columns: Optional[dict] = None) -> pd.DataFrame:
    """Read a CSV of runs and rename user columns (``columns`` maps our name -> theirs, e.g. {"N": "params"})."""
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read CSV ({str(exc).splitlines()[0]})") from None
    return rename_columns(table, columns, str(path))


def rename_columns(table: pd.DataFrame, columns: Optional[dict], where: str = "table") -> pd.DataFrame:
    """Rename mapped columns to N, D, loss, C, ...; a mapped column that is absent is an error."""
    columns = {k: v for k, v in (columns or {}).items() if v}
    for ours, theirs in columns.items():
        if theirs not in table:
            raise ConfigError(f"{where}: column '{theirs}' (for {ours}) not found")
    return table.rename(columns={theirs: ours for ours, theirs in columns.items()})


def _n_column(table: pd.DataFrame, convention: str) -> str:
    if convention not in N_COLUMNS:
        raise ConfigError(f"n_convention: unknown '{convention}' (total, non_embedding or with_head)")
    name = N_COLUMNS[convention]
    if name in table:
        return name
    if convention == "total" and "N" in table:
        return "N"
    raise ConfigError(f"table: no column '{name}' for the {convention} N convention")


def _with_tokens(table: pd.DataFrame, n_col: str, where: str) -> pd.DataFrame:
    if "D" in table or "C" not in table:
        return table
    out = table.copy()
    out["D"] = out["C"] / (C_FACTOR * out[n_col])
    return out


def _check(values: np.ndarray, name: str, where: str) -> None:
    if not np.all(np.isfinite(values)):
        raise ConfigError(f"{where}: column '{name}' has NaN or infinite values")
    if np.any(values <= 0):
        raise ConfigError(f"{where}: column '{name}' has non-positive values")


def best_lr_only(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of a runs table without the LR-sweep runs that lost to another LR (column ``lr_sweep_best`` False)."""
    if "lr_sweep_best" not in table:
        return table
    return table[table["lr_sweep_best"].astype(str).str.lower() != "false"]


def prepare(table: pd.DataFrame, law: Law, n_convention: str = "total", where: str = "table",
            weights: Optional[np.ndarray | str] = None) -> tuple[dict, np.ndarray, np.ndarray, pd.DataFrame]:
    """(variables, loss, weights, the rows used) for fitting ``law``; raises ConfigError on bad input.

    Rows with status other than 'done', and LR-sweep runs that were not their size's best LR, are dropped. N is the column of the chosen convention; C, if needed, is 6ND;
    D, if absent, is C/(6N)."""
    if "status" in table:
        table = table[table["status"] == "done"]
    table = best_lr_only(table)
    needs_n = "N" in law.variables or "D" in law.variables
    n_col = _n_column(table, n_convention) if needs_n or "N" in table else None
    table = _with_tokens(table, n_col, where) if n_col else table
    if "loss" not in table:
        raise ConfigError(f"{where}: no column 'loss'")
    x = {}
    for var in law.variables:
        col = n_col if var == "N" else var
        if var == "C" and "C" not in table and n_col and "D" in table:
            x["C"] = C_FACTOR * table[n_col].to_numpy(float) * table["D"].to_numpy(float)
            continue
        if col not in table:
            raise ConfigError(f"{where}: no column '{col}' (needed by the {law.name} law)")
        x[var] = table[col].to_numpy(float)
        _check(x[var], col, where)
    y = table["loss"].to_numpy(float)
    _check(y, "loss", where)
    w = _weights(table, weights, where)
    _check_identifiable(x, y, law, where)
    return x, y, w, table


def _weights(table: pd.DataFrame, weights, where: str) -> np.ndarray:
    if weights is None:
        return np.ones(len(table))
    w = table[weights].to_numpy(float) if isinstance(weights, str) else np.asarray(weights, float)
    if w.shape != (len(table),) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ConfigError(f"{where}: weights must be {len(table)} finite non-negative numbers")
    return w


def _check_identifiable(x: dict, y: np.ndarray, law: Law, where: str) -> None:
    if len(y) < len(law.param_names):
        raise ConfigError(f"{where}: {len(y)} points, fewer than the {len(law.param_names)} parameters of the "
                          f"{law.name} law")
    for var in ("N", "D"):
        if var in x and len(np.unique(x[var])) < 2:
            raise ConfigError(f"{where}: column '{var}' has a single value; cannot fit its exponent")
