"""Power law or early sigmoid: form comparison on curves whose form we know."""
from __future__ import annotations

import numpy as np
import pytest

from harness.errors import ConfigError
from harness.fit.select import compare_forms, forms_payload
from harness.fit.simulate import simulate

X = np.geomspace(1e6, 1e10, 12)


def test_power_law_with_floor_is_preferred_on_its_own_curve():
    loss = simulate("power_N", {"E": 1.8, "A": 400.0, "alpha": 0.34}, N=X, noise=0.003, seed=3)["loss"]
    table, verdict = compare_forms(X, loss, forms=("power", "pure_power", "exp_saturation"))
    best = table.loc[table["aic"].idxmin(), "form"]
    assert best == "power"
    assert table.set_index("form").loc["pure_power", "delta_aic"] > 10
    assert set(table.columns) >= {"form", "n_params", "loglik", "aic", "bic", "extrap_rel_error"}
    assert "power law with floor" in verdict
    assert set(forms_payload(X, loss, table)["curves"]) == set(table["label"])


def test_noise_makes_forms_indistinguishable():
    loss = simulate("power_N", {"E": 1e-3, "A": 40.0, "alpha": 0.1}, N=X[:6], noise=0.01, seed=1)["loss"]
    _, verdict = compare_forms(X[:6], loss, forms=("power", "pure_power"))
    assert "cannot tell" in verdict


def test_too_few_points():
    with pytest.raises(ConfigError):
        compare_forms([1, 2, 3], [3.0, 2.0, 1.5])
