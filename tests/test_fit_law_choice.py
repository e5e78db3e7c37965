"""Chinchilla or coupled? AICc weights between two-variable laws, the pre-stated rule, model-averaged intervals, and
`harness fit --law chinchilla,coupled`."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from harness.fit.law_choice import compare_laws
from harness.fit.simulate import simulate


def _two_laws(truth_law: str, truth: dict, noise: float, seed: int):
    from harness.fit import fit_law
    n, d = np.meshgrid([1e4, 3e4, 1e5, 3e5, 1e6, 3e6], [1e6, 3e6, 1e7, 3e7, 1e8])
    table = simulate(truth_law, truth, N=n, D=d, noise=noise, seed=seed)
    return {law: fit_law(table, law=law, profile=False) for law in ("chinchilla", "coupled")}, table


TWO_TERMS = {"E": 1.8, "A": 40.0, "alpha": 0.4, "B": 60.0, "beta": 0.35}


def test_choose_law_keeps_chinchilla_on_chinchilla_data_and_takes_coupled_when_it_earns_its_parameter():
    """The pre-stated rule between the two-variable laws: on sweeps drawn from Chinchilla the extra parameter does
    not earn a confident weight; on one drawn from a strongly coupled law (gamma 2) it does. And the weights are
    AICc's by hand: n log(SSE/n) + 2k + 2k(k+1)/(n-k-1), k = parameters + 1 (the noise variance)."""
    from harness.fit.laws import get_law
    from harness.fit.law_choice import choose_law
    for seed in (1, 2):
        fits, table = _two_laws("chinchilla", TWO_TERMS, 0.005, seed)
        assert choose_law(fits, table)[0] == "chinchilla"
    fits, table = _two_laws("coupled", {**TWO_TERMS, "gamma": 2.0}, 0.005, 1)
    chosen, weights = choose_law(fits, table)
    assert chosen == "coupled" and weights["coupled"] >= 0.99
    n, by_hand = len(table), {}
    for name, fit in fits.items():
        residual = np.log(table["loss"]) - np.log(get_law(name).predict(fit.params, N=table["N"], D=table["D"]))
        k = len(fit.params) + 1
        by_hand[name] = n * np.log(np.sum(residual ** 2) / n) + 2 * k + 2 * k * (k + 1) / (n - k - 1)
    delta = by_hand["chinchilla"] - by_hand["coupled"]
    assert weights["coupled"] == pytest.approx(1 / (1 + np.exp(-delta / 2)), rel=1e-9)


def test_model_averaged_interval_is_the_weighted_mixture_of_the_draws():
    """MATA (percentile form) by hand: with weights 0.8 / 0.2 on two draw sets that do not overlap, the 2.5 %
    quantile of the mixture is the 3.125 % quantile of the heavier set (0.025 / 0.8), the 97.5 % one the 87.5 %
    quantile of the lighter ((0.975 - 0.8) / 0.2); with all weight on one law it is that law's percentile
    interval."""
    from types import SimpleNamespace

    from harness.fit.law_choice import model_averaged_interval
    low_set, high_set = np.arange(1000) / 1000.0, 10 + np.arange(1000) / 1000.0
    fits = {"a": SimpleNamespace(params={"E": 0.5}, samples={"E": low_set}),
            "b": SimpleNamespace(params={"E": 10.5}, samples={"E": high_set})}
    estimate, low, high = model_averaged_interval(fits, {"a": 0.8, "b": 0.2}, "E")
    assert estimate == pytest.approx(0.8 * 0.5 + 0.2 * 10.5)
    assert low == pytest.approx(0.031, abs=0.002) and high == pytest.approx(10.875, abs=0.002)
    _, low, high = model_averaged_interval(fits, {"a": 1.0, "b": 0.0}, "E")
    assert (low, high) == pytest.approx(tuple(np.percentile(low_set, [2.5, 97.5])), abs=0.002)


def test_compare_laws_weighs_like_choose_law_and_averages_what_every_law_identifies():
    """On a strongly coupled sweep: the comparison's weights are choose_law's and its AICc gap gives them
    (w = 1 / (1 + exp(-Δ/2))); E, alpha and beta are averaged and each averaged interval lies within the span of the
    two laws' draws. A law without a CI for E (not identified) takes E out of the averaged names."""
    from harness.fit import fit_law
    from harness.fit.law_choice import choose_law

    n, d = np.meshgrid([1e4, 3e4, 1e5, 3e5, 1e6, 3e6], [1e6, 3e6, 1e7, 3e7, 1e8])
    table = simulate("coupled", {**TWO_TERMS, "gamma": 2.0}, N=n, D=d, noise=0.005, seed=1)
    fits = {law: fit_law(table, law=law, bootstrap=40, profile=False) for law in ("chinchilla", "coupled")}
    comparison = compare_laws(fits, table)
    chosen, weights = choose_law(fits, table)
    assert comparison.chosen == chosen == "coupled"
    assert comparison.weights == pytest.approx(weights, rel=1e-12)
    gap = comparison.aicc["chinchilla"] - comparison.aicc["coupled"]
    assert comparison.weights["coupled"] == pytest.approx(1 / (1 + np.exp(-gap / 2)), rel=1e-9)
    assert comparison.n_parameters == {"chinchilla": 5, "coupled": 6}
    assert set(comparison.averaged) == {"E", "alpha", "beta"} and comparison.unidentified == ()
    for name, (estimate, low, high) in comparison.averaged.items():
        draws = np.concatenate([fit.samples[name] for fit in fits.values()])
        assert draws.min() <= low < estimate < high <= draws.max()
    blind = SimpleNamespace(**{k: getattr(fits["chinchilla"], k) for k in ("law", "params", "samples",
                                                                             "n_convention")},
                            ci={k: v for k, v in fits["chinchilla"].ci.items() if k != "E"})
    partial = compare_laws({"chinchilla": blind, "coupled": fits["coupled"]}, table)
    assert "E" not in partial.averaged and partial.unidentified == ("E",)
    assert json.loads(json.dumps(partial.to_dict()))["not_averaged_unidentified"] == ["E"]


@pytest.fixture
def coupled_csv(tmp_path):
    n, d = np.meshgrid([1e4, 3e4, 1e5, 3e5, 1e6, 3e6], [1e6, 3e6, 1e7, 3e7, 1e8])
    path = tmp_path / "runs.csv"
    simulate("coupled", {**TWO_TERMS, "gamma": 2.0}, N=n, D=d, noise=0.005, seed=1).to_csv(path, index=False)
    return path


def test_fit_with_two_laws_prints_both_fits_and_their_comparison(fit_app, coupled_csv):
    """`harness fit runs.csv --law chinchilla,coupled`: JSON holds both fits and the comparison, with the weights
    the library computes on the same table; the text names the pick and the averaged intervals."""
    import pandas as pd

    from harness.fit import fit_law
    from harness.fit.law_choice import law_weights

    result = CliRunner().invoke(fit_app, ["fit", str(coupled_csv), "--law", "chinchilla,coupled", "--bootstrap", "30",
                                      "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert set(payload["fits"]) == {"chinchilla", "coupled"}
    table = pd.read_csv(coupled_csv)
    weights = law_weights({law: fit_law(table, law=law, bootstrap=0) for law in ("chinchilla", "coupled")}, table)
    assert payload["comparison"]["weights"] == pytest.approx(weights, rel=1e-6)
    assert payload["comparison"]["chosen"] == "coupled"
    assert set(payload["comparison"]["model_averaged"]) == {"E", "alpha", "beta"}
    text = CliRunner().invoke(fit_app, ["fit", str(coupled_csv), "--law", "chinchilla, coupled", "--bootstrap", "30"])
    assert text.exit_code == 0, text.output
    assert "== chinchilla" in text.output and "== coupled" in text.output
    assert "the data prefer coupled" in text.output and "model-averaged, 95 %" in text.output


@pytest.mark.parametrize("law, extra, names", [
    ("chinchilla,,coupled", [], "--law: expected distinct law names"),
    ("chinchilla,chinchilla", [], "--law: expected distinct law names"),
    ("chinchilla,cupled", [], "--law cupled: unknown law 'cupled'"),
    ("chinchilla,coupled", ["--weights", "seed-variance"], "not with --by or --weights"),
])
def test_fit_with_bad_law_lists_fails_in_one_line_before_fitting(fit_app, coupled_csv, law, extra, names, monkeypatch):
    def no_fit(*args, **kwargs):
        raise AssertionError("a law was fitted before the --law list was checked")

    monkeypatch.setattr("harness.fit.fitting.fit_law", no_fit)
    result = CliRunner().invoke(fit_app, ["fit", str(coupled_csv), "--law", law, *extra])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and names in lines[0] and "== chinchilla" not in result.output


def test_model_averaged_prediction_is_the_weighted_mean_and_one_laws_band_at_weight_one():
    """At weights 0.3 / 0.7 the prediction is exactly the weighted mean of the laws' predictions; at weight 1 on
    Chinchilla it is Chinchilla's prediction (as harness.report.analysis.predict_with_band gives it) and the band the
    empirical 2.5 / 97.5 % quantiles of what its bootstrap draws predict, computed here draw by draw."""
    from harness.fit import fit_law, get_law
    from harness.fit.law_choice import model_averaged_prediction
    from harness.report.analysis import predict_with_band

    n, d = np.meshgrid([1e4, 3e4, 1e5, 3e5, 1e6], [1e6, 3e6, 1e7, 3e7])
    table = simulate("coupled", {**TWO_TERMS, "gamma": 1.5}, N=n, D=d, noise=0.005, seed=2)
    fits = {law: fit_law(table, law=law, bootstrap=60, profile=False) for law in ("chinchilla", "coupled")}
    at_n, at_d = np.array([3e6, 3e6]), np.array([3e7, 1e8])
    own = {law: get_law(law).predict(fit.params, N=at_n, D=at_d) for law, fit in fits.items()}
    predicted, low, high = model_averaged_prediction(fits, {"chinchilla": 0.3, "coupled": 0.7}, at_n, at_d)
    assert predicted == pytest.approx(0.3 * own["chinchilla"] + 0.7 * own["coupled"], rel=1e-12)
    assert np.all(low < high)
    predicted, low, high = model_averaged_prediction(fits, {"chinchilla": 1.0, "coupled": 0.0}, at_n, at_d)
    assert predicted == pytest.approx(predict_with_band(fits["chinchilla"], at_n, at_d)[0], rel=1e-12)
    samples, law = fits["chinchilla"].samples, get_law("chinchilla")
    by_hand = np.array([law.predict({p: samples[p][i] for p in law.param_names}, N=at_n, D=at_d)
                        for i in range(len(samples["E"]))])
    lo, hi = np.quantile(by_hand, [0.025, 0.975], axis=0, method="inverted_cdf")
    assert low == pytest.approx(lo, rel=1e-12) and high == pytest.approx(hi, rel=1e-12)
