"""Train-eval under data.unique_tokens: the sample comes from the windows a capped run trains on (issue 13, item 3)."""
import json

import numpy as np
import pytest

import harness.train as train_module
from harness.config import load_sweep
from harness.curves import train_eval_sample
from harness.plan import expand
from harness.train import TrainOptions, train

QUIET = TrainOptions(progress=False)
# the tiny sweep (conftest): context 16, 4096 synthetic train windows of 17 tokens, 2048 eval tokens (128 windows)
EVAL_WINDOWS = 128


def _spec(sweep_file, overrides: dict, name: str = "sweep.yaml"):
    [spec] = expand(load_sweep(sweep_file(overrides, name=name)), cuda=False)
    return spec


def _rows(windows: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in np.asarray(windows, dtype=np.int64)}


@pytest.mark.parametrize("cap,expected", [(1024, 64), (4096, EVAL_WINDOWS)])  # 64 windows < the test set; 256 > it
def test_capped_train_eval_windows_are_trained_windows(sweep_file, tmp_path, monkeypatch, cap, expected):
    trained, contexts = [], []
    real_indices, real_setup = train_module.BatchOrder.indices, train_module._setup

    def indices(self, step, batch):
        trained.append(real_indices(self, step, batch))
        return trained[-1]

    def setup(*args, **kwargs):
        contexts.append(real_setup(*args, **kwargs))
        return contexts[-1]

    monkeypatch.setattr(train_module.BatchOrder, "indices", indices)
    monkeypatch.setattr(train_module, "_setup", setup)
    spec = _spec(sweep_file, {"data": {"unique_tokens": [cap]}, "training": {"train_eval": True}})
    result = train(spec, tmp_path / "run", QUIET)
    ctx = contexts[0][0]
    seen = _rows(ctx.train_windows[np.unique(np.concatenate(trained))])
    sample = _rows(ctx.train_eval_windows)
    assert len(sample) == expected == result["train_eval_windows"]
    assert sample <= seen  # every scored train window was trained on (the old draw over all 4096 windows: 2-6 % were)
    assert json.loads((tmp_path / "run" / "result.json").read_text())["train_eval_windows"] == expected


def test_one_train_eval_set_per_cap_whatever_the_seed(sweep_file, tmp_path):
    capped = [_spec(sweep_file, {"data": {"unique_tokens": [4096]}, "training": {"train_eval": True, "seeds": [s]}},
                    name=f"{s}.yaml") for s in (0, 1)]
    a, b = (train_module._setup(s, tmp_path / "results" / "tiny" / s.run_id, QUIET)[0] for s in capped)
    assert capped[0].run_id != capped[1].run_id
    assert np.array_equal(a.train_eval_windows, b.train_eval_windows)
    assert np.array_equal(a.train_eval_documents, b.train_eval_documents)


def test_uncapped_train_eval_sample_unchanged(sweep_file, tmp_path):
    spec = _spec(sweep_file, {"training": {"train_eval": True}})
    ctx = train_module._setup(spec, tmp_path / "results" / "tiny" / spec.run_id, QUIET)[0]
    before = train_eval_sample(len(ctx.train_windows), EVAL_WINDOWS, spec.data.split_seed)  # the pre-cap draw
    assert len(ctx.train_windows) == 4096 and np.array_equal(ctx.train_eval_windows, ctx.train_windows[before])
    assert before.max() > 1000  # drawn from the whole corpus, not a prefix


def test_capped_run_that_memorises_shows_train_loss_below_test_loss(sweep_file, tmp_path):
    # 512 unique tokens (32 windows) trained 32 epochs: measured train-eval 1.94 ± 0.04 vs test 2.51 ± 0.03 nats,
    # the train loss below the source's exact Bayes floor 2.167 (only memorised windows can beat it); the old
    # draw over the whole corpus scored 2.57 ± 0.03, above the test loss, and saw no over-fitting
    spec = _spec(sweep_file, {"data": {"unique_tokens": [512]}, "budgets": {"tokens": [16384]},
                              "training": {"train_eval": True}})
    result = train(spec, tmp_path / "run", QUIET)
    gap, se = result["loss"] - result["train_eval_loss"], np.hypot(result["loss_se"], result["train_eval_loss_se"])
    assert result["epochs"] == 32 and result["train_eval_windows"] == 32
    assert gap > 3 * se
    assert result["train_eval_loss"] < result["floor"] - 3 * result["train_eval_loss_se"]
    assert result["overfit"] is True and result["best_eval_step"] == 16
