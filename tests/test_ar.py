"""AR(p) by least squares, checked against statsmodels' AutoReg on fresh random series."""
import numpy as np
import pytest
from statsmodels.tsa.ar_model import AutoReg

from rnnbook.ar import ar_design, fit_ar
from rnnbook.datasets import load_sunspots

RNG = np.random.default_rng()


def random_ar_series(rng, p, T):
    """A stable AR(p) series: roots of the characteristic polynomial inside the unit circle."""
    roots = rng.uniform(0.2, 0.9, p) * rng.choice([-1, 1], p)
    coef = -np.poly(roots)[1:]               # y_t = sum coef_k y_{t-k} + noise
    y = np.zeros(T + 50)
    for t in range(p, len(y)):
        y[t] = 3.0 + coef @ y[t - p:t][::-1] + rng.normal()
    return y[50:]


@pytest.mark.parametrize("trial", range(5))
def test_fit_ar_matches_statsmodels_autoreg_parameters_and_sigma2_to_1e_8(trial):
    p, T = int(RNG.integers(1, 8)), int(RNG.integers(60, 400))
    y = random_ar_series(RNG, p, T) * RNG.uniform(0.5, 20)
    ref = AutoReg(y, p, trend="c").fit()
    fit = fit_ar(y, p)
    np.testing.assert_allclose(np.r_[fit.intercept, fit.coef], ref.params, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(fit.sigma2, ref.sigma2, rtol=1e-8)


def test_fit_ar_on_sunspots_matches_autoreg_and_its_dynamic_forecast():
    y = load_sunspots().values
    for p in (1, 2, 9):
        ref = AutoReg(y, p, trend="c").fit()
        fit = fit_ar(y, p)
        np.testing.assert_allclose(np.r_[fit.intercept, fit.coef], ref.params, rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(fit.sigma2, ref.sigma2, rtol=1e-8)
        expected = ref.predict(start=len(y), end=len(y) + 19, dynamic=True)
        np.testing.assert_allclose(fit.forecast(y, 20), expected, rtol=1e-9, atol=1e-8)


def test_one_step_predictions_match_autoreg_in_sample_predictions():
    y = random_ar_series(RNG, 3, 200)
    fit, ref = fit_ar(y, 3), AutoReg(y, 3, trend="c").fit()
    np.testing.assert_allclose(fit.predict(y), ref.predict(start=3, end=len(y) - 1), rtol=1e-9)


def test_ar_design_rows_hold_the_p_previous_values_lag_1_first():
    y = np.arange(10.0) ** 2
    X, target = ar_design(y, 3)
    assert X.shape == (7, 4) and target.shape == (7,)
    np.testing.assert_array_equal(X[0], [1, y[2], y[1], y[0]])
    np.testing.assert_array_equal(target, y[3:])
    X0, _ = ar_design(y, 3, intercept=False)
    np.testing.assert_array_equal(X0, X[:, 1:])


def test_without_intercept_the_fit_is_least_squares_through_the_origin():
    y = random_ar_series(RNG, 2, 300)
    fit = fit_ar(y, 2, intercept=False)
    ref = AutoReg(y, 2, trend="n").fit()
    assert fit.intercept == 0.0
    np.testing.assert_allclose(fit.coef, ref.params, rtol=1e-8)


def test_a_noiseless_ar_series_is_recovered_exactly_and_forecast_exactly():
    y = [1.0, 2.0]
    for _ in range(40):
        y.append(0.5 + 0.6 * y[-1] - 0.3 * y[-2])
    y = np.array(y)
    fit = fit_ar(y[:30], 2)
    np.testing.assert_allclose([fit.intercept, *fit.coef], [0.5, 0.6, -0.3], atol=1e-9)
    np.testing.assert_allclose(fit.forecast(y[:30], 12), y[30:], atol=1e-8)


@pytest.mark.parametrize("bad, match", [
    (dict(y=np.ones((3, 3)), p=1), "1-D"),
    (dict(y=[1.0, np.nan, 2.0, 3.0], p=1), "NaN"),
    (dict(y=np.arange(5.0), p=0), "p must be"),
    (dict(y=np.arange(5.0), p=5), "p must be"),
])
def test_bad_inputs_raise_value_errors_naming_the_argument(bad, match):
    with pytest.raises(ValueError, match=match):
        fit_ar(**bad)


def test_forecast_needs_p_values_of_history():
    fit = fit_ar(random_ar_series(RNG, 3, 100), 3)
    with pytest.raises(ValueError, match="history"):
        fit.forecast([1.0, 2.0], 3)
