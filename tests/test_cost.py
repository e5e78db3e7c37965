"""Cost and data before launch: GPU-hours, unique tokens vs needed, epochs, repeat warnings, CLI options."""
import pytest

from harness.cli import main
from harness.config import DataConfig
from harness.cost import available_tokens, gpu_hours
from harness.errors import ConfigError


def test_gpu_hours_from_the_datasheet_peak():
    # H100 dense bf16 peak 989 TFLOP/s (NVIDIA data sheet): one hour at MFU 0.4 is 989e12·0.4·3600 FLOP.
    assert gpu_hours(989e12 * 0.4 * 3600, "h100", 0.4) == pytest.approx(1.0)
    assert gpu_hours(312e12 * 3600, "A100", 1.0) == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="--gpu"):
        gpu_hours(1e18, "tpu9", 0.4)
    with pytest.raises(ConfigError, match="--mfu"):
        gpu_hours(1e18, "h100", 0.0)


def test_available_tokens_counted_stated_or_unknown(tmp_path):
    assert available_tokens(DataConfig())[0] == 4_000_000  # synthetic train_tokens
    text = tmp_path / "a.txt"
    text.write_bytes(b"x" * 10_000)
    counted, how = available_tokens(DataConfig(source="text", path=str(text), test_fraction=0.1))
    assert counted == pytest.approx(9_000) and "bytes" in how
    hub = DataConfig(source="hf", path="someone/corpus", tokenizer="bpe")
    assert available_tokens(hub)[0] is None
    assert available_tokens(hub.model_copy(update={"available_tokens": 2e9}))[0] == 2e9


def test_plan_prints_cost_epochs_and_repeat_warning(sweep_file, capsys):
    path = sweep_file({"budgets": {"mode": "grid", "tokens": [8192, 131072]}})  # 65536 unique synthetic tokens
    main(["plan", str(path), "--gpu", "a100", "--mfu", "0.5"])
    out = capsys.readouterr().out
    assert "gpu_h" in out and "epochs" in out and "A100 GPU-hours at MFU 0.5" in out
    assert "warning: 1 of 2 runs would repeat data (up to 2 epochs)" in out


def test_plan_without_repeats_has_no_warning(sweep_file, capsys):
    main(["plan", str(sweep_file())])
    out = capsys.readouterr().out
    assert "would repeat data" not in out and "unique training tokens" in out


@pytest.mark.parametrize("args,needle", [(["--gpu", "tpu9"], "--gpu"), (["--mfu", "1.5"], "--mfu")])
def test_plan_cost_option_mistakes_exit_2(sweep_file, capsys, args, needle):
    with pytest.raises(SystemExit) as exc:
        main(["plan", str(sweep_file())] + args)
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and needle in err
