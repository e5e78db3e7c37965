"""A table of numbers without pandas, for ``harness fit``: importing pandas costs about 0.16 s of every command,
a tenth of a fit of Epoch's 240 points.

``read_numbers(path)`` reads a CSV whose cells are all plain decimal numbers into ``Columns``. Every other file (a
text or empty cell, NaN or inf spelled out, a cell with spaces, ragged rows, repeated or empty names, no data rows)
gives None, and the caller reads it with pandas as before: the conversions and one-line errors of that path stay
the only ones. Cells are converted by Python's ``float``, which rounds correctly, as pandas' default parser does
for every number in shared/external (checked bit for bit).
"""
from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

PLAIN = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


class Columns:
    """Named float columns of one length: what ``fit_law`` and ``harness fit`` ask of a table (``name in``,
    ``[name]``, ``len`` (rows), ``columns``, ``index``, ``items``, ``copy``, setting a column, ``rename``);
    ``to_pandas()`` gives the DataFrame for anything else."""

    def __init__(self, data: dict):
        self._data = {str(name): np.asarray(values, dtype=float) for name, values in data.items()}
        lengths = {len(values) for values in self._data.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        self._rows = lengths.pop() if lengths else 0

    def __contains__(self, name) -> bool:
        return name in self._data

    def __getitem__(self, name: str) -> np.ndarray:
        return self._data[name]

    def __setitem__(self, name: str, values) -> None:
        self._data[name] = np.broadcast_to(np.asarray(values, dtype=float), (self._rows,)).copy()

    def __len__(self) -> int:
        return self._rows

    @property
    def columns(self) -> list:
        """Column names, in file order."""
        return list(self._data)

    @property
    def index(self) -> range:
        """Row labels 0 .. rows - 1, as a freshly read DataFrame's."""
        return range(self._rows)

    def items(self):
        """(name, values) pairs."""
        return self._data.items()

    def copy(self) -> "Columns":
        """An independent copy."""
        return Columns({name: values.copy() for name, values in self._data.items()})

    def rename(self, columns: dict):
        """Columns renamed by ``columns`` (old -> new); a rename onto an existing name is pandas' business."""
        names = [columns.get(name, name) for name in self._data]
        if len(set(names)) < len(names):
            return self.to_pandas().rename(columns=columns)
        return Columns(dict(zip(names, self._data.values())))

    def to_pandas(self):
        """The same table as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self._data)


def read_numbers(path: str | Path, keep: Optional[Sequence[str]] = None) -> Optional[Columns]:
    """The CSV at ``path`` as ``Columns`` (only the ``keep`` columns, all when None) when each of those columns holds
    plain decimal numbers only; None when pandas must read it (see the module docstring), or a ``keep`` column is
    missing."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle) if row]
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if len(rows) < 2:
        return None
    names, body = rows[0], rows[1:]
    if len(set(names)) < len(names) or not all(names) or names[0].startswith("\ufeff") \
            or any(len(row) != len(names) for row in body):
        return None
    wanted = list(names) if keep is None else list(keep)
    if not set(wanted) <= set(names):
        return None
    data, position = {}, {name: j for j, name in enumerate(names)}
    for name in wanted:
        cells = [row[position[name]] for row in body]
        if not all(PLAIN.fullmatch(cell) for cell in cells):
            return None
        data[name] = [float(cell) for cell in cells]
    return Columns(data)
