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


def test_warmup_is_a_linear_ramp_to_peak():
    s = ScheduleConfig(kind="constant", warmup_fraction=0.1)
    # 50 steps: round(0.1 * 50) = 5 warm-up steps, factors (i + 1) / 5, then exactly 1
    assert [lr_factor(i, 50, s) for i in range(7)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 1.0])


def test_cosine_values_by_hand():
    s = ScheduleConfig(kind="cosine", warmup_fraction=0.0, final_lr_fraction=0.2)
    # 5 steps, no warm-up: progress i / 4, factor 0.2 + 0.8 · (1 + cos(π i / 4)) / 2
    expected = [1.0, 0.2 + 0.4 * (1 + 0.5 ** 0.5), 0.6, 0.2 + 0.4 * (1 - 0.5 ** 0.5), 0.2]
    assert [lr_factor(i, 5, s) for i in range(5)] == pytest.approx(expected)


def test_cosine_after_warmup_starts_at_peak_and_ends_at_final_fraction():
    s = ScheduleConfig(kind="cosine", warmup_fraction=0.25, final_lr_fraction=0.0)
    # 9 steps: 2 warm-up steps (0.5, 1.0), then cosine over steps 2..8 (6 intervals) from 1 to 0
    factors = [lr_factor(i, 9, s) for i in range(9)]
    assert factors[:3] == pytest.approx([0.5, 1.0, 1.0])
    assert factors[5] == pytest.approx(0.5)  # halfway: (1 + cos(π/2)) / 2
    assert factors[8] == pytest.approx(0.0)


def test_wsd_cooldown_values_by_hand():
    s = ScheduleConfig(kind="wsd", warmup_fraction=0.1, cooldown_fraction=0.3, final_lr_fraction=0.1)
    # 10 steps: 1 warm-up step (1.0), flat to step 6, then decay over steps 7..9 (2 intervals) from 1 to 0.1
    assert [lr_factor(i, 10, s) for i in range(10)] == pytest.approx(
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.55, 0.1])


def test_final_lr_fraction_is_the_last_factor_for_every_decaying_kind():
    for kind in ("cosine", "wsd"):
        for final in (0.0, 0.1, 0.5, 1.0):
            s = ScheduleConfig(kind=kind, final_lr_fraction=final)
            assert lr_factor(99, 100, s) == pytest.approx(final)
    assert lr_factor(99, 100, ScheduleConfig(kind="constant", final_lr_fraction=0.1)) == 1.0


@pytest.mark.parametrize("steps,expected", [(1, [1.0]), (2, [1.0, 1.0]), (3, [1.0, 1.0, 0.1]), (4, [1.0, 1.0, 0.55, 0.1])])
def test_tiny_runs_exact_factors(steps, expected):
    # default cosine: warm-up max(1, round(0.05·steps)) = 1 step but never the whole run; the cosine starts at
    # peak on the step after warm-up, so a 2-step run has no room to decay (its last step stays at peak)
    assert [lr_factor(i, steps, ScheduleConfig()) for i in range(steps)] == pytest.approx(expected)
