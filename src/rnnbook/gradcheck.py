"""Gradient checking: central-difference numerical gradients and a relative-error measure."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Central differences (f(x + eps e_i) - f(x - eps e_i)) / (2 eps) for every entry of x.

    `f` takes no argument and reads `x` (a float64 array that it closes over); each entry is
    nudged in place and restored, so x is unchanged afterwards. The error is O(eps^2).
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise ValueError("x must be a float64 NumPy array that f reads; in float32 the differences "
                         "drown in rounding error (convert with x.astype(np.float64))")
    if eps <= 0:
        raise ValueError(f"eps must be positive, got {eps}")
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)   # views, so nudging flat nudges x
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        f_plus = f()
        flat[i] = old - eps
        f_minus = f()
        flat[i] = old
        gflat[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error(a, b) -> float:
    """||a - b|| / max(||a||, ||b||): 0 for equal arrays, 1 or more when one of them is zero."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare arrays of shapes {a.shape} and {b.shape}")
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)


def gradient_errors(f: Callable[[], float], params: dict[str, np.ndarray],
                    grads: dict[str, np.ndarray], eps: float = 1e-5) -> dict[str, float]:
    """The relative error between `grads` and the numerical gradient of f for each named array."""
    missing = set(params) - set(grads)
    if missing:
        raise ValueError(f"grads lacks {sorted(missing)}: it must have a gradient for every parameter")
    return {name: relative_error(grads[name], numerical_gradient(f, params[name], eps))
            for name in params}
