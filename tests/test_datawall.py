"""The data wall: data.unique_tokens as a plan axis, repetition recorded per run, warnings, the U column in fits."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from harness import train as train_module
from harness.cli import main
from harness.config import load_sweep
from tests.conftest import REPO
from harness.cost import cost_table
from harness.datawall import repetition_fields, unique_windows
from harness.errors import ConfigError
from harness.fit.simulate import simulate
from harness.plan import expand, plan_table
from harness.sweep import WorkerOptions, run_sweep
from harness.train import TrainOptions

QUIET = WorkerOptions(TrainOptions(progress=False))
CAPPED = {"data": {"unique_tokens": [1024, 4096]}}  # tiny sweep: context 16, 65536 synthetic train tokens


def test_caps_are_a_plan_axis_and_leave_uncapped_ids_alone(sweep_file):
    plain = expand(load_sweep(sweep_file()))
    capped = expand(load_sweep(sweep_file(CAPPED, name="capped.yaml")))
    assert [s.unique_tokens for s in capped] == [1024, 4096]
    assert all("-U1.0e03-" in s.run_id or "-U4.1e03-" in s.run_id for s in capped)
    assert plain[0].run_id not in {s.run_id for s in capped}  # a capped run is another run
    assert all(s.data.unique_tokens == [] for s in capped)  # the cap lives on the spec, not in its data
    table = cost_table(plan_table(capped), load_sweep(sweep_file(CAPPED, name="capped.yaml")), "h100", 0.4)
    assert table["U"].tolist() == [1024, 4096] and table["epochs"].tolist() == [8192 / 1024, 8192 / 4096]


def test_quickstart_ids_unchanged():
    # ids from results/reference/quickstart_cosine (committed before data.unique_tokens existed)
    ids = {s.run_id for s in expand(load_sweep("sweeps/quickstart_cosine.yaml"), cuda=False)}
    assert "gpt2-L2-d32-D5.0e05-s0-18fdab2fc7" in ids and "gpt2-L3-d64-D2.0e06-s0-f1a53d014f" in ids


@pytest.mark.parametrize("caps,needle", [([100000], "larger than the corpus"), ([0], "unique_tokens"),
                                         ([-5], "unique_tokens"), ([8], "below one window")])
def test_bad_caps_one_line_exit_2(sweep_file, capsys, caps, needle):
    path = sweep_file({"data": {"unique_tokens": caps}})
    with pytest.raises(SystemExit) as exc:
        main(["plan", str(path)])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and needle in err and "data.unique_tokens" in err and len(err.splitlines()) == 1


def test_asked_repetition_is_not_warned_unasked_is(sweep_file, capsys):
    main(["plan", str(sweep_file({"data": {"unique_tokens": [1024]}}))])
    out = capsys.readouterr().out
    assert "would repeat data" not in out and "8" in out
    main(["plan", str(sweep_file({"budgets": {"tokens": [131072]}}, name="over.yaml"))])
    assert "warning: 1 of 1 runs would repeat data (up to 2 epochs)" in capsys.readouterr().out


def test_unique_windows_and_fields():
    assert unique_windows(None, 16, 100) == 100 and unique_windows(1024, 16, 100) == 64
    with pytest.raises(ConfigError, match="data.unique_tokens"):
        unique_windows(4096, 16, 100)
    fields = repetition_fields(8192, 1024, 16, 64)
    assert fields == {"U": 1024.0, "unique_tokens_cap": 1024, "epochs": 8.0, "tokens_per_unique": 8.0}
    # uncapped, fewer tokens than the corpus: U is what was seen, under one epoch
    assert repetition_fields(8192, None, 16, 4096) == {"U": 8192.0, "unique_tokens_cap": None,
                                                         "epochs": 0.125, "tokens_per_unique": 1.0}


def test_capped_run_draws_only_the_first_windows_and_records_it(sweep_file, tmp_path, monkeypatch, capsys):
    seen = []
    original = train_module.BatchOrder.indices

    def spy(self, step, batch):
        out = original(self, step, batch)
        seen.append(out)
        return out

    monkeypatch.setattr(train_module.BatchOrder, "indices", spy)
    sweep = load_sweep(sweep_file({"data": {"unique_tokens": [1024]}}))
    run_sweep(sweep, tmp_path, options=QUIET)
    [spec] = expand(sweep)
    result = json.loads((tmp_path / "tiny" / spec.run_id / "result.json").read_text())
    assert (result["U"], result["unique_tokens_cap"], result["epochs"], result["tokens_per_unique"]) == (1024, 1024, 8, 8)
    drawn = np.concatenate(seen)
    assert drawn.max() == 63 and np.bincount(drawn).tolist() == [8] * 64  # 8 epochs over windows 0..63
    from harness.store import load_table
    table = load_table(str(sweep_file({"data": {"unique_tokens": [1024]}})), tmp_path)
    assert table["U"].tolist() == [1024] and table["epochs"].tolist() == [8]
    capsys.readouterr()
    main(["results", str(sweep_file({"data": {"unique_tokens": [1024]}})), "--results", str(tmp_path)])
    out = capsys.readouterr().out
    assert all(col in out for col in ("U", "epochs", "tokens_per_unique"))


def test_fit_needs_u_and_reads_col_u(fit_app, tmp_path):
    n, d, u = np.meshgrid([1e7, 3e7, 1e8], [2e8, 6e8, 2e9, 6e9], [1e8, 1e9], indexing="ij")
    truth = {"E": 1.9, "A": 500.0, "B": 2000.0, "alpha": 0.35, "beta": 0.35, "R_D_star": 15.4, "R_N_star": 5.3}
    table = simulate("data_constrained", truth, N=n.ravel(), D=d.ravel(), U=u.ravel(), noise=0.0)
    path = tmp_path / "runs.csv"
    table.rename(columns={"U": "unique"}).to_csv(path, index=False)
    missing = CliRunner().invoke(fit_app, ["fit", str(path), "--law", "data_constrained", "--bootstrap", "0"])
    assert missing.exit_code == 2 and "'U'" in missing.output and "--col-U" in missing.output
    ok = CliRunner().invoke(fit_app, ["fit", str(path), "--law", "data_constrained", "--bootstrap", "0",
                                      "--col-U", "unique", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["n_points"] == len(table)


def test_loss_vs_epochs_figure_one_line_per_cell(tmp_path):
    from harness import plots

    n = np.repeat([3e4, 7e4], 3)
    d = np.full(6, 5e5)
    epochs = np.tile([0.5, 8.0, 64.0], 2)
    loss = np.array([3.5, 3.52, 3.7, 3.4, 3.43, 3.65])
    law = lambda nn, dd, uu: 3.0 + 0 * nn + 1e3 / np.minimum(uu, dd) ** 0.5  # noqa: E731
    fig = plots.loss_vs_epochs(n, d, epochs, loss, law, loss_se=np.full(6, 0.01))
    ax = fig.axes[0]
    assert len(ax.get_legend_handles_labels()[1]) == 2 and ax.get_xscale() == "log"
    assert len([line for line in ax.get_lines() if line.get_linestyle() == "--"]) == 2  # the law per cell
    assert {p.name for p in plots.save(fig, tmp_path, "epochs")} == {"epochs.png", "epochs.svg"}


def test_fit_of_records_without_u_says_why(capsys, tmp_path):
    import json
    import shutil

    # records made before data.unique_tokens existed: the reference quickstart with U taken out of result.json
    shutil.copytree(REPO / "results" / "reference" / "quickstart", tmp_path / "quickstart")
    for path in (tmp_path / "quickstart").glob("*/result.json"):
        result = json.loads(path.read_text())
        path.write_text(json.dumps({k: v for k, v in result.items() if k not in ("U", "unique_tokens_cap",
                                                                                    "tokens_per_unique")}))
    with pytest.raises(SystemExit) as exc:
        main(["fit", "quickstart", "--results", str(tmp_path), "--law", "data_constrained", "--bootstrap", "0"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and "carry no U" in err and "--col-U" in err and len(err.splitlines()) == 1


def test_lr_sweep_best_is_chosen_per_unique_token_cap():
    import pandas as pd

    from harness.store import mark_lr_sweep_best

    shape = {"family": "gpt2", "n_layer": 2, "d_model": 32, "n_head": 2, "d_ff": 128, "D": 8192, "seed": 0, "status": "done"}
    table = pd.DataFrame([{**shape, "unique_tokens_cap": u, "lr": lr, "loss": loss}
                          for u, lr, loss in ((1024, 1e-3, 3.0), (1024, 2e-3, 3.1), (4096, 1e-3, 2.9), (4096, 2e-3, 2.8))])
    assert mark_lr_sweep_best(table)["lr_sweep_best"].tolist() == [True, False, False, True]
