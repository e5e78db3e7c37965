"""The synthetic language's analytic floor against its own log-likelihood on a large sample."""
import math

import numpy as np
import pytest

from harness.config import SyntheticConfig
from harness.data.synthetic import MarkovSource, synthetic_splits


@pytest.mark.parametrize("vocab,order,ctx", [(64, 2, 64), (16, 3, 8), (32, 1, 16), (8, 4, 3)])
def test_floor_matches_sampled_likelihood(vocab, order, ctx):
    source = MarkovSource(SyntheticConfig(vocab_size=vocab, order=order, seed=3))
    nll = source.token_nll(source.sample(40_000, ctx + 1, seed=11))
    per_seq = nll.mean(axis=1)
    se = per_seq.std(ddof=1) / math.sqrt(len(per_seq))
    assert abs(per_seq.mean() - source.floor_nats(ctx)) < 4 * se
    assert se < 0.01


def test_short_context_positions_cost_more_than_the_entropy_rate():
    source = MarkovSource(SyntheticConfig(vocab_size=32, order=3))
    assert source.floor_nats(4) > source.floor_nats(64) > source.entropy_rate
    assert source.floor_nats(10_000) == pytest.approx(source.entropy_rate, rel=1e-3)
    # the first target has only one symbol of context: cost H(X1|X0) from the stationary bigram marginal
    unigram, bigram = source.block_probabilities(1), source.block_probabilities(2)
    h = lambda p: float(-(p * np.log(p)).sum())
    assert source.floor_nats(1) == pytest.approx(h(bigram) - h(unigram))


def test_stationary_distribution_is_stationary():
    source = MarkovSource(SyntheticConfig(vocab_size=16, order=2))
    sample = source.sample(50_000, 2, seed=0)
    empirical = np.bincount(sample[:, 0] * 16 + sample[:, 1], minlength=256) / len(sample)
    assert np.abs(empirical - source.stationary).max() < 0.01
    assert source.stationary.sum() == pytest.approx(1.0)


def test_splits_are_deterministic_and_windowed():
    cfg = SyntheticConfig(vocab_size=16, order=2, train_tokens=4096)
    train, test, floor = synthetic_splits(cfg, 16, 512)
    again, test2, _ = synthetic_splits(cfg, 16, 512)
    assert np.array_equal(train, again) and np.array_equal(test, test2)
    assert len(test) == 32 * 17 and len(train) % 17 == 0 and len(train) >= 4096
    assert not np.array_equal(train[: len(test)], test)
    assert floor == MarkovSource(cfg).floor_nats(16)
