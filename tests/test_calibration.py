"""Calibration metrics (harness.calibration): hand-computed Brier, decomposition and ECE; the Bayes-optimal model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from harness import calibration
from harness.calibration import CalibrationAccumulator, bayes_brier, source_bayes_brier
from harness.config import SyntheticConfig
from harness.data.synthetic import MarkovSource


def _summary(probs, targets, **kw):
    acc = CalibrationAccumulator(**kw)
    logits = torch.log(torch.tensor(probs, dtype=torch.float64))[None]
    acc.add(logits, torch.tensor(targets)[None])
    return acc.summary()


def test_hand_computed_constant_bins():
    # forecasts constant inside each bin: the Murphy identity holds exactly (worked by hand in the docstring terms)
    s = _summary([[0.9, 0.1], [0.9, 0.1], [0.3, 0.7], [0.3, 0.7]], [0, 1, 1, 1])
    assert s["brier"] == pytest.approx((0.02 + 1.62 + 0.18 + 0.18) / 4)  # 0.5
    assert s["brier_reliability"] == pytest.approx(0.25)  # (2·0.4² + 2·0.3²) per class, two classes, / 4
    assert s["brier_resolution"] == pytest.approx(0.125)  # 4 bins × 2·0.25² / 4
    assert s["brier_uncertainty"] == pytest.approx(0.375)  # 2 · 0.25 · 0.75
    assert s["brier_within_bin"] == pytest.approx(0.0, abs=1e-12)
    assert s["ece"] == pytest.approx(0.5 * 0.4 + 0.5 * 0.3)  # Guo et al.: Σ n_b/n |acc_b − conf_b|


def test_hand_computed_within_bin_terms():
    # 0.61 and 0.65 share bin 9 of 15 (0.35, 0.39 share bin 5): binning makes the identity approximate
    s = _summary([[0.61, 0.39], [0.65, 0.35]], [0, 1])
    assert s["brier"] == pytest.approx((2 * 0.39 ** 2 + 2 * 0.65 ** 2) / 2)  # 0.5746
    assert s["brier_reliability"] == pytest.approx(0.0338)  # 2 classes · 2·0.13² / 2
    assert s["brier_resolution"] == pytest.approx(0.0, abs=1e-12)
    assert s["brier_uncertainty"] == pytest.approx(0.5)
    three_terms = s["brier_reliability"] - s["brier_resolution"] + s["brier_uncertainty"]
    assert three_terms == pytest.approx(0.5338)  # ≈ brier, off by the within-bin terms …
    assert s["brier_within_bin"] == pytest.approx(0.0008 + 2 * 0.02)  # … WBV − 2·WBC (Stephenson et al. 2008)
    assert three_terms + s["brier_within_bin"] == pytest.approx(s["brier"])


def test_bayes_brier_hand_computed():
    out = bayes_brier([(np.array([[0.5, 0.5], [0.8, 0.2]]), np.array([0, 1]))])
    assert out["brier_bayes"] == pytest.approx((0.5 + 1.28) / 2)
    assert out["brier_bayes_expected"] == pytest.approx((0.5 + 0.32) / 2)


@pytest.fixture(scope="module")
def source_and_windows():
    cfg = SyntheticConfig(vocab_size=16, order=2, zipf_exponent=1.1, unigram_exponent=1.0, backoff=0.5, seed=0,
                          train_tokens=4096)
    source = MarkovSource(cfg)
    return source, source.sample(400, 33, seed=5)


def test_true_distributions_match_exact_scorer(source_and_windows):
    source, windows = source_and_windows
    q = dict(source.next_token_distributions(windows))
    assert sorted(q) == list(range(1, 33))
    assert np.allclose(np.stack([q[t].sum(axis=1) for t in q]), 1.0)
    nll = np.stack([-np.log(q[t][np.arange(len(windows)), windows[:, t]]) for t in range(1, 33)], axis=1)
    np.testing.assert_allclose(nll, source.token_nll(windows), rtol=1e-12)


def _model_summary(logits, windows, chunk=None, monkeypatch=None):
    if chunk:
        monkeypatch.setattr(calibration, "_CHUNK_ELEMENTS", chunk)
    acc = CalibrationAccumulator()
    targets = torch.from_numpy(windows[:, 1:])
    for start in range(0, len(windows), 128):  # several eval batches
        acc.add(logits[start:start + 128], targets[start:start + 128])
    return acc.summary()


def test_true_distribution_model_is_calibrated(source_and_windows, monkeypatch):
    source, windows = source_and_windows
    q = dict(source.next_token_distributions(windows))
    logits = torch.log(torch.from_numpy(np.stack([q[t] for t in range(1, 33)], axis=1)))
    s = _model_summary(logits, windows)
    floor = source_bayes_brier(source, windows)
    assert s["brier"] == pytest.approx(floor["brier_bayes"], abs=1e-12)
    assert abs(s["brier"] - floor["brier_bayes_expected"]) < 3 * s["brier_se"]
    assert s["brier_reliability"] < 2e-3 and s["ece"] < 0.03
    identity = s["brier_reliability"] - s["brier_resolution"] + s["brier_uncertainty"] + s["brier_within_bin"]
    assert identity == pytest.approx(s["brier"], abs=1e-12)
    overconfident = _model_summary(3 * logits, windows)
    assert overconfident["brier_reliability"] > 10 * s["brier_reliability"]
    assert overconfident["ece"] > 3 * s["ece"]
    assert overconfident["brier_uncertainty"] == pytest.approx(s["brier_uncertainty"])  # the targets' alone
    chunked = _model_summary(logits, windows, chunk=100, monkeypatch=monkeypatch)
    for key in s:
        assert chunked[key] == pytest.approx(s[key], rel=1e-9, abs=1e-12)
