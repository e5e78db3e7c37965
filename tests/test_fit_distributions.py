"""The F quantile behind the profile-likelihood threshold, computed without importing scipy, against scipy itself."""
from __future__ import annotations

import pytest
from scipy.special import betainc, fdtri

from harness.fit.distributions import beta_cdf, f_quantile


@pytest.mark.parametrize("dfd", [1, 2, 5, 9, 30, 235, 1000, 10**5])
@pytest.mark.parametrize("dfn", [1, 2, 7])
@pytest.mark.parametrize("p", [0.001, 0.5, 0.68, 0.95, 0.99])
def test_f_quantile_matches_scipy(p, dfn, dfd):
    assert f_quantile(p, dfn, dfd) == pytest.approx(float(fdtri(dfn, dfd, p)), rel=2e-10)


def test_profile_threshold_of_epochs_fit():
    # F(1, 240 - 5) at 95 %: the threshold the profile likelihood uses on Epoch's Chinchilla points
    assert f_quantile(0.95, 1, 235) == pytest.approx(3.8813336574500297, rel=1e-13)


@pytest.mark.parametrize("a, b", [(0.5, 117.5), (3.0, 0.5), (20.0, 40.0)])
@pytest.mark.parametrize("x", [1e-6, 0.01, 0.3, 0.5, 0.9, 0.999])
def test_beta_cdf_matches_scipy(a, b, x):
    assert beta_cdf(x, a, b) == pytest.approx(float(betainc(a, b, x)), rel=1e-11, abs=1e-300)


@pytest.mark.parametrize("args", [(0.0, 1, 5), (1.0, 1, 5), (0.5, 0, 5), (0.5, 1, -2), (float("nan"), 1, 5)])
def test_f_quantile_refuses_impossible_arguments(args):
    with pytest.raises(ValueError):
        f_quantile(*args)
