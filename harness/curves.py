"""What a run's curves say beyond its final loss: the fixed train-eval sample, over-fitting, loss spikes.

Pure functions over numpy windows and metrics rows (``metrics.jsonl``), so they are tested on planted
curves and run identically on a resumed run (they read the rows back rather than keep state in memory).

* Train-eval sample: the same number of windows as the test set, drawn from the train windows the run
  trains on (all of them, or the first ⌊U/context⌋ under ``data.unique_tokens``; the whole pool when it is
  smaller than the test set) with a seed fixed per sweep (``data.split_seed``), so every run of a sweep with
  the same cap, whatever its seed, is scored on the same train tokens.
* Over-fitting: the test loss rose after its minimum by more than ``OVERFIT_Z`` standard errors while
  the train-eval loss kept falling by more than ``OVERFIT_Z`` of its own SEs.
* Spikes: a logged train loss above ``EMA + SPIKE_Z × EMA(|change between logged rows|)`` and
  ``SPIKE_MIN_REL`` above the EMA (the change, not the deviation from the lagging EMA, so a steadily
  falling curve does not inflate the threshold), that comes back under the threshold within ``SPIKE_RECOVERY`` logged rows. A jump that does not come
  back is not a spike but a level shift or divergence (``harness.train._divergence`` stops a run whose loss
  exceeds ``spike_factor`` × its minimum; a spike here is any recovered excursion, usually far smaller).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

OVERFIT_Z = 2.0  # standard errors the test rise and the train fall must both exceed
SPIKE_Z = 6.0  # threshold in units of the EMA of absolute row-to-row changes
SPIKE_MIN_REL = 0.02  # ... and at least 2 % above the EMA of the loss
SPIKE_ALPHA = 0.1  # EMA weight of a new row
SPIKE_WARMUP = 10  # rows that only initialise the running estimates (the steep start of training)
SPIKE_RECOVERY = 10  # logged rows within which the loss must return under the threshold


def train_eval_sample(n_train: int, n_eval: int, seed: int) -> np.ndarray:
    """Sorted indices of ``min(n_eval, n_train)`` of the first ``n_train`` train windows (the run's pool),
    drawn without replacement under ``seed``."""
    rng = np.random.default_rng([seed, 0x7E57])
    return np.sort(rng.choice(n_train, size=min(n_eval, n_train), replace=False))


def _evals(rows: list[dict]) -> list[dict]:
    keys = ("eval_loss", "eval_loss_se", "train_eval_loss", "train_eval_loss_se")
    return [r for r in rows if all(isinstance(r.get(k), (int, float)) for k in keys)]


def overfitting(rows: list[dict]) -> dict:
    """``best_eval_step`` and ``best_eval_loss`` (the lowest test loss in the rows) and ``overfit``: whether the
    last eval's test loss is above that minimum by more than OVERFIT_Z × its SE while its train-eval loss is below
    the train-eval loss at the minimum by more than OVERFIT_Z × its SE (None without train-eval rows)."""
    evals = [r for r in rows if isinstance(r.get("eval_loss"), (int, float))]
    if not evals:
        return {"best_eval_step": None, "best_eval_loss": None, "overfit": None}
    best = min(evals, key=lambda r: r["eval_loss"])
    out = {"best_eval_step": best["step"], "best_eval_loss": best["eval_loss"], "overfit": None}
    paired = _evals(rows)
    if paired and best in paired:
        last = paired[-1]
        rise = last["eval_loss"] - best["eval_loss"] > OVERFIT_Z * max(last["eval_loss_se"], 1e-12)
        fall = best["train_eval_loss"] - last["train_eval_loss"] > OVERFIT_Z * max(last["train_eval_loss_se"], 1e-12)
        out["overfit"] = bool(rise and fall)
    return out


def _spike_start(loss: float, mean: float, dev: float) -> bool:
    return loss > mean + SPIKE_Z * dev and loss > mean * (1 + SPIKE_MIN_REL)


def loss_spikes(steps: list[int], losses: list[Optional[float]]) -> dict:
    """Spikes of a train-loss curve: ``spike_steps`` (the first row of each excursion that recovered),
    ``spike_count`` and ``unrecovered_step`` (the first jump that never came back, else None)."""
    pts = [(s, x) for s, x in zip(steps, losses) if x is not None and math.isfinite(x)]
    found: list[int] = []
    unrecovered = None
    mean, dev, prev, i = None, 0.0, None, 0
    while i < len(pts):
        step, loss = pts[i]
        if mean is None:
            mean = prev = loss
        elif i >= SPIKE_WARMUP and _spike_start(loss, mean, dev):
            end = next((j for j in range(i + 1, min(i + 1 + SPIKE_RECOVERY, len(pts)))
                        if not _spike_start(pts[j][1], mean, dev)), None)
            if end is None:
                unrecovered = unrecovered or step
                break
            found.append(step)
            i = end
            continue
        else:
            dev = (1 - SPIKE_ALPHA) * dev + SPIKE_ALPHA * abs(loss - prev)
            mean, prev = (1 - SPIKE_ALPHA) * mean + SPIKE_ALPHA * loss, loss
        i += 1
    return {"spike_count": len(found), "spike_steps": found, "unrecovered_step": unrecovered}


def curve_summary(rows: list[dict], final_step: int) -> dict:
    """The fields ``train`` adds to result.json from a run's metrics rows: the train-eval loss at
    ``final_step`` (None when not evaluated), over-fitting and spikes."""
    last = next((r for r in reversed(rows) if r.get("step") == final_step and "train_eval_loss" in r), {})
    out = {"train_eval_loss": last.get("train_eval_loss"), "train_eval_loss_se": last.get("train_eval_loss_se")}
    out.update(overfitting(rows))
    out.update(loss_spikes([r.get("step") for r in rows], [r.get("train_loss") for r in rows]))
    return out
