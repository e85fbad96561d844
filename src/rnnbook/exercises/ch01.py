"""Checkers for chapter 1, Sequence models before neural networks."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import ar as _ar
from .. import hmm as _hmm
from .. import kalman as _kalman
from ._core import Case, Score, compare_arrays, fresh_seed, run_checks


def _pair(got, expected, names: tuple[str, str], **kw) -> str | None:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return f"expected a pair ({names[0]}, {names[1]}), got {type(got).__name__}"
    for g, e, name in zip(got, expected, names):
        problem = compare_arrays(g, e, what=name, **kw)
        if problem:
            return problem
    return None


def _copy_args(cases: list[Case]) -> None:
    for case in cases:
        case.args = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in case.args)


def check_ar_design(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(y, p) -> (X, target)`: rows [1, y_{t-1}, ..., y_{t-p}] and targets y_t."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((np.arange(1.0, 7.0), 2), _ar.ar_design(np.arange(1.0, 7.0), 2),
                  "y = [1, 2, 3, 4, 5, 6], p = 2")]
    for i in range(4):
        T = int(rng.integers(5, 30))
        p = 1 if i == 0 else int(rng.integers(1, min(6, T - 1)))
        y = rng.normal(0, 3, T).round(2)
        cases.append(Case((y, p), _ar.ar_design(y, p), f"T={T}, p={p}"))
    _copy_args(cases)

    def compare(got, expected):
        return _pair(got, expected, ("design matrix X", "target vector"))

    return run_checks("ar_design", func, cases, compare, points, seed,
                      forbid=("statsmodels",))


def _random_gaussian(rng, n, m):
    A, B = rng.normal(size=(n, n)), rng.normal(size=(m, m))
    P = A @ A.T / n + 0.2 * np.eye(n)
    R = B @ B.T / m + 0.2 * np.eye(m)
    return rng.normal(size=n), P, rng.normal(size=m), rng.normal(size=(m, n)), R


def check_kalman_update(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(m, P, y, C, R) -> (m_new, P_new)`: N(m, P) conditioned on y = C z + N(0, R)."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(5):
        n, m = (1, 1) if i == 0 else (int(rng.integers(1, 5)), int(rng.integers(1, 4)))
        args = _random_gaussian(rng, n, m)
        what = f"n={n} states, m={m} observations" + (" (scalars as 1x1 arrays)" if i == 0 else "")
        cases.append(Case(args, _kalman.kalman_update(*args), what))
    _copy_args(cases)

    def compare(got, expected):
        return _pair(got, expected, ("updated mean", "updated covariance"), rtol=1e-6, atol=1e-9)

    return run_checks("kalman_update", func, cases, compare, points, seed)


def _random_hmm(rng, K, M, zero=False):
    start = rng.dirichlet(np.ones(K))
    A, B = rng.dirichlet(np.ones(K), size=K), rng.dirichlet(np.ones(M), size=K)
    if zero:                               # one impossible transition: its log is -inf
        A[0, 1] = 0.0
        A[0] /= A[0].sum()
    return start, A, B


def check_forward(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(startprob, transmat, emissionprob, obs) -> log_alpha` (T, K)."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(5):
        K, M = int(rng.integers(2, 5)), int(rng.integers(2, 6))
        T = 1 if i == 0 else int(rng.integers(2, 40))
        if i == 4:                          # long enough that unscaled probabilities underflow
            K, M, T = 2, 6, 2000
        start, A, B = _random_hmm(rng, K, M, zero=(i == 3))
        obs = rng.integers(0, M, T)
        expected = _hmm.DiscreteHMM(start, A, B).log_forward(obs)
        what = f"K={K} states, M={M} symbols, T={T}" + {
            0: " (a single step)", 3: " (transmat[0, 1] = 0: log_alpha may hold -inf)",
            4: " (products of 2000 probabilities underflow: work in logs)"}.get(i, "")
        cases.append(Case((start, A, B, obs), expected, what))
    _copy_args(cases)

    def compare(got, expected):
        return compare_arrays(got, expected, what="log_alpha", rtol=1e-7, atol=1e-8)

    return run_checks("forward", func, cases, compare, points, seed,
                      forbid=("hmmlearn",))


def check_backtrack(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(psi, last_state) -> path` (T,) from back-pointers psi (T, K)."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(5):
        K, T = int(rng.integers(2, 5)), (1 if i == 0 else int(rng.integers(2, 30)))
        psi = rng.integers(0, K, (T, K))
        last = int(rng.integers(K))
        what = f"T={T}, K={K}, last_state={last}" + (" (a single step)" if T == 1 else "")
        cases.append(Case((psi, last), _hmm.backtrack(psi, last), what))
    _copy_args(cases)

    def compare(got, expected):
        return compare_arrays(got, expected, what="path", dtype_kind="iu")

    return run_checks("backtrack", func, cases, compare, points, seed,
                      forbid=("hmmlearn",))


def check_maxplus_matmul(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(A, B) -> C` with C[i, j] = max_k A[i, k] + B[k, j]."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(5):
        n, k, m = (int(rng.integers(1, 6)) for _ in range(3))
        if i == 0:
            n, k, m = 2, 3, 2
        A, B = rng.normal(0, 2, (n, k)).round(1), rng.normal(0, 2, (k, m)).round(1)
        what = f"A {n}x{k}, B {k}x{m}"
        if i == 4:
            A[0, :] = -np.inf
            what += " (a row of A is -inf, as log 0)"
        cases.append(Case((A, B), _hmm.maxplus_matmul(A, B), what))
    _copy_args(cases)

    def compare(got, expected):
        return compare_arrays(got, expected, what="(max, +) product")

    return run_checks("maxplus_matmul", func, cases, compare, points, seed)
