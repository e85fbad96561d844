"""Checkers for chapter 4, Vanishing and exploding gradients."""
from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from .. import gradients as _gradients
from ._core import Case, Score, compare_arrays, fresh_seed, run_checks


def _compare_scalar(what: str, rtol: float = 1e-6):
    def compare(got, expected):
        if got is None:
            return f"the {what} is None: did the function forget to `return` it?"
        try:
            arr = np.asarray(got.detach().cpu().numpy() if hasattr(got, "detach") else got)
            if np.iscomplexobj(arr):
                if np.any(arr.imag != 0):
                    return f"the {what} should be a real number, got the complex value {got!r}"
                arr = arr.real
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            return f"the {what} could not be read as a number ({exc})"
        if arr.size != 1:
            return f"the {what} should be one number, got an array of shape {arr.shape}"
        value = float(arr.reshape(()))
        if not np.isclose(value, expected, rtol=rtol, atol=1e-12):
            return f"got {value!r}, expected {expected!r}"
        return None
    return compare


def check_spectral_radius(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(W) -> float`, the largest absolute value of W's (possibly complex) eigenvalues."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    mats = [(np.diag([0.5, -3.0, 1.0]), "a diagonal matrix with a negative entry"),
            (np.array([[0.0, -2.0], [2.0, 0.0]]), "a rotation-and-scaling matrix (complex eigenvalues)"),
            (np.array([[0.5, 10.0], [0.0, 0.5]]), "a triangular matrix with a large off-diagonal entry")]
    for _ in range(3):
        n = int(rng.integers(2, 9))
        mats.append((rng.normal(size=(n, n)), f"a random {n}x{n} Gaussian matrix"))
    cases = [Case((W.copy(),), _gradients.spectral_radius(W), d) for W, d in mats]
    return run_checks("spectral_radius", func, cases, _compare_scalar("spectral radius"), points, seed)


def check_jacobian_norm(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(W_hh, preactivations) -> float`, the spectral norm of dh_t/dh_0 of a tanh RNN."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    H = 3
    W = rng.normal(size=(H, H))
    cases.append(Case((W, np.zeros((1, H))), None, "one step with a = 0 (so tanh' = 1): the answer is ||W_hh||_2"))
    for _ in range(4):
        H, t = int(rng.integers(2, 7)), int(rng.integers(2, 9))
        W = rng.normal(size=(H, H)) * rng.uniform(0.5, 1.5) / np.sqrt(H)
        cases.append(Case((W, rng.normal(size=(t, H))), None, f"H={H}, t={t} random pre-activations"))
    H = 4
    cases.append(Case((rng.normal(size=(H, H)), rng.normal(size=(5, H)) * 4),
                      None, "large pre-activations (saturated tanh, a tiny norm)"))
    for case in cases:
        W, pre = case.args
        case.expected = float(np.linalg.norm(_gradients.jacobians_from_preactivations(W, pre, "tanh")[-1], 2))
        case.args = (W.copy(), pre.copy())
    return run_checks("jacobian_norm", func, cases, _compare_scalar("Jacobian norm"), points, seed)


def check_clip_by_global_norm(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(grads: dict of arrays, max_norm) -> dict`, rescaled to global norm <= max_norm."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    specs = [({"w": np.array([3.0, 4.0])}, 1.0, "one gradient [3, 4] (norm 5) and max_norm=1"),
             ({"a": np.array([0.3]), "b": np.array([[0.4]])}, 1.0, "norm 0.5, below max_norm=1: unchanged")]
    for _ in range(3):
        grads = {k: rng.normal(size=tuple(rng.integers(1, 5, size=int(rng.integers(1, 3)))))
                 for k in ("W_xh", "W_hh", "b_h")}
        specs.append((grads, float(rng.uniform(0.5, 2.0)), "three random gradients, clipped"))
    specs.append(({"W_hh": np.full((2, 2), 10.0), "b_h": np.full(2, 0.01)}, 1.0,
                  "one large and one tiny gradient: the tiny one shrinks too"))
    cases = []
    for grads, max_norm, description in specs:
        norm = np.sqrt(sum(float((g ** 2).sum()) for g in grads.values()))
        factor = max_norm / norm if norm > max_norm else 1.0
        expected = {k: g * factor for k, g in grads.items()}
        cases.append(Case(({k: g.copy() for k, g in grads.items()}, max_norm), expected, description))

    def compare(got, expected):
        if not isinstance(got, Mapping):
            return f"expected a dict of arrays, got {type(got).__name__}"
        if set(got) != set(expected):
            return f"the result has keys {sorted(got)}, expected {sorted(expected)}"
        for key in expected:
            problem = compare_arrays(got[key], expected[key], what=f"clipped gradient {key!r}", rtol=1e-6)
            if problem:
                return problem
        return None

    return run_checks("clip_by_global_norm", func, cases, compare, points, seed)


def check_orthogonal_from(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(A) -> Q`, the orthogonal factor of A = QR with diag(R) > 0."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    mats = [(np.diag([2.0, 3.0]), "a positive diagonal matrix (Q is the identity)"),
            (np.diag([-2.0, 3.0, -1.0]), "a diagonal matrix with negative entries")]
    for _ in range(4):
        n = int(rng.integers(2, 8))
        mats.append((rng.normal(size=(n, n)), f"a random {n}x{n} Gaussian matrix"))
    cases = [Case((A.copy(),), _gradients.orthogonal_from(A), d) for A, d in mats]

    def compare(got, expected):
        return compare_arrays(got, expected, what="orthogonal matrix Q", rtol=1e-6, atol=1e-9)

    return run_checks("orthogonal_from", func, cases, compare, points, seed)
