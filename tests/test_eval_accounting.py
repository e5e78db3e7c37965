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
