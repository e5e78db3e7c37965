"""Calibration of next-token predictions: Brier score, its decomposition, expected calibration error.

Multi-class Brier score per token: BS = Σ_k (p_k − y_k)², y the one-hot target, averaged over tokens
(Brier 1950; 0 is perfect, 2 the worst; a uniform guess over V classes scores 1 − 1/V).

Decomposition (recorded as ``brier_reliability``, ``brier_resolution``, ``brier_uncertainty``): the
multi-class Brier score is the sum over classes k of the binary Brier scores of the events "next token
is k"; each is decomposed with Murphy's partition (Murphy 1973, "A new vector partition of the
probability score", J. Appl. Meteor. 12) after binning the forecast p_k into ``BINS`` equal-width bins
on [0, 1], and the terms are summed over classes ("class-wise" decomposition):

  REL = (1/n) Σ_k Σ_b n_kb (p̄_kb − ō_kb)²     reliability: calibration error, 0 when calibrated
  RES = (1/n) Σ_k Σ_b n_kb (ō_kb − ȳ_k)²      resolution: how far the outcomes in a bin move from the base rate
  UNC = Σ_k ȳ_k (1 − ȳ_k) = 1 − Σ_k ȳ_k²      uncertainty of the targets alone (Murphy's multi-class term)

with n_kb tokens whose p_k falls in bin b, p̄_kb their mean forecast, ō_kb the fraction that were k and
ȳ_k the frequency of k. Because the forecasts are binned, BS = REL − RES + UNC holds only
approximately; the exact identity adds the within-bin variance and covariance of Stephenson, Coelho &
Jolliffe 2008 ("Two extra components in the Brier score decomposition", Wea. Forecasting 23):

  BS = REL − RES + UNC + WBV − 2·WBC,  WBV = (1/n) Σ (p − p̄_kb)²,  WBC = (1/n) Σ (p − p̄_kb)(y − ō_kb)

recorded as ``brier_within_bin`` = WBV − 2·WBC (small when bins are fine). The uncertainty term is the
part no model can remove; the Bayes-optimal Brier of the synthetic source (``bayes_brier``) is the floor
of the Brier score itself.

Expected calibration error (``ece``): the top-1 confidence max_k p_k in ``BINS`` equal-width bins,
ECE = Σ_b (n_b/n) |acc_b − conf_b| (Guo, Pleiss, Sun & Weinberger 2017, "On calibration of modern neural
networks", with their 15 bins).

This module imports no torch: the accumulator uses the methods of the tensors it is given.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

import numpy as np

BINS = 15  # equal-width bins on [0, 1], for both the decomposition and the ECE (Guo et al. 2017)
_CHUNK_ELEMENTS = 1 << 22  # probabilities handled at once when binning (bounds the memory of a pass)

CALIBRATION_KEYS = ["brier", "brier_se", "brier_reliability", "brier_resolution", "brier_uncertainty",
                    "brier_within_bin", "ece", "brier_bayes", "brier_bayes_expected"]


@dataclass(frozen=True)
class BinSums:
    """Per-bin sums of forecasts p and binary outcomes y over n tokens (arrays of one shape, any layout)."""

    count: np.ndarray  # tokens in the bin
    p: np.ndarray  # Σ p
    y: np.ndarray  # Σ y
    p2: np.ndarray  # Σ p²
    py: np.ndarray  # Σ p·y


def decompose(sums: BinSums, n: int) -> dict[str, float]:
    """Murphy's reliability, resolution, uncertainty and the within-bin term from bin sums over ``n`` tokens.

    ``sums`` arrays have shape [K, B] (class, bin); a binary event is K = 1. See the module docstring
    (Murphy 1973; Stephenson et al. 2008): brier = reliability − resolution + uncertainty + within_bin.
    """
    count, filled = sums.count, sums.count > 0
    safe = np.where(filled, count, 1.0)
    p_bar, o_bar = sums.p / safe, sums.y / safe
    base = sums.y.sum(axis=-1, keepdims=True) / n
    rel = (count * (p_bar - o_bar) ** 2)[filled].sum() / n
    res = (count * (o_bar - base) ** 2)[filled].sum() / n
    unc = float((base * (1 - base)).sum())
    wbv = (sums.p2 - count * p_bar ** 2)[filled].sum() / n
    wbc = (sums.py - count * p_bar * o_bar)[filled].sum() / n
    return {"brier_reliability": float(rel), "brier_resolution": float(res), "brier_uncertainty": unc,
            "brier_within_bin": float(wbv - 2 * wbc)}


def expected_calibration_error(count: np.ndarray, confidence: np.ndarray, correct: np.ndarray) -> float:
    """ECE = Σ_b (n_b/n)|acc_b − conf_b| from per-bin counts, Σ confidence and Σ correct (Guo et al. 2017)."""
    n = count.sum()
    return float(np.abs(correct - confidence).sum() / n) if n else float("nan")


def brier_per_token(probs, targets):
    """Σ_k (p_k − y_k)² for each row of ``probs`` [m, V] (tensor or array) with integer ``targets`` [m]."""
    p_target = probs.gather(1, targets[:, None])[:, 0] if hasattr(probs, "gather") else \
        probs[np.arange(len(targets)), targets]
    return (probs * probs).sum(-1) - 2 * p_target + 1


class CalibrationAccumulator:
    """Collects calibration sums batch by batch during an eval pass (tensors on any device), then ``summary``."""

    def __init__(self, bins: int = BINS):
        self.bins = bins
        self.n = 0
        self.sequence_brier: list[np.ndarray] = []
        self._class: Optional[list] = None  # [count, p, y, p2, py], each a float64 tensor [V * bins]
        self._top1: Optional[list] = None  # [count, confidence, correct], each a float64 tensor [bins]

    def _bin(self, p):
        return (p * self.bins).long().clamp_(0, self.bins - 1)

    def add(self, logits, targets) -> None:
        """Add one batch: ``logits`` [b, T, V] (any float tensor) and integer ``targets`` [b, T]."""
        import torch  # only reached in training, where torch is loaded

        b, t, vocab = logits.shape
        if self._class is None:
            zeros = lambda size: torch.zeros(size, dtype=torch.float64, device=logits.device)  # noqa: E731
            self._class = [zeros(vocab * self.bins) for _ in range(5)]
            self._top1 = [zeros(self.bins) for _ in range(3)]
        flat_logits, flat_targets = logits.reshape(b * t, vocab), targets.reshape(b * t)
        step = max(1, _CHUNK_ELEMENTS // vocab)
        dtype = torch.promote_types(logits.dtype, torch.float32)  # bf16 logits: fp32 probabilities; fp64 stays
        per_token = [self._add_chunk(flat_logits[i:i + step].to(dtype).softmax(-1), flat_targets[i:i + step])
                     for i in range(0, b * t, step)]
        self.sequence_brier.append(torch.cat(per_token).view(b, t).mean(dim=1).cpu().numpy())
        self.n += b * t

    def _add_chunk(self, probs, targets):
        """Bin one chunk of probabilities [m, V] into the class-wise and top-1 sums; its per-token Brier.

        Cheap for large V: every probability is first counted in bin 0 through dense column sums; only the few
        above 1/bins (at most ``bins`` per token, as a row sums to 1) are moved to their own bin."""
        m, vocab = probs.shape
        square = probs * probs
        count, sum_p, sum_y, sum_p2, sum_py = self._class
        count.view(vocab, self.bins)[:, 0] += m
        sum_p.view(vocab, self.bins)[:, 0] += probs.sum(0, dtype=count.dtype)
        sum_p2.view(vocab, self.bins)[:, 0] += square.sum(0, dtype=count.dtype)
        rows, cols = (probs * self.bins >= 1).nonzero(as_tuple=True)
        moved = probs[rows, cols].double()
        for total, value in ((count, torch_ones_like(moved)), (sum_p, moved), (sum_p2, moved * moved)):
            total.index_add_(0, cols * self.bins + self._bin(moved), value)
            total.index_add_(0, cols * self.bins, -value)
        p_target = probs.gather(1, targets[:, None])[:, 0].double()
        target_index = targets * self.bins + self._bin(p_target)
        sum_y.index_add_(0, target_index, torch_ones_like(p_target))
        sum_py.index_add_(0, target_index, p_target)
        confidence, guess = probs.max(dim=1)
        top_bins = self._bin(confidence)
        self._top1[0].index_add_(0, top_bins, torch_ones_like(p_target))
        self._top1[1].index_add_(0, top_bins, confidence.double())
        self._top1[2].index_add_(0, top_bins, (guess == targets).double())
        return square.sum(-1, dtype=count.dtype) - 2 * p_target + 1

    def summary(self, documents: Optional[np.ndarray] = None) -> dict[str, float]:
        """Brier (mean over tokens) with its clustered SE, the decomposition and the ECE, as plain floats."""
        from harness.data.corpus import clustered_mean_se

        if not self.n:
            return {}
        brier, se = clustered_mean_se(np.concatenate(self.sequence_brier), documents)
        cls = [a.cpu().numpy().reshape(-1, self.bins) for a in self._class]
        top = [a.cpu().numpy() for a in self._top1]
        return {"brier": brier, "brier_se": se, **decompose(BinSums(*cls), self.n),
                "ece": expected_calibration_error(*top)}


def torch_ones_like(values):
    """Ones of the shape, dtype and device of a tensor (no torch import needed)."""
    return values.new_ones(values.shape)


def bayes_brier(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """The Brier score of the Bayes-optimal forecaster: the true next-token distributions q themselves.

    ``pairs`` yields (q [m, V], targets [m]) for every eval target position. Returns ``brier_bayes``,
    the mean of Σ_k (q_k − y_k)² on the actual targets (what a model predicting the truth scores on
    these very tokens), and ``brier_bayes_expected``, the mean of its expectation given the context,
    1 − Σ_k q_k², which carries no sampling noise from the targets.
    """
    total = expected = 0.0
    n = 0
    for q, targets in pairs:
        q = np.asarray(q, dtype=np.float64)
        total += float(brier_per_token(q, np.asarray(targets)).sum())
        expected += float((1 - (q * q).sum(-1)).sum())
        n += len(q)
    return {"brier_bayes": total / n, "brier_bayes_expected": expected / n} if n else {}


def source_bayes_brier(source, windows: np.ndarray) -> dict[str, float]:
    """``bayes_brier`` of the eval ``windows`` under a source with ``next_token_distributions`` (synthetic)."""
    return bayes_brier((q, windows[:, t]) for t, q in source.next_token_distributions(windows))


def eval_calibration_floor(data, windows: np.ndarray) -> dict[str, float]:
    """The Bayes-optimal Brier of the eval ``windows`` for a sweep's DataConfig: the synthetic source's exact
    value; {} for sources whose true distributions are unknown (text, HF data sets)."""
    if getattr(data, "source", None) != "synthetic":
        return {}
    from harness.data.synthetic import MarkovSource

    return source_bayes_brier(MarkovSource(data.synthetic), np.asarray(windows, dtype=np.int64))
