"""family: mamba and model.families: plan axis, unchanged ids, errors, a Mamba pulse through run → record."""
import json
import math

import pytest

from harness.cli import main
from harness.config import load_sweep
from harness.plan import expand
from harness.sweep import WorkerOptions, run_sweep
from harness.train import TrainOptions

QUIET = WorkerOptions(TrainOptions(progress=False))
SIZED = {"shapes": [], "sizes": [20000, 60000], "aspect_ratio": 24}


def test_families_axis_keeps_each_familys_ids(sweep_file):
    multi = expand(load_sweep(sweep_file({"model": {**SIZED, "families": ["gpt2", "llama", "mamba"]}})), cuda=False)
    singles = []
    for fam in ("gpt2", "llama", "mamba"):
        singles += expand(load_sweep(sweep_file({"model": {**SIZED, "family": fam}}, name=f"{fam}.yaml")), cuda=False)
    assert [s.run_id for s in multi] == [s.run_id for s in singles]
    assert [s.family for s in multi] == ["gpt2"] * 2 + ["llama"] * 2 + ["mamba"] * 2
    mamba = [s for s in multi if s.family == "mamba"]
    assert all(s.d_ff == 2 * s.d_model and s.n_head == 1 for s in mamba)


def test_mamba_flops_in_the_spec_are_the_scan_not_attention(sweep_file):
    [spec] = expand(load_sweep(sweep_file({"model": {"family": "mamba", "shapes": [
        {"n_layer": 2, "d_model": 32, "n_head": 1, "d_ff": 64}]}})), cuda=False)
    assert spec.flops["full"] == 6 * spec.N_nonembed + 3 * 9 * 2 * 64 * 16 + 6 * 32 * spec.vocab_size


@pytest.mark.parametrize("model, message", [
    ({"families": ["gpt2", "gpt2"]}, "model.families"),
    ({"families": ["gpt2", "rwkv"]}, "model.families"),
    ({"family": "mamba2"}, "model.family"),
])
def test_bad_families_are_one_line_exit_2(sweep_file, capsys, model, message):
    path = sweep_file({"model": model})
    with pytest.raises(SystemExit) as exc:
        main(["plan", str(path)])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and message in err


def test_mamba_pulse_trains_on_cpu(sweep_file, tmp_path):
    sweep = load_sweep(sweep_file({"model": {"family": "mamba", "shapes": [
        {"n_layer": 1, "d_model": 16, "n_head": 1, "d_ff": 32}]}, "budgets": {"tokens": [2048]}}))
    results = tmp_path / "results"
    run_sweep(sweep, results, options=QUIET)
    [spec] = expand(sweep)
    result = json.loads((results / "tiny" / spec.run_id / "result.json").read_text())
    assert result["status"] == "done" and result["family"] == "mamba" and result["N_total"] == spec.N_total
    assert math.log(16) + 0.5 > result["loss"] > result["floor"] - 4 * result["loss_se"]


def test_reference_architectures_records_match_the_plan_and_the_readme():
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    specs = expand(load_sweep(repo / "sweeps" / "architectures.yaml"), cuda=False)
    records = {p.parent.name: json.loads(p.read_text())
               for p in (repo / "results" / "reference" / "architectures").glob("*/result.json")}
    assert sorted(records) == sorted(s.run_id for s in specs)
    excess = {}
    for s in specs:
        excess.setdefault((s.family, s.tokens), []).append(records[s.run_id]["loss"] - records[s.run_id]["floor"])
    for d in {s.tokens for s in specs}:  # README: Mamba closest to the floor, then Llama, in every cell
        for m, l, g in zip(excess[("mamba", d)], excess[("llama", d)], excess[("gpt2", d)]):
            assert m < l < g
