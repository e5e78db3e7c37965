"""A ground-truth language that scales: Zipf-distributed facts, each a two-symbol key and its value.

A document is a run of triples ``a b v``. The keys ``a`` and ``b`` are independent draws from a Zipf
distribution over the V symbols, q(y) ∝ (rank(y)+1)^-s in a seeded random order; the value is the
fact of that key, ``v = F[a, b]`` (a seeded random table of V² facts), except with probability
``noise``, when it is a uniform symbol. Windows start at a triple, so a position's role (a, b or v)
is its index mod 3.

Why it scales: to predict a value a model must have memorised the fact of its key pair; the V² facts
are used with Zipf-like frequencies q(a)q(b), so memorising the next fact pays less and less (the
quantization model of Michaud et al. 2023) and a fact is only learnable once it has been seen often
enough (Hutter 2021: a Zipf law of facts gives loss ~ D^-β). Both capacity (N) and data (D) keep
paying off by a power law until most of the probability mass of the facts is learned.

Why the floor is exact: given its prefix, a target's true probability is q(a) or q(b) for a key, and
(1 - noise)·[v = F[a, b]] + noise/V for a value; :meth:`FactsSource.token_nll` is exactly that.
"""
from __future__ import annotations

import numpy as np

from harness.config import SyntheticConfig

ROLES = 3  # a, b, v


class FactsSource:
    """The Zipf-facts language of a SyntheticConfig (kind 'facts'): sampling and exact likelihood."""

    def __init__(self, cfg: SyntheticConfig):
        self.vocab_size, self.noise = cfg.vocab_size, cfg.noise
        rng = np.random.default_rng([cfg.seed, 7])
        weights = np.arange(1, cfg.vocab_size + 1, dtype=np.float64) ** -cfg.fact_exponent
        self.key_probs = (weights / weights.sum())[rng.permutation(cfg.vocab_size)]
        self.facts = rng.integers(0, cfg.vocab_size, size=(cfg.vocab_size, cfg.vocab_size))
        self.key_cumulative = np.cumsum(self.key_probs)

    def _value_probability(self, hit: np.ndarray) -> np.ndarray:
        """True probability of a value symbol: (1 - noise)·[it is the fact] + noise/V."""
        return (1 - self.noise) * hit + self.noise / self.vocab_size

    def role_entropies(self) -> np.ndarray:
        """Entropy (nats) of a target in each role: H(q) for the keys a and b, the noise entropy for v."""
        key = float(-(self.key_probs * np.log(self.key_probs)).sum())
        hit, miss = self._value_probability(1.0), self._value_probability(0.0)
        value = -hit * np.log(hit) - (self.vocab_size - 1) * miss * np.log(miss) if self.noise > 0 else 0.0
        return np.array([key, key, value])

    def floor_nats(self, context_length: int) -> float:
        """Exact expected Bayes loss (nats/token) over targets 1..context_length of a window."""
        roles = np.arange(1, context_length + 1) % ROLES
        return float(self.role_entropies()[roles].mean())

    def sample(self, n_sequences: int, length: int, seed) -> np.ndarray:
        """Draw ``n_sequences`` documents of ``length`` symbols, each starting at a triple (int64 array)."""
        rng = np.random.default_rng(seed)
        n_triples = -(-length // ROLES)
        keys = np.searchsorted(self.key_cumulative, rng.random((n_sequences, n_triples, 2)), side="right")
        keys = np.minimum(keys, self.vocab_size - 1)
        values = self.facts[keys[..., 0], keys[..., 1]]
        noisy = rng.random((n_sequences, n_triples)) < self.noise
        values = np.where(noisy, rng.integers(0, self.vocab_size, size=(n_sequences, n_triples)), values)
        out = np.concatenate([keys, values[..., None]], axis=2).reshape(n_sequences, n_triples * ROLES)
        return out[:, :length].astype(np.int64)

    def token_nll(self, sequences: np.ndarray) -> np.ndarray:
        """Exact -log p(x_t | x_<t) for targets t = 1..length-1 of each sequence, shape [n, length-1]."""
        seq = np.asarray(sequences, dtype=np.int64)
        prob = self.key_probs[seq].astype(np.float64)
        v = np.arange(ROLES - 1, seq.shape[1], ROLES)
        prob[:, v] = self._value_probability(seq[:, v] == self.facts[seq[:, v - 2], seq[:, v - 1]])
        return -np.log(prob[:, 1:])
