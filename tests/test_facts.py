"""The Zipf-facts language: exact likelihood against brute-force enumeration, floors, ids, memory."""
import itertools
import math
import tracemalloc

import numpy as np
import pytest

from harness.config import DataConfig, SyntheticConfig
from harness.data.corpus import load_corpus
from harness.data.facts import FactsSource
from harness.data.synthetic import eval_set_floor, make_source, synthetic_splits

TINY = SyntheticConfig(kind="facts", vocab_size=3, fact_exponent=1.5, noise=0.2, seed=4)


def _generative_probability(cfg: SyntheticConfig, seq: tuple[int, ...]) -> float:
    """Joint probability of a window from the generative story, written out independently of FactsSource."""
    V = cfg.vocab_size
    rng = np.random.default_rng([cfg.seed, 7])
    weights = np.arange(1, V + 1, dtype=np.float64) ** -cfg.fact_exponent
    q = (weights / weights.sum())[rng.permutation(V)]
    facts = rng.integers(0, V, size=(V, V))
    p = 1.0
    for t, symbol in enumerate(seq):
        if t % 3 < 2:
            p *= q[symbol]
        else:
            p *= (1 - cfg.noise) * (symbol == facts[seq[t - 2], seq[t - 1]]) + cfg.noise / V
    return p


def _enumerate(cfg: SyntheticConfig, length: int) -> tuple[dict, dict]:
    """Joint probability of every window of ``length`` and the marginal of every prefix (summed joints)."""
    joint = {seq: _generative_probability(cfg, seq) for seq in itertools.product(range(cfg.vocab_size), repeat=length)}
    prefix: dict = {}
    for seq, p in joint.items():
        for t in range(length + 1):
            prefix[seq[:t]] = prefix.get(seq[:t], 0.0) + p
    return joint, prefix


def _brute_force_nll(prefix: dict, window: tuple[int, ...]) -> list[float]:
    """-log p(x_t | x_<t) as ratios of enumerated prefix marginals."""
    return [-math.log(prefix[window[:t + 1]] / prefix[window[:t]]) for t in range(1, len(window))]


@pytest.mark.parametrize("length", [4, 7])
def test_token_nll_matches_brute_force_enumeration(length):
    joint, prefix = _enumerate(TINY, length)
    assert sum(joint.values()) == pytest.approx(1.0)
    source = FactsSource(TINY)
    windows = source.sample(5, length, seed=1)
    expected = [_brute_force_nll(prefix, tuple(int(x) for x in w)) for w in windows]
    assert source.token_nll(windows) == pytest.approx(np.array(expected), rel=1e-9)
    assert eval_set_floor(source, windows)[0] == pytest.approx(np.mean(expected), rel=1e-9)


def test_expected_floor_is_the_enumerated_bayes_risk():
    joint, prefix = _enumerate(TINY, 7)
    risk = sum(p * np.mean(_brute_force_nll(prefix, seq)) for seq, p in joint.items())
    assert FactsSource(TINY).floor_nats(6) == pytest.approx(risk, rel=1e-9)


def test_sampled_likelihood_matches_the_expected_floor():
    source = FactsSource(SyntheticConfig(kind="facts", vocab_size=64, seed=2))
    per_window = source.token_nll(source.sample(20_000, 65, seed=3)).mean(axis=1)
    se = per_window.std(ddof=1) / math.sqrt(len(per_window))
    assert abs(per_window.mean() - source.floor_nats(64)) < 4 * se


def test_corpus_floor_is_the_eval_windows_bayes_loss(tmp_path):
    data = DataConfig(context_length=16, eval_tokens=640,
                      synthetic=SyntheticConfig(kind="facts", vocab_size=32, seed=1, train_tokens=4096))
    corpus = load_corpus(data, tmp_path)
    per_window = FactsSource(data.synthetic).token_nll(corpus.eval_sequences(16, 640)).mean(axis=1)
    assert corpus.floor_nats == pytest.approx(per_window.mean(), rel=1e-12)
    assert corpus.floor_expected_nats == pytest.approx(FactsSource(data.synthetic).floor_nats(16), rel=1e-12)
    assert "facts" in corpus.description


def test_facts_sampling_memory_does_not_grow_with_the_vocabulary():
    source = FactsSource(SyntheticConfig(kind="facts", vocab_size=4096, seed=0))
    tracemalloc.start()
    source.sample(20_000, 4, seed=0)  # n x V would be 20000 * 4096 * 8 B = 655 MB
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 10e6


def test_kind_selects_the_source_and_markov_identity_is_unchanged():
    markov = SyntheticConfig()
    assert "kind" not in markov.identity() and "noise" not in markov.identity()
    assert SyntheticConfig(kind="facts").identity()["kind"] == "facts"
    assert isinstance(make_source(SyntheticConfig(kind="facts", vocab_size=8)), FactsSource)
    splits = synthetic_splits(SyntheticConfig(kind="facts", vocab_size=8, train_tokens=2048), 8, 64)
    assert len(splits.test) == 8 * 9 and splits.floor.se > 0
