"""Merging the outcomes of sibling workers: a run one worker found busy because the other trained it is not
'busy elsewhere' (the 2-worker summary used to say 'trained 2, busy elsewhere 2')."""
from harness.sweep import SweepOutcome


def test_run_trained_by_a_sibling_is_not_busy_elsewhere():
    first = SweepOutcome(trained=["a"], busy=["b"])
    second = SweepOutcome(trained=["b"], busy=["a"])
    merged = first.merge(second)
    assert merged.trained == ["a", "b"] and merged.busy == []


def test_run_claimed_outside_the_sweep_stays_busy_once():
    merged = SweepOutcome(busy=["x"], failed=["f"]).merge(SweepOutcome(busy=["x", "f"], skipped=["s"]))
    assert merged.busy == ["x"] and merged.failed == ["f"] and merged.skipped == ["s"]
