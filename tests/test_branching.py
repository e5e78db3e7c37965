"""Cooldown branching (WSD): sweep-file fields, the branched plan, schedules, and a branch equal to a single WSD run."""
import json
import math
import shutil
from pathlib import Path

import pytest

from harness import load_results
from harness.branching import branch_plan_table, branch_point_path, token_comparison
from harness.config import ScheduleConfig, SweepConfig, load_sweep
from harness.errors import ConfigError
from harness.plan import expand, make_run_id
from harness.schedule import decay_start, lr_factor, warmup_steps
from harness.sweep import WorkerOptions, run_sweep
from harness.train import TrainOptions, train
from tests.conftest import REPO, TINY_SWEEP, deep_update

BUDGETS = [256 * 16, 256 * 32, 256 * 64, 256 * 128]
BRANCHED = {"budgets": {"tokens": BUDGETS, "branching": "wsd"}, "training": {"checkpoint_interval": 8}}
QUIET = WorkerOptions(TrainOptions(progress=False))


def _sweep(overrides: dict) -> SweepConfig:
    return SweepConfig.model_validate(deep_update(TINY_SWEEP, overrides))


def test_isoflop_branching_is_refused_with_one_line(sweep_file, capsys):
    from harness.cli import main

    path = sweep_file({"budgets": {"mode": "isoflop", "compute": [1e9], "branching": "wsd"}})
    with pytest.raises(SystemExit) as exit_info:
        main(["plan", str(path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1
    assert str(path) in err[0] and "budgets" in err[0] and "grid or tokens_per_param" in err[0]


def test_a_budget_too_short_for_warmup_and_cooldown_is_refused():
    with pytest.raises(ConfigError, match="too short"):
        expand(_sweep({"budgets": {"tokens": [256, 256 * 64], "branching": "wsd"}}))


def test_the_new_fields_leave_existing_run_ids_unchanged():
    # records committed before branching existed, and the sweep file they were planned from
    reference = sorted(p.name for p in (REPO / "results/reference/quickstart_cosine").iterdir() if p.is_dir())
    assert sorted(s.run_id for s in expand(load_sweep(REPO / "sweeps/quickstart_cosine.yaml"))) == reference


def test_cooldown_shapes_and_a_fixed_warmup():
    linear = ScheduleConfig(kind="wsd", cooldown_fraction=0.5, final_lr_fraction=0.0, warmup_steps=3)
    root = linear.model_copy(update={"cooldown_shape": "1-sqrt"})
    assert warmup_steps(linear, 1000) == 3 and lr_factor(2, 1000, linear) == 1.0
    assert decay_start(linear, 102) == 51 and lr_factor(50, 102, linear) == 1.0
    assert lr_factor(76, 102, linear) == pytest.approx(0.5)  # halfway through the cooldown
    assert lr_factor(76, 102, root) == pytest.approx(1 - math.sqrt(0.5))
    assert lr_factor(101, 102, linear) == lr_factor(101, 102, root) == 0.0


def test_the_plan_lists_trunks_first_and_branches_share_the_trunk_schedule_up_to_their_point():
    specs = expand(_sweep({**BRANCHED, "model": {"shapes": [{"n_layer": 2, "d_model": 32, "n_head": 2},
                                                           {"n_layer": 2, "d_model": 48, "n_head": 2}]},
                           "training": {"seeds": [0, 1]}}))
    trunks, branches = specs[:4], specs[4:]
    assert all(t.run_id.startswith("trunk-") and t.branch_steps for t in trunks)
    assert len(branches) == 16 and not any(b.branch_steps for b in branches)
    by_id = {t.run_id: t for t in trunks}
    for b in branches:
        trunk = by_id[b.branch_of]
        assert b.branch_step == round(0.8 * b.steps) and b.branch_step in trunk.branch_steps
        assert b.schedule.kind == "wsd" and trunk.schedule.kind == "constant"
        assert [lr_factor(i, b.steps, b.schedule) for i in range(b.branch_step)] == \
               [lr_factor(i, trunk.steps, trunk.schedule) for i in range(b.branch_step)]
        assert lr_factor(b.steps - 1, b.steps, b.schedule) == pytest.approx(b.schedule.final_lr_fraction)
    assert trunks[0].steps == max(trunks[0].branch_steps) == round(0.8 * 128)
    assert trunks[0].schedule.warmup_steps == warmup_steps(TINY_SWEEP_SCHEDULE, 16)


TINY_SWEEP_SCHEDULE = ScheduleConfig()


def test_token_comparison_matches_the_formula():
    specs = expand(_sweep(BRANCHED))
    total = token_comparison(specs).iloc[-1]
    expected = (BUDGETS[-1] + 0.2 * sum(BUDGETS[:-1])) / sum(BUDGETS)
    assert total["D_independent"] == sum(BUDGETS) and abs(total["ratio"] / expected - 1) < 0.02
    table = branch_plan_table(specs)
    assert list(table["role"]) == ["trunk"] + ["branch"] * 4
    assert table["D_trained"].sum() == total["D_branched"]


def test_the_plan_shows_the_warmup_as_trained_and_a_sweep_file_can_fix_it_in_steps():
    """warmup_tok is the trained warm-up (steps x batch tokens): for a branching sweep the smallest budget's share,
    the same for the trunk and every branch (not each budget's own share, which the table used to print); and
    ``schedule.warmup_steps`` in the sweep file fixes it, e.g. for columns trained from separate files."""
    batch_tok = TINY_SWEEP["training"]["batch_tokens"]
    table = branch_plan_table(expand(_sweep(BRANCHED)))
    expected = warmup_steps(ScheduleConfig(), BUDGETS[0] // batch_tok) * batch_tok
    assert set(table["warmup_tok"]) == {expected}
    fixed = branch_plan_table(expand(_sweep({**BRANCHED, "training": {"checkpoint_interval": 8,
                                                                      "schedule": {"warmup_steps": 3}}})))
    assert set(fixed["warmup_tok"]) == {3 * batch_tok}


def test_tokens_per_param_designs_branch_too():
    specs = expand(_sweep({"budgets": {"mode": "tokens_per_param", "tokens_per_param": [1, 2, 4],
                                       "branching": "wsd", "cooldown_shape": "1-sqrt"}}))
    assert len(specs) == 4 and specs[0].branch_steps and {s.schedule.cooldown_shape for s in specs[1:]} == {"1-sqrt"}


def test_plan_prints_branched_beside_independent_tokens(sweep_file, capsys):
    from harness.cli import main

    main(["plan", str(sweep_file(BRANCHED))])
    out = capsys.readouterr().out
    assert "vs independent runs" in out and "D_branched" in out and "ratio" in out and "trunk-" in out


def test_a_branch_ends_exactly_where_a_single_wsd_run_ends_and_the_trunk_stays_out_of_the_table(tmp_path):
    sweep = _sweep(BRANCHED)
    specs = expand(sweep)
    outcome = run_sweep(sweep, tmp_path / "results", options=QUIET)
    assert sorted(outcome.trained) == sorted(s.run_id for s in specs)
    root, trunk = tmp_path / "results" / "tiny", specs[0]
    table = load_results(root)
    assert sorted(table["run_id"]) == sorted(s.run_id for s in specs[1:]) and sorted(table["D"]) == BUDGETS
    assert json.loads((root / trunk.run_id / "result.json").read_text())["role"] == "trunk"
    assert all((root / trunk.run_id / branch_point_path(Path(), k)).exists() for k in trunk.branch_steps)
    assert not list(root.glob("*/checkpoint.pt"))
    longest = specs[-1]
    record = json.loads((root / longest.run_id / "result.json").read_text())
    assert (record["role"], record["branch_of"], record["resumed_from_step"]) == ("branch", trunk.run_id, 102)
    steps = [json.loads(line)["step"] for line in (root / longest.run_id / "metrics.jsonl").read_text().splitlines()]
    assert steps[0] < 102 < steps[-1] == longest.steps and steps == sorted(set(steps))  # trunk's rows, then its own
    single = longest.model_copy(update={"branch_of": "", "branch_step": 0, "run_id": ""})
    single = single.model_copy(update={"run_id": make_run_id(single)})
    alone = train(single, tmp_path / "single" / single.run_id, TrainOptions(progress=False))
    assert (alone["loss"], alone["train_loss"]) == (record["loss"], record["train_loss"])


def test_a_trunk_that_diverged_before_a_branch_point_gives_that_branch_a_diverged_record(tmp_path):
    sweep = _sweep({"budgets": {"tokens": BUDGETS[:2], "branching": "wsd"}})
    specs, root = expand(sweep), tmp_path / "results" / "tiny"
    run_sweep(sweep, tmp_path / "results", options=QUIET)
    trunk_dir = root / specs[0].run_id
    record = json.loads((trunk_dir / "result.json").read_text())
    (trunk_dir / "result.json").write_text(json.dumps({**record, "status": "diverged", "reason": "made up"}))
    branch_point_path(trunk_dir, specs[2].branch_step).unlink()  # "diverged" before the longer branch's point
    shutil.rmtree(root / specs[2].run_id)
    outcome = run_sweep(sweep, tmp_path / "results", options=QUIET)
    assert outcome.trained == [specs[2].run_id]
    table = load_results(root).set_index("run_id")
    assert table.loc[specs[2].run_id, "status"] == "diverged" and math.isnan(table.loc[specs[2].run_id, "loss"])
    assert "made up" in table.loc[specs[2].run_id, "reason"] and table.loc[specs[1].run_id, "status"] == "done"


def test_engines_with_one_job_per_run_refuse_a_branching_sweep(tmp_path):
    from harness.launch import prepare

    with pytest.raises(ConfigError, match="harness run"):
        prepare(_sweep(BRANCHED), tmp_path / "results")


def test_an_lr_sweep_gets_one_trunk_per_lr_and_every_branch_keeps_its_own_lr():
    sweep = _sweep({**BRANCHED, "training": {"lr": {"rule": "constant", "base": 3e-3, "sweep": [0.5, 1, 2]}}})
    specs = expand(sweep)
    trunks = {s.run_id: s for s in specs if s.branch_steps}
    branches = [s for s in specs if s.branch_of]
    assert len(trunks) == 3 and len(branches) == 3 * len(BUDGETS)   # nothing merged across LRs
    assert sorted({s.lr for s in trunks.values()}) == [1.5e-3, 3e-3, 6e-3]
    assert all(trunks[b.branch_of].lr == b.lr for b in branches)


def test_unique_token_caps_get_a_trunk_each():
    sweep = _sweep({**BRANCHED, "data": {"unique_tokens": [2048, 4096]}})
    specs = expand(sweep)
    trunks = {s.run_id: s for s in specs if s.branch_steps}
    assert len(trunks) == 2 and len([s for s in specs if s.branch_of]) == 2 * len(BUDGETS)
    assert all(trunks[s.branch_of].unique_tokens == s.unique_tokens for s in specs if s.branch_of)


def test_a_per_budget_warmup_rule_still_shares_one_trunk_per_size():
    sweep = _sweep({"budgets": {"tokens": [65536, 131072, 262144], "branching": "wsd"},
                    "training": {"hparams": {"rule": "porian2024", "min_batch_tokens": 256, "max_batch_tokens": 256}}})
    specs = expand(sweep)   # Porian's warm-up = N tokens is a different fraction of each budget
    assert len({s.schedule.warmup_fraction for s in expand(sweep.model_copy(
        update={"budgets": sweep.budgets.model_copy(update={"branching": "none"})}))}) == 3
    assert len([s for s in specs if s.branch_steps]) == 1 and len([s for s in specs if s.branch_of]) == 3
