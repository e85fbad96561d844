"""Numerical gradients and the relative-error measure used by every gradient check."""
import numpy as np
import pytest

from rnnbook import gradcheck


def test_central_differences_match_an_analytic_gradient_to_1e9():
    rng = np.random.default_rng()
    A = rng.normal(size=(int(rng.integers(2, 6)), int(rng.integers(2, 6))))
    x = rng.normal(size=A.shape[1])
    numeric = gradcheck.numerical_gradient(lambda: float(np.sin(A @ x).sum()), x)
    assert gradcheck.relative_error(numeric, A.T @ np.cos(A @ x)) < 1e-9


def test_the_array_is_restored_and_matrices_are_handled():
    X = np.random.default_rng(0).normal(size=(3, 4))
    before = X.copy()
    numeric = gradcheck.numerical_gradient(lambda: float((X ** 2).sum()), X)
    np.testing.assert_array_equal(X, before)
    np.testing.assert_allclose(numeric, 2 * X, rtol=1e-8)


def test_central_differences_are_far_more_accurate_than_one_sided_ones():
    x = np.array([0.3, -1.2, 2.0])
    f = lambda: float(np.exp(x).sum())  # noqa: E731
    central = gradcheck.relative_error(gradcheck.numerical_gradient(f, x), np.exp(x))
    eps = 1e-5
    forward = gradcheck.relative_error((np.exp(x + eps) - np.exp(x)) / eps, np.exp(x))
    assert central < 1e-9 < 1e-7 < forward


def test_relative_error_is_zero_for_equal_arrays_and_one_against_zero():
    a = np.array([1.0, -2.0, 3.0])
    assert gradcheck.relative_error(a, a) == 0.0
    assert gradcheck.relative_error(a, np.zeros(3)) == 1.0     # an all-zero gradient fails
    assert gradcheck.relative_error(np.zeros(2), np.zeros(2)) == 0.0
    assert gradcheck.relative_error(a, 1.001 * a) == pytest.approx(0.001 / 1.001)


def test_gradient_errors_flags_a_wrong_gradient():
    params = {"w": np.array([1.0, 2.0]), "b": np.array([0.5])}
    f = lambda: float((params["w"] ** 2).sum() + 3 * params["b"][0])  # noqa: E731
    good = gradcheck.gradient_errors(f, params, {"w": 2 * params["w"], "b": np.array([3.0])})
    bad = gradcheck.gradient_errors(f, params, {"w": params["w"], "b": np.array([3.0])})
    assert max(good.values()) < 1e-9 and bad["w"] > 0.1 and bad["b"] < 1e-9


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="float64"):
        gradcheck.numerical_gradient(lambda: 0.0, np.zeros(2, dtype=np.float32))
    with pytest.raises(ValueError, match="shapes"):
        gradcheck.relative_error(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="lacks"):
        gradcheck.gradient_errors(lambda: 0.0, {"w": np.zeros(1)}, {})
