"""scripts/ground_truth_residuals.py on a sweep drawn from a known law: noise-sized residuals at the true floor, a
pattern at a wrong one, and the cuts it refits."""
import numpy as np

from harness.fit import simulate
from tests.conftest import load_script

TRUTH = {"E": 1.8, "A": 40.0, "alpha": 0.4, "B": 60.0, "beta": 0.35}


def _table():
    N, D = np.meshgrid([1e4, 3e4, 1e5, 3e5, 1e6], [1e6, 3e6, 1e7, 3e7])
    table = simulate("chinchilla", TRUTH, N=N, D=D, noise=0.001, seed=1)
    return table.assign(N_nonembed=table["N"].astype(int))


def test_residuals_are_noise_at_the_true_floor_and_a_pattern_at_a_wrong_one():
    script, table = load_script("ground_truth_residuals"), _table()
    right = script.residual_grid(table, TRUTH["E"])
    wrong = script.residual_grid(table, 1.6)
    assert right.shape == (5, 4) and np.abs(right.to_numpy()).max() < 0.5   # noise 0.1 %
    assert np.abs(wrong.to_numpy()).max() > 3 * np.abs(right.to_numpy()).max()


def test_cuts_leave_out_the_smallest_size_budget_and_each_inner_row():
    script, table = load_script("ground_truth_residuals"), _table()
    cuts = script.cuts(table)
    assert len(cuts["all runs"]) == 20 and len(cuts["without the smallest size"]) == 16
    assert len(cuts["without the smallest budget"]) == 15 and len(cuts["without both"]) == 12
    assert {k for k in cuts if k.endswith("row")} == {"without the 30,000 row", "without the 100,000 row",
                                                        "without the 300,000 row"}


def test_trunks_of_one_shape_in_two_sweeps_are_compared_at_their_last_shared_step(tmp_path):
    import json

    script = load_script("ground_truth_residuals")
    for sweep, losses in (("short", {1000: 2.5, 2000: 2.4}), ("long", {1000: 2.6, 2000: 2.45, 3000: 2.3})):
        trunk = tmp_path / sweep / "trunk-gpt2-L2-d32-D1.3e07-s0-abc"
        trunk.mkdir(parents=True)
        (trunk / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "eval_loss": v}) + "\n"
                                                     for s, v in losses.items()))
    rows = script.trunk_agreement(script.trunk_evals([tmp_path / "short", tmp_path / "long"]))
    assert list(rows.index) == [("gpt2-L2-d32", 2000)]
    assert abs(rows["spread"].iloc[0] - 0.05) < 1e-12
