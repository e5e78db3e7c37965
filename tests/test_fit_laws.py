"""Laws: predictions against hand-computed and published values; the batched optimiser on exact data."""
from __future__ import annotations

import numpy as np
import pytest

from harness.fit import fit_law, get_law
from harness.fit.derived import chinchilla_derived, compute_optimal
from harness.fit.simulate import simulate, sweep_grid

TRUE = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}


def test_chinchilla_predict_by_hand():
    value = get_law("chinchilla").predict({"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28},
                                          N=1e9, D=2e10)
    assert value == pytest.approx(1.69 + 406.4 / 1e9 ** 0.34 + 410.7 / 2e10 ** 0.28, rel=1e-12)


def test_data_constrained_readme_sanity_values():
    law = get_law("data_constrained")
    params = {"A": np.exp(6.255414), "B": np.exp(7.3049974), "E": np.exp(0.6254804), "alpha": 0.3526596,
              "beta": 0.3526596, "R_D_star": 15.387756, "R_N_star": 5.309743}
    out = law.predict(params, N=[6.34e9, 8.67e9], D=[242e9, 178e9], U=[25e9, 25e9])
    assert out == pytest.approx([2.2256440889984477, 2.2269634075087867], rel=1e-9)


@pytest.mark.parametrize("name,params,x", [
    ("kaplan", {"N_c": 6.4e13, "D_c": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103}, {"N": 1e8, "D": 1e10}),
    ("power_C", {"E": 1.5, "A": 30.0, "alpha": 0.05}, {"C": 1e20}),
    ("pure_power_N", {"A": 12.0, "alpha": 0.076}, {"N": 1e8}),
    ("broken_power_N", {"E": 1.0, "A": 50.0, "c0": 0.1, "c1": 0.2, "d": 1e8, "f": 0.5}, {"N": 1e9}),
])
def test_other_laws_by_hand(name, params, x):
    p = params
    expected = {
        "kaplan": lambda: ((p["N_c"] / 1e8) ** (p["alpha_N"] / p["alpha_D"]) + p["D_c"] / 1e10) ** p["alpha_D"],
        "power_C": lambda: 1.5 + 30.0 * 1e20 ** -0.05,
        "pure_power_N": lambda: 12.0 * 1e8 ** -0.076,
        "broken_power_N": lambda: 1.0 + 50.0 * 1e9 ** -0.1 * (1 + (1e9 / 1e8) ** 2) ** (-0.2 * 0.5),
    }[name]()
    assert get_law(name).predict(params, **x) == pytest.approx(expected, rel=1e-10)


def test_unknown_law_is_an_error():
    with pytest.raises(ValueError, match="unknown law"):
        get_law("chinchila")


def test_recovers_exact_chinchilla():
    n, d = sweep_grid(np.geomspace(1e7, 1e9, 5), [5, 10, 20, 40, 80])
    table = simulate("chinchilla", TRUE, N=n, D=d, noise=0.0)
    fit = fit_law(table)
    for key, value in TRUE.items():
        assert fit.params[key] == pytest.approx(value, rel=1e-4)
    assert fit.objective_value < 1e-12


def test_compute_optimal_matches_hoffmann_formula():
    params = {"E": 1.6934, "A": 406.4, "B": 410.72, "alpha": 0.33917084, "beta": 0.2849083}
    n_opt, d_opt = compute_optimal(params, 5.76e23)
    assert n_opt == pytest.approx(40.4e9, rel=0.01)      # published_fits.md: unrounded -> N* = 40.4B, D/N = 59
    assert d_opt / n_opt == pytest.approx(59, rel=0.02)
    derived = chinchilla_derived(params)
    assert derived["halve_factor_N"] == pytest.approx(2 ** (1 / 0.33917084))
    assert derived["a"] + derived["b"] == pytest.approx(1.0)


def test_coupled_law_by_hand_and_its_two_special_cases():
    law, n, d = get_law("coupled"), 3e8, 6e9
    p = {"E": 1.7, "A": 400.0, "B": 900.0, "alpha": 0.34, "beta": 0.28, "gamma": 1.6}
    by_hand = 1.7 + ((400.0 / n ** 0.34) ** (1 / 1.6) + (900.0 / d ** 0.28) ** (1 / 1.6)) ** 1.6
    assert law.predict(p, N=n, D=d) == pytest.approx(by_hand, rel=1e-12)
    chinchilla = {k: v for k, v in p.items() if k != "gamma"}
    assert law.predict({**p, "gamma": 1.0}, N=n, D=d) == pytest.approx(
        get_law("chinchilla").predict(chinchilla, N=n, D=d), rel=1e-12)
    kaplan = {"N_c": 6.4e13, "D_c": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103}   # E = 0, beta = gamma = alpha_D
    as_coupled = {"E": 1e-300, "alpha": 0.076, "beta": 0.103, "gamma": 0.103,
                  "A": 6.4e13 ** 0.076, "B": 1.8e13 ** 0.103}
    assert law.predict(as_coupled, N=n, D=d) == pytest.approx(get_law("kaplan").predict(kaplan, N=n, D=d), rel=1e-10)


@pytest.mark.slow   # ~90 s: 13,500 grid starts and numerical derivatives
def test_recovers_an_exact_coupled_law():
    truth = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37, "gamma": 1.5}
    n, d = sweep_grid(np.geomspace(1e7, 1e9, 5), [5, 10, 20, 40, 80])
    fit = fit_law(simulate("coupled", truth, N=n, D=d, noise=0.0), law="coupled")
    for key in ("E", "alpha", "beta", "gamma"):
        assert fit.params[key] == pytest.approx(truth[key], rel=1e-3)
