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
    ({"training": {"cpu_threads": 0}}, "training.cpu_threads"),
    ({"training": {"cpu_threads": "two"}}, "training.cpu_threads"),
    ({"training": {"batch_tokens": 256, "micro_batch_tokens": 48}}, "micro_batch_tokens"),
    ({"training": {"batch_tokens": "lots"}}, "training.batch_tokens"),
    ({"budgets": {"tokens": [1e12]}, "max_tokens_per_run": 1e9}, "max_tokens_per_run"),
    ({"model": {"shapes": [{"n_layer": l, "d_model": 32, "n_head": 2} for l in range(1, 60)]},
      "budgets": {"tokens": [1e4 * i for i in range(1, 60)]}}, "max_runs"),
    # bounds checked at plan time instead of failing at train time
    ({"training": {"batch_tokens": 10**14}}, "training.batch_tokens"),
    ({"budgets": {"tokens": [100]}, "training": {"batch_tokens": 2**20}, "max_tokens_per_run": 1e5},
     "max_tokens_per_run"),  # one whole batch is 1e6 tokens: the rounded budget is checked
    ({"training": {"seeds": [2**64]}}, "training.seeds"),
    ({"training": {"seeds": [2**32]}}, "training.seeds"),
    ({"data": {"synthetic": {"seed": 2**64}}}, "data.synthetic.seed"),
    ({"model": {"shapes": [{"n_layer": 2, "d_model": 32, "n_head": 2, "d_ff": 10**12}]}}, "d_ff"),
    ({"training": {"lr": {"base": float("inf")}}}, "training.lr.base"),
    ({"training": {"optimizer": {"eps": float("inf")}}}, "training.optimizer.eps"),
    ({"training": {"spike_factor": float("inf")}}, "training.spike_factor"),
    ({"training": {"lr": {"rule": "table", "table": {32: float("inf")}}}}, "table"),
    ({"training": {"lr": {"rule": "table", "table": {0: 1e-3, 64: 1e-3}}}}, "table"),
    ({"training": {"lr": {"rule": "table", "table": {-32: 1e-3}}}}, "table"),
    ({"data": {"split_seed": 10**70}}, "data.split_seed"),
    ({"model": {"shapes": [], "sizes": [1e12]}}, "sizer's reach"),
    ({"model": {"shapes": [], "sizes": [1e3]}, "data": {"synthetic": {"vocab_size": 4096, "order": 1}}}, "1000"),
    ({"model": {"shapes": [], "sizes": [1e4 + i for i in range(900)]}, "budgets": {"tokens": [1e4, 2e4, 3e4]}},
     "max_runs"),
]

RAW_BAD_FILES = [
    ("!!python/object/apply:os.system ['echo pwned']", "YAML"),
    ("name: x\nmodel: !!python/object:collections.OrderedDict {}\n", "YAML"),
    ("- just\n- a list\n", "mapping"),
    ("name: [unclosed\n", "YAML"),
    ("", "mapping"),
    ("name: x\nname: y\n: :\n\t- tab", "YAML"),
    ("name: x\ndescription: a\x01b\n", "YAML"),
    (f"{yaml.safe_dump(TINY_SWEEP)}name: elsewhere\n", "name: duplicate key"),
    ("name: x\nbudgets: {tokens: [1000, 2000], tokens: [5]}\n", "line 2: budgets.tokens: duplicate key"),
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


def test_field_errors_name_the_yaml_line(tmp_path, capsys):
    text = yaml.safe_dump(TINY_SWEEP, sort_keys=False).replace("context_length: 16", "context_length: -16")
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "context_length" in l)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    code, err = _run_cli(["plan", str(path)], capsys)
    _assert_one_line_error(code, err, path, f"line {line}: data.context_length")


def test_huge_size_list_fails_fast(tmp_path, capsys):
    import time

    path = tmp_path / "many.yaml"
    sizes = ", ".join(str(10_000 + i) for i in range(70_000))
    path.write_text(yaml.safe_dump(deep_update(TINY_SWEEP, {"model": {"shapes": []}})).replace("shapes: []",
                                                                                         f"sizes: [{sizes}]"))
    start = time.perf_counter()
    code, err = _run_cli(["plan", str(path)], capsys)
    assert code == 2 and "model.sizes" in err
    assert time.perf_counter() - start < 10


def test_loaders_import_from_harness_config_in_any_order():
    """The YAML loaders live in harness.config_io and stay importable from harness.config, whichever loads first."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    probe = ("import harness.config_io as io\nfrom harness.config import load_sweep, load_sweep_or_name, parse_sweep\n"
             "assert (load_sweep, load_sweep_or_name, parse_sweep) == (io.load_sweep, io.load_sweep_or_name, "
             "io.parse_sweep)\nimport harness.config as c\nassert not hasattr(c, 'no_such_name')")
    for first in ("", "import harness.config\n"):
        done = subprocess.run([sys.executable, "-c", first + probe], cwd=REPO, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
        assert done.returncode == 0, done.stderr
