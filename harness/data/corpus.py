"""The data room's entry point: ``load_corpus(cfg, cache_root) -> TokenCorpus``.

A corpus is read, split by document, tokenised and packed once per cache key (see
:mod:`harness.data.cache`); every later call, run and worker memory-maps the same files.

The cache key is a content hash of what decides the tokens: source, resolved path and a cheap
signature of the source's files (paths, sizes, mtimes; Python version for the stdlib), hf config /
split / column, ``max_documents``, tokenizer (BPE size, pretrained name), ``test_fraction`` and
``split_seed``. ``context_length`` and ``eval_tokens`` are left out (windows are cut at load time),
except for the synthetic source, whose generator lays its arrays out in windows of that length.

bytes_per_token is measured on the test split: (UTF-8 bytes of its documents + one byte per
end-of-document token) / its tokens. Counting each eos as one byte (it stands for the boundary a
byte stream would mark with a separator) makes the byte tokenizer exactly 1.0, like the synthetic
source (one symbol = one byte), so bits/byte = nats/token / ln 2 / bytes_per_token throughout.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ConfigError

from harness.config import DataConfig
from harness.hashing import content_hash, safe_name
from harness.data.cache import FORMAT_VERSION, open_entry, pack_documents, token_dtype, write_arrays
from harness.data.sources import describe_source, labelled_documents, source_signature, split_documents
from harness.data.tokenizers import TOKENIZER_FILE, make_tokenizer

# The synthetic entries' meta.json holds floor_nats = the eval-set floor (with floor_se_nats and
# floor_expected_nats); entries written before (floor_nats = the expected floor) have another key.
SYNTHETIC_FLOOR = "eval-set"


EOS_SCAN_CHUNK = 1 << 24   # tokens per slice when looking for document ends in a memory-mapped split

@dataclass(frozen=True, eq=False)
class TokenCorpus:
    """A tokenised corpus: memory-mapped train/test ids and what is needed to report losses.

    For the synthetic source, ``floor_nats`` is the exact Bayes loss of the eval windows (mean true
    -log p over their targets), ``floor_se_nats`` its standard error across windows and
    ``floor_expected_nats`` the expected floor over all possible eval sets; None for other sources.
    """

    train: np.ndarray
    test: np.ndarray
    vocab_size: int
    eos_id: int | None
    bytes_per_token: float
    fingerprint: str
    floor_nats: float | None
    description: str
    cache_dir: Path | None = None
    floor_se_nats: float | None = None
    floor_expected_nats: float | None = None

    def sequences(self, split: str, context_length: int) -> np.ndarray:
        """Non-overlapping windows of ``context_length + 1`` ids as an ``[n, context_length + 1]`` view."""
        ids = {"train": self.train, "test": self.test}.get(split)
        if ids is None:
            raise ValueError(f"split must be 'train' or 'test', not {split!r}")
        width = context_length + 1
        count = len(ids) // width
        return ids[: count * width].reshape(count, width)

    def eval_sequences(self, context_length: int, eval_tokens: int) -> np.ndarray:
        """The first ``ceil(eval_tokens / context_length)`` test windows; ConfigError if too few."""
        wanted = math.ceil(eval_tokens / context_length)
        windows = self.sequences("test", context_length)
        if len(windows) < wanted:
            raise ConfigError(
                f"data.eval_tokens: the test split has {len(windows)} windows of {context_length + 1} tokens "
                f"({len(self.test)} tokens), {wanted} needed; lower eval_tokens or raise test_fraction")
        return windows[:wanted]

    def eval_documents(self, context_length: int, eval_tokens: int) -> np.ndarray:
        """Document index of each eval window (the document its first token belongs to), for a clustered SE.

        Documents end with the eos id; the synthetic source, and a tokenizer without eos, make every
        window its own document.
        """
        count = len(self.eval_sequences(context_length, eval_tokens))
        return self.window_documents("test", context_length, np.arange(count))

    def window_documents(self, split: str, context_length: int, rows: np.ndarray) -> np.ndarray:
        """Document index of windows ``rows`` of ``split`` (``sequences`` numbering): the number of eos ids before
        each window's first token, so windows of one document share it; without eos, each window is its own.
        The split is scanned in chunks for its eos positions (memory grows with documents, not tokens)."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.eos_id is None or not len(rows):
            return rows.copy()
        ids = {"train": self.train, "test": self.test}[split]
        starts = rows * (context_length + 1)
        end = int(starts.max()) if len(starts) else 0
        eos = np.concatenate([a + np.flatnonzero(np.asarray(ids[a:min(a + EOS_SCAN_CHUNK, end)]) == self.eos_id)
                              for a in range(0, end, EOS_SCAN_CHUNK)] or [np.empty(0, np.int64)])
        return np.searchsorted(eos, starts, side="left")

    def bits_per_byte(self, nats_per_token: float) -> float:
        """Convert a loss in nats/token to bits/byte with this corpus's bytes_per_token."""
        return nats_per_token / math.log(2) / self.bytes_per_token


def cache_payload(cfg: DataConfig) -> dict[str, Any]:
    """The fields that decide the cached tokens (the cache key hashes exactly this)."""
    if cfg.source == "synthetic":
        return {"format": FORMAT_VERSION, "source": "synthetic", "floor": SYNTHETIC_FLOOR,
                "synthetic": cfg.synthetic.identity(),
                "context_length": cfg.context_length, "eval_tokens": cfg.eval_tokens}
    return {
        "format": FORMAT_VERSION, "source": cfg.source, "path": _resolved(cfg.path),
        "hf_config": cfg.hf_config if cfg.source == "hf" else None,
        "hf_split": cfg.hf_split if cfg.source == "hf" else None,
        "text_column": cfg.text_column if cfg.source == "hf" else None,
        "max_documents": cfg.max_documents, "tokenizer": cfg.tokenizer,
        "tokenizer_name": _resolved(cfg.tokenizer_name) if cfg.tokenizer == "pretrained" else None,
        "bpe_vocab_size": cfg.bpe_vocab_size if cfg.tokenizer == "bpe" else None,
        "test_fraction": cfg.test_fraction, "split_seed": cfg.split_seed,
        "signature": source_signature(cfg),
    }


def cache_key(cfg: DataConfig) -> str:
    """Readable, content-addressed entry name, e.g. ``text-bpe-4096-1a2b3c4d5e6f7a8b``."""
    tok = {"bpe": f"bpe-{cfg.bpe_vocab_size}", "pretrained": "pretrained"}.get(cfg.tokenizer, cfg.tokenizer)
    return f"{safe_name(cfg.source)}-{tok}-{content_hash(cache_payload(cfg), 16)}"


def load_corpus(cfg: DataConfig, cache_root: Path) -> TokenCorpus:
    """Open (building once if needed) the token cache for ``cfg`` and return its memory-mapped corpus."""
    builder = _build_synthetic if cfg.source == "synthetic" else _build_documents
    entry = open_entry(Path(cache_root), cache_key(cfg), partial(builder, cfg))
    meta = entry.meta
    return TokenCorpus(
        train=entry.array("train"), test=entry.array("test"), vocab_size=meta["vocab_size"],
        eos_id=meta["eos_id"], bytes_per_token=meta["bytes_per_token"], fingerprint=meta["fingerprint"],
        floor_nats=meta.get("floor_nats"), description=meta["description"], cache_dir=entry.path,
        floor_se_nats=meta.get("floor_se_nats"), floor_expected_nats=meta.get("floor_expected_nats"))


def _resolved(path: str | None) -> str | None:
    if path is None:
        return None
    local = Path(path).expanduser()
    return str(local.resolve()) if local.exists() else path


def _build_documents(cfg: DataConfig, directory: Path) -> dict[str, Any]:
    tokenizer = make_tokenizer(cfg, lambda: split_documents(cfg, "train"))
    tokenizer.save(directory)
    splits = pack_documents(directory, labelled_documents(cfg), tokenizer)
    _check_splits(cfg, splits)
    test = splits["test"]
    eos_bytes = test["documents"] if tokenizer.eos_id is not None else 0
    return {
        "dtype": token_dtype(tokenizer.vocab_size).name, "splits": splits,
        "vocab_size": tokenizer.vocab_size, "eos_id": tokenizer.eos_id,
        "bytes_per_token": (test["bytes"] + eos_bytes) / test["tokens"],
        "description": f"{describe_source(cfg)} | tokenizer {tokenizer.name}",
        "files": [TOKENIZER_FILE] if (directory / TOKENIZER_FILE).is_file() else [],
        "config": cache_payload(cfg),
    }


def _check_splits(cfg: DataConfig, splits: dict[str, dict[str, Any]]) -> None:
    total = splits["train"]["documents"] + splits["test"]["documents"]
    if total == 0:
        raise ConfigError(f"data.path: source '{cfg.source}' yielded no non-empty UTF-8 documents")
    if splits["test"]["tokens"] == 0:
        raise ConfigError(f"data.test_fraction: none of the {total} documents fell in the test split; "
                          "raise test_fraction or add documents")
    if splits["train"]["tokens"] == 0:
        raise ConfigError(f"data.test_fraction: all {total} documents fell in the test split; add documents")


def _build_synthetic(cfg: DataConfig, directory: Path) -> dict[str, Any]:
    from harness.data.synthetic import synthetic_splits

    generated = synthetic_splits(cfg.synthetic, cfg.context_length, cfg.eval_tokens)
    train, test, floor = generated.train, generated.test, generated.floor
    syn = cfg.synthetic
    splits = write_arrays(directory, {"train": train, "test": test}, token_dtype(syn.vocab_size))
    width = cfg.context_length + 1
    for split, ids in (("train", train), ("test", test)):
        splits[split].update(documents=len(ids) // width, bytes=len(ids))
    return {
        "dtype": token_dtype(syn.vocab_size).name, "splits": splits, "vocab_size": syn.vocab_size,
        "eos_id": None, "bytes_per_token": 1.0, "floor_nats": floor.nats,
        "floor_se_nats": floor.se, "floor_expected_nats": floor.expected, "files": [],
        "description": _synthetic_description(syn, cfg.context_length),
        "config": cache_payload(cfg),
    }


def clustered_mean_se(values: np.ndarray, clusters: np.ndarray | None = None) -> tuple[float, float]:
    """Mean of per-window losses and its cluster-robust standard error (windows of one document correlate).

    SE = sqrt(G/(G-1) · Σ_g (Σ_{i∈g} (x_i − mean))²) / n over G clusters; with every window its own
    cluster this is the usual std(ddof=1)/sqrt(n). NaN with fewer than two clusters.
    """
    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean())
    groups = np.arange(len(x)) if clusters is None else np.unique(np.asarray(clusters), return_inverse=True)[1]
    sums = np.bincount(groups, weights=x - mean)
    g = len(sums)
    if g < 2:
        return mean, float("nan")
    return mean, float(np.sqrt(g / (g - 1) * (sums ** 2).sum()) / len(x))


def _synthetic_description(syn, context_length: int) -> str:
    if syn.kind == "facts":
        return (f"synthetic Zipf facts V={syn.vocab_size} s={syn.fact_exponent} noise={syn.noise} "
                f"seed={syn.seed} context={context_length}")
    return (f"synthetic Markov V={syn.vocab_size} order={syn.order} zipf={syn.zipf_exponent} "
            f"seed={syn.seed} context={context_length}")
