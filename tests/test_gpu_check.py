"""scripts/gpu_check.sh: its GPU sizes reach 50M parameters, its sweeps expand to 6 runs, the throughput summary
fails when runs are missing, and (slow) the CPU mode runs end to end."""
import os
import subprocess

import pytest

from harness.config import load_sweep
from harness.plan import expand
from tests.conftest import REPO, load_script


def _script(name: str):
    return load_script(name)


def test_bench_gpu_sizes_reach_50m_parameters_and_the_check_uses_them():
    bench, sizes_of = _script("bench_train"), _script("gpu_bench").SIZES
    sizes = [bench._spec(*shape, "bf16", True).N_total for shape in sizes_of["gpu"]]
    assert max(sizes) >= 50e6 and len(sizes) == 3 and sizes == sorted(sizes)
    text = (REPO / "scripts" / "gpu_check.sh").read_text()
    assert "--sizes gpu" in text and "--compile" in text and "--precision bf16" in text and "--workers auto" in text


def test_gpu_check_sweeps_are_six_run_grids_on_the_synthetic_source():
    for name in ("gpu_check", "gpu_check_cpu"):
        sweep = load_sweep(REPO / "sweeps" / f"{name}.yaml")
        assert sweep.data.source == "synthetic" and len(expand(sweep)) == 6, name


def test_throughput_summary_fails_when_runs_are_missing(tmp_path, capsys):
    summary = _script("sweep_throughput")
    assert summary.main(["gpu_check_cpu", str(tmp_path), "--expect", "6"]) == 1
    assert "0 of 6 runs done" in capsys.readouterr().err


@pytest.mark.slow
def test_gpu_check_cpu_mode_end_to_end(tmp_path):
    env = {**os.environ, "GPU_CHECK_CPU": "1", "GPU_CHECK_RESULTS": str(tmp_path / "results"),
           "PYTHON": os.environ.get("PYTHON", __import__("sys").executable), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(["bash", "scripts/gpu_check.sh"], cwd=REPO, env=env, text=True, capture_output=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "6 runs done" in done.stdout and "gpu check passed" in done.stdout
    assert done.stdout.count("x32 ctx32 b4") == 2 and "2x64 ctx32 b4" in done.stdout  # the three bench sizes
