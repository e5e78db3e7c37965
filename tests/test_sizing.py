"""Parameter counts and FLOPs: formulas against sum(p.numel()) of the real transformers models."""
import pytest

from harness.model import build_model
from harness.sizing import ModelShape, count_params, default_d_ff, flops_per_token, shape_for_params

SHAPES = [ModelShape(1, 16, 1, 64), ModelShape(2, 32, 2, 128), ModelShape(3, 48, 3, 200), ModelShape(4, 64, 8, 256)]


def _non_embedding(model) -> int:
    skip = ("wte", "wpe", "embed_tokens", "lm_head")
    return sum(p.numel() for name, p in model.named_parameters() if not any(s in name for s in skip))


@pytest.mark.parametrize("family", ["gpt2", "llama"])
@pytest.mark.parametrize("shape", SHAPES)
def test_counts_match_real_models(family, shape):
    shape = ModelShape(shape.n_layer, shape.d_model, shape.n_head, default_d_ff(family, shape.d_model))
    model = build_model(family, shape, vocab_size=97, context_length=40)
    counts = count_params(family, shape, 97, 40)
    assert counts.total == sum(p.numel() for p in model.parameters())
    assert counts.non_embedding == _non_embedding(model)
    head = model.get_output_embeddings().weight.numel()
    assert counts.with_head == counts.non_embedding + head


def test_gpt2_small_is_124m():
    shape = ModelShape(12, 768, 12, 3072)
    counts = count_params("gpt2", shape, 50257, 1024)
    assert counts.total == 124_439_808
    assert sum(p.numel() for p in build_model("gpt2", shape, 50257, 1024).parameters()) == counts.total
    assert round(counts.non_embedding / 1e6) == 85  # Kaplan's non-embedding count of GPT-2 small


def test_flops_conventions():
    shape = ModelShape(12, 768, 12, 3072)
    counts = count_params("gpt2", shape, 50257, 1024)
    flops = flops_per_token(counts, shape, 50257, 1024)
    assert flops["6N_total"] == 6 * counts.total
    # Kaplan Table 1: C_forward = 2N + 2·n_layer·n_ctx·d_attn; training is 3x forward; plus logits 2·d·V.
    assert flops["full"] == 3 * (2 * counts.non_embedding + 2 * 12 * 1024 * 768 + 2 * 768 * 50257)


@pytest.mark.parametrize("target", [3e4, 3e5, 3e6, 3e7, 1e8])
@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_sizing_rule_lands_near_target(target, family):
    shape, err = shape_for_params(target, family, 256, 128, aspect_ratio=64, head_dim=64 if target > 1e6 else 16)
    actual = count_params(family, shape, 256, 128).non_embedding
    assert err == pytest.approx(actual / target - 1)
    assert abs(err) < 0.35
    assert shape.d_model % shape.n_head == 0
