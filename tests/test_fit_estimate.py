"""The approach-3 engine: exact derivatives against finite differences, and the parallel multi-start."""
from __future__ import annotations

import os

import numpy as np
import pytest

from harness.fit import fit_law, get_law
from harness.fit.estimate import Objective, Problem, multistart, newton
from harness.fit.lse import LseKernel
from harness.fit.parallel import map_pieces
from harness.fit.simulate import simulate, sweep_grid


@pytest.fixture(scope="module")
def sweep():
    """A noisy 5 x 6 Chinchilla-like sweep (the law's own generator)."""
    n, d = sweep_grid(np.geomspace(1e7, 1e9, 5), tokens_per_param=[5, 10, 20, 40, 80, 160])
    table = simulate("chinchilla", {"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.37}, N=n, D=d,
                     noise=0.01, seed=3)
    return {"N": table["N"].to_numpy(), "D": table["D"].to_numpy()}, table["loss"].to_numpy()


def _problem(sweep, law_name, objective, fixed=None):
    x, y = sweep
    law = get_law(law_name)
    return Problem(law, {v: x[v] for v in law.variables}, y, objective, fixed)


def _thetas(problem, rows=4, seed=0):
    grid = problem.law.grid(problem.x, problem.y)[:, problem.free]
    picked = grid[np.random.default_rng(seed).choice(len(grid), rows, replace=False)]
    return np.clip(picked + 0.05, problem.lower + 0.1, problem.upper - 0.1)


def _fd_gradient(problem, theta, w, h=1e-6):
    cols = []
    for j in range(theta.shape[1]):
        step = np.zeros_like(theta)
        step[:, j] = h
        cols.append((problem.value(theta + step, w) - problem.value(theta - step, w)) / (2 * h))
    return np.stack(cols, axis=1)


def _fd_hessian(problem, theta, w, h=1e-5):
    cols = []
    for j in range(theta.shape[1]):
        step = np.zeros_like(theta)
        step[:, j] = h
        cols.append((problem.value_and_grad(theta + step, w)[1] - problem.value_and_grad(theta - step, w)[1]) / (2 * h))
    return np.stack(cols, axis=2)


CASES = [("chinchilla", Objective("mse"), None), ("chinchilla", Objective("mse", space="linear"), None),
         ("chinchilla", Objective("mse", reduction="mean"), None),
         ("chinchilla", Objective("huber", delta=0.05), None),
         ("chinchilla", Objective("mse"), np.array([np.nan, np.nan, np.log(1.8), np.nan, np.nan])),
         ("chinchilla", Objective("mse"), np.array([np.nan, np.nan, np.nan, 0.34, np.nan])),
         ("power_N", Objective("mse"), None), ("pure_power_N", Objective("mse", space="linear"), None)]


@pytest.mark.parametrize("law_name,objective,fixed", CASES)
@pytest.mark.parametrize("per_row_weights", [False, True])
def test_exact_derivatives_match_finite_differences(sweep, law_name, objective, fixed, per_row_weights):
    """Closed-form gradient and Hessian of the objective (smooth objectives, so differences are meaningful) against
    central differences of the objective value, with shared and per-row (bootstrap) weights."""
    problem = _problem(sweep, law_name, objective, fixed)
    assert problem.kernel is not None
    theta = _thetas(problem)
    rng = np.random.default_rng(1)
    shape = (len(theta), len(problem.y)) if per_row_weights else len(problem.y)
    w = rng.uniform(0.5, 2.0, shape)
    value, grad, hess, _ = problem.derivatives(theta, w)
    np.testing.assert_allclose(value, problem.value(theta, w), rtol=1e-12)
    fd_grad = _fd_gradient(problem, theta, w)
    np.testing.assert_allclose(grad, fd_grad, rtol=1e-5, atol=1e-7 * np.abs(fd_grad).max())
    fd_hess = _fd_hessian(problem, theta, w)
    np.testing.assert_allclose(hess, fd_hess, rtol=1e-4, atol=1e-6 * np.abs(fd_hess).max())


def test_majorant_is_the_irls_gram_matrix(sweep):
    """The Huber majorant equals sum_i w_i (psi_i / r_i) J_i J_i^T built from a finite-difference Jacobian."""
    problem = _problem(sweep, "chinchilla", Objective())
    theta = _thetas(problem, rows=3)
    w = np.full(len(problem.y), 1.5)
    _, _, _, major = problem.derivatives(theta, w)
    jac = problem._fd_jacobian(theta)
    r = np.log(problem.y) - problem.log_pred(theta)
    weight = w * np.minimum(1.0, 1e-3 / np.abs(r))
    expected = np.einsum("bin,bn,bjn->bij", jac, weight, jac)
    np.testing.assert_allclose(major, expected, rtol=1e-6, atol=1e-9 * np.abs(expected).max())


def test_shifted_exponentials_agree_with_the_direct_path(sweep):
    """A parameter box too wide for plain exponentials switches to the max-shifted log-sum-exp: same numbers."""
    problem = _problem(sweep, "chinchilla", Objective())
    theta = _thetas(problem, rows=5)
    direct = problem.kernel
    shifted = LseKernel(problem.m_free, problem.offset, problem.lower * 100, problem.upper * 100)
    assert direct.shift_free and not shifted.shift_free and direct.constant and not shifted.constant
    f1, s1 = direct.forward(theta, softmax=True)
    f1, s1 = f1.copy(), s1.copy()
    f2, s2 = shifted.forward(theta, softmax=True)
    np.testing.assert_allclose(f1, f2, rtol=1e-13)
    np.testing.assert_allclose(s1, s2, rtol=1e-12, atol=1e-300)
    natural = problem.law.to_natural(problem.full_theta(theta))
    by_hand = [problem.law.predict({k: v[i] for k, v in natural.items()}, **problem.x) for i in range(len(theta))]
    np.testing.assert_allclose(np.exp(f2), by_hand, rtol=1e-13)
    # the direct kernel replaces the floor's s by 1 - the others' (a unit term); the shifted one keeps every term
    assert -1 in direct.moving and -1 not in shifted.moving
    weights = [np.random.default_rng(seed).uniform(-1.0, 1.0, f1.shape) for seed in range(3)]
    for a, b in zip(direct.contract(s1, *weights), shifted.contract(s2, *weights)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12 * np.abs(b).max())


def test_multistart_is_the_same_in_processes_threads_and_one_piece(sweep, monkeypatch):
    """Splitting the starts across two forked processes (or two threads) gives the same fit, start by start.

    Rows are not bitwise equal: BLAS sums a row in an order that depends on its place in the batch, and starts in
    flat regions amplify last-bit differences, so a few may end elsewhere; the best fit may not move at all."""
    problem = _problem(sweep, "chinchilla", Objective())
    starts = problem.law.grid(problem.x, problem.y)[::45]
    one = multistart(problem, starts, workers=1)
    two = multistart(problem, starts, workers=2)
    monkeypatch.setattr("harness.fit.parallel.sys.platform", "darwin")
    threads = multistart(problem, starts, workers=2)
    best = np.argmin(one.value)
    for other in (two, threads):
        assert other.value.min() == pytest.approx(one.value.min(), rel=1e-12)
        np.testing.assert_allclose(other.theta[np.argmin(other.value)], one.theta[best], rtol=1e-6, atol=1e-8)
        same = np.isclose(other.value, one.value, rtol=1e-9)
        assert same.mean() >= 0.9, f"only {same.sum()} of {len(same)} starts end at the same objective"
    stable = np.isclose(two.value, one.value, rtol=1e-9)
    stable_elsewhere = np.flatnonzero(stable & (one.value > 1.01 * one.value[best]))
    assert len(stable_elsewhere)                    # rows come back in start order: a start that ends elsewhere
    row = stable_elsewhere[0]                       # ends at the same place when run on its own
    alone = newton(problem, starts[row:row + 1], np.ones(len(problem.y)))
    assert alone.value[0] == pytest.approx(one.value[row], rel=1e-9)


def _fails_in_second_piece(tag: str) -> str:
    if tag == "second":
        raise ValueError("bad piece")
    return tag


def _dies_in_second_piece(tag: str) -> str:
    if tag == "second":
        os._exit(3)
    return tag


def test_worker_errors_reach_the_caller():
    """An exception in the forked worker is raised in the parent; a worker that dies is a clear error, not a hang."""
    assert map_pieces(_fails_in_second_piece, [("first",), ("third",)]) == ["first", "third"]
    with pytest.raises(ValueError, match="bad piece"):
        map_pieces(_fails_in_second_piece, [("first",), ("second",)])
    with pytest.raises(RuntimeError, match="died .exit code 3"):
        map_pieces(_dies_in_second_piece, [("first",), ("second",)])


def test_stuck_rows_converge_only_where_the_projected_gradient_vanishes():
    from harness.fit.estimate import _stationary
    theta, lower, upper = np.array([[0.5, 1.0], [0.5, 1.0], [0.0, 1.0]]), np.zeros(2), np.full(2, 10.0)
    grad = np.array([[1e-9, -1e-9], [0.5, 0.0], [0.5, 0.0]])        # tiny; large; large but held at its bound
    assert _stationary(grad, theta, np.ones(3), lower, upper).tolist() == [True, False, True]
    assert not _stationary(grad[:1], theta[:1], np.array([np.inf]), lower, upper)[0]


def test_distinct_optima_best_first_without_repeats():
    from harness.fit.estimate import Solution, distinct_optima
    theta = np.array([[1.0, 2.0], [1.0, 2.0 + 1e-9], [3.0, 2.0], [5.0, 5.0]])
    sol = Solution(theta, np.array([0.5, 0.5, 0.7, 0.1]), np.zeros(4, int), np.array([True, True, True, False]))
    assert distinct_optima(sol).tolist() == [[1.0, 2.0], [3.0, 2.0]]      # the non-converged row is no basin


def test_large_table_screens_starts_and_finds_the_optimum():
    """3000 runs: the 4500 starts are screened on 500 points; the refined optimum is as good as a start at the
    truth, and the fit takes seconds, not minutes (1e4 rows took 35-62 s before screening)."""
    import time
    rng = np.random.default_rng(0)
    n_runs = np.exp(rng.uniform(np.log(1e7), np.log(1e10), 3000))
    table = simulate("chinchilla", TRUE, N=n_runs, D=n_runs * np.exp(rng.uniform(np.log(5), np.log(100), 3000)),
                     noise=0.01, seed=1)
    t0 = time.perf_counter()
    fit = fit_law(table, profile=False)
    seconds = time.perf_counter() - t0
    at_truth = fit_law(table, starts=TRUE, profile=False)
    assert fit.objective_value <= at_truth.objective_value * (1 + 1e-9)
    assert fit.n_starts == 4500 and fit.n_best_basin > 1 and seconds < 30


TRUE = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}


def test_a_start_at_its_minimum_stops_on_the_first_step(sweep):
    """A row whose trial steps cannot move the objective by more than ftol, at a stationary point, has converged
    there and then (it used to raise its damping ten-fold up to 22 times first, a tenth of a fit's iterations)."""
    problem = _problem(sweep, "chinchilla", Objective())
    w = np.ones(len(problem.y))
    fit = newton(problem, _thetas(problem, rows=4), w)
    again = newton(problem, fit.theta, w)
    assert fit.converged.all() and again.converged.all()
    assert again.iterations.max() == 1
    np.testing.assert_allclose(again.value, fit.value, rtol=1e-13)


def test_start_grid_rows_are_np_unique_rows():
    """fitting._unique_rows is np.unique(axis=0) (which imports numpy.ma): the same rows in the same order, so the
    multi-start deals the same starts to the same workers."""
    from harness.fit.fitting import _unique_rows
    from harness.fit.laws import LAW_NAMES

    x = {v: np.geomspace(1e7, 1e10, 12) for v in ("N", "D", "U", "C")}
    grids = [get_law(name).grid(x, np.linspace(2.0, 4.0, 12)) for name in LAW_NAMES]
    rng = np.random.default_rng(0)
    grids += [rng.integers(0, 3, (int(rng.integers(2, 40)), int(rng.integers(1, 5)))).astype(float) for _ in range(50)]
    for grid in grids:
        np.testing.assert_array_equal(_unique_rows(grid), np.unique(grid, axis=0))


COUPLED_FIXED = [None, np.array([np.nan, np.nan, np.log(1.8), np.nan, np.nan, np.nan]),
                 np.array([np.nan, np.nan, np.nan, np.nan, np.nan, 0.0])]


@pytest.mark.parametrize("fixed", COUPLED_FIXED)
@pytest.mark.parametrize("objective", [Objective("mse"), Objective("huber", delta=0.05),
                                       Objective("mse", space="linear")])
def test_coupled_closed_form_derivatives_match_finite_differences(sweep, objective, fixed):
    """The coupled law's closed-form Jacobian and curvature (Law.derivatives) against the estimator's own
    finite-difference path for laws without them (the same law with ``derivatives`` removed), and the gradient
    against central differences of the objective value; free E, E held, gamma held."""
    import dataclasses
    problem = _problem(sweep, "coupled", objective, fixed)
    numeric = Problem(dataclasses.replace(problem.law, derivatives=None), problem.x, problem.y, objective, fixed)
    theta = _thetas(problem, rows=6)
    w = np.random.default_rng(2).uniform(0.5, 2.0, (len(theta), len(problem.y)))
    value, grad, hess, major = problem.derivatives(theta, w)
    n_value, n_grad, n_hess, n_major = numeric.derivatives(theta, w)
    np.testing.assert_allclose(value, n_value, rtol=1e-12)
    np.testing.assert_allclose(grad, _fd_gradient(problem, theta, w), rtol=1e-5, atol=1e-7 * np.abs(grad).max())
    np.testing.assert_allclose(grad, n_grad, rtol=1e-6, atol=1e-8 * np.abs(grad).max())
    np.testing.assert_allclose(major, n_major, rtol=1e-6, atol=1e-8 * np.abs(major).max())
    np.testing.assert_allclose(hess, n_hess, rtol=1e-4, atol=1e-6 * np.abs(hess).max())
    np.testing.assert_allclose(problem.jacobian(theta), numeric.jacobian(theta), rtol=1e-6, atol=1e-7)
