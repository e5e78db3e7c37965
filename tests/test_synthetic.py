"""The synthetic language's analytic floor against its own log-likelihood on a large sample."""
import math

import numpy as np
import pytest

import hashlib
import itertools
import tracemalloc

from harness.config import DataConfig, SyntheticConfig
from harness.data.corpus import load_corpus
from harness.data.synthetic import MarkovSource, eval_set_floor, floors, synthetic_splits


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
    splits, again = synthetic_splits(cfg, 16, 512), synthetic_splits(cfg, 16, 512)
    train, test = splits.train, splits.test
    assert np.array_equal(train, again.train) and np.array_equal(test, again.test)
    assert len(test) == 32 * 17 and len(train) % 17 == 0 and len(train) >= 4096
    assert not np.array_equal(train[: len(test)], test)
    assert splits.floor.expected == MarkovSource(cfg).floor_nats(16)


def test_sampling_is_unchanged_by_the_memory_bound():
    # sha256 of this draw before sampling was chunked (one n x V gather per step)
    source = MarkovSource(SyntheticConfig(vocab_size=64, order=2, seed=0))
    draw = source.sample(300, 65, seed=[0, 2])
    assert hashlib.sha256(draw.tobytes()).hexdigest()[:16] == "9606bfd2cecb8fd4"


def test_sampling_memory_is_bounded_in_documents_times_vocabulary():
    source = MarkovSource(SyntheticConfig(vocab_size=1024, order=1, seed=0))
    tracemalloc.start()
    source.sample(16_000, 4, seed=0)  # an n x V gather per step would be 16000 * 1024 * 8 B = 131 MB
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 30e6


def test_eval_set_floor_is_the_sources_likelihood_of_the_eval_windows(tmp_path):
    data = DataConfig(context_length=16, eval_tokens=640,
                      synthetic=SyntheticConfig(vocab_size=16, order=2, seed=1, train_tokens=4096))
    corpus = load_corpus(data, tmp_path)
    windows = corpus.eval_sequences(16, 640).astype(np.int64)
    per_window = MarkovSource(data.synthetic).token_nll(windows).mean(axis=1)
    assert corpus.floor_nats == pytest.approx(per_window.mean(), rel=1e-12)
    assert corpus.floor_se_nats == pytest.approx(per_window.std(ddof=1) / math.sqrt(40), rel=1e-12)
    assert corpus.floor_expected_nats == pytest.approx(MarkovSource(data.synthetic).floor_nats(16), rel=1e-12)
    assert corpus.floor_nats != corpus.floor_expected_nats


def _brute_force_nll(source: MarkovSource, sequence: tuple[int, ...]) -> list[float]:
    """-log p(x_t | x_<t) from the joint probabilities of every sequence of the same length, enumerated."""
    V, k, length = source.vocab_size, source.order, len(sequence)
    joint = {}
    for seq in itertools.product(range(V), repeat=length):
        state = 0
        for symbol in seq[:k]:
            state = state * V + symbol
        p = source.stationary[state]
        for symbol in seq[k:]:
            p *= source.transition[state, symbol]
            state = (state % V ** (k - 1)) * V + symbol
        joint[seq] = p
    prefix = lambda t: sum(p for seq, p in joint.items() if seq[:t] == sequence[:t])
    return [-math.log(prefix(t + 1) / prefix(t)) for t in range(1, length)]


@pytest.mark.parametrize("vocab,order,length", [(3, 2, 5), (2, 3, 6), (4, 1, 4)])
def test_token_nll_matches_brute_force_enumeration(vocab, order, length):
    source = MarkovSource(SyntheticConfig(vocab_size=vocab, order=order, seed=5, zipf_exponent=0.7))
    windows = source.sample(6, length, seed=2)
    for window in windows:
        assert source.token_nll(window[None, :])[0] == pytest.approx(_brute_force_nll(source, tuple(window)), rel=1e-9)
    floor, se = eval_set_floor(source, windows)
    assert floor == pytest.approx(np.mean([_brute_force_nll(source, tuple(w)) for w in windows]), rel=1e-9)


def test_floors_without_the_train_split_match_the_splits():
    cfg = SyntheticConfig(vocab_size=16, order=2, train_tokens=4096)
    assert floors(cfg, 16, 512) == synthetic_splits(cfg, 16, 512).floor
