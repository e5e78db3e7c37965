"""Public data sets with published fits, fetched from their sources at run time and cached (nothing is shipped).

Cache: ``$HARNESS_CACHE`` or ``~/.cache/scaling-harness/datasets``. Tests pass ``local_dir`` (a folder holding the
upstream file, e.g. ../shared/external/epoch_chinchilla) and never touch the network.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

import numpy as np

from harness.errors import ConfigError
from harness.fit.columns import Columns, read_numbers
from harness.fit.table import numbers_only
from harness.sizing import tokens_for_compute

if TYPE_CHECKING:   # imported where a DataFrame is made (dataset_numbers never does)
    import pandas as pd

RAW = "https://raw.githubusercontent.com"

# Each transform takes the upstream table (a DataFrame, or Columns of the columns it reads) and returns its runs
# table as {name: column}: one home for the published preprocessing, whichever table type carries it.


def _epoch(raw) -> dict:
    """Epoch's preprocessing: drop the 5 highest losses, D = C/(6N) (Besiroglu et al. 2024)."""
    n, c, loss = (np.asarray(raw[name], dtype=float) for name in ("Model Size", "Training FLOP", "loss"))
    keep = loss < np.sort(loss)[-5]
    return {"N": n[keep], "C": c[keep], "loss": loss[keep], "D": tokens_for_compute(c[keep], n[keep])}


def _openathena(raw) -> dict:
    names = {"params": "N", "tokens": "D", "budget": "C"}
    return {names.get(name, name): values for name, values in raw.items()}


def _identity(raw) -> dict:
    return dict(raw.items())


@dataclass(frozen=True)
class Dataset:
    """One public data set: where it lives upstream, its licence and how to turn it into a runs table."""

    name: str
    url: str
    filename: str
    licence: str
    transform: Callable[[object], dict]
    note: str = ""
    reads: tuple = ()    # the upstream columns the transform reads (empty: all)


DATASETS = {d.name: d for d in (
    Dataset("chinchilla-epoch", f"{RAW}/epoch-research/analyzing-chinchilla/92258837425e1b5f2851d624287f0120583a3d0e/"
            "data/svg_extracted_data.csv", "svg_extracted_data.csv", "none stated (cite Besiroglu et al. 2024)",
            _epoch, "240 points after dropping the 5 highest losses; D = C/(6N)",
            ("Model Size", "Training FLOP", "loss")),
    Dataset("openathena", f"{RAW}/Open-Athena/scaling-law-analysis/3e0656ee3dce1a2c89aa67691920f5eb9d30f0fc/"
            "data/isoflops/extract/isoflops.csv", "extract_isoflops.csv", "none stated (cite the original sources)",
            _openathena, "947 IsoFLOP rows from 5 sources (column 'source')"),
    Dataset("kyo", f"{RAW}/kyo-takano/chinchilla/75e5858f6e7c5b60d1fab69f66258132347b060c/examples/llm/df.csv",
            "df.csv", "Apache-2.0", _identity, "Epoch's rows with N < D (234)"),
    Dataset("porian2024", f"{RAW}/formll/resolving-scaling-law-discrepancies/0dc60d91b8a525858a3067fc9e4a46ff5374cc6f/"
            "data/summary_df.pickle.xz", "optimal_pairs.csv", "MIT", _identity,
            "upstream is a pandas pickle, which this loader will not unpickle: pass a local CSV export"),
    Dataset("datablations", f"{RAW}/huggingface/datablations/13701315b163f1c54642b94ad237b2699187c3ee/"
            "utils/parametric_fit.ipynb", "runs_182_c4.csv", "Apache-2.0", _identity,
            "upstream values live in notebook outputs: pass a local CSV export (name, N, D, U, loss)"),
)}


def cache_dir() -> Path:
    """Where fetched data sets are kept."""
    return Path(os.environ.get("HARNESS_CACHE") or Path.home() / ".cache" / "scaling-harness" / "datasets")


def _fetch(dataset: Dataset, target: Path) -> None:
    import urllib.request  # here: reading a cached or local copy (--data-dir) needs no HTTP client

    if not dataset.url.endswith(".csv"):
        raise ConfigError(f"dataset {dataset.name}: {dataset.note}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    try:
        with urllib.request.urlopen(dataset.url, timeout=60) as response:  # noqa: S310 (fixed https URLs)
            tmp.write_bytes(response.read())
    except OSError as exc:
        raise ConfigError(f"dataset {dataset.name}: cannot fetch {dataset.url} ({exc})") from None
    tmp.replace(target)


def dataset_path(name: str, local_dir: Optional[str | Path] = None, fetch: bool = True) -> Path:
    """The local file of data set ``name``: from ``local_dir`` if given, else the cache (fetched if missing)."""
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset '{name}' (choose from {', '.join(DATASETS)})")
    dataset = DATASETS[name]
    if local_dir is not None:
        path = Path(local_dir) / dataset.filename
        if not path.is_file():
            raise ConfigError(f"dataset {name}: {path} not found")
        return path
    path = cache_dir() / name / dataset.filename
    if not path.is_file():
        if not fetch:
            raise ConfigError(f"dataset {name}: not cached at {path}")
        _fetch(dataset, path)
    return path


def load_dataset(name: str, local_dir: Optional[str | Path] = None, raw: bool = False) -> pd.DataFrame:
    """A public data set as a runs table (N, D, loss, C ...), with the published preprocessing unless ``raw``."""
    import pandas as pd

    path = dataset_path(name, local_dir)
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"dataset {name}: cannot read {path} ({exc})") from None
    return table if raw else pd.DataFrame(DATASETS[name].transform(table))


def dataset_numbers(name: str, local_dir: Optional[str | Path] = None) -> Optional[Columns]:
    """``load_dataset(name, local_dir)`` as ``Columns``, without importing pandas, when the columns it reads are
    plain numbers (``harness.fit.columns``) and the fitter needs no pandas for its runs table; else None."""
    path = dataset_path(name, local_dir)
    raw = read_numbers(path, DATASETS[name].reads or None)
    return None if raw is None else numbers_only(Columns(DATASETS[name].transform(raw)))
