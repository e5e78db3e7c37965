"""Logits of a causal LM on whole, unpadded token windows, with as little Python per call as the model allows.

transformers 5 runs every GPT-2 forward through generic Python layers: config-default merging, output capture,
kwarg-deprecation shims on the model and on every block and attention, the causal-mask builder (which looks for
packed sequences with a cumsum, a comparison and a host sync, then returns no mask because SDPA's ``is_causal``
does the work), attention dispatch through a registry, and a ModelOutput for the base model and for the LM head.
On a 2-core CPU that is 0.2-0.3 ms of each forward+backward at 2 layers and more with depth, a percent or more of a
small model's training step, spent before and between the same kernels a hand-written GPT calls.

For the GPT-2 models ``harness.model`` builds (SDPA attention, no dropout, no cross-attention, no cache, no padding)
``gpt2_logits`` runs the model's own modules and weights through exactly the torch ops of transformers' forward, in
the same order: the logits and every gradient are bitwise the same (``tests/test_forward.py`` checks them against
``model(input_ids=...)``), so no recorded loss moves. Anything else -- other families, a DDP- or torch.compile-wrapped
model, a forward that accelerate patched for mixed-precision autocast, forward hooks on the model, a block, an
attention or an MLP (or on every module), gradient checkpointing, dropout, another attention implementation --
goes through ``model(input_ids=...).logits`` as before.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import GPT2LMHeadModel


def lm_logits(model: torch.nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    """``model(input_ids=input_ids).logits`` for (batch, time) token ids with no padding and no cache."""
    if direct_gpt2(model):
        return gpt2_logits(model, input_ids)
    return model(input_ids=input_ids).logits


def direct_gpt2(model: torch.nn.Module) -> bool:
    """Whether ``gpt2_logits(model, ids)`` is exactly ``model(input_ids=ids).logits`` (see the module docstring)."""
    if type(model) is not GPT2LMHeadModel or "forward" in model.__dict__:  # accelerate's autocast patch sets forward
        return False
    base = model.transformer
    if base.gradient_checkpointing or any(_has_hooks(m) for m in _skipped(model)) or _global_hooks():
        return False
    return _plain_gpt2_config(model.config)   # read every call (a few attributes): a config changed later counts


def _skipped(model: GPT2LMHeadModel) -> list[torch.nn.Module]:
    """The modules whose own ``__call__`` the direct forward does not make (their children's it does)."""
    blocks = model.transformer.h
    return [model, model.transformer, *blocks, *(b.attn for b in blocks), *(b.mlp for b in blocks)]


def _global_hooks() -> bool:
    """Whether any forward hook is registered for every module (``torch.nn.modules.module.register_module_*``)."""
    from torch.nn.modules import module as torch_module
    return bool(torch_module._global_forward_hooks or torch_module._global_forward_pre_hooks)


def _has_hooks(module: torch.nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks or getattr(module, "_hf_hook", None))


def _plain_gpt2_config(config) -> bool:
    """SDPA attention, every dropout 0, no cross-attention, and no mask or cache ever built from the config."""
    return (config._attn_implementation == "sdpa" and not config.add_cross_attention
            and config.resid_pdrop == 0 and config.embd_pdrop == 0 and config.attn_pdrop == 0
            and getattr(config, "is_causal", True) and not config.use_cache)


def gpt2_logits(model: GPT2LMHeadModel, input_ids: torch.Tensor) -> torch.Tensor:
    """transformers' GPT-2 forward (GPT2Model, GPT2Block, GPT2Attention with SDPA, the tied head) reduced to its ops.

    Dropout layers with p = 0 return their input untouched and are skipped; the mask is None and SDPA runs with
    ``is_causal=True``, as transformers does for an unpadded batch without a cache."""
    base = model.transformer
    positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
    hidden = base.wte(input_ids) + base.wpe(positions)
    for block in base.h:
        hidden = _attention(block.attn, block.ln_1(hidden)) + hidden
        hidden = hidden + _mlp(block.mlp, block.ln_2(hidden))
    return model.lm_head(base.ln_f(hidden))


def _attention(attn: torch.nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    query, key, value = attn.c_attn(hidden).split(attn.split_size, dim=2)
    heads = (*hidden.shape[:-1], -1, attn.head_dim)
    query, key, value = (z.view(heads).transpose(1, 2) for z in (query, key, value))
    out = F.scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, scale=attn.scaling,
                                         is_causal=query.shape[2] > 1)
    out = out.transpose(1, 2).contiguous()
    return attn.c_proj(out.reshape(*out.shape[:-2], -1).contiguous())


def _mlp(mlp: torch.nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    return mlp.c_proj(mlp.act(mlp.c_fc(hidden)))
