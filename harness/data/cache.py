"""The packed token cache: one folder per (corpus, tokenizer), memory-mapped by every run and worker.

Layout of an entry ``<cache_root>/<key>/``::

    train.bin  test.bin   flat token ids (uint16 when vocab_size <= 65535, else uint32); each document
                          is followed by the eos id when the tokenizer has one
    tokenizer.json        the trained BPE, when the tokenizer is ``bpe``
    meta.json             written last: dtype, per-split tokens / documents / UTF-8 bytes / sha256,
                          vocab_size, eos_id, bytes_per_token, fingerprint, description, config

An entry is built in a temporary folder inside ``cache_root`` and moved into place with ``os.replace``,
under ``filelock.FileLock(<cache_root>/<key>.lock)``: two processes asking at once produce one entry,
the second waits and reuses it. Opening checks cheaply that meta.json exists and every file has the
size it records; a damaged or half-written entry is reported with a :class:`CacheRebuildWarning` and
only that entry is rebuilt. :func:`verify_entry` re-hashes the files for a full check.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
from filelock import FileLock, Timeout

FORMAT_VERSION = 1
META_FILE = "meta.json"
SPLITS = ("train", "test")
FLUSH_TOKENS = 1 << 20
ENCODE_BATCH_DOCS = 512
log = logging.getLogger(__name__)


class CacheRebuildWarning(UserWarning):
    """A cache entry was damaged or half-written and is being rebuilt."""


@dataclass(frozen=True)
class CacheEntry:
    """A validated cache entry: its folder and its meta.json."""

    path: Path
    meta: dict[str, Any]

    def array(self, split: str) -> np.ndarray:
        """Read-only memory map of one split's token ids."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
        return np.memmap(self.path / f"{split}.bin", dtype=np.dtype(self.meta["dtype"]), mode="r")


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits (vocab_size <= 65535), else uint32."""
    return np.dtype(np.uint16 if vocab_size <= 65535 else np.uint32)


class TokenWriter:
    """Appends token id arrays to a .bin file, counting tokens and hashing the bytes as it goes."""

    def __init__(self, path: Path, dtype: np.dtype) -> None:
        """Open ``path`` for writing ids of ``dtype``."""
        self.path, self.dtype = Path(path), np.dtype(dtype)
        self.file = open(self.path, "wb")
        self.sha = hashlib.sha256()
        self.tokens = 0
        self.pending: list[np.ndarray] = []
        self.pending_tokens = 0

    def write(self, ids: np.ndarray) -> None:
        """Queue ids for writing (flushed in large blocks)."""
        self.pending.append(np.asarray(ids))
        self.pending_tokens += len(ids)
        if self.pending_tokens >= FLUSH_TOKENS:
            self.flush()

    def flush(self) -> None:
        """Write queued ids to disk."""
        if not self.pending:
            return
        block = np.concatenate(self.pending).astype(self.dtype, copy=False).tobytes()
        self.file.write(block)
        self.sha.update(block)
        self.tokens += self.pending_tokens
        self.pending, self.pending_tokens = [], 0

    def close(self) -> dict[str, Any]:
        """Flush, fsync and close; return ``{"tokens", "sha256"}``."""
        self.flush()
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        return {"tokens": self.tokens, "sha256": self.sha.hexdigest()}


def pack_documents(directory: Path, documents: Iterable[tuple[str, bool]], tokenizer: Any) -> dict[str, Any]:
    """Tokenise ``(text, is_test)`` pairs into train.bin / test.bin; return the splits' statistics."""
    dtype = token_dtype(tokenizer.vocab_size)
    writers = {s: TokenWriter(Path(directory) / f"{s}.bin", dtype) for s in SPLITS}
    counts = {s: {"documents": 0, "bytes": 0} for s in SPLITS}
    eos = None if tokenizer.eos_id is None else np.array([tokenizer.eos_id], dtype=np.int64)
    batch: list[tuple[str, bool]] = []
    for item in documents:
        batch.append(item)
        if len(batch) >= ENCODE_BATCH_DOCS:
            _pack_batch(batch, tokenizer, writers, counts, eos)
            batch = []
    _pack_batch(batch, tokenizer, writers, counts, eos)
    return {s: {**counts[s], **writers[s].close()} for s in SPLITS}


def _pack_batch(batch: list[tuple[str, bool]], tokenizer: Any, writers: dict[str, TokenWriter],
                counts: dict[str, dict[str, int]], eos: np.ndarray | None) -> None:
    if not batch:
        return
    for (text, is_test), ids in zip(batch, tokenizer.encode([text for text, _ in batch])):
        split = "test" if is_test else "train"
        writers[split].write(ids)
        if eos is not None:
            writers[split].write(eos)
        counts[split]["documents"] += 1
        counts[split]["bytes"] += len(text.encode("utf-8"))


def write_arrays(directory: Path, arrays: Mapping[str, np.ndarray], dtype: np.dtype) -> dict[str, Any]:
    """Write ready-made id arrays (one per split) into the entry; return the splits' statistics."""
    stats = {}
    for split in SPLITS:
        writer = TokenWriter(Path(directory) / f"{split}.bin", dtype)
        writer.write(np.asarray(arrays[split]))
        stats[split] = writer.close()
    return stats


def fingerprint(meta: Mapping[str, Any]) -> str:
    """sha256 prefix over the dtype and the token files' hashes: identifies the corpus exactly."""
    blob = ":".join([meta["dtype"]] + [meta["splits"][s]["sha256"] for s in SPLITS])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def check_entry(path: Path) -> str | None:
    """Cheap validation (meta.json present, file sizes match); None when fine, else the problem."""
    meta_path = Path(path) / META_FILE
    if not meta_path.is_file():
        return "meta.json is missing (half-written entry)"
    try:
        meta = json.loads(meta_path.read_text())
        itemsize = np.dtype(meta["dtype"]).itemsize
        expected = {f"{s}.bin": meta["splits"][s]["tokens"] * itemsize for s in SPLITS}
        extra = meta.get("files", [])
    except (ValueError, KeyError, TypeError) as exc:
        return f"meta.json is unreadable ({exc})"
    if meta.get("format") != FORMAT_VERSION:
        return f"format {meta.get('format')} is not the current {FORMAT_VERSION}"
    for name, size in expected.items():
        actual = (Path(path) / name).stat().st_size if (Path(path) / name).is_file() else None
        if actual != size:
            return f"{name} has {actual} bytes, meta.json says {size}"
    missing = [name for name in extra if not (Path(path) / name).is_file()]
    return f"{', '.join(missing)} missing" if missing else None


def verify_entry(path: Path) -> str | None:
    """Full validation: the cheap check plus the sha256 of every .bin file."""
    problem = check_entry(path)
    if problem:
        return problem
    meta = json.loads((Path(path) / META_FILE).read_text())
    for split in SPLITS:
        if _sha256_file(Path(path) / f"{split}.bin") != meta["splits"][split]["sha256"]:
            return f"{split}.bin does not match its sha256 in meta.json"
    return None


def _sha256_file(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            sha.update(block)
    return sha.hexdigest()


def open_entry(cache_root: Path, key: str, build: Callable[[Path], dict[str, Any]]) -> CacheEntry:
    """Open entry ``key``, building it with ``build(tmp_dir) -> meta`` when absent or damaged.

    ``build`` writes train.bin / test.bin (and any extra files) into ``tmp_dir`` and returns the meta
    fields: at least ``dtype`` and ``splits`` (per split ``tokens`` and ``sha256``).
    """
    cache_root = Path(cache_root)
    final = cache_root / key
    if check_entry(final) is None:
        return _load(final)
    cache_root.mkdir(parents=True, exist_ok=True)
    with _acquire(FileLock(str(cache_root / f"{key}.lock")), final):
        problem = check_entry(final)
        if problem is None:
            return _load(final)
        if final.exists():
            warnings.warn(f"token cache {final}: {problem}; rebuilding this entry", CacheRebuildWarning,
                          stacklevel=2)
        _build_locked(cache_root, key, build)
    return _load(final)


class _acquire:
    """Context manager: take the lock, logging once if another process holds it."""

    def __init__(self, lock: FileLock, final: Path) -> None:
        self.lock, self.final = lock, final

    def __enter__(self) -> None:
        try:
            self.lock.acquire(timeout=0.05)
        except Timeout:
            log.info("waiting for another process to build %s", self.final)
            self.lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


def _build_locked(cache_root: Path, key: str, build: Callable[[Path], dict[str, Any]]) -> None:
    for leftover in cache_root.glob(f".tmp-{key}-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    tmp = cache_root / f".tmp-{key}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        start = time.time()
        meta = build(tmp)
        meta.update(format=FORMAT_VERSION, key=key, fingerprint=fingerprint(meta),
                    built_by_pid=os.getpid(), build_seconds=round(time.time() - start, 3))
        _write_meta(tmp / META_FILE, meta)
        _replace_dir(tmp, cache_root / key)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("built token cache %s in %.1fs", cache_root / key, time.time() - start)


def _write_meta(path: Path, meta: dict[str, Any]) -> None:
    with open(path, "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())


def _replace_dir(tmp: Path, final: Path) -> None:
    if final.exists():
        stale = final.with_name(f".stale-{final.name}-{uuid.uuid4().hex[:8]}")
        os.replace(final, stale)
        shutil.rmtree(stale, ignore_errors=True)
    os.replace(tmp, final)
    fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load(path: Path) -> CacheEntry:
    return CacheEntry(path, json.loads((path / META_FILE).read_text()))
