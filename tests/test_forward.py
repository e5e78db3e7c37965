"""harness.forward: the direct GPT-2 forward is bitwise transformers' forward, and is used only where it is exact."""
import copy
import tempfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from harness.config import load_sweep
from harness import forward
from harness.forward import direct_gpt2, gpt2_logits, lm_logits
from harness.model import build_model
from harness.plan import expand
from harness.sizing import ModelShape
from harness.train import TrainOptions, _accelerator, _setup, _train_step, evaluate

SHAPES = [ModelShape(n_layer=2, d_model=32, n_head=2, d_ff=128), ModelShape(n_layer=3, d_model=48, n_head=3, d_ff=96)]


def _model(family="gpt2", shape=SHAPES[0], vocab=61, context=24):
    torch.manual_seed(0)
    return build_model(family, shape, vocab, context)


def _loss_and_grads(logits_fn, model, windows):
    model.zero_grad(set_to_none=True)
    logits = logits_fn(model, windows[:, :-1])
    F.cross_entropy(logits.flatten(0, 1), windows[:, 1:].flatten()).backward()
    return logits.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("context", [24, 1])
def test_direct_gpt2_logits_and_gradients_are_bitwise_transformers(shape, context):
    model = _model(shape=shape)
    assert direct_gpt2(model)
    with torch.no_grad():  # trained-looking weights, not the init's zero biases and unit norms
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    twin = copy.deepcopy(model)
    windows = torch.randint(0, 61, (5, context + 1), generator=torch.Generator().manual_seed(1))
    ours, our_grads = _loss_and_grads(gpt2_logits, model, windows)
    theirs, their_grads = _loss_and_grads(lambda m, ids: m(input_ids=ids).logits, twin, windows)
    assert torch.equal(ours, theirs)
    assert our_grads.keys() == their_grads.keys() and len(our_grads) == 4 + 12 * shape.n_layer
    assert all(torch.equal(our_grads[k], their_grads[k]) for k in our_grads)
    model.eval(), twin.eval()
    with torch.no_grad():
        assert torch.equal(gpt2_logits(model, windows[:, :-1]), twin(input_ids=windows[:, :-1]).logits)


@pytest.mark.parametrize("family", ["llama", "mamba"])
def test_other_families_take_the_models_own_forward(family):
    model = _model(family, ModelShape(n_layer=1, d_model=32, n_head=2, d_ff=64))
    ids = torch.randint(0, 61, (2, 8))
    assert not direct_gpt2(model)
    with torch.no_grad():
        assert torch.equal(lm_logits(model, ids), model(input_ids=ids).logits)


class _Wrapper(torch.nn.Module):  # stands in for DDP / torch.compile: the model's forward must run
    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, **kwargs):
        return self.module(**kwargs)


@pytest.mark.parametrize("change", ["wrapped", "compiled", "hook", "block_hook", "attention_hook", "global_hook",
                                    "checkpointing", "dropout", "eager", "autocast_patch"])
def test_gpt2_falls_back_where_the_direct_forward_would_not_be_exact(change):
    model = _model()
    if change == "wrapped":
        model = _Wrapper(model)
    elif change == "compiled":  # training.compile: the compiled module's forward runs
        model = torch.compile(model)
    elif change == "hook":
        model.register_forward_hook(lambda module, args, out: out)
    elif change == "block_hook":  # e.g. activation logging on one layer: the block's own call must run
        model.transformer.h[1].register_forward_pre_hook(lambda module, args: None)
    elif change == "attention_hook":
        model.transformer.h[0].attn.register_forward_hook(lambda module, args, out: out)
    elif change == "global_hook":
        handle = torch.nn.modules.module.register_module_forward_hook(lambda module, args, out: out)
        try:
            assert not direct_gpt2(model)
        finally:
            handle.remove()
        assert direct_gpt2(model)
        return
    elif change == "checkpointing":
        model.activation_checkpointing_enable()
    elif change == "dropout":
        model.config.resid_pdrop = 0.1
    elif change == "eager":
        model.set_attn_implementation("eager")
    else:  # accelerate's bf16 autocast replaces the instance's forward
        model = _accelerator("bf16").prepare(model)   # as training makes it (resets accelerate's singleton state)
    assert not direct_gpt2(model)


def test_a_cpu_fp32_training_step_and_eval_take_the_direct_forward(sweep_file, monkeypatch):
    [spec] = expand(load_sweep(sweep_file()), cuda=False)
    with tempfile.TemporaryDirectory() as tmp:
        ctx, _, _ = _setup(spec, Path(tmp) / "tiny" / spec.run_id, TrainOptions(progress=False))
    assert direct_gpt2(ctx.model)
    calls = []
    monkeypatch.setattr(forward, "gpt2_logits", lambda model, ids: calls.append(ids.shape) or gpt2_logits(model, ids))
    _train_step(ctx, 0)
    evaluate(ctx.model, ctx.eval_windows[:3], 2, torch.device("cpu"))
    assert calls == [(spec.batch_size, spec.context_length), (2, spec.context_length), (1, spec.context_length)]


def test_a_config_changed_after_first_use_is_seen():
    model = _model()
    assert direct_gpt2(model)
    model.set_attn_implementation("eager")
    assert not direct_gpt2(model)
