"""Registry of published fits: every entry validates, numbers and conventions are where the papers put them."""
from __future__ import annotations

import math

import numpy as np
import pytest

from harness.errors import ConfigError
from harness.published import (LOSS_UNITS, N_CONVENTIONS, load_registry, nonembed_compute, nonembed_exponent, omega_for,
                               parse_registry, total_from_nonembed)

REQUIRED_PAPERS = ("kaplan2020", "hoffmann2022_a1", "hoffmann2022_a2", "hoffmann2022_a3", "hoffmann2022_a3_unrounded",
                   "besiroglu2024", "porian2024_rw_tuned", "pearce_song2024_sim_hoffmann", "deepseek2024",
                   "llama3_2024", "muennighoff2023")


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def test_every_entry_has_conventions_units_and_ranges(registry):
    assert set(REQUIRED_PAPERS) <= set(registry)
    for entry in registry.values():
        assert entry.n_convention in N_CONVENTIONS and entry.loss_unit in LOSS_UNITS
        assert entry.arxiv.count(".") == 1 and entry.dataset and entry.tokenizer and entry.c_convention
        assert set(entry.ranges) == {"N", "D", "C"}
        for span in entry.ranges.values():
            assert span is None or 0 < span[0] < span[1]
        if any(span is None for span in entry.ranges.values()):
            assert entry.range_note, entry.id


def test_published_numbers_and_intervals(registry):
    kaplan, a3 = registry["kaplan2020"], registry["hoffmann2022_a3"]
    assert (kaplan.values["a"].value, kaplan.values["alpha_N"].value, kaplan.n_convention) == (0.73, 0.076, "non_embedding")
    assert a3.values["a"].ci == (0.454, 0.455) and a3.values["a"].level == 0.8
    epoch = registry["besiroglu2024"]
    assert epoch.values["alpha"].ci == (0.317, 0.373) and epoch.values["a"].sigma() == pytest.approx(0.020)
    # An 80% interval converts to σ with the 80% quantile (1.2816), not 1.96.
    assert registry["hoffmann2022_a2"].values["a"].sigma() == pytest.approx((0.534 - 0.462) / 2 / 1.2816, rel=1e-3)
    porian = [e.values["a"].value for k, e in registry.items() if k.startswith("porian2024_rw_")]
    assert sorted(porian) == [0.497, 0.571, 0.602, 0.706, 0.835]
    assert registry["porian2024_rw_kaplan"].n_convention == "non_embedding"
    assert registry["deepseek2024"].loss_unit == "bits_per_byte"


def test_unchecked_values_are_marked(registry):
    assert registry["deepseek2024"].values["a"].status == "M"
    assert "a (S)" in registry["pearce_song2024_runs_total"].unverified_items()
    assert registry["besiroglu2024"].unverified_items() == []
    assert "n_convention" in registry["muennighoff2023"].unverified_items()


def test_derived_exponents_are_flagged(registry):
    a = registry["hoffmann2022_a3_unrounded"].values["a"]
    assert a.derived and a.value == pytest.approx(0.28491 / (0.33917 + 0.28491))
    assert registry["llama3_2024"].values["a"].value == pytest.approx(0.47)
    assert not registry["hoffmann2022_a3"].values["a"].derived


def test_frontiers_reproduce_published_optima(registry):
    # published_fits.md: at 5.76e23 FLOP the unrounded A3 law gives N* = 40.4B, the rounded one 32.2B.
    assert registry["hoffmann2022_a3_unrounded"].optimal_n(5.76e23) == pytest.approx(40.4e9, rel=0.005)
    assert registry["hoffmann2022_a3"].optimal_n(5.76e23) == pytest.approx(32.2e9, rel=0.005)
    # Hoffmann Table 3 (approach 1): 10B parameters at 1.23e22 FLOP, 205.1B tokens.
    a1 = registry["hoffmann2022_a1"]
    assert a1.optimal_n(1.23e22) == pytest.approx(10e9, rel=0.02)
    assert a1.optimal_d(1.23e22) == pytest.approx(205.1e9, rel=0.02)
    # Kaplan Table 6 in PF-days: N_opt = 1.3e9 at C_min = 1 PF-day.
    assert registry["kaplan2020"].optimal_n(8.64e19) == pytest.approx(1.3e9)
    assert registry["hoffmann2022_a2"].optimal_n(1e21) is None


def test_pearce_song_omega_and_worked_exponents(registry):
    # ω = V·(aspect/12)^(1/3) = 47,481 for V = 32k, d/L = 39.2; the authors' fit to Chinchilla's configs: 47,491.
    assert omega_for(32_000, 39.2) == pytest.approx(47_491, rel=1e-3)
    n = np.array([1e6, 1e9])
    assert np.allclose(total_from_nonembed(n), n + 47_491 * n ** (1 / 3))
    # Their script: the Chinchilla law simulated over Kaplan's range with non-embedding counting gives
    # N* ∝ C^0.74 with Hoffmann's coefficients and C^0.78 with Epoch's (published_fits.md, Pearce & Song row).
    hoffmann = {"E": 1.6934, "A": 406.4, "B": 410.7, "alpha": 0.3392, "beta": 0.2849}
    epoch = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}
    assert round(nonembed_exponent(hoffmann), 2) == registry["pearce_song2024_sim_hoffmann"].values["a"].value
    assert round(nonembed_exponent(epoch), 2) == registry["pearce_song2024_sim_epoch"].values["a"].value
    # At huge compute the local exponent tends to β/(α+β); at tiny compute to β/(α/3+β).
    large = nonembed_exponent(hoffmann, c_range=(1e30, 1e32))
    small = nonembed_exponent(hoffmann, c_range=tuple(nonembed_compute(np.array([1e-3, 1e-1]), hoffmann)))
    assert large == pytest.approx(0.2849 / (0.3392 + 0.2849), abs=0.01)
    assert small == pytest.approx(0.2849 / (0.3392 / 3 + 0.2849), abs=0.01)


BASE = {"id": "x", "paper": "P 2020", "arxiv": "2001.00001", "where": "T1", "form": "L", "status": "P",
        "n_convention": "total", "c_convention": "6ND", "dataset": "d", "tokenizer": "t", "loss_unit": "nats_per_token",
        "loss_kind": "test", "ranges": {"N": [1, 2], "D": [1, 2], "C": [1, 2]}, "values": {"a": {"value": 0.5}}}


@pytest.mark.parametrize("change, message", [
    ({"n_convention": "params"}, "n_convention"),
    ({"loss_unit": "nats"}, "loss_unit"),
    ({"ranges": {"N": [1, 2], "D": [1, 2]}}, "ranges must give"),
    ({"ranges": {"N": [2, 1], "D": [1, 2], "C": [1, 2]}}, "range N"),
    ({"ranges": {"N": None, "D": [1, 2], "C": [1, 2]}}, "range_note"),
    ({"values": {"gamma": 1.0}}, "values among"),
    ({"values": {"a": {"value": 0.5, "status": "X"}}}, "status"),
    ({"tokenizer": ""}, "missing tokenizer"),
    ({"colour": "red"}, "unknown field"),
])
def test_bad_entries_are_rejected_in_one_line(change, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_registry([{**BASE, **change}])
    assert "\n" not in str(info.value)


def test_variants_expand_and_ids_are_unique():
    entries = parse_registry([{**BASE, "variants": [{"suffix": "u", "values": {"a": 0.4}}, {"suffix": "v"}]}])
    assert set(entries) == {"x_u", "x_v"} and entries["x_u"].values["a"].value == 0.4
    with pytest.raises(ConfigError, match="duplicate"):
        parse_registry([BASE, BASE])
    # YAML 1.1 reads 1e3 (no exponent sign) as a string; the loader turns it back into a number.
    entry = parse_registry([{**BASE, "ranges": {"N": ["1e3", "2e3"], "D": [1, 2], "C": [1, 2]}}])["x"]
    assert entry.ranges["N"] == (1000.0, 2000.0) and math.isclose(entry.values["b"].value, 0.5)


def test_degenerate_laws_give_nan_not_a_crash():
    # A fit whose α and β reached 0 (20 points all at loss 2.5): no frontier, so no conversion either.
    flat = {"E": 0.83, "A": 0.83, "B": 0.83, "alpha": 0.0, "beta": 0.0}
    assert np.isnan(nonembed_compute(np.array([1e6, 1e9]), flat)).all()
    assert math.isnan(nonembed_exponent(flat))
    assert math.isnan(nonembed_exponent({**flat, "alpha": 0.34, "beta": 1e-17}))


def test_our_own_omega_counts_learned_position_embeddings():
    # The reference quickstart's smallest model (GPT-2, V = 64, context 64, d = 32, L = 2): its record says
    # N_total − N_nonembed = 29568 − 25472 = 4096 = (64 + 64)·32 embedding parameters (token + learned positions).
    # P&S's relation N_E = ω·N^(1/3) with N = 12·L·d² reproduces that only when ω counts the positions too.
    n_nonembed = 12 * 2 * 32 ** 2
    assert omega_for(64, 32 / 2, positions=64) * n_nonembed ** (1 / 3) == pytest.approx(29568 - 25472, rel=1e-9)
    assert omega_for(64, 32 / 2) * n_nonembed ** (1 / 3) == pytest.approx(2048, rel=1e-9)  # token embeddings only
    from harness import load_results
    from harness.published import omega_from_table
    from tests.conftest import REPO

    table = load_results(REPO / "results" / "reference" / "quickstart")
    ratios = (table["N_total"] - table["N_nonembed"]) / np.cbrt(table["N_nonembed"])
    assert ratios.min() <= omega_from_table(table) <= ratios.max()
    assert omega_from_table(table.drop(columns=["N_nonembed"])) is None


def test_one_home_for_c_equals_6nd(registry):
    from harness.fit import derived
    from harness.sizing import FLOPS_PER_PARAM_TOKEN, tokens_for_compute, training_compute

    assert FLOPS_PER_PARAM_TOKEN == 6.0 and derived.tokens_for_compute is tokens_for_compute
    assert training_compute(1e9, 20e9) == 1.2e20 and tokens_for_compute(1.2e20, 1e9) == pytest.approx(20e9)
    # Hoffmann Table 3 (approach 1): 1B parameters at 1.21e20 FLOP train on 20.2B tokens = C/(6N).
    assert registry["hoffmann2022_a1"].optimal_d(1.21e20) == pytest.approx(20.2e9, rel=0.01)
