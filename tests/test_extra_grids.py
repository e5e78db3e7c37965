"""extra_grids: more grids of one sweep join its plan with the run ids the sweep's own grid would give them."""
from __future__ import annotations

import pytest

from harness.cli import main
from harness.config import load_sweep
from harness.plan import expand
from tests.conftest import REPO

EXTRA = {"data": {"unique_tokens": [1024, 4096]},
         "extra_grids": [{"tokens": [16384], "unique_tokens": [2048]}, {"seeds": [1], "unique_tokens": [4096]}]}


def ids(path) -> list[str]:
    return [s.run_id for s in expand(load_sweep(path), cuda=False)]


def test_extra_grids_add_their_runs_with_the_full_grids_ids(sweep_file):
    own = ids(sweep_file({"data": {"unique_tokens": [1024, 4096]}}, name="own.yaml"))
    extended = ids(sweep_file(EXTRA, name="extra.yaml"))
    full = ids(sweep_file({"data": {"unique_tokens": [1024, 2048, 4096]}, "budgets": {"tokens": [8192, 16384]},
                           "training": {"seeds": [0, 1]}}, name="full.yaml"))
    assert len(own) == 2 and set(own) < set(extended)        # the sweep's own runs keep their ids
    assert len(extended) == 4 and len(set(extended)) == 4      # 2 own + D=16384 U=2048 + seed 1 U=4096, once each
    assert set(extended) < set(full)                           # the same ids as in the full product
    specs = expand(load_sweep(sweep_file(EXTRA, name="extra.yaml")), cuda=False)
    assert [(s.tokens, s.unique_tokens, s.seed) for s in specs] == [
        (8192, 1024, 0), (8192, 4096, 0), (8192, 4096, 1), (16384, 2048, 0)]   # plan order: D, U, seed


def test_extra_grid_overlapping_the_own_grid_adds_nothing(sweep_file):
    same = ids(sweep_file({"extra_grids": [{"tokens": [8192]}]}))
    assert same == ids(sweep_file({}, name="plain.yaml"))


def test_extra_grid_sizes_replace_the_shapes(sweep_file):
    specs = expand(load_sweep(sweep_file({"extra_grids": [{"sizes": [25000]}]})), cuda=False)
    assert sorted(str(s.target_size) for s in specs) == ["25000.0", "None"]   # the sweep's shape, the grid's size


@pytest.mark.parametrize("extra,needle", [
    ({"extra_grids": [{"unique_tokens": [100000]}]}, "extra_grids[0]: data.unique_tokens: 100000 is larger"),
    ({"extra_grids": [{"seeds": [-1]}]}, "extra_grids[0]: training.seeds: seeds must be"),
    ({"extra_grids": [{"tokens": [-5]}]}, "extra_grids[0]: budgets: every value in 'tokens' must be positive"),
    ({"extra_grids": [{"size": [1e5]}]}, "extra_grids.0.size"),
    ({"budgets": {"tokens": [8192, 16384], "branching": "wsd"}, "extra_grids": [{"tokens": [4096]}]},
     "only for budgets.mode 'grid' without branching"),
])
def test_bad_extra_grid_one_line_exit_2(sweep_file, capsys, extra, needle):
    with pytest.raises(SystemExit) as exc:
        main(["plan", str(sweep_file(extra))])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and needle in err and len(err.splitlines()) == 1, err


def test_data_constrained_plan_keeps_every_committed_record():
    """The reference sweep's extra grids leave the committed runs' ids in its plan."""
    planned = set(ids(REPO / "sweeps" / "data_constrained.yaml"))
    committed = {p.name for p in (REPO / "results" / "reference" / "data_constrained").iterdir() if p.is_dir()}
    assert len(committed) >= 24 and committed <= planned
