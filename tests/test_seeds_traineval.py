"""Train-eval loss, curve fields and seeds aggregated per point, end to end on a tiny 3-seed sweep."""
import json

import numpy as np
import pandas as pd
import pytest

from harness import load_results
from harness.cli import main
from harness.config import load_sweep
from harness.store import aggregate_seeds, load_metrics, read_metrics, seed_variance_weights
from harness.sweep import WorkerOptions, run_sweep
from harness.train import TrainOptions

QUIET = WorkerOptions(TrainOptions(progress=False))


@pytest.fixture(scope="module")
def three_seeds(tmp_path_factory):
    import yaml
    from tests.conftest import TINY_SWEEP, deep_update

    root = tmp_path_factory.mktemp("seeds")
    path = root / "seeds.yaml"
    path.write_text(yaml.safe_dump(deep_update(TINY_SWEEP, {"training": {"seeds": [0, 1, 2], "train_eval": True}})))
    run_sweep(load_sweep(path), root / "results", options=QUIET)
    return path, root / "results"


def test_train_eval_loss_in_metrics_and_result(three_seeds):
    _, results = three_seeds
    table = load_results(results / "tiny")
    assert len(table) == 3 and (table["status"] == "done").all()
    assert table["train_eval_loss"].notna().all() and (table["train_eval_loss_se"] > 0).all()
    assert table["spike_count"].notna().all() and table["best_eval_step"].notna().all()
    assert (table["overfit"] == False).all()  # noqa: E712  (an eighth of an epoch cannot over-fit)
    assert (table["train_eval_loss"] - table["loss"]).abs().min() > 1e-6  # scored on other windows than the test
    run_dir = results / "tiny" / table["run_id"][0]
    evals = [r for r in read_metrics(run_dir / "metrics.jsonl") if "eval_loss" in r]
    assert len(evals) == 2 and all("train_eval_loss" in r for r in evals)  # steps 16 and 32
    result = json.loads((run_dir / "result.json").read_text())
    assert result["train_eval_loss"] == evals[-1]["train_eval_loss"] and "overfit" in result
    assert "train_eval_loss" in load_metrics(results / "tiny").columns


def test_train_eval_off_by_default_leaves_ids_and_rows_alone(sweep_file):
    from harness.plan import expand

    plain, on = (expand(load_sweep(sweep_file(x, name=f"{i}.yaml"))) for i, x in
                 enumerate([{}, {"training": {"train_eval": True}}]))
    assert [s.run_id for s in plain] == [s.run_id for s in on] and not plain[0].train_eval


def test_aggregate_seeds_one_row_per_point(three_seeds):
    _, results = three_seeds
    table = load_results(results / "tiny")
    [point] = aggregate_seeds(table).to_dict("records")
    assert point["seed_count"] == 3 and point["loss"] == pytest.approx(table["loss"].mean())
    assert point["loss_std"] == pytest.approx(table["loss"].std(ddof=1))
    assert point["loss_sem"] == pytest.approx(point["loss_std"] / np.sqrt(3)) and point["loss_std"] > 0


def test_results_by_point_cli(three_seeds, capsys):
    path, results = three_seeds
    main(["results", str(path), "--results", str(results), "--by-point", "--format", "csv"])
    frame = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert len(frame) == 1 and frame["seed_count"][0] == 3 and "loss_sem" in frame


def _seed_csv(tmp_path, noisy_point_sd=0.2):
    """Chinchilla-like losses at 9 (N, D) points × 3 seeds; one point (the largest N and D) is very noisy."""
    rng, rows = np.random.default_rng(0), []
    for n in (1e6, 3e6, 1e7):
        for d in (2e7, 6e7, 2e8):
            sd = noisy_point_sd if (n, d) == (1e7, 2e8) else 0.002
            for seed in range(3):
                loss = 1.8 + 400 / n ** 0.34 + 2000 / d ** 0.37 + rng.normal(0, sd)
                rows.append({"N": n, "D": d, "loss": loss, "loss_se": 0.001, "seed": seed, "status": "done"})
    path = tmp_path / "seeds.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_seed_variance_weights_pool_single_seeds_and_down_weight_noise(tmp_path):
    points = aggregate_seeds(pd.read_csv(_seed_csv(tmp_path)))
    weights = seed_variance_weights(points)
    noisy = (points["N"] == 1e7) & (points["D"] == 2e8)
    assert weights[noisy].iloc[0] < 1e-2 * weights[~noisy].min()
    one = pd.DataFrame({"N": [1, 2], "D": [1, 1], "loss": [2.0, 2.0], "loss_std": [0.1, np.nan],
                        "seed_count": [4, 1], "loss_se": [0.0, 0.0]})
    w = seed_variance_weights(one, space="linear")  # pooled var 0.01: /4 for the first, /1 for the single seed
    assert w[0] / w[1] == pytest.approx(4.0)
    with pytest.raises(ValueError, match="more than one seed"):
        seed_variance_weights(one.iloc[1:])


def test_fit_weights_seed_variance_cli(tmp_path, capsys):
    path = _seed_csv(tmp_path)
    main(["fit", str(path), "--bootstrap", "0", "--json", "--weights", "seed-variance"])
    weighted = json.loads(capsys.readouterr().out)
    assert weighted["n_points"] == 9 and weighted["params"]["alpha"] == pytest.approx(0.34, abs=0.05)
    with pytest.raises(SystemExit) as exc:
        main(["fit", str(path), "--weights", "inverse"])
    assert exc.value.code == 2 and "--weights" in capsys.readouterr().err
    pd.read_csv(path).drop(columns=["seed"]).to_csv(tmp_path / "noseed.csv", index=False)
    with pytest.raises(SystemExit) as exc:
        main(["fit", str(tmp_path / "noseed.csv"), "--weights", "seed-variance"])
    assert exc.value.code == 2 and "noseed.csv: --weights seed-variance needs" in capsys.readouterr().err
    one = pd.read_csv(path).query("seed == 0")
    one.to_csv(tmp_path / "one.csv", index=False)
    with pytest.raises(SystemExit) as exc:
        main(["fit", str(tmp_path / "one.csv"), "--weights", "seed-variance"])
    assert exc.value.code == 2 and "more than one seed" in capsys.readouterr().err


def test_seed_variance_weights_recover_the_law_better_than_equal_weights(tmp_path):
    from harness.fit.fitting import fit_law

    points = aggregate_seeds(pd.read_csv(_seed_csv(tmp_path)))
    equal = fit_law(points, bootstrap=0).params
    weighted = fit_law(points, bootstrap=0, weights=seed_variance_weights(points).to_numpy()).params
    # true E = 1.8; measured: equal weights 1.954, seed-variance weights 1.842
    assert abs(weighted["E"] - 1.8) < 0.5 * abs(equal["E"] - 1.8)


def test_report_shows_seed_noise_spikes_and_gap_figure(three_seeds):
    from harness.plots.sweep import sweep_figures
    from harness.report.html import build_report, curve_lines

    _, results = three_seeds
    table, metrics = load_results(results / "tiny"), load_metrics(results / "tiny")
    figs, missing = sweep_figures(table, metrics)
    assert "generalisation_gap" in figs, missing
    table.loc[0, ["spike_count"]] = 2
    table.at[0, "spike_steps"] = [8, 20]
    table.loc[1, "overfit"] = True
    lines = curve_lines(table)
    assert any("1 run(s) with loss spikes" in line and f"{table['run_id'][0]} (2)" in line for line in lines)
    assert any("over-fitted" in line and table["run_id"][1] in line for line in lines)
    assert any(line.startswith("Seed noise: across 1 (N, D) point(s)") for line in lines)
    assert "Seed noise" in build_report(table, None, metrics)
    figs, _ = sweep_figures(table, metrics)
    crosses = [l for l in figs["training_curves"].axes[0].lines if l.get_marker() == "x"]
    assert len(crosses) == 1 and len(crosses[0].get_xdata()) == 2
