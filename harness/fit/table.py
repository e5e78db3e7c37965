"""From a results table (or CSV) to the arrays a law is fitted on, with one-line errors for bad input."""
from __future__ import annotations

from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np

from harness.errors import ConfigError
from harness.fit.columns import Columns, read_numbers
from harness.fit.laws import Law

if TYPE_CHECKING:   # pandas is imported where a DataFrame is made: `harness fit` on a CSV of numbers never needs it
    import pandas as pd

N_COLUMNS = {"total": "N_total", "non_embedding": "N_nonembed", "with_head": "N_with_head"}
C_FACTOR = 6.0


FRAME_ONLY = ("run_id", "status", "epochs", "lr_sweep_best")   # read by pandas code: run labels, filters, warnings


def numbers_only(table: Optional[Columns]) -> Optional[Columns]:
    """``table`` if the fitter can take it as it is, without pandas (no column of ``FRAME_ONLY``), else None."""
    return table if table is not None and not any(name in table for name in FRAME_ONLY) else None


def read_csv(path: str | Path, columns: Optional[dict] = None, numbers: bool = False) -> pd.DataFrame | Columns:
    """Read a CSV of runs and rename user columns (``columns`` maps our name -> theirs, e.g. {"N": "params"}).
    With ``numbers``, a CSV of plain numbers (``harness.fit.columns.read_numbers``, ``numbers_only``) comes back as
    ``Columns``, without importing pandas; any other file as a DataFrame."""
    table = numbers_only(read_numbers(path)) if numbers else None
    if table is not None:
        return rename_columns(table, columns, str(path))
    import pandas as pd

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


def metric_as_loss(table: pd.DataFrame, metric: str, where: str = "table") -> pd.DataFrame:
    """The table with column ``metric`` (and ``<metric>_se`` when present) as the fitted ``loss`` (and ``loss_se``),
    so any recorded metric (brier, ece, loss_bpb …) is fitted like the loss; ConfigError if it is absent or empty."""
    if metric == "loss":
        return table
    import pandas as pd

    if metric not in table:
        raise _missing(where, f"'{metric}' (--metric)", table, "--metric NAME of a recorded column")
    values = pd.to_numeric(table[metric], errors="coerce")
    if not values.notna().any():
        raise ConfigError(f"{where}: --metric {metric}: no run has a recorded value (records made before it?)")
    out = table.drop(columns=[c for c in ("loss", "loss_se") if c in table]).assign(loss=values)
    se = f"{metric}_se"
    return out.assign(loss_se=pd.to_numeric(out[se], errors="coerce")) if se in out else out


def _missing(where: str, wanted: str, table: pd.DataFrame, option: str) -> ConfigError:
    """The error for an absent column: what was wanted, what there is, and the ``harness fit`` option that maps it."""
    there = ", ".join(f"'{c}'" for c in list(table.columns)[:12]) + (", …" if len(table.columns) > 12 else "")
    return ConfigError(f"{where}: no column {wanted} (columns: {there or 'none'}); map yours with {option}")


def _n_column(table: pd.DataFrame, convention: str, where: str = "table") -> str:
    if convention not in N_COLUMNS:
        raise ConfigError(f"n_convention: unknown '{convention}' (total, non_embedding or with_head)")
    name = N_COLUMNS[convention]
    if name in table:
        return name
    if convention == "total" and "N" in table:
        return "N"
    wanted = f"'{name}' or 'N'" if convention == "total" else f"'{name}'"
    raise _missing(where, f"{wanted} for the {convention} N convention", table, "--col-N NAME")


def _row(table: pd.DataFrame, position: int) -> str:
    """'data row 4' (1-based, as in a CSV below its header), with the run id where the table has one."""
    label = table.index[position]
    row = f"data row {label + 1}" if isinstance(label, (int, np.integer)) else f"row {label}"
    return f"{row}, run {table['run_id'].iloc[position]}" if "run_id" in table else row


def _numeric(table: pd.DataFrame, columns: list[str], where: str) -> pd.DataFrame:
    """``table`` with ``columns`` as floats; a cell that is not a number is an error naming column, row and value."""
    if isinstance(table, Columns):   # floats already
        return table
    import pandas as pd

    out = table.copy()
    for col in columns:
        values = pd.to_numeric(table[col], errors="coerce")
        text = values.isna().to_numpy() & table[col].notna().to_numpy()
        if text.any():
            i = int(np.flatnonzero(text)[0])
            raise ConfigError(f"{where}: column '{col}' has a value that is not a number ({_row(table, i)}: "
                              f"{table[col].iloc[i]!r})")
        out[col] = values.astype(float)
    return out


def _with_tokens(table: pd.DataFrame, n_col: str, where: str) -> pd.DataFrame:
    if "D" in table or "C" not in table:
        return table
    out = table.copy()
    out["D"] = out["C"] / (C_FACTOR * out[n_col])
    return out


def _check(table: pd.DataFrame, name: str, where: str) -> np.ndarray:
    """Column ``name`` as floats, all finite and positive, or an error naming the first bad row."""
    values = _floats(table, name)
    for bad, what in ((~np.isfinite(values), "NaN or infinite values"), (values <= 0, "non-positive values")):
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ConfigError(f"{where}: column '{name}' has {what} (first: {_row(table, i)}: {values[i]:g})")
    return values


def _floats(table: pd.DataFrame | Columns, name: str) -> np.ndarray:
    """Column ``name`` of a DataFrame or ``Columns`` as a float array."""
    return table[name] if isinstance(table, Columns) else table[name].to_numpy(float)


def best_lr_only(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of a runs table without the LR-sweep runs that lost to another LR (column ``lr_sweep_best`` False)."""
    if "lr_sweep_best" not in table:
        return table
    return table[table["lr_sweep_best"].astype(str).str.lower() != "false"]


MAX_FIT_ROWS = 100_000   # above this a fit takes minutes and gigabytes (1e5 rows: ~1 min on 2 cores); refused


def prepare(table: pd.DataFrame | Columns, law: Law, n_convention: str = "total", where: str = "table",
            weights: Optional[np.ndarray | str] = None) -> tuple[dict, np.ndarray, np.ndarray, pd.DataFrame]:
    """(variables, loss, weights, the rows used) for fitting ``law``; raises ConfigError on bad input.

    Rows with status other than 'done', and LR-sweep runs that were not their size's best LR, are dropped. N is the column of the chosen convention; C, if needed, is 6ND;
    D, if absent, is C/(6N)."""
    if "status" in table:
        table = table[table["status"] == "done"]
    if len(table) > MAX_FIT_ROWS:
        raise ConfigError(f"{where}: {len(table):,} rows: the fitter takes at most {MAX_FIT_ROWS:,} (a sweep has runs, "
                          "not millions of points); average repeated points first (harness results --by-point) or "
                          "subsample")
    table = best_lr_only(table)
    needs_n = "N" in law.variables or "D" in law.variables
    n_col = _n_column(table, n_convention, where) if needs_n or "N" in table else None
    if "loss" not in table:
        raise _missing(where, "'loss'", table, "--col-loss NAME")
    table = _numeric(table, [c for c in (n_col, "D", "C", "loss") if c in table], where)
    table = _with_tokens(table, n_col, where) if n_col else table
    x = {}
    for var in law.variables:
        col = n_col if var == "N" else var
        if var == "C" and "C" not in table and n_col and "D" in table:
            x["C"] = C_FACTOR * _check(table, n_col, where) * _check(table, "D", where)
            continue
        if col not in table:
            option = "--col-D NAME (or --col-C NAME)" if var == "D" else f"--col-{var} NAME"
            raise _missing(where, f"'{col}' (needed by the {law.name} law)", table, option)
        x[var] = _check(table, col, where)
    y = _check(table, "loss", where)
    w = _weights(table, weights, where)
    _check_identifiable(x, y, law, where)
    return x, y, w, table


def _weights(table: pd.DataFrame, weights, where: str) -> np.ndarray:
    if weights is None:
        return np.ones(len(table))
    w = _floats(table, weights) if isinstance(weights, str) else np.asarray(weights, float)
    if w.shape != (len(table),) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ConfigError(f"{where}: weights must be {len(table)} finite non-negative numbers")
    return w


def _check_identifiable(x: dict, y: np.ndarray, law: Law, where: str) -> None:
    if len(y) < len(law.param_names):
        raise ConfigError(f"{where}: {len(y)} points, fewer than the {len(law.param_names)} parameters of the "
                          f"{law.name} law")
    for var in ("N", "D"):
        if var in x and np.all(x[var] == x[var][0]):   # one value (not np.unique: it imports numpy.ma)
            raise ConfigError(f"{where}: column '{var}' has a single value; cannot fit its exponent")


def excluded_runs_warnings(table: pd.DataFrame) -> list[str]:
    """A visible note for every status (diverged, failed, …) whose runs were kept out of the fit."""
    if "status" not in table:
        return []
    out = table[table["status"] != "done"]
    notes = []
    for status, rows in out.groupby("status"):
        ids = rows["run_id"].tolist() if "run_id" in rows else []
        notes.append(f"{len(rows)} {status} run(s) kept out of the fit" + (f": {_listed(ids)}" if ids else ""))
    return notes


def _listed(ids: list) -> str:
    return ", ".join(map(str, ids[:3])) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")


def _floats_or_nan(rows, name: str) -> np.ndarray:
    """Column ``name`` as floats, a non-number becoming NaN (``Columns`` are floats already)."""
    if isinstance(rows, Columns):
        return rows[name]
    import pandas as pd

    return pd.to_numeric(rows[name], errors="coerce").to_numpy(float)


def non_monotone_warnings(table: pd.DataFrame | Columns) -> list[str]:
    """A note naming the runs whose test loss is above a strictly smaller model's at the same D (same seed,
    unique-token cap and family) by more than twice the standard error of the difference (from the runs' eval SEs;
    an SE of 0.5 % of the loss where a run has none). No law of the Chinchilla family fits them -- larger models
    never do worse -- so they usually mean a bad LR, a loss plateau not yet left, a warm-up too long for the budget
    or over-fitting repeated data. Works on ``Columns`` without pandas."""
    if any(name not in table for name in ("N", "D", "loss")):
        return []
    rows = best_lr_only(table[table["status"] == "done"] if "status" in table else table)
    n, d, loss = (_floats_or_nan(rows, name) for name in ("N", "D", "loss"))
    se = _floats_or_nan(rows, "loss_se") if "loss_se" in rows else np.full(len(loss), np.nan)
    se = np.where(np.isfinite(se), se, 0.005 * loss)
    labels = [str(r) for r in rows["run_id"]] if "run_id" in rows else [f"N={v:.3g}" for v in n]
    groups = [c for c in ("seed", "unique_tokens_cap", "family") if c in rows]
    keys = list(zip(d.tolist(), *([str(v) for v in np.asarray(rows[c])] for c in groups)))
    best, flagged = {}, []   # per group: the lowest loss of the sizes below the current one
    order = sorted((i for i in range(len(loss)) if np.isfinite(loss[i]) and np.isfinite(n[i])), key=lambda i: n[i])
    for _, run in groupby(order, key=lambda i: n[i]):   # one size at a time: no run is its own "smaller model"
        same = list(run)
        for i in same:
            smaller = best.get(keys[i])
            if smaller is not None and loss[i] - loss[smaller] > 2 * np.hypot(se[i], se[smaller]):
                flagged.append(f"{labels[i]} ({loss[i]:.4f} at D {d[i]:.3g} vs {loss[smaller]:.4f} for N "
                               f"{n[smaller]:.3g})")
        for i in same:
            if best.get(keys[i]) is None or loss[i] < loss[best[keys[i]]]:
                best[keys[i]] = i
    if not flagged:
        return []
    return [f"{len(flagged)} run(s) with a higher loss than a smaller model at the same D, beyond twice the eval SE "
            "of the difference (no law decreasing in N fits them: a bad LR, a plateau, a long warm-up or over-fitting "
            f"repeated data?): {_listed(flagged)}"]


def data_warnings(table: pd.DataFrame) -> list[str]:
    """Notes on the runs a fit used: runs that repeated their data (epochs > 1, listed), LR-sweep runs kept out, and
    runs that do worse than a smaller model at the same D (:func:`non_monotone_warnings`)."""
    notes = non_monotone_warnings(table)
    used = table[table["status"] == "done"] if "status" in table else table
    if "epochs" in used:
        import pandas as pd

        rep = used[pd.to_numeric(used["epochs"], errors="coerce") > 1]
        if len(rep):
            ids = rep["run_id"].tolist() if "run_id" in rep else []
            notes.append(f"{len(rep)} run(s) repeated their training data (up to {float(rep['epochs'].max()):.3g} "
                         f"epochs; losses may be above the unique-data law)" + (f": {_listed(ids)}" if ids else ""))
    if "lr_sweep_best" in used:
        lost = len(used) - len(best_lr_only(used))
        if lost:
            notes.append(f"{lost} LR-sweep run(s) kept out of the fit (not the best LR for their size and D)")
    return notes
