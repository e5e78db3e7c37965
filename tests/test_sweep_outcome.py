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


def test_branch_workers_start_the_largest_trunk_first():
    """Longest-processing-time order: the biggest trunk is taken first, so it does not finish the sweep alone."""
    from harness.branching import longest_first
    from harness.plan import load_and_expand

    _, specs = load_and_expand("sweeps/branching.yaml")
    ordered = longest_first(specs)
    assert not ordered[0].branch_of and ordered[0].N_total == max(s.N_total for s in specs)
    costs = [s.N_total * (s.steps - s.branch_step) for s in ordered]
    assert costs == sorted(costs, reverse=True) and sorted(s.run_id for s in ordered) == sorted(s.run_id for s in specs)


def test_trunk_a_sibling_trained_is_not_already_done():
    """Branch workers meet a trunk their sibling finished: it was trained by this sweep, not done before it."""
    merged = SweepOutcome(trained=["trunk"], skipped=["old"]).merge(SweepOutcome(trained=["b"], skipped=["trunk", "old"]))
    assert merged.trained == ["trunk", "b"] and merged.skipped == ["old"]
