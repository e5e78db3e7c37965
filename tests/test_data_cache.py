"""The packed token cache: reuse, keys, two builders at once, damaged entries, windows."""
from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest

from harness.errors import ConfigError

from harness.config import DataConfig
from harness.data import corpus as corpus_mod
from harness.data.cache import CacheRebuildWarning, check_entry, verify_entry
from harness.data.corpus import cache_key, load_corpus


def make_docs(n: int) -> list[str]:
    """Deterministic distinct ASCII documents."""
    return [f"document {i} " + "lorem ipsum dolor sit amet " * (3 + i % 7) for i in range(n)]


def text_cfg(root: Path, n: int = 80, **extra) -> DataConfig:
    """A folder of ``n`` one-document files and its DataConfig."""
    root.mkdir(parents=True, exist_ok=True)
    for i, doc in enumerate(make_docs(n)):
        (root / f"{i:04d}.txt").write_text(doc)
    return DataConfig(source="text", path=str(root), test_fraction=0.2, **extra)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of every file in a folder."""
    return {f.name: (f.stat().st_ino, f.stat().st_mtime_ns) for f in sorted(folder.iterdir())}


def entries(cache_root: Path) -> list[str]:
    """Names of the folders in a cache root (entries and any leftovers)."""
    return sorted(p.name for p in cache_root.iterdir() if p.is_dir())


def test_second_load_reuses_the_cache(tmp_path, monkeypatch):
    cfg = text_cfg(tmp_path / "t")
    first = load_corpus(cfg, tmp_path / "cache")
    before = snapshot(first.cache_dir)

    def no_rebuild(*args, **kwargs):
        raise AssertionError("re-tokenised a cached corpus")

    monkeypatch.setattr(corpus_mod, "pack_documents", no_rebuild)
    second = load_corpus(cfg, tmp_path / "cache")
    assert second.fingerprint == first.fingerprint and snapshot(second.cache_dir) == before
    assert np.array_equal(second.train, first.train) and isinstance(second.train, np.memmap)
    assert not second.train.flags.writeable


def test_key_ignores_windows_but_not_tokens(tmp_path):
    cfg = text_cfg(tmp_path / "t", n=5)
    same = cfg.model_copy(update={"context_length": 128, "eval_tokens": 999, "streaming": True})
    assert cache_key(same) == cache_key(cfg)
    for change in ({"split_seed": 1}, {"test_fraction": 0.3}, {"max_documents": 3}, {"tokenizer": "bpe"}):
        assert cache_key(cfg.model_copy(update=change)) != cache_key(cfg)
    syn = DataConfig()
    assert cache_key(syn.model_copy(update={"context_length": 128})) != cache_key(syn)
    assert cache_key(syn.model_copy(update={"eval_tokens": 4096})) != cache_key(syn)


def test_editing_a_source_file_changes_the_key(tmp_path):
    cfg = text_cfg(tmp_path / "t", n=5)
    before = cache_key(cfg)
    (tmp_path / "t" / "0000.txt").write_text("an edited, longer document")
    assert cache_key(cfg) != before


def test_windows_and_eval_sequences(tmp_path):
    corpus = load_corpus(text_cfg(tmp_path / "t"), tmp_path / "cache")
    windows = corpus.sequences("train", 16)
    assert windows.shape == (len(corpus.train) // 17, 17)
    assert np.array_equal(windows[1], corpus.train[17:34])
    assert corpus.eval_sequences(16, 100).shape == (7, 17)
    assert np.array_equal(corpus.eval_sequences(16, 64), corpus.sequences("test", 16)[:4])
    with pytest.raises(ConfigError, match=r"^data\.eval_tokens: the test split has"):
        corpus.eval_sequences(16, 10_000_000)
    assert corpus.bits_per_byte(np.log(2)) == pytest.approx(1.0)


def test_empty_test_split_is_a_config_error(tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "only.txt").write_text("x")
    cfg = DataConfig(source="text", path=str(tmp_path / "t"), test_fraction=0.01)
    with pytest.raises(ConfigError, match=r"^data\.test_fraction: "):
        load_corpus(cfg, tmp_path / "cache")
    assert entries(tmp_path / "cache") == []


@pytest.mark.parametrize("damage", ["truncate_train", "drop_meta"])
def test_damaged_entry_is_detected_warned_and_rebuilt_alone(tmp_path, damage):
    good = load_corpus(text_cfg(tmp_path / "a"), tmp_path / "cache")
    bad_cfg = text_cfg(tmp_path / "b", n=60)
    bad = load_corpus(bad_cfg, tmp_path / "cache")
    untouched, fingerprint = snapshot(good.cache_dir), bad.fingerprint
    if damage == "truncate_train":
        with open(bad.cache_dir / "train.bin", "r+b") as f:
            f.truncate(10)
    else:
        (bad.cache_dir / "meta.json").unlink()
    assert check_entry(bad.cache_dir) is not None
    (tmp_path / "cache" / f".tmp-{bad.cache_dir.name}-999-dead").mkdir()  # a crashed builder's leftover
    with pytest.warns(CacheRebuildWarning, match="rebuilding this entry"):
        rebuilt = load_corpus(bad_cfg, tmp_path / "cache")
    assert rebuilt.fingerprint == fingerprint and verify_entry(rebuilt.cache_dir) is None
    assert snapshot(good.cache_dir) == untouched
    assert entries(tmp_path / "cache") == sorted([good.cache_dir.name, bad.cache_dir.name])


def test_verify_entry_catches_a_flipped_byte(tmp_path):
    corpus = load_corpus(text_cfg(tmp_path / "t"), tmp_path / "cache")
    path = corpus.cache_dir / "test.bin"
    raw = bytearray(path.read_bytes())
    raw[0] ^= 1
    path.write_bytes(bytes(raw))
    assert check_entry(corpus.cache_dir) is None
    assert "sha256" in verify_entry(corpus.cache_dir)


def _build_in_child(cfg_json: str, cache_root: str, barrier, results) -> None:
    cfg = DataConfig.model_validate_json(cfg_json)
    barrier.wait()
    corpus = load_corpus(cfg, Path(cache_root))
    meta = json.loads((corpus.cache_dir / "meta.json").read_text())
    results.put((corpus.fingerprint, meta["built_by_pid"], int(corpus.train.sum())))


def test_two_processes_building_at_once_make_one_entry(tmp_path):
    cfg = DataConfig(source="python-stdlib", max_documents=150, test_fraction=0.1)
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    args = (cfg.model_dump_json(), str(tmp_path / "cache"), barrier, results)
    procs = [ctx.Process(target=_build_in_child, args=args) for _ in range(2)]
    for p in procs:
        p.start()
    got = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert got[0] == got[1]
    assert entries(tmp_path / "cache") == [cache_key(cfg)]
    assert verify_entry(tmp_path / "cache" / cache_key(cfg)) is None
