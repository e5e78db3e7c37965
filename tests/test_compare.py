"""Comparison with published fits, on fits whose numbers are known from outside the code: Epoch's refit of
Chinchilla (Besiroglu 2024), simulated bootstrap draws with a known spread, and degenerate fits."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd
import pytest

from harness.compare import (Context, as_fit, compare_fit, context_from, entry_verdicts, like_for_like,
                             our_estimates)
from harness.errors import ConfigError
from harness.fit.fitting import FitResult
from harness.published import KAPLAN_C_RANGE, load_registry
from harness.report.comparison import format_comparison, frontier_table, headline, records

# Besiroglu et al. 2024 (arXiv 2404.10102), headline refit and 95% bootstrap CIs; a = 0.513 ± 0.020.
EPOCH_FIT = {
    "law": "chinchilla", "objective": "huber",
    "params": {"E": 1.817, "A": 482.01, "B": 2085.43, "alpha": 0.348, "beta": 0.366},
    "ci": {"E": [1.769, 1.871], "A": [285, 744], "B": [1042, 5810], "alpha": [0.317, 0.373], "beta": [0.331, 0.415],
           "a": [0.513 - 1.96 * 0.020, 0.513 + 1.96 * 0.020]},
    "derived": {"a": 0.513}, "n_convention": "with_head", "objective_value": 0.001, "n_points": 240, "warnings": [],
    "dataset": "MassiveText", "tokenizer": "SentencePiece (32k)",
    "ranges": {"N": [5.7e7, 1.6e10], "D": [2.5e8, 3.2e11], "C": [1.4e18, 1.3e22]},
}


@pytest.fixture(scope="module")
def rows():
    return compare_fit(EPOCH_FIT)


def _row(rows, quantity, entry):
    match = rows[(rows["quantity"] == quantity) & (rows["entry"] == entry)]
    assert len(match) == 1, (quantity, entry)
    return match.iloc[0]


def test_hoffmann_a3_inconsistent_besiroglu_consistent(rows):
    verdicts = entry_verdicts(rows).set_index("entry")["verdict"]
    assert verdicts["hoffmann2022_a3"] == "inconsistent" and verdicts["hoffmann2022_a3_unrounded"] == "inconsistent"
    assert verdicts["besiroglu2024"] == "consistent"
    beta = _row(rows, "beta", "hoffmann2022_a3")
    # (0.366 − 0.28) / σ, σ = (0.415 − 0.331)/(2·1.96) from our CI; Hoffmann prints no interval for β.
    assert beta["z"] == pytest.approx((0.366 - 0.28) / ((0.415 - 0.331) / 3.92), rel=1e-3)
    a = _row(rows, "a", "hoffmann2022_a3")
    assert a["verdict"] == "inconsistent" and a["z"] == pytest.approx((0.513 - 0.46) / math.hypot(0.020, 0.001 / 2.5631), rel=1e-2)
    assert _row(rows, "alpha", "hoffmann2022_a3")["verdict"] == "consistent"  # α alone does not separate them
    assert (rows[rows["entry"] == "besiroglu2024"]["z"].dropna().abs() < 0.05).all()  # b: 1 − 0.513 vs α/(α+β)


def test_like_for_like_column(rows):
    assert _row(rows, "E", "besiroglu2024")["like_for_like"] == "yes"
    e_muen = _row(rows, "E", "muennighoff2023")
    assert e_muen["like_for_like"] == "no" and "data set and tokenizer" in e_muen["caveats"]
    # Exponents do not depend on the data set the way E, A, B do: only the N convention separates these.
    alpha_muen = _row(rows, "alpha", "muennighoff2023")
    assert alpha_muen["like_for_like"] == "approx" and "data set" not in alpha_muen["caveats"]
    kaplan = _row(rows, "a", "kaplan2020")
    assert kaplan["like_for_like"] == "no" and "N convention" in kaplan["caveats"]
    deepseek = _row(rows, "a", "deepseek2024")
    assert "loss unit" in deepseek["caveats"]


def test_data_dependent_quantities_across_data_sets_are_context_only(rows):
    # E, A, B and tokens/param depend on data set and tokenizer: across different data they get no z or verdict.
    e_muen = _row(rows, "E", "muennighoff2023")
    assert e_muen["verdict"] == "context only" and math.isnan(e_muen["z"])
    with_tpp = {**EPOCH_FIT, "derived": {"a": 0.513, "tokens_per_param@1e+21": 20.0},
                "ci": {**EPOCH_FIT["ci"], "tokens_per_param@1e+21": [15.0, 27.0]}}
    tpp = compare_fit(with_tpp, budgets=[1e21])
    tpp = tpp[tpp["quantity"] == "tokens_per_param@1e+21"].set_index("entry")
    assert tpp.loc["llama3_2024", "verdict"] == "context only" and math.isnan(tpp.loc["llama3_2024", "z"])
    assert tpp.loc["hoffmann2022_a3_unrounded", "verdict"] in ("consistent", "inconsistent")  # same data set
    assert _row(rows, "E", "besiroglu2024")["verdict"] == "consistent"  # same data: scored


def test_scale_ranges_must_overlap():
    tiny = Context(n_convention="with_head", ranges={"N": (1e4, 1e6), "D": (1e6, 1e8), "C": (1e11, 1e14)})
    verdict, reasons = like_for_like("alpha", tiny, load_registry()["besiroglu2024"])
    assert verdict == "no" and any("N ranges do not overlap" in r for r in reasons)


def test_unknown_dataset_never_compares_constants_silently():
    fit = {**EPOCH_FIT, "dataset": None, "tokenizer": None}
    row = _row(compare_fit(fit), "E", "besiroglu2024")
    assert row["like_for_like"] == "no" and "unknown/unknown" in row["caveats"] and row["verdict"] == "context only"


def test_conversion_uses_our_omega_over_our_compute_range():
    # Pearce & Song: the Epoch law counted without embeddings over Kaplan's compute range with ω = 47,491
    # gives a ≈ 0.78 (published_fits.md). Given that ω and range as OUR context, the conversion reproduces it.
    ctx = Context(n_convention="with_head", dataset="MassiveText", tokenizer="SentencePiece (32k)",
                  ranges={"N": (5.7e7, 1.6e10), "D": None, "C": KAPLAN_C_RANGE}, omega=47491.0)
    kaplan = _row(compare_fit(EPOCH_FIT, context=ctx), "a", "kaplan2020")
    assert kaplan["converted"] == pytest.approx(0.78, abs=0.006) and "our ω=4.75e+04" in kaplan["conversion"]
    assert abs(kaplan["z_converted"]) < abs(kaplan["z"])
    # Our ω is ours: with a much smaller embedding share the converted exponent moves towards β/(α+β).
    small = _row(compare_fit(EPOCH_FIT, context=Context(**{**ctx.__dict__, "omega": 10.0})), "a", "kaplan2020")
    assert small["converted"] == pytest.approx(0.366 / (0.348 + 0.366), abs=0.01)
    # Without our ω and compute range (a bare fit JSON) nothing is converted, and nothing is extrapolated.
    bare = _row(compare_fit(EPOCH_FIT), "a", "kaplan2020")
    assert math.isnan(bare["converted"]) and "needs our ω" in bare["conversion"]
    assert math.isnan(_row(compare_fit(EPOCH_FIT, context=ctx), "a", "besiroglu2024")["converted"])


def test_tokens_per_param_from_the_closed_form_by_hand():
    # Hoffmann Eq. 4 by hand: N_opt = G (C/6)^a, D_opt = (C/6)^b / G, G = (αA/(βB))^(1/(α+β)).
    p = EPOCH_FIT["params"]
    c6 = 5.76e23 / 6
    g = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1 / (p["alpha"] + p["beta"]))
    a, b = p["beta"] / (p["alpha"] + p["beta"]), p["alpha"] / (p["alpha"] + p["beta"])
    by_hand = (c6 ** b / g) / (g * c6 ** a)
    assert 18 <= by_hand <= 26  # Besiroglu 2024: D/N ≈ 18–26 (published_fits.md)
    est = our_estimates(EPOCH_FIT, budgets=[5.76e23])["tokens_per_param@5.76e+23"]
    assert est.value == pytest.approx(by_hand, rel=1e-9)
    table = frontier_table(EPOCH_FIT, budgets=[5.76e23])
    assert set(table["source"]) >= {"ours", "kaplan2020", "hoffmann2022_a1", "hoffmann2022_a3_unrounded"}
    n = table.set_index("source")["N_opt"]
    assert n["hoffmann2022_a3_unrounded"] == pytest.approx(40.4e9, rel=0.01)  # published_fits.md
    assert n["ours"] == pytest.approx(g * c6 ** a, rel=1e-9)


def test_tokens_per_param_interval_from_the_fit_json_is_kept():
    # `compare FIT.json`: the JSON's own tokens/param interval is used, not dropped or recomputed.
    fit = {**EPOCH_FIT, "derived": {**EPOCH_FIT["derived"], "tokens_per_param@1e+21": 20.0},
           "ci": {**EPOCH_FIT["ci"], "tokens_per_param@1e+21": [15.0, 27.0]}}
    est = our_estimates(fit, budgets=[1e21])["tokens_per_param@1e+21"]
    assert (est.value, est.lo, est.hi, est.status) == (20.0, 15.0, 27.0, "estimated")


def _simulated_fit(sigma: float, level: float = 0.95, n: int = 4000) -> dict:
    """A fit whose bootstrap draws have a known spread: α ~ Normal(0.35, σ), β ~ Normal(0.37, σ)."""
    rng = np.random.default_rng(7)
    samples = {"E": np.full(n, 1.8), "A": rng.normal(480, 20, n), "B": rng.normal(2000, 80, n),
               "alpha": rng.normal(0.35, sigma, n), "beta": rng.normal(0.37, sigma, n)}
    return {**EPOCH_FIT, "params": {**EPOCH_FIT["params"], "alpha": 0.35, "beta": 0.37}, "ci": {}, "derived": {},
            "samples": {k: v.tolist() for k, v in samples.items()}, "ci_level": level}


@pytest.mark.parametrize("level", [0.95, 0.8])
def test_interval_magnitudes_match_the_known_spread(level):
    # The draws' σ is known (0.01): the interval at the fit's own level must be ±z·σ, and z must use that σ.
    sigma = 0.01
    est = our_estimates(_simulated_fit(sigma, level), budgets=())["alpha"]
    q = {0.95: 1.95996, 0.8: 1.28155}[level]
    assert est.level == level
    assert est.hi - est.lo == pytest.approx(2 * q * sigma, rel=0.06)
    assert est.sigma() == pytest.approx(sigma, rel=0.06)
    row = _row(compare_fit(_simulated_fit(sigma, level)), "alpha", "besiroglu2024")
    assert row["z"] == pytest.approx((0.35 - 0.348) / math.hypot(sigma, 0.015), rel=0.06)


def test_uninformative_and_never_consistent_with_a_huge_interval():
    wide = {**EPOCH_FIT, "ci": {**EPOCH_FIT["ci"], "alpha": [0.07, 8.07], "beta": [0.07, 8.07]}}
    rows = compare_fit(wide)
    alpha = rows[rows["quantity"] == "alpha"]
    assert set(alpha["verdict"]) == {"uninformative"}
    assert "consistent" not in set(rows[rows["quantity"].isin(["alpha", "beta"])]["verdict"])
    assert "β is uninformative" in " ".join(headline(rows))


@dataclass(frozen=True)
class _WithStats(FitResult):
    """FitResult with the fields the fitter adds (identified, profile_bounds, bootstrap), whatever this branch has."""

    identified: Optional[dict] = None
    profile_bounds: Optional[dict] = None
    bootstrap: Optional[dict] = None


def test_fixed_parameters_get_no_z():
    fit = {**EPOCH_FIT, "ci": {**EPOCH_FIT["ci"], "E": [1.817, 1.817]}, "se": {"E": 0.0}}
    e = _row(compare_fit(fit), "E", "besiroglu2024")
    assert e["verdict"] == "fixed" and math.isnan(e["z"])
    warned = {**EPOCH_FIT, "ci": {**EPOCH_FIT["ci"], "E": [1.817, 1.817]}, "warnings": ["E fixed at the floor 1.817"]}
    assert our_estimates(warned, ())["E"].status == "fixed"


def test_unidentified_parameters_get_no_z_and_show_profile_bounds():
    raw = {**EPOCH_FIT, "identified": {"beta": False, "alpha": True}, "profile_bounds": {"beta": [0.2, None]},
           "bootstrap": {"requested": 100, "used": 97, "failed": 3}}
    fit = _WithStats.from_dict(raw)
    assert fit.bootstrap == {"requested": 100, "used": 97, "failed": 3} and fit.to_dict()["identified"]["beta"] is False
    rows = compare_fit(fit, context=context_from(raw))
    beta = _row(rows, "beta", "besiroglu2024")
    assert beta["verdict"] == "not identified" and math.isnan(beta["z"])
    assert "profile-likelihood bounds [0.2, –]" in beta["why"]
    assert _row(rows, "alpha", "besiroglu2024")["verdict"] == "consistent"
    assert _row(rows, "a", "besiroglu2024")["verdict"] == "not identified"  # a = β/(α+β) needs β


def test_identified_missing_means_a_finite_two_sided_interval():
    one_sided = {**EPOCH_FIT, "ci": {**EPOCH_FIT["ci"], "alpha": [0.3, None]}}
    assert our_estimates(one_sided, ())["alpha"].status == "not identified"
    assert our_estimates({**EPOCH_FIT, "ci": {}}, ())["alpha"].status == "no interval"


def test_degenerate_fit_alpha_zero_degrades_not_crashes():
    # A fit whose α reached 0 (e.g. 20 points all at loss 2.5): a, b, tokens/param and the frontier are undefined.
    flat = {**EPOCH_FIT, "params": {"E": 0.83, "A": 0.83, "B": 0.83, "alpha": 6e-17, "beta": 1e-16},
            "derived": {"a": 0.64, "b": 0.36, "tokens_per_param@1e+21": None},
            "warnings": ["parameter(s) at their bounds: alpha, beta"], "ci": {}}
    ctx = Context(n_convention="total", ranges={"N": (1e5, 1e7), "D": None, "C": (1e12, 1e16)}, omega=5000.0)
    rows = compare_fit(flat, context=ctx)
    assert set(rows.loc[rows["quantity"] == "a", "verdict"]) == {"undefined"}
    assert set(rows.loc[rows["quantity"] == "alpha", "verdict"]) == {"not identified"}
    assert rows["z"].isna().all() and rows["converted"].isna().all()
    assert frontier_table(flat, budgets=[1e21])["source"].tolist().count("ours") == 0
    text = " ".join(headline(rows))
    assert "is undefined (alpha, beta not positive" in text and "α is not identified (at a bound" in text


def test_headline_answers_in_one_or_two_lines(rows):
    lines = headline(rows)
    assert 1 <= len(lines) <= 2
    text = " ".join(lines)
    assert "α agrees with" in text and "Besiroglu 2024" in text and "like for like" in text
    assert "β agrees with Besiroglu 2024" in text and "disagrees with Hoffmann 2022" in text


@pytest.mark.parametrize("raw, message", [
    ("not a dict", "not a fit result"),
    ({"law": "chinchilla", "params": {"alpha": "x"}}, "params.alpha must be a number"),
    ({"law": "chinchilla", "params": {"alpha": 0.3}, "ci": [0.1, 0.2]}, "ci must be an object"),
    ({"law": "chinchilla", "params": {"alpha": 0.3}, "ci": {"alpha": 0.2}}, "ci.alpha must be [low, high]"),
    ({"law": "chinchilla", "params": {"alpha": 0.3}, "ci_level": 95}, "ci_level must lie in"),
    ({"law": "chinchilla", "params": {"alpha": 0.3}, "n_points": "many"}, "'n_points' has the wrong type"),
])
def test_malformed_fit_dicts_are_one_line_errors(raw, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")) as info:
        as_fit(raw)
    assert "\n" not in str(info.value)


def test_fit_result_round_trips_through_its_dict():
    fit = as_fit(EPOCH_FIT)
    assert isinstance(fit, FitResult) and fit.ci_level == 0.95 and fit.ci["alpha"] == [0.317, 0.373]
    again = FitResult.from_dict(fit.to_dict())
    assert again.params == fit.params and again.ci == fit.ci and again.n_convention == "with_head"


def test_context_from_table_uses_done_runs_in_the_fit_convention():
    table = pd.DataFrame({"status": ["done", "done", "diverged"], "N_total": [1e5, 1e6, 1e9],
                          "N_nonembed": [5e4, 8e5, 9e8], "D": [1e7, 1e8, 1e9], "C": [6e12, 6e14, 6e18]})
    ctx = context_from({"n_convention": "non_embedding"}, table)
    assert ctx.ranges["N"] == (5e4, 8e5) and ctx.ranges["C"] == (6e12, 6e14) and ctx.dataset == "unknown"
    # ω from the records: embeddings (N_total − N_nonembed) per N_nonembed^(1/3), least squares over done runs.
    emb, cube = np.array([5e4, 2e5]), np.cbrt([5e4, 8e5])
    assert ctx.omega == pytest.approx(float(emb @ cube / (cube @ cube)))


def test_text_and_json_outputs(rows):
    text = format_comparison(rows)
    assert text.splitlines()[0].startswith("α agrees with")
    assert "besiroglu2024" in text and "inconsistent" in text and "(M)" in text and "context only" in text
    out = records(rows)
    assert all(v is None or not (isinstance(v, float) and math.isnan(v)) for r in out for v in r.values())
