"""Tokenizers: bytes, a BPE trained on the training split only, a pretrained tokenizer from a local folder."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.errors import ConfigError

from harness.config import DataConfig
from harness.data.corpus import load_corpus
from harness.data.sources import is_test_document
from harness.data.tokenizers import EOS_TOKEN, BpeTokenizer, ByteTokenizer, load_tokenizer

WORDS = "the quick brown fox jumps over a lazy dog while seven wizards quietly hex jolly boxers".split()


def make_docs(n: int) -> list[str]:
    """Deterministic distinct ASCII documents of English-like words."""
    return [f"Doc {i}. " + " ".join(WORDS[(i * 5 + j * j) % len(WORDS)] for j in range(20 + i % 13))
            for i in range(n)]


def write_folder(root: Path, docs: list[str]) -> Path:
    """One file per document; returns the folder."""
    root.mkdir(parents=True, exist_ok=True)
    for i, doc in enumerate(docs):
        (root / f"{i:04d}.txt").write_text(doc)
    return root


def test_byte_tokenizer_ids_and_vocabulary():
    tok = ByteTokenizer()
    ids = tok.encode(["hi", "é€"])
    assert tok.vocab_size == 257 and tok.eos_id == 256
    assert ids[0].tolist() == [104, 105] and len(ids[1]) == 5
    assert tok.decode(ids[1].tolist() + [256]) == "é€"


def test_byte_corpus_layout_and_bytes_per_token(tmp_path):
    docs = make_docs(60)
    cfg = DataConfig(source="text", path=str(write_folder(tmp_path / "t", docs)), test_fraction=0.25)
    corpus = load_corpus(cfg, tmp_path / "cache")
    test_docs = [d for d in docs if is_test_document(d, 0, 0.25)]
    train_docs = [d for d in docs if not is_test_document(d, 0, 0.25)]
    expected = b"".join(d.encode() + b"\x00" for d in train_docs)
    train = np.asarray(corpus.train).astype(np.int64)
    assert len(train) == len(expected) and int((train == 256).sum()) == len(train_docs)
    assert bytes(np.where(train == 256, 0, train).astype(np.uint8)) == expected
    # One token per byte, each eos counted as one byte: exactly 1.0 on any text.
    assert corpus.bytes_per_token == 1.0 and corpus.eos_id == 256 and corpus.vocab_size == 257
    assert len(corpus.test) == sum(len(d) + 1 for d in test_docs)
    assert corpus.train.dtype == np.uint16


def test_bpe_vocab_size_honoured_and_trained_on_train_split_only(tmp_path):
    marker = "Zyxwvut"
    docs = make_docs(120)
    docs = [d + f" {marker}{marker}{marker}" if is_test_document(d, 0, 0.2) else d for d in docs]
    assert any(marker in d for d in docs)
    cfg = DataConfig(source="text", path=str(write_folder(tmp_path / "t", docs)), tokenizer="bpe",
                     bpe_vocab_size=300, test_fraction=0.2)
    corpus = load_corpus(cfg, tmp_path / "cache")
    tok = load_tokenizer(cfg, corpus.cache_dir)
    assert corpus.vocab_size == 300 == tok.backend.get_vocab_size() == tok.vocab_size
    assert int(np.max(corpus.train)) < 300 and corpus.eos_id == tok.backend.token_to_id(EOS_TOKEN)
    vocab = tok.backend.get_vocab()
    assert not any("Zyx" in piece or "yxw" in piece for piece in vocab), "BPE saw the test split"
    assert tok.decode(tok.encode([docs[3]])[0].tolist()) == docs[3]
    meta = json.loads((corpus.cache_dir / "meta.json").read_text())
    test = meta["splits"]["test"]
    assert corpus.bytes_per_token == pytest.approx((test["bytes"] + test["documents"]) / test["tokens"])
    assert corpus.bytes_per_token > 1.2


def test_bpe_small_corpus_keeps_requested_vocabulary(tmp_path):
    with pytest.warns(UserWarning, match="bpe_vocab_size"):
        tok = BpeTokenizer.train(["aaa bbb", "abab"], 2000)
    assert tok.vocab_size == 2000 and tok.backend.get_vocab_size() < 2000


def _save_pretrained(folder: Path, docs: list[str]) -> BpeTokenizer:
    from transformers import PreTrainedTokenizerFast

    bpe = BpeTokenizer.train(docs, 320)
    PreTrainedTokenizerFast(tokenizer_object=bpe.backend, eos_token=EOS_TOKEN).save_pretrained(str(folder))
    return bpe


def test_pretrained_tokenizer_from_local_folder(tmp_path):
    docs = make_docs(80)
    bpe = _save_pretrained(tmp_path / "tok", docs)
    cfg = DataConfig(source="text", path=str(write_folder(tmp_path / "t", docs)), tokenizer="pretrained",
                     tokenizer_name=str(tmp_path / "tok"), test_fraction=0.2)
    corpus = load_corpus(cfg, tmp_path / "cache")
    assert corpus.vocab_size == 320 and corpus.eos_id == bpe.eos_id
    train_docs = [d for d in docs if not is_test_document(d, 0, 0.2)]
    first = bpe.encode(train_docs[:1])[0].tolist() + [bpe.eos_id]
    assert np.asarray(corpus.train[: len(first)]).tolist() == first
    assert "pretrained" in corpus.description


def test_missing_pretrained_tokenizer_names_the_field(tmp_path):
    cfg = DataConfig(source="text", path=str(write_folder(tmp_path / "t", make_docs(5))), tokenizer="pretrained",
                     tokenizer_name=str(tmp_path / "no-such-tokenizer"))
    with pytest.raises(ConfigError, match=r"^data\.tokenizer_name: cannot load tokenizer"):
        load_corpus(cfg, tmp_path / "cache")
    assert not list((tmp_path / "cache").glob(".tmp-*"))
