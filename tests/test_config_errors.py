"""Malformed and hostile sweep files: each a one-line error naming file and field, exit 2, nothing written."""
import pytest
import yaml

from harness.cli import main
from tests.conftest import TINY_SWEEP, deep_update

BAD_OVERRIDES = [
    ({"name": "../escape"}, "name"),
    ({"name": "a/b"}, "name"),
    ({"name": ""}, "name"),
    ({"name": 123}, "name"),
    ({"unknown_field": 1}, "unknown_field"),
    ({"data": {"source": "ftp"}}, "data.source"),
    ({"data": {"context_length": -5}}, "data.context_length"),
    ({"data": {"context_length": "long"}}, "data.context_length"),
    ({"data": {"eval_tokens": 0}}, "data.eval_tokens"),
    ({"data": {"source": "text"}}, "path"),
    ({"data": {"tokenizer": "bpe"}}, "synthetic source"),
    ({"data": {"synthetic": {"vocab_size": 1}}}, "vocab_size"),
    ({"data": {"synthetic": {"vocab_size": 4096, "order": 4}}}, "vocab_size"),
    ({"data": {"synthetic": {"zipf_exponent": -1}}}, "zipf_exponent"),
    ({"model": {"family": "bert"}}, "model.family"),
    ({"model": {"shapes": [{"n_layer": 2, "d_model": 30, "n_head": 4}]}}, "divisible"),
    ({"model": {"shapes": [], "sizes": []}}, "sizes"),
    ({"model": {"sizes": [-1e6]}}, "model.sizes"),
    ({"model": {"sizes": [".nan"]}}, "model.sizes"),
    ({"budgets": {"mode": "grid", "tokens": []}}, "tokens"),
    ({"budgets": {"mode": "grid", "tokens": [-100]}}, "positive"),
    ({"budgets": {"mode": "isoflop", "tokens": [1e6]}}, "compute"),
    ({"budgets": {"mode": "tokens_per_param", "tokens_per_param": [0]}}, "positive"),
    ({"budgets": {"mode": "sideways"}}, "budgets.mode"),
    ({"budgets": {"tokens": [1e40]}}, "finite"),
    ({"training": {"seeds": []}}, "seeds"),
    ({"training": {"seeds": [1, 1]}}, "seeds"),
    ({"training": {"seeds": [-3]}}, "seeds"),
    ({"training": {"lr": {"rule": "table"}}}, "table"),
    ({"training": {"lr": {"base": 0}}}, "training.lr.base"),
    ({"training": {"schedule": {"warmup_fraction": 1.5}}}, "warmup_fraction"),
    ({"training": {"precision": "fp8"}}, "training.precision"),
    ({"training": {"batch_tokens": 256, "micro_batch_tokens": 48}}, "micro_batch_tokens"),
    ({"training": {"batch_tokens": "lots"}}, "training.batch_tokens"),
    ({"budgets": {"tokens": [1e12]}, "max_tokens_per_run": 1e9}, "max_tokens_per_run"),
    ({"model": {"shapes": [{"n_layer": l, "d_model": 32, "n_head": 2} for l in range(1, 60)]},
      "budgets": {"tokens": [1e4 * i for i in range(1, 60)]}}, "max_runs"),
]

RAW_BAD_FILES = [
    ("!!python/object/apply:os.system ['echo pwned']", "YAML"),
    ("name: x\nmodel: !!python/object:collections.OrderedDict {}\n", "YAML"),
    ("- just\n- a list\n", "mapping"),
    ("name: [unclosed\n", "YAML"),
    ("", "mapping"),
    ("name: x\nname: y\n: :\n\t- tab", "YAML"),
]


def _run_cli(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err.strip()
    return exit_info.value.code, err


def _assert_one_line_error(code, err, path, expected):
    assert code == 2
    assert err.startswith("error: ") and "\n" not in err, err
    assert str(path) in err
    assert expected.lower() in err.lower(), err


@pytest.mark.parametrize("overrides,expected", BAD_OVERRIDES, ids=[str(i) for i in range(len(BAD_OVERRIDES))])
def test_bad_sweep_is_one_line_error_and_writes_nothing(tmp_path, capsys, overrides, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(deep_update(TINY_SWEEP, overrides)))
    results = tmp_path / "results"
    code, err = _run_cli(["run", str(path), "--results", str(results), "--no-wandb"], capsys)
    _assert_one_line_error(code, err, path, expected)
    assert not results.exists()


@pytest.mark.parametrize("text,expected", RAW_BAD_FILES, ids=[str(i) for i in range(len(RAW_BAD_FILES))])
def test_hostile_yaml_is_refused_without_side_effects(tmp_path, capsys, text, expected):
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    results = tmp_path / "results"
    code, err = _run_cli(["plan", str(path)], capsys)
    _assert_one_line_error(code, err, path, expected)
    code, err = _run_cli(["run", str(path), "--results", str(results)], capsys)
    assert code == 2 and not results.exists()


def test_missing_file_and_huge_file(tmp_path, capsys):
    code, err = _run_cli(["plan", str(tmp_path / "nope.yaml")], capsys)
    _assert_one_line_error(code, err, tmp_path / "nope.yaml", "not found")
    huge = tmp_path / "huge.yaml"
    huge.write_text("name: x\n" + "#" * 2_000_000)
    code, err = _run_cli(["plan", str(huge)], capsys)
    _assert_one_line_error(code, err, huge, "larger than")


def test_valid_tiny_sweep_plans(sweep_file, capsys):
    main(["plan", str(sweep_file()), "--format", "csv"])
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("run_id,family,shape,N_nonembed,N_total")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_data_mistakes_are_found_before_any_run_is_claimed(tmp_path, capsys, workers):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(30):
        (corpus / f"d{i}.txt").write_text(f"document {i} " * 20)
    path = tmp_path / "data.yaml"
    path.write_text(yaml.safe_dump(deep_update(TINY_SWEEP, {"data": {"source": "text", "path": str(corpus),
                                                                     "eval_tokens": 10_000_000}})))
    results = tmp_path / "results"
    code, err = _run_cli(["run", str(path), "--results", str(results), "--no-wandb", "--workers", workers], capsys)
    _assert_one_line_error(code, err, path, "eval_tokens")
    assert not (results / "tiny").exists()  # no run directory, spec or claim was written
