"""scripts/validate_ground_truth.py on a sweep drawn from a known law: it recovers E and says the targets are met."""
import numpy as np

from harness.fit import simulate
from tests.conftest import load_script

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
