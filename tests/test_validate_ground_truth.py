"""scripts/validate_ground_truth.py on a sweep drawn from a known law: it recovers E and says the targets are met."""
import numpy as np

from harness.fit import simulate
from tests.conftest import REPO, load_script

TRUTH = {"E": 1.8, "A": 40.0, "alpha": 0.4, "B": 60.0, "beta": 0.35}


def _script():
    return load_script("validate_ground_truth")


def _table():
    N, D = np.meshgrid([1e4, 3e4, 1e5, 3e5, 1e6], [1e6, 3e6, 1e7, 3e7])
    table = simulate("chinchilla", TRUTH, N=N, D=D, noise=0.001, seed=1)
    n = len(table)
    return table.assign(N_total=table["N"], run_id=[f"r{i}" for i in range(n)], status="done",
                        floor=TRUTH["E"], floor_se=0.01, floor_expected=TRUTH["E"])


def test_recovers_a_known_floor_and_extrapolates(capsys):
    script, table = _script(), _table()
    assert script.report_fit(table, script._fit(table, 100, "total"))
    assert script.report_holdout(table, 100, "total")
    out = capsys.readouterr().out
    assert "target < 2%: met" in out and "CI covers the floor: yes" in out and "target < 1%: met" in out


def test_misses_when_the_floor_is_not_the_laws(capsys):
    script, table = _script(), _table()
    wrong = table.assign(floor=1.6)
    assert not script.report_fit(wrong, script._fit(wrong, 100, "total"))
    assert "MISSED" in capsys.readouterr().out


def _run_script(*args):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    return subprocess.run([sys.executable, "scripts/validate_ground_truth.py", *args], cwd=root, capture_output=True,
                          text=True, env={**__import__("os").environ, "PYTHONPATH": str(root)})


def test_a_missing_records_directory_is_one_line_and_exit_2():
    done = _run_script("results/reference/ground_truth", "results/reference/no_such_sweep")
    assert done.returncode == 2 and "no such directory: results/reference/no_such_sweep" in done.stderr
    assert "Traceback" not in done.stderr


def test_sweeps_on_different_eval_sets_are_refused():
    done = _run_script("results/reference/ground_truth", "results/reference/ground_truth_v256")
    assert done.returncode == 2 and "one known eval-set floor" in done.stderr and "Traceback" not in done.stderr


def test_the_32m_column_shares_the_eval_set_floor_and_first_training_documents_of_the_2_16m_sweep():
    """What fitting the two sweep files together rests on: one eval set (one exact floor), and the 32M train set
    extending the 16M one (the first 16M tokens the same documents), so every run sees fresh data once."""
    import numpy as np

    from harness.config import load_sweep
    from harness.data.synthetic import synthetic_splits
    from tests.conftest import REPO

    small, large = (load_sweep(REPO / "sweeps" / f).data for f in ("ground_truth.yaml", "ground_truth_32m.yaml"))
    assert (small.context_length, small.eval_tokens) == (large.context_length, large.eval_tokens)
    a = synthetic_splits(small.synthetic, small.context_length, small.eval_tokens)
    b = synthetic_splits(large.synthetic, large.context_length, large.eval_tokens)
    assert np.array_equal(a.test, b.test) and a.floor == b.floor
    assert len(b.train) == 2 * len(a.train) and np.array_equal(a.train, b.train[:len(a.train)])


def test_the_model_average_recovers_a_known_floor_and_predicts_the_held_out_size(capsys):
    """--law averaged: both laws fitted, averaged with their AICc weights; E's MATA interval holds the floor and the
    averaged prediction of the largest size is within the target. A wrong floor is missed."""
    script, table = _script(), _table()
    fit = script._fit(table, 60, "total", "averaged")
    assert set(fit["akaike_weights"]) == {"chinchilla", "coupled"} and fit["ci"]["E"][0] < fit["ci"]["E"][1]
    assert script.report_fit(table, fit)
    assert script.report_holdout(table, 60, "total", "averaged")
    out = capsys.readouterr().out
    assert "averaged with them" in out and "CI covers the floor: yes" in out and "target < 1%: met" in out
    assert not script.report_fit(table.assign(floor=1.6), fit)


def test_the_model_average_needs_bootstrap_draws():
    done = _run_script("--law", "averaged", "--bootstrap", "0")
    assert done.returncode == 2 and "--law averaged" in done.stderr and "Traceback" not in done.stderr


def test_no_model_averaged_interval_for_an_e_neither_law_identifies():
    """On the replicate language's 30 runs neither law identifies E (flat profile below): --law aicc prints no
    model-averaged interval for it, as a single fit prints none (issue 9, item 3)."""
    done = _run_script("results/reference/ground_truth_replicate", "--law", "aicc", "--bootstrap", "100")
    assert done.returncode == 0, done.stderr
    assert "E model-averaged         no interval: E is not identified by both laws" in done.stdout
    assert "E model-averaged, 95% CI" not in done.stdout


def test_an_lr_sweep_is_validated_on_each_points_best_lr(capsys):
    import argparse

    script = load_script("validate_ground_truth")
    table = script.load_records(argparse.ArgumentParser(), [str(REPO / "results/reference/ground_truth_replicate_lr")])
    assert len(table) == 8 and table.groupby(["N_total", "D"]).size().max() == 1   # 4 sizes x 2 budgets, one LR each
    assert "24 LR-sweep runs left out" in capsys.readouterr().out
    best = table.set_index(["d_model", "D"])["loss"]
    assert abs(best[(64, 2000896)] - 2.4046) < 5e-5   # the best LR at d64, 2M (half the rule)
