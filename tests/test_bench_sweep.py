"""scripts/bench_sweep.py's timing helper on a branched sweep (the quickstart's design): trunks have no row."""
import math

from harness.config import SweepConfig
from harness.sweep import WorkerOptions
from harness.train import TrainOptions
from tests.conftest import TINY_SWEEP, deep_update, load_script

BUDGETS = [256 * 16, 256 * 32]


def _script():
    return load_script("bench_sweep")


def test_a_branched_sweep_is_timed_and_gives_one_loss_per_branch():
    sweep = SweepConfig.model_validate(deep_update(TINY_SWEEP, {
        "budgets": {"tokens": BUDGETS, "branching": "wsd"}, "training": {"checkpoint_interval": 8}}))
    elapsed, losses = _script()._timed(sweep, 1, WorkerOptions(TrainOptions(progress=False)))
    assert elapsed > 0 and len(losses) == len(BUDGETS) and all(math.isfinite(v) for v in losses)
    assert losses[1] < losses[0]   # the longer branch ends lower
