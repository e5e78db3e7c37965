"""Document sources: local text files, Hugging Face datasets, the Python standard library.

Every source yields documents (non-empty ``str``) in a deterministic order; :func:`labelled_documents`
adds the train/test assignment. The split is by document and depends only on the document's text and
``split_seed``: a keyed BLAKE2b hash of the UTF-8 text, read as a number in [0, 1), puts the document
in the test split when it is below ``test_fraction``. So the split is identical on every call, every
machine and every run of a sweep, independent of reading order, and exact duplicates never straddle
the two splits.

Documents per source:

- ``text``: each file is one document (files sorted by path; hidden files and files that are not
  UTF-8 are skipped). A path naming a single file is instead cut at blank lines into paragraphs,
  because a single document cannot be split into train and test.
- ``hf``: one row's ``text_column``; ``path`` is a hub name, a ``save_to_disk`` folder, or a file,
  folder or glob of parquet / json(l) / csv / txt files (txt: one line per row, as in ``datasets``).
- ``python-stdlib``: each ``.py`` file of the running interpreter's standard library
  (``site-packages`` excluded), sorted by relative path.

Hub access (datasets here, pretrained tokenizers in :mod:`harness.data.tokenizers`) goes through
:func:`hub_access`: the retry logs of ``huggingface_hub``/``datasets`` are silenced and, when the Hub
cannot be reached, offline mode is switched on for the call, so a cached copy still loads and a
missing one fails at once with one line instead of a minute of retries.
"""
from __future__ import annotations

import glob
import hashlib
import itertools
import logging
import re
import socket
import sys
import sysconfig
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import urlparse

from harness.errors import ConfigError

from harness.config import DataConfig

HF_BUILDERS = {".parquet": "parquet", ".json": "json", ".jsonl": "json", ".csv": "csv", ".txt": "text"}
SAVED_DATASET_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")
GLOB_CHARS = re.compile(r"[*?\[]")
HF_BATCH_ROWS = 1000


def is_test_document(text: str, split_seed: int, test_fraction: float) -> bool:
    """True when the document belongs to the held-out test split (keyed hash of its text < fraction)."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8, key=str(split_seed).encode()).digest()
    return int.from_bytes(digest, "big") / 2.0**64 < test_fraction


def iter_documents(cfg: DataConfig) -> Iterator[str]:
    """Yield the non-empty documents of a text / hf / python-stdlib source, at most ``max_documents``."""
    readers = {"text": _text_documents, "hf": _hf_documents, "python-stdlib": _stdlib_documents}
    if cfg.source not in readers:
        raise ConfigError(f"data.source: '{cfg.source}' is not a document source")
    docs = (doc for doc in readers[cfg.source](cfg) if doc)
    return itertools.islice(docs, cfg.max_documents) if cfg.max_documents else docs


def labelled_documents(cfg: DataConfig) -> Iterator[tuple[str, bool]]:
    """Yield ``(document, is_test)`` pairs in source order."""
    for doc in iter_documents(cfg):
        yield doc, is_test_document(doc, cfg.split_seed, cfg.test_fraction)


def split_documents(cfg: DataConfig, split: str) -> Iterator[str]:
    """Yield only the documents of one split (``"train"`` or ``"test"``)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    want_test = split == "test"
    return (doc for doc, is_test in labelled_documents(cfg) if is_test == want_test)


def describe_source(cfg: DataConfig) -> str:
    """One line naming the source, for logs and the cache's meta.json."""
    if cfg.source == "python-stdlib":
        return f"python-stdlib {sys.version.split()[0]} ({stdlib_root()})"
    if cfg.source == "hf":
        extra = "".join(f" {k}={v}" for k, v in (("config", cfg.hf_config), ("split", cfg.hf_split)) if v)
        return f"hf {cfg.path}{extra} column={cfg.text_column}"
    return f"{cfg.source} {cfg.path}"


def source_signature(cfg: DataConfig) -> dict[str, Any]:
    """Cheap identity of the source's current content (paths, sizes, mtimes) for the cache key."""
    if cfg.source == "python-stdlib":
        return {"python": sys.version, "root": str(stdlib_root())}
    if cfg.source == "text":
        return {"files": _stat_list(text_files(cfg.path))}
    if cfg.source == "hf":
        local = _hf_local_files(cfg.path)
        return {"files": _stat_list(local)} if local else {"hub": cfg.path}
    return {}


# --- text ---------------------------------------------------------------------------------------


def text_files(path: str) -> list[Path]:
    """Resolve a text source path (file, folder, glob) to a sorted list of files; ConfigError if none."""
    files = _expand(path, suffixes=None)
    if not files:
        raise ConfigError(f"data.path: no files found at '{path}'")
    return files


def _text_documents(cfg: DataConfig) -> Iterator[str]:
    files = text_files(cfg.path)
    single = len(files) == 1 and Path(cfg.path).expanduser().is_file()
    for file in files:
        text = _read_utf8(file)
        if text is None:
            continue
        if single:
            yield from (p.strip("\n") for p in re.split(r"\n[ \t]*\n", text))
        else:
            yield text


def _read_utf8(file: Path) -> str | None:
    try:
        return file.read_bytes().decode("utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def _expand(path: str, suffixes: Iterable[str] | None) -> list[Path]:
    """Files at a path: the file itself, every file under a folder (recursive), or a glob's matches."""
    p = Path(path).expanduser()
    if p.is_file():
        candidates = [p]
    elif p.is_dir():
        candidates = [f for f in p.rglob("*") if not _hidden(f.relative_to(p))]
    elif GLOB_CHARS.search(path):
        candidates = [Path(f) for f in glob.glob(str(p), recursive=True)]
    else:
        return []
    wanted = set(suffixes) if suffixes is not None else None
    return sorted(f for f in candidates if f.is_file() and (wanted is None or f.suffix.lower() in wanted))


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") or part == "__pycache__" for part in relative.parts)


def _stat_list(files: list[Path]) -> list[tuple[str, int, int]]:
    stats = ((f.resolve(), f.stat()) for f in files)
    return [(str(f), st.st_size, st.st_mtime_ns) for f, st in stats]


# --- python stdlib ------------------------------------------------------------------------------


def stdlib_root() -> Path:
    """The installed interpreter's standard-library folder."""
    return Path(sysconfig.get_path("stdlib"))


def stdlib_files() -> list[Path]:
    """The standard library's ``.py`` files, sorted by relative path, without site/dist-packages."""
    root = stdlib_root()
    skip = {"site-packages", "dist-packages", "__pycache__"}
    files = (f for f in root.rglob("*.py") if not skip.intersection(f.relative_to(root).parts))
    return sorted(files, key=lambda f: f.relative_to(root).as_posix())


def _stdlib_documents(cfg: DataConfig) -> Iterator[str]:
    for file in stdlib_files():
        text = _read_utf8(file)
        if text is not None:
            yield text


# --- Hugging Face datasets ----------------------------------------------------------------------


def _hf_documents(cfg: DataConfig) -> Iterator[str]:
    yield from _hf_column(load_hf_dataset(cfg), cfg.text_column)


def load_hf_dataset(cfg: DataConfig) -> Any:
    """Open the ``hf`` source as a ``datasets`` Dataset/IterableDataset; ConfigError on user mistakes."""
    import datasets

    path = cfg.path
    if _is_saved_dataset(path):
        return _pick_split(datasets.load_from_disk(str(Path(path).expanduser())), cfg.hf_split)
    files = _hf_local_files(path)
    if files:
        return _load_data_files(files, cfg.streaming)
    if _looks_local(path):
        raise ConfigError(f"data.path: no dataset, parquet, json(l), csv or txt files at '{path}'")
    return _load_from_hub(cfg)


def _is_saved_dataset(path: str) -> bool:
    p = Path(path).expanduser()
    return p.is_dir() and any((p / marker).is_file() for marker in SAVED_DATASET_MARKERS)


def _hf_local_files(path: str) -> list[Path]:
    """Files an hf path reads: a saved dataset's files, or the data files of the preferred kind
    (parquet, then json/jsonl, csv, txt), so stray metadata files in a dataset folder are ignored."""
    if _is_saved_dataset(path):
        return _expand(path, suffixes=None)
    files = _expand(path, suffixes=HF_BUILDERS)
    for builder in dict.fromkeys(HF_BUILDERS.values()):
        chosen = [f for f in files if HF_BUILDERS[f.suffix.lower()] == builder]
        if chosen:
            return chosen
    return []


def _looks_local(path: str) -> bool:
    return (path.startswith((".", "/", "~")) or bool(GLOB_CHARS.search(path))
            or Path(path).suffix.lower() in HF_BUILDERS or Path(path).expanduser().exists())


def _load_data_files(files: list[Path], streaming: bool) -> Any:
    import datasets

    builder = HF_BUILDERS[files[0].suffix.lower()]
    data_files = [str(f) for f in files]
    return datasets.load_dataset(builder, data_files=data_files, split="train", streaming=streaming)


def _load_from_hub(cfg: DataConfig) -> Any:
    import datasets

    with hub_access() as online:
        try:
            return datasets.load_dataset(cfg.path, cfg.hf_config, split=cfg.hf_split, streaming=cfg.streaming)
        except (FileNotFoundError, ConnectionError, OSError, ValueError) as exc:
            raise ConfigError(f"data.path: cannot load hub dataset '{cfg.path}': {first_line(exc)}"
                              f"{'' if online else OFFLINE_HINT}") from None


OFFLINE_HINT = " (the Hub is unreachable and no cached copy was found; give a local path or fetch it first)"
_QUIET_LOGGERS = ("huggingface_hub", "datasets", "transformers", "httpx")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when empty)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """True when offline mode is on (nothing to reach) or a TCP connection to the Hub endpoint succeeds."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return True
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout_s).close()
        return True
    except OSError:
        return False


@contextmanager
def hub_access() -> Iterator[bool]:
    """Quiet, fail-fast Hub access: yields whether the Hub is reachable (offline mode is used if not)."""
    import datasets.config
    from huggingface_hub import constants

    loggers = [logging.getLogger(name) for name in _QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    saved = constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE
    online = hub_reachable()
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        if not online:
            constants.HF_HUB_OFFLINE = datasets.config.HF_HUB_OFFLINE = True
        yield online
    finally:
        constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE = saved
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _pick_split(dataset: Any, split: str) -> Any:
    import datasets

    if not isinstance(dataset, datasets.DatasetDict):
        return dataset
    if split not in dataset:
        raise ConfigError(f"data.hf_split: no split '{split}' (available: {', '.join(dataset)})")
    return dataset[split]


def _hf_column(dataset: Any, column: str) -> Iterator[str]:
    """Yield the text column's values, in batches where the dataset allows it."""
    names = getattr(dataset, "column_names", None)
    if names is not None and column not in names:
        raise ConfigError(f"data.text_column: no column '{column}' (columns: {', '.join(names)})")
    if hasattr(dataset, "__len__"):
        batches = (batch[column] for batch in dataset.select_columns([column]).iter(batch_size=HF_BATCH_ROWS))
        values: Iterable[Any] = itertools.chain.from_iterable(batches)
    else:
        values = (_row_value(row, column) for row in dataset)
    for value in values:
        if value is None:
            continue
        if not isinstance(value, str):
            raise ConfigError(f"data.text_column: column '{column}' holds {type(value).__name__}, not text")
        yield value


def _row_value(row: dict[str, Any], column: str) -> Any:
    if column not in row:
        raise ConfigError(f"data.text_column: no column '{column}' (columns: {', '.join(row)})")
    return row[column]
