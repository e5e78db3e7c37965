"""Document sources: text files / folders / globs, local HF datasets, the stdlib, and the split rule."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError

from harness.config import DataConfig
from harness.data import sources
from harness.data.sources import is_test_document, iter_documents, labelled_documents, split_documents

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda".split()


def make_docs(n: int) -> list[str]:
    """Deterministic distinct ASCII documents."""
    return [f"doc {i}: " + " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(5 + i % 9)) for i in range(n)]


@pytest.fixture
def text_dir(tmp_path: Path) -> Path:
    """A folder of three text files, a nested one, a hidden one and a binary one."""
    root = tmp_path / "texts"
    (root / "sub").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "a.txt").write_text("first file")
    (root / "b.txt").write_text("second file")
    (root / "sub" / "c.md").write_text("nested file")
    (root / ".git" / "x.txt").write_text("hidden")
    (root / "blob.bin").write_bytes(b"\xff\xfe\x00binary")
    (root / "empty.txt").write_text("")
    return root


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """Keep datasets' Arrow cache inside the test's temporary folder."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")


def test_text_folder_one_document_per_file(text_dir):
    docs = list(iter_documents(DataConfig(source="text", path=str(text_dir))))
    assert docs == ["first file", "second file", "nested file"]


def test_text_glob_and_max_documents(text_dir):
    assert list(iter_documents(DataConfig(source="text", path=str(text_dir / "*.txt")))) == ["first file",
                                                                                              "second file"]
    assert list(iter_documents(DataConfig(source="text", path=str(text_dir / "**" / "*.md")))) == ["nested file"]
    assert len(list(iter_documents(DataConfig(source="text", path=str(text_dir), max_documents=2)))) == 2


def test_single_text_file_is_split_at_blank_lines(tmp_path):
    path = tmp_path / "book.txt"
    path.write_text("para one\nstill one\n\npara two\n \n\n\npara three\n")
    docs = list(iter_documents(DataConfig(source="text", path=str(path))))
    assert docs == ["para one\nstill one", "para two", "para three"]


def test_missing_text_path_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"^data\.path: no files found"):
        list(iter_documents(DataConfig(source="text", path=str(tmp_path / "nope" / "*.txt"))))


def test_split_is_by_document_disjoint_and_stable(tmp_path):
    for i, doc in enumerate(make_docs(400)):
        (tmp_path / f"{i:04d}.txt").write_text(doc)
    cfg = DataConfig(source="text", path=str(tmp_path), test_fraction=0.2, split_seed=3)
    train, test = list(split_documents(cfg, "train")), list(split_documents(cfg, "test"))
    assert set(train).isdisjoint(test) and sorted(train + test) == sorted(make_docs(400))
    assert 0.12 < len(test) / 400 < 0.28
    assert list(split_documents(cfg, "test")) == test
    other = DataConfig(source="text", path=str(tmp_path), test_fraction=0.2, split_seed=4)
    assert list(split_documents(other, "test")) != test


def test_split_depends_on_text_not_order():
    docs = make_docs(200)
    forward = {d for d in docs if is_test_document(d, 0, 0.3)}
    backward = {d for d in reversed(docs) if is_test_document(d, 0, 0.3)}
    assert forward == backward and 0 < len(forward) < 200


def test_python_stdlib_source_reads_sorted_py_files():
    cfg = DataConfig(source="python-stdlib", max_documents=5)
    docs = list(iter_documents(cfg))
    first = sources.stdlib_files()[0].read_text(encoding="utf-8")
    assert len(docs) == 5 and docs[0] == first and docs == list(iter_documents(cfg))
    assert all("site-packages" not in str(f) for f in sources.stdlib_files())
    assert [d for d, _ in labelled_documents(cfg)] == docs


def _write_parquet(path: Path, docs: list[str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": list(range(len(docs))), "content": docs}), path)


def test_hf_parquet_folder_glob_file_and_streaming(tmp_path, hf_cache):
    docs = make_docs(30)
    _write_parquet(tmp_path / "pq" / "part-0.parquet", docs[:20])
    _write_parquet(tmp_path / "pq" / "part-1.parquet", docs[20:])
    for path in (tmp_path / "pq", tmp_path / "pq" / "*.parquet"):
        for streaming in (False, True):
            cfg = DataConfig(source="hf", path=str(path), text_column="content", streaming=streaming)
            assert list(iter_documents(cfg)) == docs
    (tmp_path / "pq" / "dataset_infos.json").write_text("{}")  # stray metadata: parquet is preferred
    assert list(iter_documents(DataConfig(source="hf", path=str(tmp_path / "pq"), text_column="content"))) == docs
    single = DataConfig(source="hf", path=str(tmp_path / "pq" / "part-1.parquet"), text_column="content")
    assert list(iter_documents(single)) == docs[20:]


def test_hf_jsonl_files(tmp_path, hf_cache):
    import json

    (tmp_path / "data.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in make_docs(7)))
    cfg = DataConfig(source="hf", path=str(tmp_path / "data.jsonl"), max_documents=4)
    assert list(iter_documents(cfg)) == make_docs(4)


def test_hf_missing_column_names_the_field(tmp_path, hf_cache):
    _write_parquet(tmp_path / "x.parquet", make_docs(3))
    for streaming in (False, True):
        cfg = DataConfig(source="hf", path=str(tmp_path / "x.parquet"), streaming=streaming)
        with pytest.raises(ConfigError, match=r"^data\.text_column: no column 'text'"):
            list(iter_documents(cfg))


def test_hf_save_to_disk_dataset_and_dict(tmp_path, hf_cache):
    import datasets

    docs = make_docs(12)
    datasets.Dataset.from_dict({"text": docs}).save_to_disk(str(tmp_path / "ds"))
    assert list(iter_documents(DataConfig(source="hf", path=str(tmp_path / "ds")))) == docs
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": docs[:8]}),
                               "validation": datasets.Dataset.from_dict({"text": docs[8:]})})
    dd.save_to_disk(str(tmp_path / "dd"))
    cfg = DataConfig(source="hf", path=str(tmp_path / "dd"), hf_split="validation")
    assert list(iter_documents(cfg)) == docs[8:]
    with pytest.raises(ConfigError, match=r"^data\.hf_split: no split 'test'"):
        list(iter_documents(DataConfig(source="hf", path=str(tmp_path / "dd"), hf_split="test")))


def test_hf_hub_name_goes_through_load_dataset(monkeypatch, hf_cache):
    import datasets

    calls = []

    def fake_load_dataset(path, name=None, split=None, streaming=False, **kwargs):
        calls.append((path, name, split, streaming))
        return datasets.Dataset.from_dict({"text": ["hub doc one", "hub doc two"]})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    cfg = DataConfig(source="hf", path="someone/corpus", hf_config="raw", hf_split="train", streaming=True)
    assert list(iter_documents(cfg)) == ["hub doc one", "hub doc two"]
    assert calls == [("someone/corpus", "raw", "train", True)]


def test_hf_unreachable_hub_or_missing_local_path_is_a_config_error(monkeypatch, tmp_path):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach the Hugging Face Hub\nmore detail")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(ConfigError, match=r"^data\.path: cannot load hub dataset 'someone/corpus': Couldn't reach"):
        list(iter_documents(DataConfig(source="hf", path="someone/corpus")))
    with pytest.raises(ConfigError, match=r"^data\.path: no dataset"):
        list(iter_documents(DataConfig(source="hf", path=str(tmp_path / "missing" / "*.parquet"))))


@pytest.mark.parametrize("data", [{"source": "hf", "path": "someuser/not-cached-dataset"},
                                  {"source": "python-stdlib", "tokenizer": "pretrained",
                                   "tokenizer_name": "someuser/not-cached-tokenizer"}], ids=["dataset", "tokenizer"])
def test_unreachable_hub_fails_fast_with_one_line(sweep_file, capfd, monkeypatch, data):
    import time

    from huggingface_hub import constants
    from huggingface_hub.utils import _http

    from harness.cli import main

    class NoSleep:  # records huggingface_hub's retry back-off instead of sleeping through it
        def __getattr__(self, name):
            return getattr(time, name)

        def sleep(self, seconds):
            slept.append(seconds)

    slept = []
    monkeypatch.setattr(_http, "time", NoSleep())
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens: connection refused
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    path = sweep_file({"data": data})
    with pytest.raises(SystemExit) as exit_info:
        main(["plan", str(path)] if data["source"] == "python-stdlib" else ["run", str(path), "--results",
                                                                          str(path.parent / "r"), "--no-wandb"])
    err = capfd.readouterr().err.strip()
    assert exit_info.value.code == 2 and slept == []  # no retries
    assert len(err.splitlines()) == 1 and "Retrying" not in err, err
    assert "unreachable" in err and ("data.path" in err or "data.tokenizer_name" in err)
    assert constants.HF_HUB_OFFLINE is False  # offline mode was only for the call
