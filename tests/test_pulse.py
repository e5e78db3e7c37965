"""The pulse: a 2-layer width-32 model on the synthetic source through plan → run → record → table."""
import json
import math

import pytest

from harness import load_results
from harness.config import load_sweep
from harness.data.synthetic import MarkovSource
from harness.plan import expand
from harness.store import load_metrics
from harness.sweep import WorkerOptions, run_sweep, sweep_status
from harness.train import TrainOptions

QUIET = WorkerOptions(TrainOptions(progress=False))


def test_pulse_plan_run_record_table(sweep_file, tmp_path):
    sweep = load_sweep(sweep_file())
    results = tmp_path / "results"
    outcome = run_sweep(sweep, results, options=QUIET)
    [spec] = expand(sweep)
    assert outcome.trained == [spec.run_id]
    run_dir = results / "tiny" / spec.run_id
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "done" and result["N_total"] == spec.N_total and result["D"] == 8192
    assert math.log(16) > result["loss"] > result["floor"] - 4 * result["loss_se"]
    assert abs(result["loss_bpb"] - result["loss"] / math.log(2)) < 1e-9  # synthetic: one symbol = one byte
    _assert_eval_set_floor(sweep, result)
    assert not (run_dir / "checkpoint.pt").exists() and not (run_dir / "claim").exists()
    table = load_results(results / "tiny")
    assert list(table["run_id"]) == [spec.run_id] and table.loc[0, "N"] == spec.N_total
    assert [table.loc[0, c] for c in ("floor", "floor_se", "floor_expected")] == [
        result["floor"], result["floor_se"], result["floor_expected"]]
    metrics = load_metrics(results / "tiny")
    assert metrics["step"].max() == spec.steps and metrics["eval_loss"].notna().sum() >= 2
    last = metrics[metrics["step"] == spec.steps].iloc[0]
    assert last["eval_loss"] == result["loss"]  # the final eval is both the record's loss and the curve's end
    assert (metrics["tokens"] == metrics["step"] * 256).all()


def _assert_eval_set_floor(sweep, result) -> None:
    """floor is the source's exact mean -log p over the eval windows (independent of the cache), with SE."""
    data = sweep.data
    windows = MarkovSource(data.synthetic).sample(-(-data.eval_tokens // data.context_length),
                                                  data.context_length + 1, seed=[data.synthetic.seed, 2])
    per_window = MarkovSource(data.synthetic).token_nll(windows).mean(axis=1)
    assert result["floor"] == pytest.approx(per_window.mean(), rel=1e-12)
    assert result["floor_se"] == pytest.approx(per_window.std(ddof=1) / math.sqrt(len(per_window)), rel=1e-12)
    assert result["floor_expected"] == pytest.approx(MarkovSource(data.synthetic).floor_nats(data.context_length))


def test_rerun_trains_nothing(sweep_file, tmp_path):
    sweep = load_sweep(sweep_file())
    results = tmp_path / "results"
    run_sweep(sweep, results, options=QUIET)
    [spec] = expand(sweep)
    record = results / "tiny" / spec.run_id / "result.json"
    before = record.stat().st_mtime_ns
    outcome = run_sweep(sweep, results, options=QUIET)
    assert outcome.trained == [] and outcome.skipped == [spec.run_id]
    assert record.stat().st_mtime_ns == before
    assert sweep_status(sweep, results)["state"].tolist() == ["done"]


def test_deterministic_on_cpu(sweep_file, tmp_path):
    sweep = load_sweep(sweep_file())
    losses = []
    for name in ("a", "b"):
        run_sweep(sweep, tmp_path / name, options=QUIET)
        losses.append(load_results(tmp_path / name / "tiny")["loss"].item())
    assert losses[0] == losses[1]


def test_divergence_is_recorded_and_sweep_continues(sweep_file, tmp_path):
    path = sweep_file({"model": {"shapes": [{"n_layer": 2, "d_model": 32, "n_head": 2},
                                            {"n_layer": 1, "d_model": 32, "n_head": 2}]},
                       "training": {"lr": {"rule": "table", "table": {32: 50.0}}, "spike_factor": 1.5,
                                    "optimizer": {"grad_clip": 0.0}}})
    sweep = load_sweep(path)
    results = tmp_path / "results"
    outcome = run_sweep(sweep, results, options=QUIET)
    assert len(outcome.trained) == 2
    table = load_results(results / "tiny")
    assert set(table["status"]) == {"diverged"}
    assert all(("non-finite" in r) or ("exceeded" in r) for r in table["reason"])
    assert table["loss"].isna().all()
    assert set(sweep_status(sweep, results)["state"]) == {"diverged"}
