"""Vanishing and exploding gradients: hidden-state Jacobians, their bound, clipping, initialisations.

Conventions (column vectors, as in the book): a vanilla RNN driven by inputs u_t = W_xh x_t + b_h has
pre-activations a_t = W_hh h_{t-1} + u_t and states h_t = g(a_t). The one-step Jacobian is
dh_t/dh_{t-1} = diag(g'(a_t)) W_hh, so dh_t/dh_k is the ordered product of t - k such factors;
backpropagation multiplies an error signal by its transpose, W_hh^T diag(g'(a_t)), which has the
same norms.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

# name -> (g, g', sup |g'|): the last number is the gamma_g of the bound (gamma_W gamma_g)^(t-k).
_NONLINEARITIES: dict[str, tuple[Callable, Callable, float]] = {
    "tanh": (np.tanh, lambda a: 1.0 - np.tanh(a) ** 2, 1.0),
    "sigmoid": (lambda a: 1.0 / (1.0 + np.exp(-a)),
                lambda a: np.exp(-np.abs(a)) / (1.0 + np.exp(-np.abs(a))) ** 2, 0.25),
    "relu": (lambda a: np.maximum(a, 0.0), lambda a: (a > 0).astype(float), 1.0),
    "linear": (lambda a: a, np.ones_like, 1.0),
}
NONLINEARITIES = tuple(_NONLINEARITIES)


def _nonlinearity(name: str) -> tuple[Callable, Callable, float]:
    if name not in _NONLINEARITIES:
        raise ValueError(f"nonlinearity must be one of {', '.join(NONLINEARITIES)}, got {name!r}")
    return _NONLINEARITIES[name]


def _square(W, name: str = "W_hh") -> np.ndarray:
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] != W.shape[1] or W.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square matrix (H, H), got shape {W.shape}")
    if not np.isfinite(W).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return W


def activation_derivative_bound(nonlinearity: str) -> float:
    """gamma_g = sup |g'(a)|: 1 for tanh, ReLU and the identity, 1/4 for the logistic sigmoid."""
    return _nonlinearity(nonlinearity)[2]


def spectral_radius(W) -> float:
    """The largest absolute value of the eigenvalues of a square matrix."""
    return float(np.abs(np.linalg.eigvals(_square(W, "W"))).max())


def scale_to_spectral_radius(W, radius: float) -> np.ndarray:
    """`W` multiplied by a positive number so that its spectral radius is `radius`."""
    W = _square(W, "W")
    if radius < 0:
        raise ValueError(f"radius must be non-negative, got {radius}")
    current = spectral_radius(W)
    if current == 0:
        raise ValueError("W is nilpotent (spectral radius 0): it cannot be rescaled to another radius")
    return W * (radius / current)


def orthogonal_from(A) -> np.ndarray:
    """The orthogonal factor Q of A = QR, signs fixed so that diag(R) > 0 (Haar-uniform if A is Gaussian)."""
    A = _square(A, "A")
    Q, R = np.linalg.qr(A)
    signs = np.sign(np.diag(R))
    signs[signs == 0] = 1.0
    return Q * signs  # flips column j of Q when R_jj < 0, so the factorisation is unique


def orthogonal(n: int, seed: int = 0) -> np.ndarray:
    """A random n x n orthogonal matrix, uniform over the orthogonal group (Saxe et al.'s initialisation)."""
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    return orthogonal_from(np.random.default_rng(seed).standard_normal((n, n)))


def run_hidden(W_hh, inputs, h0=None, nonlinearity: str = "tanh") -> tuple[np.ndarray, np.ndarray]:
    """Run h_t = g(W_hh h_{t-1} + u_t) over the drive `inputs` (T, H): returns states (T+1, H), pre-activations (T, H)."""
    W = _square(W_hh)
    g, _, _ = _nonlinearity(nonlinearity)
    u = np.asarray(inputs, dtype=np.float64)
    if u.ndim != 2 or u.shape[1] != W.shape[0]:
        raise ValueError(f"inputs must have shape (T, H) with H={W.shape[0]}, got {u.shape}")
    h = np.zeros(W.shape[0]) if h0 is None else np.asarray(h0, dtype=np.float64)
    if h.shape != (W.shape[0],):
        raise ValueError(f"h0 must have shape ({W.shape[0]},), got {h.shape}")
    states, pre = [h], []
    for u_t in u:
        a = W @ h + u_t
        h = g(a)
        pre.append(a)
        states.append(h)
    return np.stack(states), np.array(pre).reshape(len(u), W.shape[0])


def jacobians_from_preactivations(W_hh, preactivations, nonlinearity: str = "tanh") -> np.ndarray:
    """dh_t/dh_0 for t = 0..T (T+1, H, H) given the pre-activations a_1..a_T (T, H) of the run."""
    W = _square(W_hh)
    _, dg, _ = _nonlinearity(nonlinearity)
    pre = np.asarray(preactivations, dtype=np.float64)
    if pre.ndim != 2 or pre.shape[1] != W.shape[0]:
        raise ValueError(f"preactivations must have shape (T, H) with H={W.shape[0]}, got {pre.shape}")
    J = np.eye(W.shape[0])
    out = [J]
    for a in pre:
        J = (dg(a)[:, None] * W) @ J  # the newest factor diag(g'(a_t)) W_hh goes on the left
        out.append(J)
    return np.stack(out)


def hidden_jacobians(W_hh, inputs, h0=None, nonlinearity: str = "tanh") -> np.ndarray:
    """dh_t/dh_0 for t = 0..T as an array (T+1, H, H): the ordered product of diag(g'(a_i)) W_hh."""
    _, pre = run_hidden(W_hh, inputs, h0, nonlinearity)
    return jacobians_from_preactivations(W_hh, pre, nonlinearity)


def jacobian_norms(W_hh, inputs, h0=None, nonlinearity: str = "tanh", ord: Any = 2) -> np.ndarray:
    """The norms ||dh_t/dh_0|| for t = 0..T (spectral norm by default; `ord` as in np.linalg.norm)."""
    return np.array([np.linalg.norm(J, ord=ord) for J in hidden_jacobians(W_hh, inputs, h0, nonlinearity)])


def jacobian_bound(W_hh, steps: int, nonlinearity: str = "tanh") -> np.ndarray:
    """The bound (gamma_W gamma_g)^t for t = 0..steps, with gamma_W = ||W_hh||_2 and gamma_g = sup|g'|."""
    W = _square(W_hh)
    if steps < 0:
        raise ValueError(f"steps must be non-negative, got {steps}")
    gamma = np.linalg.norm(W, ord=2) * activation_derivative_bound(nonlinearity)
    return gamma ** np.arange(steps + 1, dtype=np.float64)


def _is_tensor(x) -> bool:
    return hasattr(x, "detach") and hasattr(x, "device")


def global_norm(grads) -> float:
    """The Euclidean norm of all gradients taken together, as if concatenated into one vector."""
    values = list(grads.values()) if isinstance(grads, Mapping) else list(grads)
    total = 0.0
    for g in values:
        if _is_tensor(g):
            g = g.detach().double().cpu().numpy()
        total += float(np.sum(np.asarray(g, dtype=np.float64) ** 2))
    return float(np.sqrt(total))


def clip_grad_norm(grads, max_norm: float, eps: float = 1e-6) -> tuple[Any, float]:
    """Rescale gradients so their global norm is at most `max_norm` (Pascanu et al.): (clipped, norm before).

    `grads` is a dict of arrays/tensors or a list of them; the result has the same form and is new
    (nothing is modified in place). As in `torch.nn.utils.clip_grad_norm_`, the factor is
    max_norm / (norm + eps), applied only when it is below 1, so the direction never changes.
    """
    if not np.isfinite(max_norm) or max_norm <= 0:
        raise ValueError(f"max_norm must be a positive finite number, got {max_norm}")
    if not isinstance(grads, (Mapping, Sequence)) or isinstance(grads, (str, bytes)):
        raise TypeError(f"grads must be a dict or a list of arrays/tensors, got {type(grads).__name__}")
    norm = global_norm(grads)
    factor = min(1.0, max_norm / (norm + eps))

    def scale(g):
        return g * factor if _is_tensor(g) else np.asarray(g) * factor

    if isinstance(grads, Mapping):
        return {k: scale(g) for k, g in grads.items()}, norm
    return [scale(g) for g in grads], norm
