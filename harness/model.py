"""transformers model configs (GPT-2, Llama, Mamba) from a shape; no weights are downloaded."""
from __future__ import annotations

from transformers import (GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, MambaConfig, MambaForCausalLM,
                          PretrainedConfig, PreTrainedModel)

from harness.sizing import MAMBA_D_CONV, MAMBA_D_STATE, Family, ModelShape, mamba_dt_rank


def model_config(family: Family, shape: ModelShape, vocab_size: int, context_length: int) -> PretrainedConfig:
    """A transformers config for this shape: no dropout, SDPA attention, GPT-2 tied / Llama untied head.

    GPT-2's GELU is ``gelu_pytorch_tanh``: the same tanh approximation as its original ``gelu_new`` (equal to
    float rounding) in one fused kernel instead of eight elementwise ops, a quarter of a small model's CPU step.
    """
    if family == "mamba":
        return mamba_config(shape, vocab_size)
    if family == "gpt2":
        return GPT2Config(
            vocab_size=vocab_size, n_positions=context_length, n_embd=shape.d_model, n_layer=shape.n_layer,
            n_head=shape.n_head, n_inner=shape.d_ff, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
            bos_token_id=None, eos_token_id=None, use_cache=False, attn_implementation="sdpa",
            activation_function="gelu_pytorch_tanh",
        )
    return LlamaConfig(
        vocab_size=vocab_size, hidden_size=shape.d_model, intermediate_size=shape.d_ff,
        num_hidden_layers=shape.n_layer, num_attention_heads=shape.n_head, num_key_value_heads=shape.n_head,
        max_position_embeddings=context_length, tie_word_embeddings=False, attention_dropout=0.0,
        bos_token_id=None, eos_token_id=None, pad_token_id=None, use_cache=False, attn_implementation="sdpa",
    )


def mamba_config(shape: ModelShape, vocab_size: int) -> MambaConfig:
    """transformers' Mamba (Gu & Dao 2023) for this shape: d_ff is the inner width, tied head, no biases.

    transformers runs the fused mamba-ssm / causal-conv1d kernels when they are installed on a GPU; otherwise
    (CPU) its PyTorch path, with ``use_mambapy``: mamba.py's parallel scan when that package is installed
    (5x faster than the per-token loop, whose backward slices the whole state tensor 2·L times), else the loop.
    """
    return MambaConfig(
        vocab_size=vocab_size, hidden_size=shape.d_model, num_hidden_layers=shape.n_layer,
        intermediate_size=shape.d_ff, expand=shape.d_ff // shape.d_model, state_size=MAMBA_D_STATE,
        conv_kernel=MAMBA_D_CONV, time_step_rank=mamba_dt_rank(shape.d_model), use_bias=False, use_conv_bias=True,
        tie_word_embeddings=True, bos_token_id=None, eos_token_id=None, pad_token_id=None, use_cache=False,
        use_mambapy=True,
    )


_CLASSES = {"gpt2": GPT2LMHeadModel, "llama": LlamaForCausalLM, "mamba": MambaForCausalLM}


def build_model(family: Family, shape: ModelShape, vocab_size: int, context_length: int) -> PreTrainedModel:
    """A freshly initialised causal LM (call under a seeded RNG for reproducible weights)."""
    config = model_config(family, shape, vocab_size, context_length)
    return _CLASSES[family](config)


def unique_param_count(model: PreTrainedModel) -> int:
    """``sum(p.numel())`` over unique parameters (tied matrices once)."""
    return sum(p.numel() for p in model.parameters())
