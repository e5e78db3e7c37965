"""`harness fit` / `harness simulate` through a small typer app built with register()."""
from __future__ import annotations

import os
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from harness.fit.simulate import simulate, sweep_grid

EXTERNAL = Path(__file__).resolve().parents[2] / "shared" / "external"
TRUE = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}


@pytest.fixture
def csv(tmp_path):
    n, d = sweep_grid(np.geomspace(1e7, 1e9, 5), [5, 10, 20, 40])
    path = tmp_path / "runs.csv"
    simulate("chinchilla", TRUE, N=n, D=d, noise=0.005, seed=0)[["N", "C", "loss"]].to_csv(path, index=False)
    return path


def run(fit_app, *args):
    return CliRunner().invoke(fit_app, [str(a) for a in args])


def test_fit_json_from_csv_with_c_column(fit_app, csv):
    out = run(fit_app, "fit", csv, "--json", "--bootstrap", "100")
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert {"law", "objective", "params", "ci", "objective_value", "n_points", "warnings", "derived"} <= set(result)
    assert result["params"]["alpha"] == pytest.approx(0.35, abs=0.03) and result["n_points"] == 20
    assert result["ci"]["alpha"][0] < result["params"]["alpha"] < result["ci"]["alpha"][1]


def test_fit_table_and_renamed_columns(fit_app, csv, tmp_path):
    renamed = tmp_path / "other.csv"
    pd.read_csv(csv).rename(columns={"N": "params", "loss": "val"}).to_csv(renamed, index=False)
    out = run(fit_app, "fit", renamed, "--col-N", "params", "--col-loss", "val", "--bootstrap", "0")
    assert out.exit_code == 0, out.output
    assert "alpha" in out.output and "objective value" in out.output


@pytest.mark.parametrize("mutate,message", [
    (lambda t: t.assign(loss=np.where(t.index == 3, np.nan, t["loss"])),
     "'loss' has NaN or infinite values (first: data row 4"),
    (lambda t: t.assign(loss=-t["loss"]), "non-positive"),
    (lambda t: t.drop(columns=["loss"]), "no column 'loss'"),
    (lambda t: t.drop(columns=["loss"]), "--col-loss"),
    (lambda t: t.assign(loss=t["loss"].astype(object).where(t.index != 3, "abc")),
     "column 'loss' has a value that is not a number (data row 4: 'abc')"),
    (lambda t: t.assign(N=t["N"].astype(object).where(t.index != 0, "1.5B")),
     "column 'N' has a value that is not a number (data row 1: '1.5B')"),
    (lambda t: t.rename(columns={"N": "params"}), "no column 'N_total' or 'N' for the total N convention"),
    (lambda t: t.rename(columns={"N": "params"}), "'params'"),
    (lambda t: t.rename(columns={"N": "params"}), "--col-N NAME"),
    (lambda t: t.drop(columns=["C"]), "--col-D NAME (or --col-C NAME)"),
    (lambda t: t.assign(N=1e8), "single value"),
    (lambda t: t.head(3), "fewer than"),
])
def test_bad_input_one_line_exit_2(fit_app, csv, tmp_path, mutate, message):
    bad = tmp_path / "bad.csv"
    mutate(pd.read_csv(csv)).to_csv(bad, index=False)
    out = run(fit_app, "fit", bad, "--bootstrap", "0")
    assert out.exit_code == 2
    assert message in out.output and out.output.count("\n") == 1 and out.output.startswith("error:")


def test_fit_dataset_from_local_copy(fit_app):
    if not EXTERNAL.is_dir():   # as in test_fit_golden: loud, never a silent skip
        if os.environ.get("HARNESS_SKIP_GOLDEN") == "1" and not os.environ.get("CI"):
            pytest.skip(f"golden data not found at {EXTERNAL} (HARNESS_SKIP_GOLDEN=1)")
        pytest.fail(f"golden data not found at {EXTERNAL}: check it out or set HARNESS_SKIP_GOLDEN=1 outside CI")
    out = run(fit_app, "fit", "--dataset", "kyo", "--data-dir", EXTERNAL / "kyo_chinchilla", "--json",
              "--bootstrap", "0", "--objective", "mse")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["n_points"] == 234


@pytest.mark.parametrize("objective,header", [("mse", "objective mse (space=log, reduction=sum)"),
                                              ("huber", "objective huber (delta=0.001, space=log, reduction=sum)")])
def test_fit_header_shows_delta_only_for_huber(fit_app, csv, objective, header):
    out = run(fit_app, "fit", csv, "--bootstrap", "0", "--objective", objective)
    assert out.exit_code == 0, out.output
    assert header in out.output.splitlines()[0]


def test_simulate_writes_csv(fit_app, tmp_path):
    target = tmp_path / "sim.csv"
    out = run(fit_app, "simulate", "--N", "1e7,1e8", "--tokens-per-param", "10,20", "--out", target)
    assert out.exit_code == 0, out.output
    table = pd.read_csv(target)
    assert len(table) == 4 and (table["loss"] > 1.8).all()
    assert run(fit_app, "simulate", "--N", "x").exit_code == 2


def test_diverged_runs_are_kept_out_with_a_visible_warning():
    import numpy as np
    import pandas as pd

    from harness.fit import fit_law

    n = np.repeat([1e6, 3e6, 1e7], 3)
    d = np.tile([1e8, 3e8, 1e9], 3)
    table = pd.DataFrame({"run_id": [f"r{i}" for i in range(9)], "status": "done", "N": n, "D": d,
                          "loss": 1.7 + 400 / n ** 0.34 + 400 / d ** 0.28})
    table.loc[4, ["status", "loss"]] = ["diverged", np.nan]
    fit = fit_law(table)
    assert fit.n_points == 8
    assert any("1 diverged run(s) kept out of the fit: r4" in w for w in fit.warnings)


def test_a_table_too_large_to_fit_is_refused_in_one_line(fit_app, tmp_path):
    from harness.fit.table import MAX_FIT_ROWS

    n = MAX_FIT_ROWS + 1
    path = tmp_path / "big.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame({"N": rng.uniform(1e6, 1e9, n), "D": rng.uniform(1e8, 1e11, n), "loss": 2.0}).to_csv(path, index=False)
    out = run(fit_app, "fit", path, "--bootstrap", "0")
    assert out.exit_code == 2 and out.output.count("\n") == 1
    assert f"{n:,} rows" in out.output and "--by-point" in out.output
