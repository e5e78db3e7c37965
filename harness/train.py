"""One run: ``train(spec, run_dir) -> result``, a pure function of the spec.

accelerate places the model (CPU, one GPU, or DDP under ``accelerate launch``) and handles bf16
autocast; the global batch is split across processes and micro-batches so every layout sees the same
sequences per step. Data order is a function of (seed, step), so a run resumed from its checkpoint
continues exactly as an uninterrupted one would.
"""
from __future__ import annotations

import json
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ContextManager, Optional

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState

from harness.branching import branch_point_path, role_fields, seed_branch_metrics, start_checkpoint
from harness.continuation import continued_from
from harness.calibration import CalibrationAccumulator, eval_calibration_floor
from harness.checkpoint import load_checkpoint, reset_metrics, save_checkpoint
from harness.cpualloc import keep_freed_memory
from harness.curves import curve_summary, train_eval_sample
from harness.datawall import repetition_fields, unique_windows
from harness.data.corpus import TokenCorpus, clustered_mean_se, load_corpus
from harness.data.tokenizers import save_hf_tokenizer
from harness.forward import lm_logits
from harness.model import build_model
from harness.plan import RunSpec
from harness.provenance import device_name, git_commit, library_versions, peak_flops
from harness.schedule import lr_factor, warmup_steps
from harness.step import backward, clip_grad_norm, fused_adamw_supported, step_and_zero, trained_parameters
from harness.store import METRICS_FILE, RESULT_FILE, SPEC_FILE, atomic_write_json, read_metrics
from harness.threads import run_thread_count, torch_threads
from harness.tracking import Progress, Tracker


@dataclass(frozen=True)
class TrainOptions:
    """Settings that do not change a run's outcome (and so are not in its id)."""

    cache_root: Optional[Path] = None  # token cache; default <results>/.cache/tokens
    use_wandb: bool = False  # log to wandb (offline without an API key)
    save_model: bool = False  # save_pretrained() the final model into <run_dir>/model
    progress: bool = True  # show progress: a bar in a terminal, else a line every progress_interval_s
    progress_interval_s: float = 30.0  # seconds between progress lines when stderr is not a terminal
    log_interval: int = 0  # steps between metrics rows; 0: about 100 rows per run
    keep_checkpoint: bool = False  # keep checkpoint.pt after the run finishes
    heartbeat: Optional[Callable[[], None]] = None  # called every step (renews a claim's lease)
    commit: Optional[Callable[[], ContextManager]] = None  # held around writing result.json (raises: claim lost)
    # CPU: train with this many torch threads instead of the spec's cpu_threads (0: the spec's). The one setting here
    # that changes the loss, so it is recorded as threads_override in result.json (harness run --threads)
    threads_override: int = 0


def _accelerator(precision: str) -> Accelerator:
    # accelerate keeps its settings in a process-wide singleton; a worker trains many runs in one process,
    # so clear the per-run part (mixed precision) and keep the process group (PartialState) as it is.
    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()
    cuda = torch.cuda.is_available()
    mixed = "bf16" if cuda and precision in ("auto", "bf16") else "no"
    if precision == "bf16" and not cuda:
        mixed = "bf16"  # explicit request: bf16 autocast on CPU
    return Accelerator(mixed_precision=mixed, cpu=not cuda)


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class BatchOrder:
    """Sequence indices for every step: a fresh seeded permutation per epoch over the train windows."""

    def __init__(self, n_sequences: int, seed: int):
        self.n, self.seed = n_sequences, seed
        self._cache: dict[int, np.ndarray] = {}

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._cache:
            self._cache = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.n)}
        return self._cache[epoch]

    def indices(self, step: int, batch: int) -> np.ndarray:
        """The ``batch`` sequence indices of optimiser step ``step``."""
        positions = np.arange(step * batch, (step + 1) * batch)
        epochs, out = positions // self.n, np.empty(batch, dtype=np.int64)
        for epoch in np.unique(epochs):
            here = epochs == epoch
            out[here] = self._perm(int(epoch))[positions[here] % self.n]
        return out


def _to_tensor(windows: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.asarray(windows, dtype=np.int64)).to(device, non_blocking=True)


def _loss(model: torch.nn.Module, windows: torch.Tensor, reduction: str = "mean",
          on_logits: Optional[Callable] = None) -> torch.Tensor:
    logits = lm_logits(model, windows[:, :-1])  # model(input_ids=...).logits, fewer Python layers (harness.forward)
    if on_logits is not None:
        on_logits(logits, windows[:, 1:])
    loss = F.cross_entropy(logits.float().flatten(0, 1), windows[:, 1:].flatten(), reduction=reduction)
    return loss if reduction == "mean" else loss.view(windows.shape[0], -1)


@torch.no_grad()
def evaluate(model: torch.nn.Module, eval_windows: np.ndarray, batch: int, device: torch.device,
             documents: Optional[np.ndarray] = None,
             calibration: Optional[CalibrationAccumulator] = None) -> tuple[float, float]:
    """Mean test loss (nats/token) and its standard error across sequences, clustered by ``documents``.

    With ``calibration``, the same pass also feeds every batch's logits to it (Brier score, ECE)."""
    model.eval()
    per_seq = []
    on_logits = calibration.add if calibration is not None else None
    for start in range(0, len(eval_windows), batch):
        losses = _loss(model, _to_tensor(eval_windows[start:start + batch], device), reduction="none",
                       on_logits=on_logits)
        per_seq.append(losses.mean(dim=1).cpu())
    model.train()
    return clustered_mean_se(torch.cat(per_seq).double().numpy(), documents)


def _train_step(ctx: "_Run", step: int) -> float:
    spec, acc = ctx.spec, ctx.accelerator
    idx = ctx.order.indices(step, spec.batch_size)[acc.process_index::acc.num_processes]
    chunks = np.array_split(idx, spec.grad_accum)
    total = torch.zeros((), device=acc.device)
    for i, chunk in enumerate(chunks):
        sync = i == len(chunks) - 1
        with (acc.no_sync(ctx.model) if not sync else nullcontext()):
            loss = _loss(ctx.model, _to_tensor(ctx.train_windows[np.sort(chunk)], acc.device))
            loss = loss / len(chunks) if len(chunks) > 1 else loss
            backward(acc, loss)
        total += loss.detach()
    if spec.optimizer.grad_clip > 0:
        clip_grad_norm(acc, trained_parameters(ctx.optimizer), spec.optimizer.grad_clip)
    step_and_zero(acc, ctx.optimizer)
    return float(acc.reduce(total, reduction="mean"))


@dataclass
class _Run:
    spec: RunSpec
    accelerator: Accelerator
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    order: BatchOrder
    train_windows: np.ndarray
    eval_windows: np.ndarray
    eval_documents: Optional[np.ndarray] = None  # document of each eval window (clusters the SE)
    train_eval_windows: Optional[np.ndarray] = None  # fixed train sample scored beside the test set (train_eval)
    train_eval_documents: Optional[np.ndarray] = None  # document of each train-eval window (clusters its SE)
    calibration: Optional[dict] = None  # Brier/ECE of the final eval (harness.calibration), once measured


def _divergence(loss: float, best: float, step: int, spec: RunSpec) -> Optional[str]:
    if not math.isfinite(loss):
        return f"non-finite train loss at step {step}"
    if step > max(10, warmup_steps(spec.schedule, spec.steps)) and loss > spec.spike_factor * best:
        return f"train loss {loss:.3g} at step {step} exceeded {spec.spike_factor:g}x its minimum {best:.3g}"
    return None


def _setup(spec: RunSpec, run_dir: Path, options: TrainOptions) -> tuple[_Run, TokenCorpus, dict]:
    accelerator = _accelerator(spec.precision)
    if spec.batch_size % (accelerator.num_processes * spec.grad_accum):
        raise ValueError(f"batch of {spec.batch_size} sequences does not split over "
                         f"{accelerator.num_processes} processes × {spec.grad_accum} micro-batches")
    corpus = load_corpus(spec.data, options.cache_root or run_dir.parent.parent / ".cache" / "tokens")
    if accelerator.device.type == "cpu":
        keep_freed_memory()  # no page faults on activations every step (harness.cpualloc)
    torch.manual_seed(spec.seed)
    model = build_model(spec.family, spec.shape, spec.vocab_size, spec.context_length)
    opt = spec.optimizer
    optimizer = torch.optim.AdamW(_param_groups(model, opt.weight_decay), lr=spec.lr, betas=(opt.beta1, opt.beta2),
                                  eps=opt.eps, fused=fused_adamw_supported(accelerator.device))
    state = load_checkpoint(start_checkpoint(spec, run_dir, corpus.fingerprint), model, optimizer)  # or a trunk's point
    model, optimizer = accelerator.prepare(model, optimizer)
    if spec.compile:
        model = torch.compile(model)
    train_windows = corpus.sequences("train", spec.context_length)
    windows = unique_windows(spec.unique_tokens, spec.context_length, len(train_windows))  # data.unique_tokens
    ctx = _Run(spec, accelerator, model, optimizer, BatchOrder(windows, spec.seed), train_windows,
               corpus.eval_sequences(spec.context_length, spec.data.eval_tokens),
               corpus.eval_documents(spec.context_length, spec.data.eval_tokens))
    if spec.train_eval:  # drawn from the windows the run trains on: the capped pool, or all train windows
        sample = train_eval_sample(windows, len(ctx.eval_windows), spec.data.split_seed)
        ctx.train_eval_windows = train_windows[sample]
        ctx.train_eval_documents = corpus.window_documents("train", spec.context_length, sample)
    return ctx, corpus, state


def _log_interval(spec: RunSpec, options: TrainOptions) -> int:
    return options.log_interval or max(1, spec.steps // 100)


def train(spec: RunSpec, run_dir: Path, options: TrainOptions = TrainOptions()) -> dict:
    """Train one run, writing spec.json, metrics.jsonl, checkpoints and finally result.json into run_dir.

    On CPU it trains with the spec's ``cpu_threads`` torch threads (or ``options.threads_override``) whatever the
    process had, so its loss does not depend on the worker layout; the process's count is restored afterwards."""
    with torch_threads(run_thread_count(spec.cpu_threads, options.threads_override)):
        return _train(spec, run_dir, options)


def _train(spec: RunSpec, run_dir: Path, options: TrainOptions) -> dict:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ctx, corpus, state = _setup(spec, run_dir, options)
    acc, main = ctx.accelerator, ctx.accelerator.is_main_process
    if main:
        atomic_write_json(run_dir / SPEC_FILE, spec.model_dump(mode="json"))
        reset_metrics(run_dir / METRICS_FILE, state["step"])
        seed_branch_metrics(spec, run_dir, state["step"])
    tracker = Tracker(options.use_wandb and main, spec.run_id, spec.sweep, spec.model_dump(mode="json"), run_dir)
    step, best, status, reason, final_eval = state["step"], state["best_loss"], "done", "", None
    # wall time and tokens/s cover the whole run: the time before a resume is kept in the checkpoint; a cooldown
    # branch counts its own steps only, from the trunk's branch point (whose state has no elapsed time)
    train_loss, start_step = state["last_loss"], state["step"]
    counted_from = state.get("counted_from", 0 if "elapsed_s" in state else state["step"])
    t0 = time.perf_counter() - state.get("elapsed_s", 0.0)
    bar = Progress(spec.run_id, spec.steps, step, spec.batch_size * spec.context_length, options.progress and main,
                   options.progress_interval_s)
    while step < spec.steps:
        for group in ctx.optimizer.param_groups:
            group["lr"] = spec.lr * lr_factor(step, spec.steps, spec.schedule)
        train_loss = _train_step(ctx, step)
        step += 1
        if options.heartbeat:
            options.heartbeat()
        reason = _divergence(train_loss, best, step, spec)
        best = min(best, train_loss) if math.isfinite(train_loss) else best
        elapsed = time.perf_counter() - t0
        row = _metrics_row(ctx, step, train_loss, elapsed, counted_from, options)
        if row and "eval_loss" in row:
            final_eval = (row["eval_loss"], row["eval_loss_se"])
        bar.update(step, train_loss, final_eval[0] if final_eval else None)
        if row and main:
            _append_metrics(run_dir / METRICS_FILE, row)
            tracker.log(row)
        if reason:
            status = "diverged"
            break
        if step in spec.branch_steps:  # before the resume checkpoint: a resume past it never skips a point
            _save_branch_point(ctx, run_dir, step, {"step": step, "best_loss": best, "last_loss": train_loss})
        if step % spec.checkpoint_interval == 0 and step < spec.steps:
            if main:
                save_checkpoint(run_dir / "checkpoint.pt", acc.unwrap_model(ctx.model), ctx.optimizer,
                                {"step": step, "best_loss": best, "last_loss": train_loss,
                                 "elapsed_s": time.perf_counter() - t0, "counted_from": counted_from})
            acc.wait_for_everyone()
    bar.close()
    elapsed = time.perf_counter() - t0
    result = _result(ctx, corpus, status, reason, train_loss, elapsed, step - counted_from,
                     final_eval if step == spec.steps else None)
    result["resumed_from_step"] = start_step
    result["threads_override"] = (options.threads_override or None) if acc.device.type == "cpu" else None
    result.update(role_fields(spec))
    if spec.branch_steps and (source := continued_from(run_dir, start_step)):
        result["continued_from"] = source  # harness.continuation: an equal shorter trunk's point
    if main:
        _finish_files(ctx, run_dir, result, options, corpus)
    tracker.summary(result)
    tracker.finish()
    return result


def _save_branch_point(ctx: _Run, run_dir: Path, step: int, loop_state: dict) -> None:
    """Cooldown-branching trunk: keep its state after ``step`` steps for the branch that starts there."""
    path = branch_point_path(run_dir, step)
    if ctx.accelerator.is_main_process and not path.exists():  # a rerun after a kill recomputes the same state
        save_checkpoint(path, ctx.accelerator.unwrap_model(ctx.model), ctx.optimizer, loop_state)
    ctx.accelerator.wait_for_everyone()


def _metrics_row(ctx: _Run, step: int, loss: float, elapsed: float, start: int, options: TrainOptions) -> Optional[dict]:
    spec = ctx.spec
    do_eval = (spec.eval_interval and step % spec.eval_interval == 0) or (step == spec.steps and math.isfinite(loss))
    if not (do_eval or step % _log_interval(spec, options) == 0 or step == spec.steps or not math.isfinite(loss)):
        return None
    tokens_per_step = spec.batch_size * spec.context_length
    row = {"step": step, "tokens": step * tokens_per_step, "lr": ctx.optimizer.param_groups[0]["lr"],
           "train_loss": loss if math.isfinite(loss) else None,
           "tokens_per_s": (step - start) * tokens_per_step / max(elapsed, 1e-9)}
    if do_eval:
        final = step == spec.steps
        calibration = CalibrationAccumulator() if final else None
        row["eval_loss"], row["eval_loss_se"] = evaluate(ctx.model, ctx.eval_windows, spec.eval_batch_sequences,
                                                         ctx.accelerator.device, ctx.eval_documents, calibration)
        if final:
            ctx.calibration = calibration.summary(ctx.eval_documents)
            row.update({k: ctx.calibration.get(k) for k in ("brier", "ece")})
        if ctx.train_eval_windows is not None:  # same size as the test set: doubles the eval time
            row["train_eval_loss"], row["train_eval_loss_se"] = evaluate(
                ctx.model, ctx.train_eval_windows, spec.eval_batch_sequences, ctx.accelerator.device,
                ctx.train_eval_documents)
    return row


def _append_metrics(path: Path, row: dict) -> None:
    with open(path, "a") as handle:
        handle.write(json.dumps(row) + "\n")


def _result(ctx: _Run, corpus: TokenCorpus, status: str, reason: str, train_loss: float, elapsed: float,
            steps_here: int, final_eval: Optional[tuple[float, float]]) -> dict:
    spec, acc = ctx.spec, ctx.accelerator
    loss = se = None
    if status == "done":
        calibration = CalibrationAccumulator() if not (final_eval and ctx.calibration) else None
        loss, se = final_eval or evaluate(ctx.model, ctx.eval_windows, spec.eval_batch_sequences, acc.device,
                                          ctx.eval_documents, calibration)
        ctx.calibration = ctx.calibration or (calibration.summary(ctx.eval_documents) if calibration else None)
    flops = spec.flops
    tokens_per_s = steps_here * spec.batch_size * spec.context_length / max(elapsed, 1e-9)
    peak = peak_flops(acc.device)
    to_bpb = 1.0 / (math.log(2) * corpus.bytes_per_token)
    return {
        "schema_version": 1, "run_id": spec.run_id, "sweep": spec.sweep, "status": status, "reason": reason,
        "family": spec.family, "n_layer": spec.n_layer, "d_model": spec.d_model, "n_head": spec.n_head,
        "d_ff": spec.d_ff, "vocab_size": spec.vocab_size, "context_length": spec.context_length, "seed": spec.seed,
        "N_total": spec.N_total, "N_nonembed": spec.N_nonembed, "N_with_head": spec.N_with_head, "D": spec.tokens,
        "C": flops["6N_total"] * spec.tokens, "C_kaplan": flops["6N_nonembed"] * spec.tokens,
        "C_full": flops["full"] * spec.tokens, "flops_per_token": flops, "tokens_per_param": spec.tokens / spec.N_total,
        "steps": spec.steps, "lr": spec.lr, "train_loss": train_loss if math.isfinite(train_loss) else None,
        "loss": loss, "loss_se": se, "loss_bpb": loss * to_bpb if loss is not None else None,
        "loss_bpb_se": se * to_bpb if se is not None else None, **_floor_fields(corpus, to_bpb),
        "bytes_per_token": corpus.bytes_per_token, "corpus_fingerprint": corpus.fingerprint,
        **repetition_fields(spec.tokens, spec.unique_tokens, spec.context_length, ctx.order.n),  # U, epochs
        "wall_time_s": elapsed, "tokens_per_s": tokens_per_s, "num_processes": acc.num_processes,
        "mfu": flops["full"] * tokens_per_s / (peak * acc.num_processes) if peak else None,
        "device": device_name(acc.device), "precision": acc.mixed_precision, "versions": library_versions(),
        "threads": torch.get_num_threads(),  # CPU reductions (LayerNorm grads, norms) sum in a thread-count order
        "git_commit": git_commit(),
        **_calibration_fields(ctx, status),
    }


def _floor_fields(corpus: TokenCorpus, to_bpb: float) -> dict:
    """floor = exact Bayes loss of the eval windows (nats/token), floor_se its SE across windows,
    floor_expected = the expected floor over all eval sets; floor_bpb in bits/byte; None when unknown."""
    floor = corpus.floor_nats
    return {"floor": floor, "floor_se": corpus.floor_se_nats, "floor_expected": corpus.floor_expected_nats,
            "floor_bpb": floor * to_bpb if floor is not None else None}



def _calibration_fields(ctx: _Run, status: str) -> dict:
    """Brier score, its decomposition, ECE (harness.calibration) and, on a synthetic source, its Bayes Brier."""
    if status != "done" or not ctx.calibration:
        return {}
    return {**ctx.calibration, **eval_calibration_floor(ctx.spec.data, ctx.eval_windows)}


def _save_model(ctx: _Run, corpus: TokenCorpus, directory: Path) -> None:
    """A self-contained Hugging Face checkpoint: the model (eos_token_id set) and its tokenizer beside it."""
    model = ctx.accelerator.unwrap_model(ctx.model)
    model.config.eos_token_id = corpus.eos_id
    model.save_pretrained(directory)
    save_hf_tokenizer(ctx.spec.data, corpus.cache_dir, directory)


def _finish_files(ctx: _Run, run_dir: Path, result: dict, options: TrainOptions, corpus: TokenCorpus) -> None:
    if options.save_model and result["status"] == "done":
        _save_model(ctx, corpus, run_dir / "model")
    result.update(curve_summary(read_metrics(run_dir / METRICS_FILE), ctx.spec.steps))
    if ctx.train_eval_windows is not None and ctx.spec.unique_tokens is not None:  # capped: may be < the test set
        result["train_eval_windows"] = len(ctx.train_eval_windows)
    with (options.commit or nullcontext)():
        atomic_write_json(run_dir / RESULT_FILE, result)
    if not options.keep_checkpoint:
        (run_dir / "checkpoint.pt").unlink(missing_ok=True)
