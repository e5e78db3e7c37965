"""Extending a branched sweep by a longer budget: the trunk continues, equal branches are reused, nothing else moves."""
import json
import subprocess
import sys

from harness import load_results
from harness.config import SweepConfig
from harness.plan import expand
from harness.sweep import WorkerOptions, run_sweep
from harness.train import TrainOptions
from tests.conftest import REPO, TINY_SWEEP, deep_update

BUDGETS = [256 * 16, 256 * 32, 256 * 64, 256 * 128]
QUIET = WorkerOptions(TrainOptions(progress=False))


def _sweep(budgets: list, **training) -> SweepConfig:
    return SweepConfig.model_validate(deep_update(TINY_SWEEP, {
        "budgets": {"tokens": budgets, "branching": "wsd"}, "training": {"checkpoint_interval": 8, **training}}))


def _record(root, run_id) -> dict:
    return json.loads((root / run_id / "result.json").read_text())


def _roles(specs):
    trunk = next(s for s in specs if s.branch_steps)
    return trunk, {s.tokens: s for s in specs if s.branch_of}


def test_a_longer_budget_continues_the_trunk_and_reuses_every_branch_with_the_losses_of_a_fresh_sweep(tmp_path):
    root = tmp_path / "results" / "tiny"
    short, longer = _sweep(BUDGETS[:3]), _sweep(BUDGETS)
    old_trunk, old = _roles(expand(short))
    run_sweep(short, tmp_path / "results", options=QUIET)
    trunk, new = _roles(expand(longer))
    assert trunk.run_id != old_trunk.run_id
    assert not {b.run_id for b in new.values()} & {b.run_id for b in old.values()}   # every id new

    outcome = run_sweep(longer, tmp_path / "results", options=QUIET)
    assert sorted(outcome.trained) == sorted([trunk.run_id, new[BUDGETS[3]].run_id])
    assert sorted(outcome.reused) == sorted(new[d].run_id for d in BUDGETS[:3])
    start = max(old_trunk.branch_steps)
    trunk_record = _record(root, trunk.run_id)
    assert trunk_record["continued_from"] == {"run_id": old_trunk.run_id, "step": start}
    assert trunk_record["resumed_from_step"] == start
    steps = [json.loads(line)["step"] for line in (root / trunk.run_id / "metrics.jsonl").read_text().splitlines()]
    assert steps[0] < start < steps[-1] == trunk.steps and steps == sorted(set(steps))  # old rows, then its own
    for d in BUDGETS[:3]:
        record, source = _record(root, new[d].run_id), _record(root, old[d].run_id)
        assert record["reused_from"] == old[d].run_id and record["branch_of"] == trunk.run_id
        assert (record["loss"], record["train_loss"]) == (source["loss"], source["train_loss"])

    fresh = tmp_path / "fresh"   # the extended sweep trained from nothing: the same losses, run for run
    run_sweep(longer, fresh, options=QUIET)
    for spec in [trunk, *new.values()]:
        assert _record(root, spec.run_id)["train_loss"] == _record(fresh / "tiny", spec.run_id)["train_loss"]
        if spec.branch_of:
            assert _record(root, spec.run_id)["loss"] == _record(fresh / "tiny", spec.run_id)["loss"]
    table = load_results(root)   # every record of both plans, each once; the planned ones are the new sweep's
    assert len(table) == 7 and table["run_id"].is_unique
    again = run_sweep(longer, tmp_path / "results", options=QUIET)
    assert not again.trained and not again.reused and len(again.skipped) == 5


def test_a_trunk_that_differs_in_more_than_its_horizon_is_not_continued(tmp_path):
    run_sweep(_sweep(BUDGETS[:3]), tmp_path / "results", options=QUIET)
    other = _sweep(BUDGETS, lr={"rule": "constant", "base": 2e-3})   # another LR: another trunk
    outcome = run_sweep(other, tmp_path / "results", options=QUIET)
    trunk, _ = _roles(expand(other))
    assert len(outcome.trained) == 5 and not outcome.reused
    assert "continued_from" not in _record(tmp_path / "results" / "tiny", trunk.run_id)


def test_records_from_another_corpus_are_neither_continued_nor_reused(tmp_path):
    short, longer = _sweep(BUDGETS[:3]), _sweep(BUDGETS)
    run_sweep(short, tmp_path / "results", options=QUIET)
    root = tmp_path / "results" / "tiny"
    for spec in expand(short):   # as if trained on other tokens with the same settings (an edited text file)
        record = _record(root, spec.run_id)
        (root / spec.run_id / "result.json").write_text(json.dumps({**record, "corpus_fingerprint": "elsewhere"}))
    outcome = run_sweep(longer, tmp_path / "results", options=QUIET)
    trunk, _ = _roles(expand(longer))
    assert len(outcome.trained) == 5 and not outcome.reused
    assert "continued_from" not in _record(root, trunk.run_id)
    assert not (root / trunk.run_id / "continued_from.json").exists()


def test_a_budget_inserted_below_the_old_horizon_continues_from_the_last_point_before_it(tmp_path):
    short, longer = _sweep([BUDGETS[0], BUDGETS[2], BUDGETS[3]]), _sweep(BUDGETS)
    run_sweep(short, tmp_path / "results", options=QUIET)
    old_trunk, _ = _roles(expand(short))
    trunk, new = _roles(expand(longer))
    inserted = new[BUDGETS[1]].branch_step   # a point the old trunk never kept: the new trunk must pass it
    assert inserted not in old_trunk.branch_steps
    outcome = run_sweep(longer, tmp_path / "results", options=QUIET)
    assert sorted(outcome.trained) == sorted([trunk.run_id, new[BUDGETS[1]].run_id]) and len(outcome.reused) == 3
    root = tmp_path / "results" / "tiny"
    before = max(p for p in old_trunk.branch_steps if p < inserted)
    assert _record(root, trunk.run_id)["continued_from"]["step"] == before
    run_sweep(longer, tmp_path / "fresh", options=QUIET)
    added = new[BUDGETS[1]].run_id
    assert _record(root, added)["loss"] == _record(tmp_path / "fresh" / "tiny", added)["loss"]


def test_the_cli_shows_what_an_extension_will_reuse_and_a_killed_continued_trunk_resumes_exactly(sweep_file, tmp_path):
    from tests.test_branching_faults import THREADS, _cli, _kill_when

    def settings(budgets):
        return {"budgets": {"tokens": [256 * b for b in budgets], "branching": "wsd"},
                "training": {"checkpoint_interval": 50, "eval_interval": 0}}

    results, root = tmp_path / "results", tmp_path / "results" / "tiny"
    path = sweep_file(settings([250, 500, 1000]))
    assert _cli(["run", str(path), "--results", str(results)]).wait(timeout=300) == 0
    path = sweep_file(settings([250, 500, 1000, 2000]))   # the same file, a longer budget added
    status = subprocess.run([sys.executable, "-m", "harness", "status", str(path), "--results", str(results)],
                            cwd=REPO, text=True, capture_output=True, timeout=120)
    assert status.returncode == 0 and "reusable: 3  continues: 1" in status.stdout, status.stderr
    extended = SweepConfig.model_validate(deep_update(TINY_SWEEP, settings([250, 500, 1000, 2000])))
    trunk = next(s for s in expand(extended) if s.branch_steps)
    _kill_when(["run", str(path), "--results", str(results)], lambda: (root / trunk.run_id / "checkpoint.pt").exists())
    final = _cli(["run", str(path), "--results", str(results)])
    assert final.wait(timeout=300) == 0
    assert "trained 2, reused 3 (equal branches of an earlier plan)" in final.stdout.read()
    fresh = tmp_path / "fresh"
    run_sweep(extended, fresh, options=WorkerOptions(TrainOptions(progress=False), threads=THREADS))
    for record in (fresh / "tiny").glob("*/result.json"):
        got = json.loads((root / record.parent.name / "result.json").read_text())
        want = json.loads(record.read_text())
        assert (got["loss"], got["train_loss"]) == (want["loss"], want["train_loss"]), record.parent.name
        lines = (root / record.parent.name / "metrics.jsonl").read_text().splitlines()
        steps = [json.loads(line)["step"] for line in lines]
        assert steps == sorted(set(steps))
    assert _record(root, trunk.run_id)["continued_from"]["step"] == 800
    assert not [p for p in root.rglob("*") if p.name in ("claim", "checkpoint.pt") or p.name.endswith(".tmp")]


def test_records_of_the_earlier_planner_that_cooled_an_lr_down_from_another_lrs_trunk_are_not_reused(tmp_path,
                                                                                                     monkeypatch):
    import harness.branching as branching

    def merged_key(spec):   # the planner before trunks were split by LR: one trunk per (model, seed)
        return str((spec.family, spec.n_layer, spec.d_model, spec.n_head, spec.d_ff, spec.vocab_size, spec.seed))

    swept = {"rule": "constant", "base": 3e-3, "sweep": [0.5, 2]}
    with monkeypatch.context() as patch:
        patch.setattr(branching, "_trunk_key", merged_key)
        old = expand(_sweep(BUDGETS[:2], lr=swept))
        run_sweep(_sweep(BUDGETS[:2], lr=swept), tmp_path / "results", options=QUIET)
    trunk_lr = {s.run_id: s.lr for s in old if s.branch_steps}
    mismatched = [s for s in old if s.branch_of and s.lr != trunk_lr[s.branch_of]]
    assert len(trunk_lr) == 1 and len(mismatched) == 1   # a branch cooled down from the other LR's trunk
    new = expand(_sweep(BUDGETS[:2], lr=swept))
    twin = next(s for s in new if s.branch_of and (s.lr, s.tokens) == (mismatched[0].lr, mismatched[0].tokens))
    outcome = run_sweep(_sweep(BUDGETS[:2], lr=swept), tmp_path / "results", options=QUIET)
    assert not outcome.reused and twin.run_id in outcome.trained   # its own fields match, its trunk does not
    assert len(outcome.skipped) == 2   # the trunk and branch of the LR the old trunk had: the same run ids


def test_metrics_of_an_earlier_attempt_that_stop_short_are_replaced_and_a_restart_from_zero_drops_the_note(tmp_path):
    from harness.branching import seed_metrics
    from harness.continuation import CONTINUED_FILE, continued_from

    source, run = tmp_path / "old", tmp_path / "new"
    source.mkdir(), run.mkdir()
    (source / "metrics.jsonl").write_text("".join(json.dumps({"step": k}) + "\n" for k in range(10, 60, 10)))
    (run / "metrics.jsonl").write_text("".join(json.dumps({"step": k}) + "\n" for k in (1, 2)))   # killed early
    seed_metrics(run, source, 40)
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [10, 20, 30, 40]
    (run / "metrics.jsonl").write_text("".join(json.dumps({"step": k}) + "\n" for k in (10, 20, 30, 40, 45)))
    seed_metrics(run, source, 40)   # a resume past the point keeps its own rows
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 5
    (run / CONTINUED_FILE).write_text(json.dumps({"run_id": "old", "step": 40}))
    assert continued_from(run, 40) == {"run_id": "old", "step": 40} and continued_from(run, 0) is None
