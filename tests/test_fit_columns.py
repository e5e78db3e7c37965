"""A table of numbers without pandas (harness.fit.columns): what it reads, what it leaves to pandas, and that a fit of
it equals the fit of the same numbers read by pandas."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.fit import fit_law
from harness.fit.columns import Columns, read_numbers
from harness.fit.simulate import simulate, sweep_grid
from harness.fit.table import read_csv
from tests.conftest import SHARED_EXTERNAL as EXTERNAL

TRUE = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}


def _epoch_dir() -> Path:
    """Epoch's data (shared/external), as in test_fit_golden: loud when missing, skipped only by HARNESS_SKIP_GOLDEN=1."""
    folder = EXTERNAL / "epoch_chinchilla"
    if not folder.is_dir():
        if os.environ.get("HARNESS_SKIP_GOLDEN") == "1" and not os.environ.get("CI"):
            pytest.skip(f"golden data not found at {folder} (HARNESS_SKIP_GOLDEN=1)")
        pytest.fail(f"golden data not found at {folder}: check it out or set HARNESS_SKIP_GOLDEN=1 outside CI")
    return folder


@pytest.fixture
def runs(tmp_path) -> Path:
    n, d = sweep_grid(np.geomspace(1e7, 1e9, 5), [5, 10, 20, 40])
    path = tmp_path / "runs.csv"
    simulate("chinchilla", TRUE, N=n, D=d, noise=0.005, seed=0)[["N", "C", "loss"]].to_csv(path, index=False)
    return path


def test_numbers_read_as_pandas_reads_them(runs):
    table = read_numbers(runs)
    frame = pd.read_csv(runs)
    assert isinstance(table, Columns) and len(table) == 20 and table.columns == ["N", "C", "loss"]
    for name in frame:
        np.testing.assert_array_equal(table[name], frame[name].to_numpy(float))   # bit for bit


@pytest.mark.parametrize("text", [
    "N,loss\n1e7,abc\n", "N,loss\n1e7,\n", "N,loss\n1e7,nan\n", "N,loss\n1e7, 2.5\n", "N,loss\n1e7,2.5,3\n",
    "N,N\n1e7,2.5\n", "N,\n1e7,2.5\n", "N,loss\n", "", "\ufeffN,loss\n1e7,2.5\n", "N,loss\n1_000,2.5\n"])
def test_anything_but_plain_numbers_is_left_to_pandas(tmp_path, text):
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    assert read_numbers(path) is None


def test_kept_columns_may_sit_beside_text(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('name,N,loss\n"a, b",1e7,2.5\nc,+2E8,.5\n')
    table = read_numbers(path, keep=["loss", "N"])
    assert table.columns == ["loss", "N"] and table["N"].tolist() == [1e7, 2e8] and table["loss"].tolist() == [2.5, 0.5]
    assert read_numbers(path) is None and read_numbers(path, keep=["missing"]) is None


def test_columns_behave_like_the_frame_where_the_fitter_looks(runs):
    table = read_numbers(runs)
    copy = table.copy()
    copy["D"] = copy["C"] / (6 * copy["N"])
    assert "D" in copy and "D" not in table and list(copy.index) == list(range(20))
    renamed = table.rename(columns={"N": "params"})
    assert renamed.columns == ["params", "C", "loss"] and table.columns == ["N", "C", "loss"]
    assert isinstance(table.rename(columns={"N": "C"}), pd.DataFrame)     # two columns of one name: pandas' business
    pd.testing.assert_frame_equal(table.to_pandas(), pd.read_csv(runs), check_dtype=False)


def test_a_fit_of_columns_is_the_fit_of_the_frame(runs):
    frame = pd.read_csv(runs)
    table = read_csv(runs, numbers=True)
    assert isinstance(table, Columns)
    assert fit_law(table, bootstrap=20).to_dict() == fit_law(frame, bootstrap=20).to_dict()


def test_frame_only_columns_go_through_pandas(tmp_path, runs):
    with_epochs = pd.read_csv(runs).assign(epochs=np.where(np.arange(20) == 0, 2.0, 1.0))
    path = tmp_path / "epochs.csv"
    with_epochs.to_csv(path, index=False)
    assert isinstance(read_numbers(path), Columns) and isinstance(read_csv(path, numbers=True), pd.DataFrame)
    direct = fit_law(Columns({k: with_epochs[k] for k in with_epochs}), bootstrap=0)
    assert any("repeated their training data" in w for w in direct.warnings)


def test_epoch_data_set_without_pandas_equals_load_dataset():
    from harness.fit.datasets import dataset_numbers, load_dataset

    frame = load_dataset("chinchilla-epoch", _epoch_dir())
    table = dataset_numbers("chinchilla-epoch", _epoch_dir())
    assert isinstance(table, Columns) and table.columns == list(frame.columns) == ["N", "C", "loss", "D"]
    for name in frame:
        np.testing.assert_array_equal(table[name], frame[name].to_numpy())

