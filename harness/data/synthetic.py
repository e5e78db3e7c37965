"""A generated language with an exactly known loss floor: a seeded order-k Markov source.

Each context (the k previous symbols) has its own next-symbol distribution: Zipf weights
p_i ∝ (i+1)^-s over V symbols in a random order per context, times a global skew (y+1)^-t that makes
some symbols (and so some contexts) rare, mixed with weight ``backoff`` with a bigram row of the same
kind (so the previous symbol alone already tells something, as in natural text). Frequent contexts are learned first and rare ones last, so
loss falls smoothly with model size and data. Every document starts from the stationary distribution
of k-grams, so a document is a stationary stretch of the chain.

The floor is the Bayes risk of next-token prediction for a window of ``context_length`` targets:
targets 1..k-1 see fewer than k symbols of context (their loss is a block-entropy difference of the
stationary k-gram distribution), the rest cost the entropy rate h = Σ_s π_s H(P_s).
"""
from __future__ import annotations

import numpy as np

from harness.config import SyntheticConfig

_STATIONARY_TOL = 1e-14
_STATIONARY_MAX_ITERS = 20_000


def _entropy(p: np.ndarray) -> float:
    """Shannon entropy in nats of a probability vector (zeros ignored)."""
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


class MarkovSource:
    """The order-k Markov language of a SyntheticConfig: sampling, exact likelihood and exact floor."""

    def __init__(self, cfg: SyntheticConfig):
        self.vocab_size, self.order = cfg.vocab_size, cfg.order
        self.n_states = cfg.vocab_size ** cfg.order
        rng = np.random.default_rng([cfg.seed, 0])
        rows = self._zipf_rows(rng, self.n_states, cfg)
        if cfg.order > 1 and cfg.backoff > 0:
            bigram = self._zipf_rows(rng, cfg.vocab_size, cfg)
            rows = cfg.backoff * bigram[np.arange(self.n_states) % cfg.vocab_size] + (1 - cfg.backoff) * rows
        self.transition = rows
        self.stationary = self._stationary_distribution()
        row_entropy = -(self.transition * np.log(self.transition)).sum(axis=1)
        self.entropy_rate = float(self.stationary @ row_entropy)

    @staticmethod
    def _zipf_rows(rng: np.random.Generator, n_rows: int, cfg: SyntheticConfig) -> np.ndarray:
        """Rows of Zipf weights in a random order each, times the global skew, normalised."""
        weights = np.arange(1, cfg.vocab_size + 1, dtype=np.float64) ** -cfg.zipf_exponent
        orders = np.argsort(rng.random((n_rows, cfg.vocab_size)), axis=1)
        rows = weights[np.argsort(orders, axis=1)] * np.arange(1.0, cfg.vocab_size + 1) ** -cfg.unigram_exponent
        return rows / rows.sum(axis=1, keepdims=True)

    def _next_state(self, state: np.ndarray, symbol: np.ndarray) -> np.ndarray:
        return (state % (self.n_states // self.vocab_size)) * self.vocab_size + symbol

    def _stationary_distribution(self) -> np.ndarray:
        """Stationary distribution over k-gram states, by power iteration on the (sparse) chain."""
        pi = np.full(self.n_states, 1.0 / self.n_states)
        states = np.arange(self.n_states)[:, None]
        targets = self._next_state(states, np.arange(self.vocab_size)[None, :]).ravel()
        for _ in range(_STATIONARY_MAX_ITERS):
            new = np.bincount(targets, (pi[:, None] * self.transition).ravel(), minlength=self.n_states)
            if np.abs(new - pi).sum() < _STATIONARY_TOL:
                return new / new.sum()
            pi = new
        raise RuntimeError("synthetic source: stationary distribution did not converge")

    def block_probabilities(self, length: int) -> np.ndarray:
        """Stationary probabilities of the first ``length`` ≤ k symbols, indexed like a base-V number."""
        return self.stationary.reshape(self.vocab_size ** length, -1).sum(axis=1)

    def floor_nats(self, context_length: int) -> float:
        """Exact minimum expected loss (nats/token) over targets 1..context_length of a fresh window."""
        k = min(self.order, context_length + 1)
        short = _entropy(self.block_probabilities(k)) - _entropy(self.block_probabilities(1))
        return (short + (context_length - k + 1) * self.entropy_rate) / context_length

    def sample(self, n_sequences: int, length: int, seed) -> np.ndarray:
        """Draw ``n_sequences`` stationary documents of ``length`` symbols each (int64 array)."""
        rng = np.random.default_rng(seed)
        out = np.empty((n_sequences, length), dtype=np.int64)
        state = rng.choice(self.n_states, size=n_sequences, p=self.stationary)
        digits = [(state // self.vocab_size ** (self.order - 1 - i)) % self.vocab_size for i in range(self.order)]
        head = min(self.order, length)
        out[:, :head] = np.stack(digits, axis=1)[:, :head]
        cumulative = np.cumsum(self.transition, axis=1)
        for t in range(self.order, length):
            u = rng.random(n_sequences)[:, None]
            symbol = np.minimum((cumulative[state] < u).sum(axis=1), self.vocab_size - 1)
            out[:, t] = symbol
            state = self._next_state(state, symbol)
        return out

    def token_nll(self, sequences: np.ndarray) -> np.ndarray:
        """Exact -log p(x_t | x_<t) for targets t = 1..length-1 of each sequence, shape [n, length-1]."""
        n, length = sequences.shape
        nll = np.empty((n, length - 1))
        block_index = np.zeros(n, dtype=np.int64)
        prev_prob = None
        for t in range(min(self.order, length)):
            block_index = block_index * self.vocab_size + sequences[:, t]
            prob = self.block_probabilities(t + 1)[block_index]
            if t > 0:
                nll[:, t - 1] = -np.log(prob / prev_prob)
            prev_prob = prob
        for t in range(self.order, length):
            nll[:, t - 1] = -np.log(self.transition[block_index, sequences[:, t]])
            block_index = self._next_state(block_index, sequences[:, t])
        return nll


    def next_token_distributions(self, sequences: np.ndarray):
        """Yield (t, q) for targets t = 1..length-1 of stationary documents: q [n, V] is the true
        p(x_t = · | x_<t) of each sequence (from the k-gram marginals before t = k, the chain after)."""
        n, length = sequences.shape
        block_index = np.zeros(n, dtype=np.int64)
        symbols = np.arange(self.vocab_size)
        for t in range(1, min(self.order, length)):
            block_index = block_index * self.vocab_size + sequences[:, t - 1]
            joint = self.block_probabilities(t + 1)[block_index[:, None] * self.vocab_size + symbols[None, :]]
            yield t, joint / joint.sum(axis=1, keepdims=True)
        if length > self.order:
            block_index = block_index * self.vocab_size + sequences[:, self.order - 1]
        for t in range(self.order, length):
            yield t, self.transition[block_index]
            block_index = self._next_state(block_index, sequences[:, t])


def synthetic_splits(cfg: SyntheticConfig, context_length: int, eval_tokens: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Train and test token streams (back-to-back documents of context_length+1) and the exact floor.

    Train and test documents are independent draws (different seeds of the same language), so the
    test split is disjoint from training by construction and identical for every run of a sweep.
    """
    source = MarkovSource(cfg)
    window = context_length + 1
    n_test = -(-eval_tokens // context_length)
    n_train = -(-cfg.train_tokens // context_length)
    dtype = np.uint16 if cfg.vocab_size <= 65535 else np.uint32
    test = source.sample(n_test, window, seed=[cfg.seed, 2]).astype(dtype).ravel()
    train = np.concatenate([
        source.sample(len(chunk), window, seed=[cfg.seed, 1, i]).astype(dtype).ravel()
        for i, chunk in enumerate(np.array_split(np.arange(n_train), max(1, n_train // 50_000)))
    ])
    return train, test, source.floor_nats(context_length)
