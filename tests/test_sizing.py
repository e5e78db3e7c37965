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


MAMBA_SHAPES = [ModelShape(1, 16, 1, 32), ModelShape(2, 32, 1, 64), ModelShape(3, 48, 1, 96), ModelShape(2, 40, 1, 120)]


@pytest.mark.parametrize("shape", MAMBA_SHAPES)
def test_mamba_counts_match_real_models(shape):
    model = build_model("mamba", shape, vocab_size=97, context_length=40)
    counts = count_params("mamba", shape, 97, 40)
    assert counts.total == sum(p.numel() for p in model.parameters())
    skip = ("embeddings",)
    assert counts.non_embedding == sum(p.numel() for n, p in model.named_parameters() if not any(s in n for s in skip))
    assert counts.with_head == counts.total  # tied head
    assert model.config.intermediate_size == shape.d_ff


def test_mamba_block_by_hand():
    # d=32, E·d=64, N=16, k=4, r=ceil(32/16)=2: norm 32, A_log 1024, D 64, conv 256+64, in_proj 4096,
    # x_proj 64·(2+32)=2176, dt_proj 128+64, out_proj 2048 (numbers from transformers' named_parameters).
    assert count_params("mamba", ModelShape(2, 32, 1, 64), 97, 40).total == 2 * 9952 + 32 + 97 * 32 == 23040


def test_mamba_flops_add_the_scan_not_attention():
    shape = ModelShape(2, 32, 1, 64)
    counts = count_params("mamba", shape, 97, 4096)
    flops = flops_per_token(counts, shape, 97, 4096, "mamba")
    # 3 × (forward 9·d_inner·d_state per layer: state-spaces/mamba issue #110); no context-length term.
    assert flops["full"] == 6 * counts.non_embedding + 3 * 9 * 2 * 64 * 16 + 6 * 32 * 97
    assert flops_per_token(counts, shape, 97, 40, "mamba")["full"] == flops["full"]


@pytest.mark.parametrize("target", [3e4, 3e5, 3e6])
def test_mamba_sizing_rule_lands_near_target(target):
    shape, err = shape_for_params(target, "mamba", 256, 128, aspect_ratio=32)
    actual = count_params("mamba", shape, 256, 128).non_embedding
    assert err == pytest.approx(actual / target - 1)
    assert abs(err) < 0.35
    assert shape.d_ff == 2 * shape.d_model
