"""harness.model: configs built for speed without changing the maths."""
import torch
from transformers.activations import ACT2FN

from harness.model import build_model, model_config
from harness.sizing import ModelShape

SHAPE = ModelShape(n_layer=2, d_model=32, n_head=2, d_ff=128)


def test_gpt2_uses_the_fused_tanh_gelu_equal_to_gelu_new():
    """One fused GELU kernel (gelu_pytorch_tanh) instead of gelu_new's eight ops; same function to rounding."""
    config = model_config("gpt2", SHAPE, vocab_size=64, context_length=16)
    assert config.activation_function == "gelu_pytorch_tanh"
    x = torch.linspace(-8, 8, 10001, dtype=torch.float64)
    torch.testing.assert_close(ACT2FN["gelu_pytorch_tanh"](x), ACT2FN["gelu_new"](x), rtol=1e-12, atol=1e-12)


def test_gpt2_attention_gets_no_explicit_mask():
    """SDPA with is_causal (no materialised causal mask) on the training path."""
    import transformers.models.gpt2.modeling_gpt2 as gpt2

    seen = []
    original = gpt2.create_causal_mask
    gpt2.create_causal_mask = lambda *a, **k: seen.append(original(*a, **k)) or seen[-1]
    try:
        build_model("gpt2", SHAPE, 64, 16)(input_ids=torch.zeros(2, 16, dtype=torch.long))
    finally:
        gpt2.create_causal_mask = original
    assert seen == [None]
