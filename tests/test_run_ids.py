"""Run ids: only opted-in fields are hashed, precision 'auto' is resolved first, reference ids are stable."""
import json
from pathlib import Path

from pydantic import Field

from harness.config import IN_ID, IN_ID_UNLESS_DEFAULT, Strict, load_sweep
from harness.hashing import id_payload
from harness.plan import RunSpec, expand, make_run_id

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "results" / "reference" / "quickstart"


class _Demo(Strict):
    kept: int = Field(1, json_schema_extra=IN_ID, description="always hashed")
    added_later: int = Field(0, json_schema_extra=IN_ID_UNLESS_DEFAULT, description="hashed when not default")
    logging: int = Field(0, description="never hashed")


def test_only_opted_in_fields_are_hashed():
    assert id_payload(_Demo()) == {"kept": 1}
    assert id_payload(_Demo(logging=7)) == {"kept": 1}
    assert id_payload(_Demo(added_later=3)) == {"kept": 1, "added_later": 3}


def test_quickstart_run_ids_match_the_reference_records():
    specs = expand(load_sweep(REPO / "sweeps" / "quickstart.yaml"), cuda=False)
    assert sorted(s.run_id for s in specs) == sorted(p.name for p in REFERENCE.iterdir() if p.is_dir())
    assert {s.precision for s in specs} == {"fp32"}


def test_stored_reference_specs_still_hash_to_their_directory_names():
    spec_files = [*REFERENCE.glob("*/spec.json"), *REFERENCE.with_name("quickstart_cosine").glob("*/spec.json")]
    assert len(spec_files) == 15 + 9
    for spec_file in spec_files:
        stored = json.loads(spec_file.read_text())
        assert stored["precision"] == "fp32"  # 'auto' resolved at plan time on this CPU
        assert make_run_id(RunSpec.model_validate({**stored, "run_id": ""})) == spec_file.parent.name
        # a record written before 'auto' was resolved (precision "auto" stored) keeps the same id
        legacy = {**stored, "run_id": "", "precision": "auto"}
        assert make_run_id(RunSpec.model_validate(legacy)) == spec_file.parent.name


def test_precision_auto_is_resolved_before_hashing(sweep_file):
    auto = load_sweep(sweep_file())
    cpu, gpu = expand(auto, cuda=False)[0], expand(auto, cuda=True)[0]
    assert (cpu.precision, gpu.precision) == ("fp32", "bf16")
    assert cpu.run_id != gpu.run_id  # results differ, so ids differ
    explicit_bf16 = expand(load_sweep(sweep_file({"training": {"precision": "bf16"}}, name="b.yaml")), cuda=False)[0]
    explicit_fp32 = expand(load_sweep(sweep_file({"training": {"precision": "fp32"}}, name="f.yaml")), cuda=True)[0]
    assert explicit_bf16.run_id == gpu.run_id and explicit_fp32.run_id == cpu.run_id


def test_explicit_shapes_have_no_size_error(sweep_file):
    from harness.plan import plan_table

    [spec] = expand(load_sweep(sweep_file()), cuda=False)
    assert spec.size_error is None and spec.target_size is None
    assert plan_table([spec])["size_err"].tolist() == ["–"]
