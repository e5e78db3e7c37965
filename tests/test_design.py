"""Centred isoFLOP designs, the budget's FLOP convention, bracketing warnings and quickstart run ids."""
import math

import numpy as np
import pytest
import yaml

from harness.cli import main
from harness.config import load_sweep
from harness.design import bracket_warning, plan_warnings, predicted_optimum
from harness.plan import expand, load_and_expand
from harness.published import load_registry
from tests.conftest import TINY_SWEEP, deep_update

ISO = {"model": {"shapes": [], "sizes": [], "aspect_ratio": 16, "head_dim": 16},
       "budgets": {"mode": "isoflop", "compute": [1e12, 1e13], "centre": {"rule": "tokens_per_param", "value": 20},
                   "span": 4, "points": 7}}

# `harness plan sweeps/quickstart.yaml` run ids on main before the isoFLOP design landed (that design is now
# sweeps/quickstart_cosine.yaml, whose records are results/reference/quickstart_cosine/).
QUICKSTART_IDS = [
    "gpt2-L2-d32-D5.0e05-s0-18fdab2fc7", "gpt2-L2-d32-D1.0e06-s0-fef7d5766e", "gpt2-L2-d32-D2.0e06-s0-26b9680fa2",
    "gpt2-L2-d48-D5.0e05-s0-c0bbff8ad4", "gpt2-L2-d48-D1.0e06-s0-b3d9221aa6", "gpt2-L2-d48-D2.0e06-s0-fe043ed9d8",
    "gpt2-L3-d64-D5.0e05-s0-d823b4f287", "gpt2-L3-d64-D1.0e06-s0-8c71c87f7d", "gpt2-L3-d64-D2.0e06-s0-f1a53d014f",
]


def _plan(sweep_file, overrides):
    return load_and_expand(str(sweep_file(deep_update(ISO, overrides))))


def test_quickstart_run_ids_unchanged():
    _, specs = load_and_expand("sweeps/quickstart_cosine.yaml")
    assert [s.run_id for s in specs] == sorted(QUICKSTART_IDS, key=[s.run_id for s in specs].index)
    assert sorted(s.run_id for s in specs) == sorted(QUICKSTART_IDS)


def test_sizes_centre_on_the_tokens_per_param_optimum(sweep_file):
    config, specs = _plan(sweep_file, {})
    assert predicted_optimum(config.budgets, 1e12) == pytest.approx(91287.09, rel=1e-6)  # sqrt(1e12 / 120)
    for c in (1e12, 1e13):
        n_opt = math.sqrt(c / (6 * 20))
        targets = sorted({s.target_size for s in specs if s.budget == f"C={c:.3g}"})
        assert targets[0] == pytest.approx(n_opt / 4) and targets[-1] == pytest.approx(n_opt * 4)
        sizes = sorted({s.N_total for s in specs if s.budget == f"C={c:.3g}"})
        assert len(sizes) >= 5
        assert sizes[0] < n_opt / 2 and sizes[-1] > n_opt * 2  # span 4 either side, snapped to rungs
        assert math.exp(np.mean(np.log(sizes))) == pytest.approx(n_opt, rel=0.35)
    assert plan_warnings(config, specs) == [] or all("size error" in w for w in plan_warnings(config, specs))


def test_published_centre_uses_the_registry_frontier(sweep_file):
    config, _ = _plan(sweep_file, {"budgets": {"centre": {"rule": "published", "fit": "hoffmann2022_a3"}}})
    expected = float(load_registry()["hoffmann2022_a3"].optimal_n(np.array([1e13]))[0])
    assert predicted_optimum(config.budgets, 1e13) == pytest.approx(expected)


@pytest.mark.parametrize("convention,per_token", [
    ("total", lambda s: 6 * s.N_total), ("non_embedding", lambda s: 6 * s.N_nonembed),
    ("with_head", lambda s: 6 * s.N_with_head), ("full", lambda s: s.flops["full"])])
def test_budget_convention_sets_tokens(sweep_file, convention, per_token):
    _, specs = _plan(sweep_file, {"budgets": {"convention": convention}})
    for s in specs:
        c = float(s.budget.removeprefix("C="))
        assert per_token(s) * s.tokens == pytest.approx(c, rel=0.02)  # within one optimiser step


def test_conventions_give_different_tokens(sweep_file):
    _, total = _plan(sweep_file, {"budgets": {"convention": "total"}})
    _, nonembed = _plan(sweep_file, {"budgets": {"convention": "non_embedding"}})
    assert max(s.tokens for s in nonembed) > max(s.tokens for s in total)


def test_fixed_sizes_that_miss_the_optimum_warn(sweep_file):
    path = sweep_file({"model": {"shapes": [], "sizes": [3.3e3, 1e4, 1e5, 2e5]},
                       "budgets": {"mode": "isoflop", "compute": [1e11, 1e15]}})
    config, specs = load_and_expand(str(path))
    warnings = plan_warnings(config, specs)
    assert any("C=1e+15" in w and "cannot be bracketed" in w for w in warnings)
    assert not any("C=1e+11" in w for w in warnings if "bracketed" in w)


def test_bracket_warning_counts_each_side():
    assert bracket_warning("C=1", 10.0, [1, 5, 20, 40]) is None
    assert "1 size(s) above" in bracket_warning("C=1", 10.0, [1, 5, 7, 20])


@pytest.mark.parametrize("overrides,needle", [
    ({"budgets": {"centre": {"rule": "published"}}}, "fit"),
    ({"budgets": {"centre": {"rule": "published", "fit": "nobody2099"}}}, "budgets.centre.fit"),
    ({"budgets": {"centre": {"rule": "published", "fit": "kaplan2020_joint"}}}, "budgets.centre.fit"),
    ({"model": {"sizes": [1e5]}}, "drop model.sizes"),
    ({"budgets": {"mode": "grid", "tokens": [1e6]}}, "centre"),
    ({"budgets": {"convention": "flops"}}, "budgets.convention"),
    ({"budgets": {"span": 1}}, "budgets.span"),
])
def test_design_mistakes_are_one_line_errors(tmp_path, capsys, overrides, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(deep_update(deep_update(TINY_SWEEP, ISO), overrides)))
    with pytest.raises(SystemExit) as exc:
        main(["plan", str(path)])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and needle in err and str(path) in err


def test_shipped_gpu_sweeps_bracket_every_budget():
    for name in ("chinchilla_isoflop_gpu",):
        config = load_sweep(f"sweeps/{name}.yaml")
        specs = expand(config)
        assert not [w for w in plan_warnings(config, specs) if "bracketed" in w]
