"""Which two-variable law does a sweep support? AICc weights between laws fitted to the same runs, the pre-stated
rule that picks one (``choose_law``), and intervals averaged over the laws (``model_averaged_interval``).

The rule is the one-variable verdict's (harness.fit.select): a law with more parameters is taken only when its
Akaike weight by AICc reaches ``CONFIDENT_WEIGHT``; otherwise the simplest law stands. The likelihood is Gaussian
in the log residuals at each law's fitted parameters (whatever objective fitted them), with the noise variance
counted as a parameter. On the ground-truth sweep's design the rule's interval for E held the truth in 92.0 % of
simulated sweeps with a Chinchilla truth but 86.5 % with a coupled truth; the model-averaged interval in 96.8 % and
93.2 % (results/reference/ground_truth_coverage_aicc_*.txt).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from harness.fit.laws import get_law
from harness.fit.select import CONFIDENT_WEIGHT, _aicc, _loglik, akaike_weights
from harness.fit.table import prepare

AVERAGED = ("E", "alpha", "beta")   # names that mean the same in every Chinchilla-family law (the floor; the
                                    # exponent of N with data unlimited and of D with parameters unlimited)


@dataclass(frozen=True)
class LawComparison:
    """Laws fitted to one sweep, weighed against each other."""
    aicc: dict               # law -> AICc (inf where n - k - 1 <= 0)
    weights: dict            # law -> Akaike weight, summing to 1
    n_parameters: dict       # law -> free parameters of the law (the noise variance not included)
    chosen: str              # the law the pre-stated rule keeps (choose_law)
    averaged: dict = field(default_factory=dict)   # name -> (estimate, low, high): the model-averaged 95 % interval
                                                   # of each AVERAGED name every law identifies (has a CI for)
    unidentified: tuple = ()   # AVERAGED names every law has but some law does not identify: no averaged interval
    shared: tuple = ()         # AVERAGED names every law has
    estimates: dict = field(default_factory=dict)   # name -> the weighted mean of the laws' estimates, every shared name

    def to_dict(self) -> dict:
        """Plain JSON-ready values (an infinite AICc is None)."""
        return {"aicc": {k: (float(v) if np.isfinite(v) else None) for k, v in self.aicc.items()},
                "weights": dict(self.weights), "n_parameters": dict(self.n_parameters), "chosen": self.chosen,
                "confident_weight": CONFIDENT_WEIGHT,
                "model_averaged": {k: {"estimate": e, "ci": [lo, hi]} for k, (e, lo, hi) in self.averaged.items()},
                "not_averaged_unidentified": list(self.unidentified)}


def law_aicc(fits: dict, table) -> dict:
    """AICc of laws fitted to the same runs (``fits``: name -> FitResult, all parameters free), from the Gaussian
    likelihood of each law's log residuals at its fitted parameters."""
    aicc = {}
    for name, fit in fits.items():
        law = get_law(fit.law)
        x, y, _, _ = prepare(table, law, fit.n_convention)
        residual = np.log(y) - np.log(law.predict(fit.params, **x))
        aicc[name] = _aicc(_loglik(float(residual @ residual), len(y)), len(fit.params) + 1, len(y))
    return aicc


def law_weights(fits: dict, table) -> dict:
    """Akaike weights by AICc (``law_aicc``) of laws fitted to the same runs."""
    return _weights(law_aicc(fits, table))


def _weights(aicc: dict) -> dict:
    """law -> Akaike weight (a float) from law -> AICc."""
    return dict(zip(aicc, (float(w) for w in akaike_weights(np.array(list(aicc.values()))))))


def choose_law(fits: dict, table) -> tuple[str, dict]:
    """The pre-stated rule between laws fitted to one sweep: (the name chosen, the Akaike weights). A law with more
    parameters than the simplest is chosen only when the data prefer it confidently (AICc weight >=
    ``CONFIDENT_WEIGHT``, the threshold of the one-variable verdict); otherwise the simplest (fewest parameters)."""
    weights = law_weights(fits, table)
    return _rule(fits, weights), weights


def _rule(fits: dict, weights: dict) -> str:
    """The law with the largest weight if it reaches ``CONFIDENT_WEIGHT``, else the one with fewest parameters."""
    best = max(weights, key=weights.get)
    return best if weights[best] >= CONFIDENT_WEIGHT else min(fits, key=lambda name: len(fits[name].params))


def _mixture_interval(draws: dict, weights: dict, level: float) -> tuple[float, float]:
    """(low, high): the central ``level`` quantiles of the mixture of each law's draws (law -> 1-D array; non-finite
    draws dropped) with the Akaike ``weights`` -- the percentile form of Turek & Fletcher's (2012) MATA interval."""
    draws = {law: np.sort(d[np.isfinite(d)]) for law, d in ((k, np.asarray(v, float)) for k, v in draws.items())}
    draws = {law: d for law, d in draws.items() if len(d)}
    grid = np.unique(np.concatenate(list(draws.values())))
    total = sum(weights[law] for law in draws)
    cdf = sum(weights[law] / total * np.searchsorted(d, grid, side="right") / len(d) for law, d in draws.items())
    tail = (1 - level) / 2
    return float(grid[np.searchsorted(cdf, tail)]), float(grid[min(np.searchsorted(cdf, 1 - tail), len(grid) - 1)])


def model_averaged_interval(fits: dict, weights: dict, name: str, level: float = 0.95) -> tuple[float, float, float]:
    """(estimate, low, high) of parameter ``name`` averaged over laws fitted to one sweep: the weighted mean of the
    fits' estimates and the model-averaged tail-area interval from their bootstrap draws (``_mixture_interval``).
    Every fit needs bootstrap draws of ``name``."""
    low, high = _mixture_interval({law: fit.samples[name] for law, fit in fits.items()}, weights, level)
    return _weighted_estimate(fits, weights, name), low, high


def _weighted_estimate(fits: dict, weights: dict, name: str) -> float:
    """The model-averaged estimate of ``name``: the laws' estimates weighted by their Akaike weights."""
    return float(sum(weights[law] * fit.params[name] for law, fit in fits.items()))


def model_averaged_prediction(fits: dict, weights: dict, n: np.ndarray, d: np.ndarray,
                              level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(predicted, low, high) loss at the points (N, D) averaged over laws: the weighted mean of the laws' predictions
    (Buckland et al. 1997) and, per point, the mixture interval of the predictions of every law's bootstrap draws."""
    n, d = np.asarray(n, float), np.asarray(d, float)
    predicted = sum(weights[law] * np.asarray(get_law(fit.law).predict(fit.params, N=n, D=d), float)
                    for law, fit in fits.items())
    sims = {law: _draw_predictions(fit, n, d) for law, fit in fits.items()}
    bands = np.array([_mixture_interval({law: s[:, j] for law, s in sims.items()}, weights, level)
                      for j in range(len(n))])
    return predicted, bands[:, 0], bands[:, 1]


def _draw_predictions(fit, n: np.ndarray, d: np.ndarray) -> np.ndarray:
    """(draws, points): the loss each bootstrap draw of ``fit`` predicts at (N, D)."""
    law = get_law(fit.law)
    draws = [dict(zip(law.param_names, values)) for values in zip(*(fit.samples[p] for p in law.param_names))]
    return np.array([law.predict(params, N=n, D=d) for params in draws], float).reshape(len(draws), len(n))


def compare_laws(fits: dict, table) -> LawComparison:
    """Weigh laws fitted to the same runs: AICc, Akaike weights, the pre-stated rule's choice and the model-averaged
    interval of each name in ``AVERAGED`` that every law has and identifies (a bootstrap CI and draws in every fit;
    a name some law leaves unidentified gets none, as a single fit gives it none)."""
    aicc = law_aicc(fits, table)
    weights = _weights(aicc)
    shared = [n for n in AVERAGED if all(n in fit.params for fit in fits.values())]
    identified = [n for n in shared if all(n in (fit.ci or {}) and n in (fit.samples or {}) for fit in fits.values())]
    unidentified = tuple(n for n in shared if n not in identified and all(f.samples for f in fits.values()))
    averaged = {n: model_averaged_interval(fits, weights, n) for n in identified}
    return LawComparison(aicc, weights, {k: len(f.params) for k, f in fits.items()}, _rule(fits, weights), averaged,
                         unidentified, tuple(shared), {n: _weighted_estimate(fits, weights, n) for n in shared})
