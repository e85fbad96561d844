"""Linear-Gaussian state-space models: sampling, the Kalman filter and the RTS smoother.

The model, with n-dimensional states x_t and m-dimensional observations y_t, t = 1..T:

    x_1 ~ N(m0, P0),    x_{t+1} = F x_t + w_t,  w_t ~ N(0, Q),    y_t = H x_t + v_t,  v_t ~ N(0, R).

Convention: (m0, P0) is the distribution of the FIRST state x_1 before any observation (the
convention of statsmodels' `initialize_known`), so the filter starts with an update, not a
prediction. A row of y that is entirely NaN is a missing observation: the update is skipped and
the prediction carries on; a row with some NaN entries is updated with the observed entries only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class KalmanResult:
    """means (T, n), covs (T, n, n), loglik; plus the one-step predictions the smoother reuses."""

    means: np.ndarray
    covs: np.ndarray
    loglik: float
    pred_means: np.ndarray      # (T, n): E[x_t | y_1..y_{t-1}]
    pred_covs: np.ndarray       # (T, n, n)


def kalman_predict(m: np.ndarray, P: np.ndarray, F: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Push N(m, P) through x' = F x + w, w ~ N(0, Q): returns (F m, F P F^T + Q)."""
    return F @ m, F @ P @ F.T + Q


def kalman_update(m: np.ndarray, P: np.ndarray, y: np.ndarray, H: np.ndarray,
                  R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Condition N(m, P) on y = H x + v, v ~ N(0, R): returns the posterior (mean, cov)."""
    m_new, P_new, _ = _update(m, P, y, H, R)
    return m_new, P_new


def _update(m, P, y, H, R):
    v = y - H @ m                                   # innovation
    PHt = P @ H.T
    S = H @ PHt + R                                 # its covariance
    L = np.linalg.cholesky(S)
    # gain K = P H^T S^{-1}, from two triangular solves rather than an explicit inverse
    Kt = np.linalg.solve(L.T, np.linalg.solve(L, PHt.T))
    z = np.linalg.solve(L, v)
    m_new = m + Kt.T @ v
    P_new = P - Kt.T @ S @ Kt
    P_new = 0.5 * (P_new + P_new.T)                 # keep it symmetric against rounding
    loglik = -0.5 * (len(v) * _LOG_2PI + 2.0 * np.log(np.diag(L)).sum() + z @ z)
    return m_new, P_new, float(loglik)


def _matrix(name: str, value, shape: tuple[int, int], covariance: bool = False) -> np.ndarray:
    arr = np.array(value, dtype=np.float64)
    if arr.ndim == 0 and shape == (1, 1):
        arr = arr.reshape(1, 1)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    if covariance:
        if not np.allclose(arr, arr.T, rtol=1e-10, atol=1e-12):
            raise ValueError(f"{name} must be symmetric (a covariance matrix)")
        if np.linalg.eigvalsh(arr).min() < -1e-10 * max(1.0, np.abs(arr).max()):
            raise ValueError(f"{name} has a negative eigenvalue; a covariance must be positive "
                             "semi-definite")
    return arr


class LinearGaussianSSM:
    """x_1 ~ N(m0, P0), x_{t+1} = F x_t + N(0, Q), y_t = H x_t + N(0, R)."""

    def __init__(self, F, H, Q, R, m0, P0):
        F_arr = np.atleast_2d(np.asarray(F, dtype=np.float64))
        n = F_arr.shape[0]
        H_arr = np.atleast_2d(np.asarray(H, dtype=np.float64))
        m = H_arr.shape[0]
        self.F = _matrix("F", F_arr, (n, n))
        self.H = _matrix("H", H_arr, (m, n))
        self.Q = _matrix("Q", Q, (n, n), covariance=True)
        self.R = _matrix("R", R, (m, m), covariance=True)
        self.m0 = np.array(m0, dtype=np.float64).reshape(-1)
        if self.m0.shape != (n,):
            raise ValueError(f"m0 must have {n} entries (one per state), got {self.m0.size}")
        self.P0 = _matrix("P0", P0, (n, n), covariance=True)
        self.n_states, self.n_obs = n, m

    def __repr__(self) -> str:
        return f"LinearGaussianSSM(n_states={self.n_states}, n_obs={self.n_obs})"

    def _observations(self, y) -> np.ndarray:
        arr = np.asarray(y, dtype=np.float64)
        if arr.ndim == 1 and self.n_obs == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != self.n_obs or len(arr) == 0:
            raise ValueError(f"y must have shape (T, {self.n_obs})"
                             + (" or (T,)" if self.n_obs == 1 else "") + f", got {arr.shape}")
        if np.isinf(arr).any():
            raise ValueError("y contains infinite values; use NaN to mark a missing observation")
        return arr

    def sample(self, T: int, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Draw (states (T, n), observations (T, m))."""
        if int(T) < 1:
            raise ValueError(f"T must be a positive number of steps, got {T}")
        rng = np.random.default_rng(seed)
        n, m = self.n_states, self.n_obs
        x = np.empty((int(T), n))
        x[0] = rng.multivariate_normal(self.m0, self.P0)
        w = rng.multivariate_normal(np.zeros(n), self.Q, size=int(T))
        for t in range(1, int(T)):
            x[t] = self.F @ x[t - 1] + w[t]
        v = rng.multivariate_normal(np.zeros(m), self.R, size=int(T))
        return x, x @ self.H.T + v

    def filter(self, y) -> KalmanResult:
        """Filtered means and covariances of x_t given y_1..y_t, and log p(y_1..y_T)."""
        y = self._observations(y)
        T, n = len(y), self.n_states
        if n == 1 and self.n_obs == 1:
            return self._filter_scalar(y[:, 0])
        means, covs = np.empty((T, n)), np.empty((T, n, n))
        pmeans, pcovs = np.empty((T, n)), np.empty((T, n, n))
        m, P, loglik = self.m0, self.P0, 0.0
        for t in range(T):
            if t:
                m, P = kalman_predict(m, P, self.F, self.Q)
            pmeans[t], pcovs[t] = m, P
            seen = ~np.isnan(y[t])
            if seen.all():
                m, P, ll = _update(m, P, y[t], self.H, self.R)
                loglik += ll
            elif seen.any():
                m, P, ll = _update(m, P, y[t][seen], self.H[seen], self.R[np.ix_(seen, seen)])
                loglik += ll
            means[t], covs[t] = m, P
        return KalmanResult(means, covs, loglik, pmeans, pcovs)

    def _filter_scalar(self, y: np.ndarray) -> KalmanResult:
        # One state, one observation: the same recursions on Python floats, ~20x faster than
        # 1x1 NumPy matrices (the local-level model of the Nile is this case).
        F, H, Q, R = float(self.F[0, 0]), float(self.H[0, 0]), float(self.Q[0, 0]), float(self.R[0, 0])
        m, P = float(self.m0[0]), float(self.P0[0, 0])
        T = len(y)
        means, covs, pmeans, pcovs = [0.0] * T, [0.0] * T, [0.0] * T, [0.0] * T
        loglik, log = 0.0, np.log
        for t, yt in enumerate(y.tolist()):
            if t:
                m, P = F * m, F * P * F + Q
            pmeans[t], pcovs[t] = m, P
            if yt == yt:                           # not NaN
                S = H * P * H + R
                v = yt - H * m
                K = P * H / S
                m, P = m + K * v, P - K * S * K
                loglik -= 0.5 * (_LOG_2PI + log(S) + v * v / S)
            means[t], covs[t] = m, P
        shape = (T, 1, 1)
        return KalmanResult(np.array(means)[:, None], np.array(covs).reshape(shape), float(loglik),
                            np.array(pmeans)[:, None], np.array(pcovs).reshape(shape))

    def smooth(self, y) -> KalmanResult:
        """Rauch–Tung–Striebel smoother: means and covariances of x_t given all of y."""
        f = self.filter(y)
        T = len(f.means)
        means, covs = f.means.copy(), f.covs.copy()
        for t in range(T - 2, -1, -1):
            # G = P_t F^T (P_{t+1|t})^{-1}: how much of the correction at t+1 reaches t
            G = np.linalg.solve(f.pred_covs[t + 1], self.F @ f.covs[t]).T
            means[t] = f.means[t] + G @ (means[t + 1] - f.pred_means[t + 1])
            C = f.covs[t] + G @ (covs[t + 1] - f.pred_covs[t + 1]) @ G.T
            covs[t] = 0.5 * (C + C.T)
        return KalmanResult(means, covs, f.loglik, f.pred_means, f.pred_covs)


def local_level(sigma2_obs: float, sigma2_level: float, m0: float = 0.0,
                P0: float = 1e7) -> LinearGaussianSSM:
    """The local-level model: a random-walk level observed with noise (the Nile model)."""
    if sigma2_obs < 0 or sigma2_level < 0:
        raise ValueError(f"variances must be >= 0, got sigma2_obs={sigma2_obs}, "
                         f"sigma2_level={sigma2_level}")
    return LinearGaussianSSM([[1.0]], [[1.0]], [[sigma2_level]], [[sigma2_obs]], [m0], [[P0]])
