"""One run on two processes: train() under ``torchrun --nproc_per_node 2`` (accelerate DDP over gloo, CPU).

(``accelerate launch --cpu --num_processes 2`` on one machine starts a single process, so it would not
test DDP; torchrun sets WORLD_SIZE/RANK and accelerate's Accelerator picks MULTI_CPU from them.)

Same record schema as a single-process run; the final loss agrees within a tolerance, not bitwise: each
step all-reduces two half-batch mean gradients instead of one full-batch mean, so fp32 sums happen in
another order (~1e-7 relative per step), which Adam carries through the run. Measured here: 2e-8 nats
after 32 steps; the bound 1e-3 nats is ~20× below the run's own standard error (~0.02).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def _launch_two_processes(spec_file: Path, run_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           __file__, str(spec_file), str(run_dir)]
    return subprocess.run(cmd, env=env, cwd=REPO, text=True, capture_output=True, timeout=300)


def test_ddp_two_processes_match_one_process(sweep_file, tmp_path):
    from harness.config import load_sweep
    from harness.plan import expand
    from harness.train import TrainOptions, train

    [spec] = expand(load_sweep(sweep_file()))
    single = train(spec, tmp_path / "single" / "tiny" / spec.run_id, TrainOptions(progress=False))
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec.model_dump(mode="json")))
    ddp_dir = tmp_path / "ddp" / "tiny" / spec.run_id
    done = _launch_two_processes(spec_file, ddp_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    ddp = json.loads((ddp_dir / "result.json").read_text())
    assert ddp["num_processes"] == 2 and single["num_processes"] == 1
    assert set(ddp) == set(single) and ddp["status"] == "done"
    assert abs(ddp["loss"] - single["loss"]) < 1e-3, (ddp["loss"], single["loss"])
    assert abs(ddp["train_loss"] - single["train_loss"]) < 1e-3
    print(f"DDP x2 vs single: |Δloss| = {abs(ddp['loss'] - single['loss']):.2e} nats (se {single['loss_se']:.3f})")


if __name__ == "__main__":  # the script each DDP rank runs
    from harness.plan import RunSpec
    from harness.train import TrainOptions, train

    train(RunSpec.model_validate_json(Path(sys.argv[1]).read_text()), Path(sys.argv[2]), TrainOptions(progress=False))


def test_harness_run_under_torchrun_trains_each_run_once_on_both_ranks(sweep_file, tmp_path):
    path = sweep_file({"model": {"shapes": [{"n_layer": 1, "d_model": 32, "n_head": 2},
                                            {"n_layer": 2, "d_model": 32, "n_head": 2}]}})
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "harness", "run", str(path), "--results", str(tmp_path / "results"), "--no-wandb"]
    done = subprocess.run(cmd, env=env, cwd=REPO, text=True, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in (tmp_path / "results" / "tiny").glob("*/result.json")]
    assert len(records) == 2 and all(r["num_processes"] == 2 and r["status"] == "done" for r in records)
    assert done.stdout.count("trained 2, already done 0") == 2  # each rank reports the same decisions
