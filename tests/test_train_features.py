"""Training features: real text/parquet sources end to end, accumulation, save_pretrained, wandb, plan modes."""
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from harness import load_results
from harness.config import load_sweep
from harness.plan import expand, make_run_id
from harness.sweep import WorkerOptions, run_sweep
from harness.train import TrainOptions

QUIET = WorkerOptions(TrainOptions(progress=False))
WORDS = "the of scaling law loss tokens model data compute parameters fit exponent curve".split()


def _documents(n: int) -> list[str]:
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(WORDS, size=30 + i % 17)) + f" {i}." for i in range(n)]


def _text_sweep(tmp_path, sweep_file, data: dict):
    return load_sweep(sweep_file({"data": {"context_length": 32, "eval_tokens": 512, "test_fraction": 0.2, **data},
                                  "budgets": {"tokens": [4096]}}))


def test_text_folder_with_bpe_end_to_end(tmp_path, sweep_file):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, doc in enumerate(_documents(120)):
        (corpus / f"doc{i:03d}.txt").write_text(doc)
    sweep = _text_sweep(tmp_path, sweep_file, {"source": "text", "path": str(corpus), "tokenizer": "bpe",
                                               "bpe_vocab_size": 300})
    run_sweep(sweep, tmp_path / "results", options=QUIET)
    row = load_results(tmp_path / "results" / "tiny").iloc[0]
    assert row["status"] == "done" and row["bytes_per_token"] > 1.5  # BPE merges bytes
    assert row["loss_bpb"] == pytest.approx(row["loss"] / math.log(2) / row["bytes_per_token"])
    assert math.isnan(row["floor"])


def test_local_parquet_hf_source_end_to_end(tmp_path, sweep_file):
    pd.DataFrame({"body": _documents(150)}).to_parquet(tmp_path / "docs.parquet")
    sweep = _text_sweep(tmp_path, sweep_file, {"source": "hf", "path": str(tmp_path / "docs.parquet"),
                                               "text_column": "body"})
    run_sweep(sweep, tmp_path / "results", options=QUIET)
    row = load_results(tmp_path / "results" / "tiny").iloc[0]
    assert row["status"] == "done" and len(row["corpus_fingerprint"]) >= 12
    assert row["loss"] < math.log(257)  # learned something beyond uniform bytes


def test_gradient_accumulation_matches_full_batch(sweep_file, tmp_path):
    losses = []
    for micro in (None, 64):
        extra = {"training": {"micro_batch_tokens": micro}} if micro else {}
        sweep = load_sweep(sweep_file(extra, name=f"s{micro}.yaml"))
        [spec] = expand(sweep)
        assert spec.grad_accum == (4 if micro else 1)
        run_sweep(sweep, tmp_path / f"r{micro}", options=QUIET)
        losses.append(load_results(tmp_path / f"r{micro}" / "tiny")["loss"].item())
    assert losses[0] == pytest.approx(losses[1], abs=2e-4)  # same batches; only float summation order differs


def test_save_pretrained_model_reloads(sweep_file, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    sweep = load_sweep(sweep_file())
    run_sweep(sweep, tmp_path / "results", options=WorkerOptions(TrainOptions(progress=False, save_model=True)))
    [run_dir] = list((tmp_path / "results" / "tiny").iterdir())
    model = AutoModelForCausalLM.from_pretrained(run_dir / "model")
    assert sum(p.numel() for p in model.parameters()) == json.loads((run_dir / "result.json").read_text())["N_total"]
    tokenizer = AutoTokenizer.from_pretrained(run_dir / "model")  # synthetic: the V symbols s0 … s15
    ids = tokenizer("s3 s15 s0")["input_ids"]
    assert ids == [3, 15, 0] and len(tokenizer) == model.config.vocab_size == 16
    assert model.config.eos_token_id is None  # the synthetic language has no end of document
    with torch.no_grad():
        assert torch.isfinite(model(input_ids=torch.tensor([ids])).logits).all()


@pytest.mark.slow
@pytest.mark.parametrize("tokenizer", ["byte", "bpe"])
def test_saved_model_is_self_contained_for_text(tmp_path, sweep_file, tokenizer):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.data.tokenizers import ByteTokenizer, BpeTokenizer

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, doc in enumerate(_documents(120)):
        (corpus / f"doc{i:03d}.txt").write_text(doc)
    sweep = _text_sweep(tmp_path, sweep_file, {"source": "text", "path": str(corpus), "tokenizer": tokenizer,
                                               "bpe_vocab_size": 300})
    run_sweep(sweep, tmp_path / "results", options=WorkerOptions(TrainOptions(progress=False, save_model=True)))
    [model_dir] = list((tmp_path / "results" / "tiny").glob("*/model"))
    model, hf = AutoModelForCausalLM.from_pretrained(model_dir), AutoTokenizer.from_pretrained(model_dir)
    [cache] = [p for p in (tmp_path / "results" / ".cache" / "tokens").glob("text-*") if p.is_dir()]
    ours = ByteTokenizer() if tokenizer == "byte" else BpeTokenizer.load(cache / "tokenizer.json", 300)
    text = "the scaling law of loss, über tokens."
    assert hf(text)["input_ids"] == ours.encode([text])[0].tolist()
    assert model.config.eos_token_id == hf.eos_token_id == ours.eos_id
    assert hf.decode(hf(text)["input_ids"]) == text


def test_wandb_offline_run_grouped_by_sweep_and_no_secret(sweep_file, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_API_KEY", "local-" + "x" * 40)
    sweep = load_sweep(sweep_file())
    run_sweep(sweep, tmp_path / "results", options=WorkerOptions(TrainOptions(progress=False, use_wandb=True)))
    [run_dir] = list((tmp_path / "results" / "tiny").iterdir())
    runs = list((run_dir / "wandb").glob(f"offline-run-*-{run_dir.name}"))
    assert runs, "wandb offline run named by the run id"
    for record in ("result.json", "spec.json", "metrics.jsonl"):
        assert "x" * 40 not in (run_dir / record).read_text()


def test_plan_modes_and_run_ids(sweep_file):
    iso = load_sweep(sweep_file({"model": {"shapes": [], "sizes": [2e4, 6e4]},
                                 "budgets": {"mode": "isoflop", "compute": [1e11, 3e11]}}))
    specs = expand(iso)
    assert len(specs) == 4
    for s in specs:  # D = C / (6 N_total), rounded to whole steps
        c = float(s.budget.split("=")[1])
        assert s.tokens == pytest.approx(c / (6 * s.N_total), abs=s.batch_size * s.context_length / 2)
    tpp = expand(load_sweep(sweep_file({"budgets": {"mode": "tokens_per_param", "tokens_per_param": [2, 4]}},
                                       name="t.yaml")))
    assert [round(s.tokens / s.N_total) for s in tpp] == [2, 4]
    base = expand(load_sweep(sweep_file(name="a.yaml")))[0]
    logging_only = expand(load_sweep(sweep_file({"training": {"eval_interval": 3, "checkpoint_interval": 5}},
                                                name="b.yaml")))[0]
    outcome_change = expand(load_sweep(sweep_file({"training": {"seeds": [7]}}, name="c.yaml")))[0]
    assert base.run_id == logging_only.run_id == make_run_id(base)
    assert outcome_change.run_id != base.run_id


def test_lr_rules(sweep_file):
    shapes = [{"n_layer": 1, "d_model": d, "n_head": 2} for d in (32, 64, 128)]
    width = expand(load_sweep(sweep_file({"model": {"shapes": shapes},
                                          "training": {"lr": {"rule": "width", "base": 1e-2, "base_width": 32}}})))
    assert [s.lr for s in width] == pytest.approx([1e-2, 5e-3, 2.5e-3])
    table = expand(load_sweep(sweep_file({"model": {"shapes": shapes},
                                          "training": {"lr": {"rule": "table", "table": {32: 1e-2, 128: 1e-3}}}},
                                         name="t.yaml")))
    assert [s.lr for s in table] == pytest.approx([1e-2, math.sqrt(1e-5), 1e-3])


def test_bf16_autocast_on_cpu_when_asked(sweep_file, tmp_path):
    sweep = load_sweep(sweep_file({"training": {"precision": "bf16"}}))
    run_sweep(sweep, tmp_path / "results", options=QUIET)
    [record] = list((tmp_path / "results" / "tiny").glob("*/result.json"))
    result = json.loads(record.read_text())
    assert result["precision"] == "bf16" and result["status"] == "done" and math.isfinite(result["loss"])


def test_edited_corpus_is_not_silently_reused(tmp_path, sweep_file):
    from harness.errors import ConfigError

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, doc in enumerate(_documents(60)):
        (corpus / f"doc{i:03d}.txt").write_text(doc)
    sweep = _text_sweep(tmp_path, sweep_file, {"source": "text", "path": str(corpus) + "/"})
    run_sweep(sweep, tmp_path / "results", options=QUIET)
    same_path = _text_sweep(tmp_path, sweep_file, {"source": "text", "path": str(corpus)})
    assert run_sweep(same_path, tmp_path / "results", options=QUIET).trained == []  # trailing '/' is the same data
    (corpus / "doc000.txt").write_text("an edited document " * 50)
    with pytest.raises(ConfigError, match="corpus changed"):
        run_sweep(sweep, tmp_path / "results", options=QUIET)


def test_progress_lines_when_output_is_redirected_to_a_file(sweep_file, tmp_path):
    import contextlib

    from harness.train import train

    [spec] = expand(load_sweep(sweep_file()), cuda=False)
    log = tmp_path / "log.txt"
    with open(log, "w") as handle, contextlib.redirect_stderr(handle):
        train(spec, tmp_path / "tiny" / spec.run_id, TrainOptions(progress=True, progress_interval_s=0.001))
    lines = [line for line in log.read_text().splitlines() if line.startswith(spec.run_id)]
    assert len(lines) >= spec.steps // 2  # a line per ~interval; here nearly every step
    last = lines[-1]
    for part in (f"step {spec.steps}/{spec.steps}", f"tokens {spec.tokens:.4g}", "train_loss ", "tok/s ", "ETA 0:00:00"):
        assert part in last, last
    assert "eval_loss –" not in last  # the final eval is reported
    assert "\r" not in log.read_text()  # no bar redraws in a log file


def test_progress_bar_in_a_terminal_shows_loss_and_tokens_per_s():
    import io
    import time

    from harness.tracking import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    progress = Progress("run", total=10, initial=0, tokens_per_step=256, enabled=True, stream=stream)
    for step in range(1, 4):
        time.sleep(0.12)  # past tqdm's minimum redraw interval
        progress.update(step, 2.5, None)
    progress.close()
    assert "loss=2.5000" in stream.getvalue() and "tok_s=" in stream.getvalue()
