"""scripts/ground_truth_warmup.py: trunks compared step by step against a reference directory."""
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[1]


def test_distance_to_the_reference_after_the_warmup_only():
    index = pd.MultiIndex.from_tuples([("s", 1000), ("s", 5000), ("s", 6000)], names=["shape", "step"])
    evals = pd.DataFrame({"ref": [3.0, 2.0, 1.9], "long": [3.5, 2.03, 1.95], "short": [2.9, None, 1.9]},
                         index=index)
    out = load_script("ground_truth_warmup").compare(evals, "ref", after=4000).set_index("sweep")
    assert out.loc["long", "steps"] == 2 and out.loc["long", "mean diff"] == pytest.approx(0.04)
    assert out.loc["long", "max diff"] == pytest.approx(0.05)
    assert out.loc["short", "steps"] == 1 and out.loc["short", "mean diff"] == pytest.approx(0.0)
    assert "ref" not in out.index


def test_the_committed_diagnostic_puts_the_smallest_models_gap_on_the_warmup():
    """The 25k trunk: the 64M column's data order with the 32M column's warm-up trains like the 32M trunk; the 32M
    data with the 64M column's warm-up trains like the 64M trunk (0.03 nats behind)."""
    script = load_script("ground_truth_warmup")
    records = [str(ROOT / r) for r in script.RECORDS]
    evals = script.trunk_evals(records)
    out = script.compare(evals, "ground_truth_32m", after=4000).set_index(["shape", "sweep"])
    assert abs(out.loc[("gpt2-L2-d32", "ground_truth_warmup_order"), "mean diff"]) < 0.01
    assert out.loc[("gpt2-L2-d32", "ground_truth_warmup_long"), "mean diff"] > 0.02
    assert out.loc[("gpt2-L2-d32", "ground_truth_64m"), "mean diff"] > 0.02


def test_an_unknown_reference_is_one_line_and_exit_2():
    result = subprocess.run([sys.executable, "scripts/ground_truth_warmup.py", "--reference", "nope"], cwd=ROOT,
                            capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert result.returncode == 2 and "--reference: nope" in result.stderr
    assert "Traceback" not in result.stderr
