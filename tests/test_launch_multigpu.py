"""A run with G GPUs starts G processes in one process group: submitit's local executor with tasks_per_node = 2
(two gloo processes on CPU) trains one run once, on both ranks; Ray refuses G > 1 rather than leave GPUs idle."""
import json

import pytest

from harness.config import load_sweep
from harness.errors import ConfigError
from harness.launch import ray_engine, slurm

TWO = slurm.SlurmOptions(cluster="local", gpus_per_run=2, cpus_per_run=2, time_min=5, use_wandb=False)


def test_two_gpus_per_run_is_two_tasks_with_the_cpus_split():
    params = slurm._parameters(TWO)
    assert params["tasks_per_node"] == 2 and params["gpus_per_node"] == 2 and params["cpus_per_task"] == 1
    one = slurm._parameters(slurm.SlurmOptions(gpus_per_run=1, cpus_per_run=4))
    assert one["tasks_per_node"] == 1 and one["cpus_per_task"] == 4
    assert slurm._parameters(slurm.SlurmOptions(gpus_per_run=0))["tasks_per_node"] == 1


@pytest.mark.slow  # measured 10 s to 51 s on the 2 shared cores, depending on their load
def test_submitit_two_processes_train_one_run_once_in_one_process_group(sweep_file, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    sweep, results = load_sweep(sweep_file()), tmp_path / "results"
    jobs, _ = slurm.submit(sweep, results, TWO)
    assert len(jobs) == 1 and slurm.wait(jobs) == {"trained": 1, "skipped": 0, "busy": 0, "failed": 0}
    assert [r["state"] for r in jobs[0].results()] == ["trained", "trained"]  # both ranks trained it, together
    [record] = [json.loads(p.read_text()) for p in (results / "tiny").glob("*/result.json")]
    assert record["num_processes"] == 2 and record["status"] == "done"
    assert "#SBATCH --ntasks-per-node=2" in (results / "tiny" / "launch" / "submitit" / "sbatch.preview.sh").read_text()
    again, _ = slurm.submit(sweep, results, TWO)
    assert again == []  # finished: nothing resubmitted


def test_ray_refuses_more_than_one_gpu_per_run():
    with pytest.raises(ConfigError, match="--gpus-per-run 2"):
        ray_engine.validate(ray_engine.RayOptions(gpus_per_run=2))
    ray_engine.validate(ray_engine.RayOptions(gpus_per_run=0.5))
    ray_engine.validate(ray_engine.RayOptions(gpus_per_run=1))


def test_launch_ray_two_gpus_per_run_is_one_line_exit_2_nothing_written(sweep_file, tmp_path, capsys):
    from harness.cli import main

    results = tmp_path / "results"
    with pytest.raises(SystemExit) as exit_info:
        main(["launch", "ray", str(sweep_file()), "--results", str(results), "--address", "local",
              "--gpus-per-run", "2"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and "--gpus-per-run 2" in err
    assert not results.exists()
