"""Autoregressive models AR(p): least-squares fit on delay taps, and iterated forecasts.

Convention (the one of statsmodels' `AutoReg(y, p, trend="c")`): the first p values are only
used as inputs, so the fit uses the T - p equations y_t = c + a_1 y_{t-1} + ... + a_p y_{t-p}
for t = p+1..T, and sigma2 is the residual sum of squares divided by T - p (no degrees-of-
freedom correction).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _series(y, name: str = "y") -> np.ndarray:
    arr = np.asarray(y, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D series, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values at positions "
                         f"{np.flatnonzero(~np.isfinite(arr))[:5].tolist()}; remove or fill them first")
    return arr


def ar_design(y, p: int, intercept: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Delay-tap design (X, target): row t is [1, y_{t-1}, ..., y_{t-p}] for target y_t, t >= p."""
    y = _series(y)
    p = int(p)
    if p < 1 or p >= len(y):
        raise ValueError(f"p must be between 1 and len(y) - 1 = {len(y) - 1}, got {p}")
    # column k (k = 1..p) holds y shifted by k: y[p-k : T-k]
    lags = np.stack([y[p - k: len(y) - k] for k in range(1, p + 1)], axis=1)
    X = np.hstack([np.ones((len(y) - p, 1)), lags]) if intercept else lags
    return X, y[p:].copy()


@dataclass(frozen=True)
class ARFit:
    """A fitted AR(p): coef (p,) with lag 1 first, intercept, sigma2 = RSS / (T - p)."""

    coef: np.ndarray
    intercept: float
    sigma2: float

    @property
    def p(self) -> int:
        return len(self.coef)

    def predict(self, y) -> np.ndarray:
        """One-step predictions of y[p:], each from the p true values before it."""
        X, _ = ar_design(y, self.p, intercept=False)
        return self.intercept + X @ self.coef

    def forecast(self, history, steps: int) -> np.ndarray:
        """Iterated forecasts of the next `steps` values after `history` (its last p values)."""
        h = _series(history, "history")
        if len(h) < self.p:
            raise ValueError(f"history needs at least p = {self.p} values, got {len(h)}")
        if int(steps) < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        window = list(h[len(h) - self.p:][::-1])     # most recent first, like coef
        out = np.empty(int(steps))
        for s in range(int(steps)):
            out[s] = self.intercept + float(np.dot(self.coef, window))
            window = [out[s]] + window[:-1]        # a forecast becomes an input: errors compound
        return out


def fit_ar(y, p: int, intercept: bool = True) -> ARFit:
    """Fit AR(p) by ordinary least squares on the delay-tap design."""
    X, target = ar_design(y, p, intercept)
    if len(target) <= X.shape[1]:
        raise ValueError(f"a series of length {len(target) + int(p)} is too short to fit AR({p}): "
                         f"need more than {X.shape[1]} equations")
    beta, *_ = np.linalg.lstsq(X, target, rcond=None)
    resid = target - X @ beta
    c, coef = (float(beta[0]), beta[1:]) if intercept else (0.0, beta)
    return ARFit(coef=np.array(coef), intercept=c, sigma2=float(resid @ resid / len(target)))
