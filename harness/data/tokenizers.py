"""Tokenizers: UTF-8 bytes, a byte-level BPE trained locally, or a pretrained AutoTokenizer.

All three share one small interface: ``name``, ``vocab_size`` (the model's vocabulary, eos included),
``eos_id`` (the id that ends every document in the token cache, or None), ``encode(texts)`` (a batch
of documents to a list of 1-D int64 arrays, without eos) and ``save(directory)``.

:func:`save_hf_tokenizer` writes a ``transformers`` tokenizer beside a saved model, so that
``AutoTokenizer.from_pretrained(model_dir)`` gives the exact ids the model was trained on (for the
synthetic source: a word-level tokenizer over its symbols ``s0 … s{V-1}``).
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Callable, Iterable, Protocol

import numpy as np

from harness.errors import ConfigError

from harness.config import DataConfig

EOS_TOKEN = "<|endoftext|>"
TOKENIZER_FILE = "tokenizer.json"
log = logging.getLogger(__name__)


class Tokenizer(Protocol):
    """What the token cache needs from a tokenizer."""

    name: str
    vocab_size: int
    eos_id: int | None

    def encode(self, texts: list[str]) -> list[np.ndarray]:
        """Token ids of each text (no eos appended)."""

    def save(self, directory: Path) -> None:
        """Write whatever is needed to reload this tokenizer into ``directory`` (may be nothing)."""


class ByteTokenizer:
    """UTF-8 bytes as ids 0–255, end of document 256: vocabulary 257."""

    name = "byte"
    vocab_size = 257
    eos_id = 256

    def encode(self, texts: list[str]) -> list[np.ndarray]:
        """Each text's UTF-8 bytes as int64 ids."""
        return [np.frombuffer(t.encode("utf-8"), dtype=np.uint8).astype(np.int64) for t in texts]

    def save(self, directory: Path) -> None:
        """Nothing to save: the byte tokenizer has no state."""

    def decode(self, ids: Iterable[int]) -> str:
        """Bytes back to text (eos and invalid UTF-8 replaced)."""
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")

    def hf_tokenizer(self) -> "object":
        """A PreTrainedTokenizerFast giving the same ids: byte b → id b, eos → 256."""
        from tokenizers import Tokenizer as HFTokenizer, decoders, models, pre_tokenizers
        from transformers import PreTrainedTokenizerFast

        alphabet = _byte_alphabet()
        backend = HFTokenizer(models.BPE(vocab={alphabet[b]: b for b in range(256)} | {EOS_TOKEN: 256}, merges=[]))
        backend.add_special_tokens([EOS_TOKEN])
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
        backend.decoder = decoders.ByteLevel()
        return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=EOS_TOKEN)


class BpeTokenizer:
    """A byte-level BPE (HF ``tokenizers``) trained on the training documents only."""

    def __init__(self, backend: "object", requested_vocab: int) -> None:
        """Wrap a trained ``tokenizers.Tokenizer``; the model vocabulary is at least ``requested_vocab``."""
        self.backend = backend
        self.name = f"bpe-{requested_vocab}"
        self.vocab_size = max(requested_vocab, backend.get_vocab_size())
        self.eos_id = backend.token_to_id(EOS_TOKEN)

    @classmethod
    def train(cls, documents: Iterable[str], vocab_size: int) -> "BpeTokenizer":
        """Train a ByteLevel BPE of ``vocab_size`` tokens (eos included) on ``documents``."""
        from tokenizers import Tokenizer as HFTokenizer, decoders, models, pre_tokenizers, trainers

        backend = HFTokenizer(models.BPE())
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS_TOKEN], show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        backend.train_from_iterator(documents, trainer=trainer)
        if backend.get_vocab_size() < vocab_size:
            warnings.warn(f"data.bpe_vocab_size: the training split only supports {backend.get_vocab_size()} "
                          f"BPE tokens; the model keeps {vocab_size} ids (the rest unused)", stacklevel=2)
        return cls(backend, vocab_size)

    @classmethod
    def load(cls, path: Path, requested_vocab: int) -> "BpeTokenizer":
        """Reload a tokenizer saved by :meth:`save`."""
        from tokenizers import Tokenizer as HFTokenizer

        return cls(HFTokenizer.from_file(str(path)), requested_vocab)

    def encode(self, texts: list[str]) -> list[np.ndarray]:
        """Batch-encode (parallel, in Rust) to int64 id arrays."""
        encodings = self.backend.encode_batch(texts, add_special_tokens=False)
        return [np.asarray(e.ids, dtype=np.int64) for e in encodings]

    def save(self, directory: Path) -> None:
        """Write ``tokenizer.json`` into ``directory``."""
        self.backend.save(str(Path(directory) / TOKENIZER_FILE))

    def decode(self, ids: Iterable[int]) -> str:
        """Ids back to text."""
        return self.backend.decode(list(ids))

    def hf_tokenizer(self) -> "object":
        """The trained BPE as a PreTrainedTokenizerFast with its eos token."""
        from transformers import PreTrainedTokenizerFast

        return PreTrainedTokenizerFast(tokenizer_object=self.backend, eos_token=EOS_TOKEN)


class PretrainedTokenizer:
    """Any ``transformers.AutoTokenizer`` by hub name or local folder."""

    def __init__(self, name: str) -> None:
        """Load the tokenizer; ConfigError naming ``tokenizer_name`` if it cannot be found."""
        from transformers import AutoTokenizer

        from harness.data.sources import OFFLINE_HINT, first_line, hub_access

        with hub_access() as online:
            try:
                self.hf = AutoTokenizer.from_pretrained(name)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"data.tokenizer_name: cannot load tokenizer '{name}': {first_line(exc)}"
                                  f"{'' if online else OFFLINE_HINT}") from None
        self.name = f"pretrained:{name}"
        self.vocab_size = len(self.hf)
        self.eos_id = self.hf.eos_token_id if self.hf.eos_token_id is not None else self.hf.sep_token_id

    def encode(self, texts: list[str]) -> list[np.ndarray]:
        """Batch-encode without special tokens (the fast backend directly when there is one)."""
        if getattr(self.hf, "is_fast", False):
            encodings = self.hf.backend_tokenizer.encode_batch(texts, add_special_tokens=False)
            return [np.asarray(e.ids, dtype=np.int64) for e in encodings]
        ids = self.hf(texts, add_special_tokens=False, verbose=False)["input_ids"]
        return [np.asarray(x, dtype=np.int64) for x in ids]

    def save(self, directory: Path) -> None:
        """Nothing to save: the name or path in the config reloads it."""

    def decode(self, ids: Iterable[int]) -> str:
        """Ids back to text."""
        return self.hf.decode(list(ids))

    def hf_tokenizer(self) -> "object":
        """The pretrained tokenizer itself."""
        return self.hf


def make_tokenizer(cfg: DataConfig, train_documents: Callable[[], Iterable[str]]) -> Tokenizer:
    """Build the configured tokenizer; ``train_documents()`` is only called (once) to train a BPE."""
    if cfg.tokenizer == "byte":
        return ByteTokenizer()
    if cfg.tokenizer == "bpe":
        log.info("training a %d-token BPE on the training split", cfg.bpe_vocab_size)
        return BpeTokenizer.train(train_documents(), cfg.bpe_vocab_size)
    return PretrainedTokenizer(cfg.tokenizer_name)


def load_tokenizer(cfg: DataConfig, entry_dir: Path) -> Tokenizer:
    """Reopen the tokenizer of a built cache entry (the BPE from its saved ``tokenizer.json``)."""
    if cfg.tokenizer == "bpe":
        return BpeTokenizer.load(Path(entry_dir) / TOKENIZER_FILE, cfg.bpe_vocab_size)
    return make_tokenizer(cfg, lambda: [])


def _byte_alphabet() -> dict[int, str]:
    """GPT-2's byte → printable character map, the one ByteLevel pre-tokenisation uses."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return bytes_to_unicode()


def symbol_hf_tokenizer(vocab_size: int) -> "object":
    """A word-level PreTrainedTokenizerFast over the synthetic symbols: 's0 s1 …' ↔ ids 0, 1, …"""
    from tokenizers import Tokenizer as HFTokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {f"s{i}": i for i in range(vocab_size)}
    backend = HFTokenizer(models.WordLevel(vocab=vocab, unk_token="s0"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece(prefix="##")  # joins tokens with spaces
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="s0")


def save_hf_tokenizer(cfg: DataConfig, entry_dir: Path | None, directory: Path) -> None:
    """Write the run's tokenizer with ``save_pretrained`` into ``directory`` (beside a saved model)."""
    if cfg.source == "synthetic":
        tokenizer = symbol_hf_tokenizer(cfg.synthetic.vocab_size)
    else:
        tokenizer = load_tokenizer(cfg, Path(entry_dir) if entry_dir else Path(directory)).hf_tokenizer()
    tokenizer.save_pretrained(str(directory))
