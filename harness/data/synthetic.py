"""A generated language with an exactly known loss floor: a seeded order-k Markov source.

Each context (the k previous symbols) has its own next-symbol distribution: Zipf weights
p_i ∝ (i+1)^-s over V symbols in a random order per context, times a global skew (y+1)^-t that makes
some symbols (and so some contexts) rare, mixed with weight ``backoff`` with a bigram row of the same
kind (so the previous symbol alone already tells something, as in natural text). Frequent contexts are learned first and rare ones last, so
loss falls smoothly with model size and data. Every document starts from the stationary distribution
of k-grams, so a document is a stationary stretch of the chain.

Two floors (nats/token), both exact: the *expected* floor is the Bayes risk of next-token prediction
for a fresh window of ``context_length`` targets (targets 1..k-1 see fewer than k symbols of context,
their loss is a block-entropy difference of the stationary k-gram distribution, the rest cost the
entropy rate h = Σ_s π_s H(P_s)); the *eval-set* floor is the Bayes loss of the actual test windows the
runs are scored on, mean true -log p(x_t | x_<t) over their targets (:func:`eval_set_floor`), with its
standard error across windows. Runs are compared with the eval-set floor: it and the test loss share
the same sampling noise, which the expected floor does not.

Sampling draws the same symbols as a one-shot inverse-CDF over all documents, but gathers the
cumulative rows for at most ``SAMPLE_CHUNK_ELEMENTS // V`` documents at a time, so its memory stays
bounded (a few MB) at any vocabulary size and document count.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from harness.config import SyntheticConfig
from harness.data.facts import FactsSource

_STATIONARY_TOL = 1e-14
_STATIONARY_MAX_ITERS = 20_000
SAMPLE_CHUNK_ELEMENTS = 1 << 20


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
        self.cumulative = np.cumsum(self.transition, axis=1)

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
        for t in range(self.order, length):
            symbol = self._inverse_cdf(state, rng.random(n_sequences))
            out[:, t] = symbol
            state = self._next_state(state, symbol)
        return out

    def _inverse_cdf(self, state: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Next symbols for uniforms ``u`` in rows ``state``: count of cumulative entries below u, in chunks."""
        symbol = np.empty(len(state), dtype=np.int64)
        step = max(1, SAMPLE_CHUNK_ELEMENTS // self.vocab_size)
        for lo in range(0, len(state), step):
            rows = self.cumulative[state[lo:lo + step]]
            symbol[lo:lo + step] = (rows < u[lo:lo + step, None]).sum(axis=1)
        return np.minimum(symbol, self.vocab_size - 1)

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



class Source(Protocol):
    """What a synthetic language provides: sampling, exact per-token likelihood, the expected floor."""

    def sample(self, n_sequences: int, length: int, seed) -> np.ndarray: ...

    def token_nll(self, sequences: np.ndarray) -> np.ndarray: ...

    def floor_nats(self, context_length: int) -> float: ...


@dataclass(frozen=True)
class Floor:
    """Exact Bayes loss (nats/token): of the eval windows (``nats``, ``se`` across windows) and expected."""

    nats: float
    se: float
    expected: float


@dataclass(frozen=True)
class SyntheticSplits:
    """The generated train and test token streams and the exact floor of the test (eval) windows."""

    train: np.ndarray
    test: np.ndarray
    floor: Floor


def eval_set_floor(source: Source, windows: np.ndarray) -> tuple[float, float]:
    """Mean exact -log p over the targets of ``windows`` [n, context+1] and its SE across windows."""
    per_window = source.token_nll(np.asarray(windows, dtype=np.int64)).mean(axis=1)
    se = float(per_window.std(ddof=1) / math.sqrt(len(per_window))) if len(per_window) > 1 else float("nan")
    return float(per_window.mean()), se


def make_source(cfg: SyntheticConfig) -> Source:
    """The synthetic language of ``cfg``: the Markov chain, or the Zipf facts (harness.data.facts)."""
    if cfg.kind == "facts":
        return FactsSource(cfg)
    return MarkovSource(cfg)


def eval_windows(source: Source, cfg: SyntheticConfig, context_length: int, eval_tokens: int) -> np.ndarray:
    """The test split, which is the eval set: ``ceil(eval_tokens / context_length)`` windows of context+1."""
    return source.sample(-(-eval_tokens // context_length), context_length + 1, seed=[cfg.seed, 2])


def floors(cfg: SyntheticConfig, context_length: int, eval_tokens: int) -> Floor:
    """The exact floors of the eval set a sweep with these data settings scores its runs on."""
    source = make_source(cfg)
    nats, se = eval_set_floor(source, eval_windows(source, cfg, context_length, eval_tokens))
    return Floor(nats, se, source.floor_nats(context_length))


def synthetic_splits(cfg: SyntheticConfig, context_length: int, eval_tokens: int) -> SyntheticSplits:
    """Train and test token streams (back-to-back documents of context_length+1) and the exact floors.

    Train and test documents are independent draws (different seeds of the same language), so the
    test split is disjoint from training by construction and identical for every run of a sweep. The
    test split is exactly the eval set (``ceil(eval_tokens / context_length)`` windows), so its floor
    is the eval-set floor.
    """
    source = make_source(cfg)
    window = context_length + 1
    n_train = -(-cfg.train_tokens // context_length)
    dtype = np.uint16 if cfg.vocab_size <= 65535 else np.uint32
    test = eval_windows(source, cfg, context_length, eval_tokens)
    train = np.concatenate([
        source.sample(len(chunk), window, seed=[cfg.seed, 1, i]).astype(dtype).ravel()
        for i, chunk in enumerate(np.array_split(np.arange(n_train), max(1, n_train // 50_000)))
    ])
    nats, se = eval_set_floor(source, test)
    return SyntheticSplits(train, test.astype(dtype).ravel(), Floor(nats, se, source.floor_nats(context_length)))
