"""LR schedule shapes: warm-up, cosine to 10% over exactly the run, WSD."""
import pytest

from harness.config import ScheduleConfig
from harness.schedule import lr_factor, warmup_steps


def test_cosine_reaches_final_fraction_on_last_step():
    s = ScheduleConfig(kind="cosine", warmup_fraction=0.1, final_lr_fraction=0.1)
    steps = 200
    factors = [lr_factor(i, steps, s) for i in range(steps)]
    warm = warmup_steps(s, steps)
    assert warm == 20
    assert factors[0] == pytest.approx(1 / 20) and factors[warm - 1] == pytest.approx(1.0)
    assert factors[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(factors[warm:], factors[warm + 1:]))
    mid = warm + (steps - 1 - warm) // 2
    assert factors[mid] == pytest.approx(0.55, abs=0.02)


def test_wsd_is_flat_then_decays_over_cooldown():
    s = ScheduleConfig(kind="wsd", warmup_fraction=0.05, cooldown_fraction=0.2, final_lr_fraction=0.0)
    steps = 100
    factors = [lr_factor(i, steps, s) for i in range(steps)]
    assert factors[5:80] == [1.0] * 75
    assert factors[-1] == pytest.approx(0.0)
    assert factors[90] == pytest.approx(1 - 10 / 19)


@pytest.mark.parametrize("steps", [1, 2, 3])
def test_tiny_runs_still_train(steps):
    s = ScheduleConfig()
    assert all(lr_factor(i, steps, s) > 0 for i in range(steps))
