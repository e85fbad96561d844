"""Kalman filter and RTS smoother, checked against statsmodels and a brute-force joint Gaussian."""
import numpy as np
import pytest
import statsmodels.api as sm
from scipy.stats import multivariate_normal

from rnnbook.datasets import load_nile
from rnnbook.kalman import LinearGaussianSSM, kalman_predict, kalman_update, local_level

RNG = np.random.default_rng()


def statsmodels_local_level(y, s2_obs, s2_level, m0, P0):
    """statsmodels' local level with OUR initialisation: x_1 ~ N(m0, P0), no burn-in."""
    mod = sm.tsa.UnobservedComponents(y, "local level", loglikelihood_burn=0)
    mod.ssm.initialize_known(np.array([m0]), np.array([[P0]]))
    return mod, mod.smooth([s2_obs, s2_level])


def random_local_level_case(rng):
    s2_obs, s2_level = rng.uniform(0.1, 50), rng.uniform(0.01, 20)
    m0, P0 = rng.normal(0, 5), rng.uniform(0.5, 1e4)
    ssm = local_level(s2_obs, s2_level, m0, P0)
    _, y = ssm.sample(int(rng.integers(20, 200)), seed=int(rng.integers(2**31)))
    return ssm, y[:, 0], (s2_obs, s2_level, m0, P0)


@pytest.mark.parametrize("trial", range(5))
def test_local_level_filter_matches_statsmodels_to_1e_8_relative(trial):
    ssm, y, params = random_local_level_case(RNG)
    _, ref = statsmodels_local_level(y, *params)
    f = ssm.filter(y)
    np.testing.assert_allclose(f.loglik, ref.llf, rtol=1e-8)
    np.testing.assert_allclose(f.means[:, 0], ref.filtered_state[0], rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(f.covs[:, 0, 0], ref.filtered_state_cov[0, 0], rtol=1e-8)


@pytest.mark.parametrize("trial", range(3))
def test_local_level_smoother_matches_statsmodels_to_1e_8_relative(trial):
    ssm, y, params = random_local_level_case(RNG)
    _, ref = statsmodels_local_level(y, *params)
    s = ssm.smooth(y)
    np.testing.assert_allclose(s.means[:, 0], ref.smoothed_state[0], rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(s.covs[:, 0, 0], ref.smoothed_state_cov[0, 0], rtol=1e-8)
    assert s.loglik == ssm.filter(y).loglik


def test_nile_with_a_gap_matches_statsmodels_missing_value_handling():
    y = load_nile().values.copy()
    y[25:45] = np.nan
    params = (15099.0, 1469.1, 1000.0, 1e6)
    ssm = local_level(*params)
    _, ref = statsmodels_local_level(y, *params)
    f, s = ssm.filter(y), ssm.smooth(y)
    np.testing.assert_allclose(f.loglik, ref.llf, rtol=1e-8)
    np.testing.assert_allclose(f.means[:, 0], ref.filtered_state[0], rtol=1e-8)
    np.testing.assert_allclose(s.means[:, 0], ref.smoothed_state[0], rtol=1e-8)
    # during the gap the filter only predicts: the level stays put and its variance grows
    assert np.all(f.means[26:45, 0] == f.means[25, 0])
    assert np.all(np.diff(f.covs[25:45, 0, 0]) > 0)


def joint_gaussian(ssm, T):
    """Means and covariances of the stacked states x_1..x_T and observations y_1..y_T."""
    n = ssm.n_states
    mu, var = [ssm.m0], [ssm.P0]
    for _ in range(1, T):
        mu.append(ssm.F @ mu[-1])
        var.append(ssm.F @ var[-1] @ ssm.F.T + ssm.Q)
    Sxx = np.zeros((T * n, T * n))
    for t in range(T):
        block = var[t]
        for s in range(t, T):           # Cov(x_s, x_t) = F^{s-t} Var(x_t) for s >= t
            Sxx[s * n:(s + 1) * n, t * n:(t + 1) * n] = block
            Sxx[t * n:(t + 1) * n, s * n:(s + 1) * n] = block.T
            block = ssm.F @ block
    Hb = np.kron(np.eye(T), ssm.H)
    Syy = Hb @ Sxx @ Hb.T + np.kron(np.eye(T), ssm.R)
    mx = np.array(mu).reshape(-1)
    return mx, Hb @ mx, Sxx, Syy, Sxx @ Hb.T


def brute_force(ssm, y):
    """Filtered/smoothed means and covs and the log-likelihood from the joint Gaussian of (x, y)."""
    T, n, m = len(y), ssm.n_states, ssm.n_obs
    mx, my, Sxx, Syy, Sxy = joint_gaussian(ssm, T)
    yv = y.reshape(-1)
    loglik = multivariate_normal(my, Syy).logpdf(yv)

    def condition(t, upto):
        rows, cols = slice(t * n, (t + 1) * n), slice(0, upto * m)
        G = np.linalg.solve(Syy[cols, cols], Sxy[rows, cols].T).T
        return mx[rows] + G @ (yv[cols] - my[cols]), Sxx[rows, rows] - G @ Sxy[rows, cols].T

    filtered = [condition(t, t + 1) for t in range(T)]
    smoothed = [condition(t, T) for t in range(T)]
    return filtered, smoothed, loglik


def random_system(rng, n=3, m=2):
    F = rng.normal(0, 0.5, (n, n))
    F /= max(1.0, np.abs(np.linalg.eigvals(F)).max() / 0.95)
    A, B, C = rng.normal(size=(n, n)), rng.normal(size=(m, m)), rng.normal(size=(n, n))
    return LinearGaussianSSM(F, rng.normal(size=(m, n)), A @ A.T / n + 0.1 * np.eye(n),
                             B @ B.T / m + 0.1 * np.eye(m), rng.normal(size=n),
                             C @ C.T / n + 0.5 * np.eye(n))


@pytest.mark.parametrize("trial", range(4))
def test_multivariate_filter_and_smoother_match_brute_force_joint_gaussian(trial):
    ssm = random_system(RNG)
    _, y = ssm.sample(int(RNG.integers(2, 9)), seed=int(RNG.integers(2**31)))
    filtered, smoothed, loglik = brute_force(ssm, y)
    f, s = ssm.filter(y), ssm.smooth(y)
    np.testing.assert_allclose(f.loglik, loglik, rtol=1e-8)
    for t in range(len(y)):
        np.testing.assert_allclose(f.means[t], filtered[t][0], rtol=1e-8, atol=1e-9)
        np.testing.assert_allclose(f.covs[t], filtered[t][1], rtol=1e-8, atol=1e-9)
        np.testing.assert_allclose(s.means[t], smoothed[t][0], rtol=1e-8, atol=1e-9)
        np.testing.assert_allclose(s.covs[t], smoothed[t][1], rtol=1e-8, atol=1e-9)


def test_a_partly_missing_row_uses_the_observed_entries_only():
    ssm = random_system(RNG)
    _, y = ssm.sample(6, seed=int(RNG.integers(2**31)))
    y_missing = y.copy()
    y_missing[2, 1] = np.nan
    y_missing[4] = np.nan
    keep = ~np.isnan(y_missing.reshape(-1))
    f = ssm.filter(y_missing)
    full = ssm.filter(y)
    assert np.allclose(f.means[:2], full.means[:2])          # identical before the first gap
    # the likelihood of the observed entries: drop the missing rows of the joint Gaussian
    _, my, _, Syy, _ = joint_gaussian(ssm, 6)
    ref = multivariate_normal(my[keep], Syy[np.ix_(keep, keep)]).logpdf(y.reshape(-1)[keep])
    np.testing.assert_allclose(f.loglik, ref, rtol=1e-8)


def test_update_step_is_gaussian_conditioning():
    ssm = random_system(RNG)
    m, P = ssm.m0, ssm.P0
    y = RNG.normal(size=2)
    m_new, P_new = kalman_update(m, P, y, ssm.H, ssm.R)
    S = ssm.H @ P @ ssm.H.T + ssm.R
    K = P @ ssm.H.T @ np.linalg.inv(S)
    np.testing.assert_allclose(m_new, m + K @ (y - ssm.H @ m), rtol=1e-10)
    np.testing.assert_allclose(P_new, (np.eye(3) - K @ ssm.H) @ P, rtol=1e-9, atol=1e-12)
    m_pred, P_pred = kalman_predict(m, P, ssm.F, ssm.Q)
    np.testing.assert_allclose(P_pred, ssm.F @ P @ ssm.F.T + ssm.Q)


def test_smoother_tracks_the_true_state_better_than_the_filter():
    ssm = local_level(4.0, 0.3, 0.0, 10.0)
    x, y = ssm.sample(2000, seed=int(RNG.integers(2**31)))
    f, s = ssm.filter(y[:, 0]), ssm.smooth(y[:, 0])
    err_f, err_s = np.mean((f.means - x) ** 2), np.mean((s.means - x) ** 2)
    assert err_s < 0.8 * err_f
    assert np.all(s.covs[:-1] <= f.covs[:-1] + 1e-12)


def test_sample_shapes_and_reproducibility():
    ssm = random_system(RNG)
    x1, y1 = ssm.sample(7, seed=3)
    x2, y2 = ssm.sample(7, seed=3)
    assert x1.shape == (7, 3) and y1.shape == (7, 2)
    np.testing.assert_array_equal(y1, y2)


@pytest.mark.parametrize("kwargs, match", [
    (dict(Q=[[1.0, 2.0], [0.0, 1.0]]), "Q must be symmetric"),
    (dict(R=[[-1.0]]), "R has a negative eigenvalue"),
    (dict(m0=[0.0, 0.0, 0.0]), "m0 must have 2"),
    (dict(H=[[1.0, 0.0, 0.0]]), "H must have shape"),
])
def test_bad_parameters_raise_value_errors_naming_the_argument(kwargs, match):
    base = dict(F=np.eye(2), H=[[1.0, 0.0]], Q=np.eye(2), R=[[1.0]], m0=[0.0, 0.0], P0=np.eye(2))
    base.update(kwargs)
    with pytest.raises(ValueError, match=match):
        LinearGaussianSSM(**base)


def test_observations_of_the_wrong_width_are_refused():
    with pytest.raises(ValueError, match=r"y must have shape \(T, 2\)"):
        random_system(RNG).filter(np.zeros((5, 3)))
