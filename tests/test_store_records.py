"""Records as others find them: permissions under the umask, damaged or edited records, runs of an older plan,
symlinked run directories, and a status that does not import torch. Records are written by hand (no training)."""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import load_sweep
from harness.errors import ConfigError
from harness.plan import expand
from harness.store import atomic_write_json, load_done_runs, load_results, load_table, read_json
from tests.conftest import REPO

TWO = {"budgets": {"tokens": [4096, 8192]}}


def _record(root: Path, spec, **result) -> Path:
    run_dir = root / spec.run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "spec.json").write_text(json.dumps(spec.model_dump(mode="json")))
    payload = {"run_id": spec.run_id, "sweep": spec.sweep, "status": "done", "N_total": spec.N_total,
               "N_nonembed": spec.N_nonembed, "D": spec.tokens, "seed": spec.seed, "loss": 2.5, **result}
    (run_dir / "result.json").write_text(json.dumps(payload))
    return run_dir


def _sweep(sweep_file, overrides=TWO, results=None):
    path = sweep_file(overrides)
    specs = expand(load_sweep(path))
    return path, specs


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_records_get_the_mode_the_umask_allows(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write_json(tmp_path / "result.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "result.json").stat().st_mode) == mode


def test_deeply_nested_json_is_a_corrupt_record_not_a_crash(sweep_file, tmp_path):
    from harness.sweep import sweep_status

    path, specs = _sweep(sweep_file)
    root = tmp_path / "results" / "tiny"
    deep, fine = (_record(root, s) for s in specs)
    (deep / "result.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.warns(UserWarning, match=rf"{deep / 'result.json'}: unreadable record \(RecursionError\)"):
        assert read_json(deep / "result.json") is None
    with pytest.warns(UserWarning, match="unreadable record"):
        assert list(load_results(root)["run_id"]) == [fine.name]
    with pytest.warns(UserWarning, match="unreadable record"):
        states = sweep_status(load_sweep(path), tmp_path / "results").set_index("run_id")["state"]
    assert states[deep.name] == "pending" and states[fine.name] == "done"


def test_a_non_number_in_a_numeric_field_leaves_that_record_out_naming_file_and_field(sweep_file, tmp_path):
    _, specs = _sweep(sweep_file)
    root = tmp_path / "results" / "tiny"
    bad = _record(root, specs[0], N_total="abc")
    good = _record(root, specs[1], loss_se=0.01)
    with pytest.warns(UserWarning, match=rf"{bad / 'result.json'}: field N_total is not a number"):
        table = load_results(root)
    assert list(table["run_id"]) == [good.name]
    assert table["N_total"].dtype.kind in "if" and table["loss"].dtype.kind == "f"


def test_an_edited_spec_is_left_out_of_tables_and_refused_by_status(sweep_file, tmp_path):
    from harness.sweep import sweep_status

    path, specs = _sweep(sweep_file)
    root = tmp_path / "results" / "tiny"
    edited, good = (_record(root, s) for s in specs)
    spec = json.loads((edited / "spec.json").read_text())
    (edited / "spec.json").write_text(json.dumps({**spec, "lr": spec["lr"] * 2}))
    with pytest.warns(UserWarning, match=rf"{edited / 'spec.json'}: stored spec does not match run id"):
        assert list(load_results(root)["run_id"]) == [good.name]
    with pytest.raises(ConfigError, match=rf"^{edited / 'spec.json'}: stored spec does not match"):
        sweep_status(load_sweep(path), tmp_path / "results")


def test_a_symlinked_run_directory_is_refused_before_anything_is_written(sweep_file, tmp_path):
    from harness.sweep import run_sweep

    path, specs = _sweep(sweep_file)
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "results" / "tiny").mkdir(parents=True)
    (tmp_path / "results" / "tiny" / specs[0].run_id).symlink_to(outside)
    with pytest.raises(ConfigError, match=rf"^{tmp_path / 'results' / 'tiny' / specs[0].run_id}: run directory is a symlink"):
        run_sweep(load_sweep(path), tmp_path / "results")
    assert list(outside.iterdir()) == [] and sorted(p.name for p in (tmp_path / "results").iterdir()) == ["tiny"]


def test_tables_read_only_the_current_plan_unless_all(sweep_file, tmp_path, capsys):
    from harness.cli import main

    old_path, old_specs = _sweep(sweep_file)
    root = tmp_path / "results" / "tiny"
    for spec in old_specs:
        _record(root, spec)
    new_path, new_specs = _sweep(sweep_file, {**TWO, "training": {"lr": {"rule": "constant", "base": 0.01}}})
    _record(root, new_specs[0])
    assert not {s.run_id for s in new_specs} & {s.run_id for s in old_specs}
    with pytest.warns(UserWarning, match="2 record.s. of runs not in the current plan left out .pass --all"):
        table = load_table(str(new_path), tmp_path / "results")
    assert list(table["run_id"]) == [new_specs[0].run_id] and table.attrs["left_out"] == 2
    assert len(load_table(str(new_path), tmp_path / "results", all_runs=True)) == 3
    assert len(load_table("tiny", tmp_path / "results")) == 3  # a bare name without sweeps/tiny.yaml: no plan
    main(["results", str(new_path), "--results", str(tmp_path / "results"), "--all", "--format", "csv"])
    assert capsys.readouterr().out.count("\n") == 4  # header + 3 runs


def test_status_does_not_import_torch(sweep_file, tmp_path):
    path, specs = _sweep(sweep_file)
    _record(tmp_path / "results" / "tiny", specs[0])
    code = ("import sys; from harness.config import load_sweep; from harness.sweep import sweep_status; "
            f"t = sweep_status(load_sweep({str(path)!r}), {str(tmp_path / 'results')!r}); "
            "print(sorted(t['state'])); print([m for m in ('torch', 'transformers', 'accelerate') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, text=True, capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["['done', 'pending']", "[]"]


def test_done_runs_of_several_sweeps_make_one_sorted_table(sweep_file, tmp_path):
    _, specs = _sweep(sweep_file)
    small, large = sorted(specs, key=lambda s: s.tokens)
    _record(tmp_path / "grid", large, loss=2.4)
    _record(tmp_path / "grid_more", small, loss=2.6)
    _record(tmp_path / "grid_more", large, status="diverged")
    table = load_done_runs([tmp_path / "grid", str(tmp_path / "grid_more")])
    assert list(table["D"]) == [small.tokens, large.tokens] and list(table["loss"]) == [2.6, 2.4]
    assert len(load_done_runs(tmp_path / "grid")) == 1 and load_done_runs([tmp_path / "none"]).empty
