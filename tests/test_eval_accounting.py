"""Eval SE clustered by document; wall time and tokens/s over the whole run after a resume."""
import math

import numpy as np
import pytest
import torch

from harness.config import load_sweep
from harness.data.corpus import TokenCorpus, clustered_mean_se
from harness.plan import expand
from harness.train import TrainOptions, train


def test_clustered_se_by_hand():
    # deviations from 2.5: -1.5 -0.5 | 0.5 1.5 → cluster sums -2, 2; sqrt(2/1 · 8) / 4 = 1
    assert clustered_mean_se(np.array([1.0, 2.0, 3.0, 4.0]), np.array([0, 0, 1, 1])) == (2.5, pytest.approx(1.0))
    # every window its own cluster: the usual std(ddof=1)/sqrt(n) = sqrt(5/3)/2
    assert clustered_mean_se(np.array([1.0, 2.0, 3.0, 4.0]))[1] == pytest.approx(math.sqrt(5 / 3) / 2)
    assert math.isnan(clustered_mean_se(np.array([1.0, 2.0]), np.array([7, 7]))[1])


def _corpus(test_ids, eos_id):
    ids = np.asarray(test_ids, dtype=np.uint16)
    return TokenCorpus(train=ids, test=ids, vocab_size=16, eos_id=eos_id, bytes_per_token=1.0, fingerprint="x",
                       floor_nats=None, description="test")


def test_eval_windows_know_their_documents():
    # windows of 3: [1 2 9] [3 4 5] [6 9 7] [8 9 1]; eos 9 ends documents 0, 1 and 2
    corpus = _corpus([1, 2, 9, 3, 4, 5, 6, 9, 7, 8, 9, 1], eos_id=9)
    assert corpus.eval_documents(2, 8).tolist() == [0, 1, 1, 2]
    assert _corpus([1, 2, 9, 3, 4, 5], eos_id=None).eval_documents(2, 4).tolist() == [0, 1]


class _Stop(Exception):
    pass


def test_wall_time_and_tokens_per_s_cover_the_whole_run_after_resume(sweep_file, tmp_path):
    [spec] = expand(load_sweep(sweep_file({"training": {"checkpoint_interval": 8}})), cuda=False)
    run_dir = tmp_path / "tiny" / spec.run_id
    steps = {"n": 0}

    def stop_after_ten():
        steps["n"] += 1
        if steps["n"] == 10:
            raise _Stop

    with pytest.raises(_Stop):
        train(spec, run_dir, TrainOptions(progress=False, heartbeat=stop_after_ten))
    checkpoint = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert checkpoint["loop"]["step"] == 8 and checkpoint["loop"]["elapsed_s"] > 0
    checkpoint["loop"]["elapsed_s"] = 1000.0  # pretend the first part took 1000 s
    torch.save(checkpoint, run_dir / "checkpoint.pt")
    result = train(spec, run_dir, TrainOptions(progress=False))
    assert result["resumed_from_step"] == 8
    assert 1000 < result["wall_time_s"] < 1100
    assert result["tokens_per_s"] == pytest.approx(spec.tokens / result["wall_time_s"])


def test_window_documents_of_any_rows_match_a_full_scan(monkeypatch):
    import harness.data.corpus as corpus_module

    rng = np.random.default_rng(0)
    ids = rng.integers(0, 8, size=5000).astype(np.uint16)          # eos = 7: about one token in eight
    corpus = _corpus(ids, eos_id=7)
    width = 4
    rows = np.sort(rng.choice(len(ids) // width, size=200, replace=False))
    ends = ids == 7
    expected = (np.cumsum(ends) - ends)[rows * width]               # eos ids before each window's first token
    monkeypatch.setattr(corpus_module, "EOS_SCAN_CHUNK", 97)          # chunk edges inside windows and documents
    assert corpus.window_documents("train", width - 1, rows).tolist() == expected.tolist()
    assert _corpus(ids, eos_id=None).window_documents("train", 3, rows).tolist() == rows.tolist()


def _two_kinds_of_documents(folder, n: int = 48, size: int = 1500) -> None:
    """Long documents, half trivially predictable ('ab' repeated) and half random letters: windows of one document
    share its difficulty, so per-window losses correlate within documents and the clustered SE must be larger."""
    rng = np.random.default_rng(1)
    folder.mkdir()
    for i in range(n):
        text = "ab" * (size // 2) if i % 2 else "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), size=size))
        (folder / f"doc{i:02d}.txt").write_text(text)


def test_train_eval_se_is_clustered_by_document(sweep_file, tmp_path, monkeypatch):
    import harness.train as train_module

    _two_kinds_of_documents(tmp_path / "corpus")
    sweep = load_sweep(sweep_file({"data": {"source": "text", "path": str(tmp_path / "corpus"), "tokenizer": "byte",
                                            "context_length": 32, "eval_tokens": 6144, "test_fraction": 0.25},
                                   "budgets": {"tokens": [8192]}, "training": {"train_eval": True}}))
    [spec] = expand(sweep, cuda=False)
    calls, real = [], train_module.evaluate

    def spy(model, windows, batch, device, documents=None, calibration=None):
        calls.append((documents, real(model, windows, batch, device, documents, calibration),
                      real(model, windows, batch, device)))
        return calls[-1][1]

    monkeypatch.setattr(train_module, "evaluate", spy)
    result = train(spec, tmp_path / "run", TrainOptions(progress=False))
    (test_docs, test, _), (train_docs, clustered, naive) = calls[-2], calls[-1]
    assert result["train_eval_loss_se"] == clustered[1] and result["loss_se"] == test[1]
    assert train_docs is not None and len(np.unique(train_docs)) < len(train_docs) / 4   # many windows per document
    assert clustered[0] == pytest.approx(naive[0])
    assert clustered[1] > 2 * naive[1]                     # ignoring the documents understates the SE
    assert test_docs is not None and 2 <= len(np.unique(test_docs)) < len(test_docs)   # test SE: clustered already
