"""The shape ladder: monotone depth and width, aspect ratio and head_dim respected, size errors bounded."""
import math

import numpy as np
import pytest

from harness.sizing import count_params, ladder_rungs, shape_for_params

TARGETS = np.geomspace(1e4, 1e9, 120)
CONFIGS = [("gpt2", 24, 16, None), ("llama", 24, 16, None), ("gpt2", 64, 64, 64), ("llama", 64, 64, 64),
           ("llama", 32, 64, 64)]


def _ladder(family, aspect, head_dim, multiple):
    return [shape_for_params(t, family, 16384, 1024, "non_embedding", aspect, head_dim, multiple) for t in TARGETS]


@pytest.mark.parametrize("family,aspect,head_dim,multiple", CONFIGS)
def test_depth_and_width_never_shrink_as_target_grows(family, aspect, head_dim, multiple):
    shapes = [s for s, _ in _ladder(family, aspect, head_dim, multiple)]
    for small, big in zip(shapes, shapes[1:]):
        assert big.n_layer >= small.n_layer and big.d_model >= small.d_model


@pytest.mark.parametrize("family,aspect,head_dim,multiple", CONFIGS)
def test_aspect_ratio_within_one_rounding_step(family, aspect, head_dim, multiple):
    step = multiple or head_dim
    for shape, _ in _ladder(family, aspect, head_dim, multiple):
        L, d = shape.n_layer, shape.d_model
        slack = max(math.log((L + 1) / L), math.log((d + step) / d)) + 1e-9
        assert abs(math.log(d / L / aspect)) <= slack, (L, d)


@pytest.mark.parametrize("family,aspect,head_dim,multiple", CONFIGS)
def test_size_error_within_the_rung_bound_and_5_percent_once_rungs_are_dense(family, aspect, head_dim, multiple):
    step = multiple or head_dim
    smallest = ladder_rungs(family, 16384, 1024, "non_embedding", aspect, head_dim, multiple, 1e4)[0][2]
    for target, (shape, err) in zip(TARGETS, _ladder(family, aspect, head_dim, multiple)):
        if target < smallest:  # below the first rung (one layer of one width step) no shape is closer
            assert (shape.n_layer, shape.d_model) == (1, step)
            continue
        actual = count_params(family, shape, 16384, 1024).non_embedding
        assert err == pytest.approx(actual / target - 1)
        L, d = shape.n_layer, shape.d_model
        gap = max((L + 1) / L, ((d + step) / d) ** 2, L / max(L - 1, 1), (d / max(d - step, step)) ** 2)
        assert abs(math.log(1 + err)) <= 0.5 * math.log(gap) + 1e-9
        if L >= 12 and d >= 24 * step:
            assert abs(err) <= 0.05, (target, L, d, err)


def test_large_targets_land_within_5_percent():
    for target in np.geomspace(1e8, 1e9, 15):  # d_model >= 20 width steps of 16 and >= 10 layers here
        _, err = shape_for_params(target, "gpt2", 50257, 1024, "non_embedding", 24, 16)
        assert abs(err) <= 0.05


def test_aspect_ratio_and_head_dim_act():
    deep, _ = shape_for_params(1e7, "gpt2", 16384, 1024, aspect_ratio=16, head_dim=64, width_multiple=64)
    wide, _ = shape_for_params(1e7, "gpt2", 16384, 1024, aspect_ratio=64, head_dim=64, width_multiple=64)
    assert deep.n_layer > wide.n_layer and deep.d_model < wide.d_model
    a24, _ = shape_for_params(3e7, "llama", 16384, 1024, aspect_ratio=24, head_dim=32)
    a16, _ = shape_for_params(3e7, "llama", 16384, 1024, aspect_ratio=16, head_dim=32)
    assert a24 != a16
    h32, _ = shape_for_params(3e7, "llama", 16384, 1024, aspect_ratio=32, head_dim=32)
    h128, _ = shape_for_params(3e7, "llama", 16384, 1024, aspect_ratio=32, head_dim=128)
    assert h32.d_model // h32.n_head == 32 and h128.d_model // h128.n_head == 128


def test_width_multiple_rounds_d_model():
    for target in (3e6, 2e7, 1e8):
        shape, _ = shape_for_params(target, "llama", 16384, 1024, aspect_ratio=48, head_dim=64, width_multiple=128)
        assert shape.d_model % 128 == 0


def test_quickstart_shapes_unchanged_by_the_ladder():
    # Shapes the previous chooser gave for sweeps/quickstart.yaml (harness plan on main before the ladder).
    expected = {25000: (2, 32, 2), 60000: (2, 48, 3), 150000: (3, 64, 4)}
    for target, (L, d, h) in expected.items():
        shape, _ = shape_for_params(target, "gpt2", 64, 64, "non_embedding", 24, 16)
        assert (shape.n_layer, shape.d_model, shape.n_head) == (L, d, h)


def test_rungs_increase_by_one_layer_or_one_step():
    rungs = ladder_rungs("gpt2", 16384, 1024, aspect_ratio=32, head_dim=64, width_multiple=64, limit=1e9)
    for (l0, d0, n0), (l1, d1, n1) in zip(rungs, rungs[1:]):
        assert (l1 - l0, d1 - d0) in ((1, 0), (0, 64)) and n1 > n0
