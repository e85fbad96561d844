"""Checkers for chapter 1, Sequence models before neural networks."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import ar as _ar
from .. import hmm as _hmm
from .. import kalman as _kalman
from .. import semiring as _semiring
from ._core import Case, Score, as_whole_number, compare_arrays, fresh_seed, run_checks


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
        cases.append(Case((A, B), _semiring.maxplus_matmul(A, B), what))
    _copy_args(cases)

    def compare(got, expected):
        return compare_arrays(got, expected, what="(max, +) product")

    return run_checks("maxplus_matmul", func, cases, compare, points, seed)


def _first_zero_row(start, A, B, obs) -> int:
    """The checker's own unscaled forward pass: the first step whose alpha is all zeros, or -1."""
    alpha = start * B[:, obs[0]]
    for t in range(len(obs)):
        if t:
            alpha = (alpha @ A) * B[:, obs[t]]
        if not alpha.any():
            return t
    return -1


def check_underflow_step(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(startprob, transmat, emissionprob, obs) -> int`: the first step (0-based) at
    which the unscaled float64 forward variables are all exactly 0, or -1 if they never are."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(5):
        K, M = int(rng.integers(2, 5)), int(rng.integers(3, 7))
        T = 60 if i == 0 else 4000
        start, A, B = _random_hmm(rng, K, M)
        if i == 1:                          # sharper emissions: each step loses less probability
            B = rng.dirichlet(np.full(M, 0.3), size=K)
        obs = rng.integers(0, M, T)
        what = f"K={K} states, M={M} symbols, T={T}" + (" (too short to underflow)" if i == 0 else "")
        cases.append(Case((start, A, B, obs), _first_zero_row(start, A, B, obs), what))
    _copy_args(cases)

    def compare(got, expected):
        value = as_whole_number(got)
        if value is None:
            return f"expected one integer (a step index or -1), got {type(got).__name__} {got!r:.60}"
        if expected == -1:
            return None if value == -1 else f"got {value}, but alpha never underflows on this sequence"
        # a different order of the same products may round the last subnormal differently
        if abs(value - expected) > 2:
            return f"got step {value}, expected step {expected} (within 2 steps)"
        return None

    return run_checks("underflow_step", func, cases, compare, points, seed,
                      forbid=("hmmlearn",))


def _stable_ar(rng, q: int) -> np.ndarray:
    """Coefficients of a stationary AR(q): a polynomial with real roots inside the unit circle."""
    roots = rng.uniform(0.3, 0.9, q) * rng.choice([-1.0, 1.0], q)
    return -np.poly(roots)[1:]


def _ar_curves(y, max_p, n_train):
    """The checker's own least-squares fits: training and held-out one-step RMSE for p = 1..max_p."""
    T = len(y)
    train_t, test_t = np.arange(max_p, n_train), np.arange(n_train, T)
    rows = lambda ts, p: np.column_stack([np.ones(len(ts))] + [y[ts - k] for k in range(1, p + 1)])
    train, held_out = [], []
    for p in range(1, max_p + 1):
        w = np.linalg.lstsq(rows(train_t, p), y[train_t], rcond=None)[0]
        train.append(np.sqrt(np.mean((rows(train_t, p) @ w - y[train_t]) ** 2)))
        held_out.append(np.sqrt(np.mean((rows(test_t, p) @ w - y[test_t]) ** 2)))
    return np.array(train), np.array(held_out)


def check_ar_order(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(y, max_p, n_train) -> (train_rmse, heldout_rmse, p_best)` on fresh AR series."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(4):
        q, T = int(rng.integers(1, 5)), int(rng.integers(300, 700))
        phi = _stable_ar(rng, q)
        y = np.zeros(T + 100)
        noise = rng.normal(0, 1, T + 100)
        for t in range(q, T + 100):
            y[t] = phi @ y[t - q:t][::-1] + noise[t]
        y = (y[100:] + rng.normal(0, 5)).round(3)          # drop the warm-up; a non-zero mean
        max_p, n_train = int(rng.integers(6, 11)), int(T * rng.uniform(0.5, 0.75))
        train, held_out = _ar_curves(y, max_p, n_train)
        expected = (train, held_out, int(np.argmin(held_out)) + 1)
        cases.append(Case((y, max_p, n_train), expected,
                          f"an AR({q}) series of T={T}, max_p={max_p}, n_train={n_train}"))
    _copy_args(cases)

    def compare(got, expected):
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            return f"expected a triple (train_rmse, heldout_rmse, p_best), got {type(got).__name__}"
        for g, e, name in zip(got[:2], expected[:2], ("training RMSE curve", "held-out RMSE curve")):
            problem = compare_arrays(g, e, what=name, rtol=1e-6, atol=1e-9)
            if problem:
                return problem
        p_best = as_whole_number(got[2])
        if p_best != expected[2]:
            return f"p_best is {got[2]!r}, but your held-out curve is lowest at p = {expected[2]}"
        return None

    return run_checks("ar_order", func, cases, compare, points, seed,
                      forbid=("statsmodels", "sklearn.linear_model"))


def _brute_force_counts(start, A, B, obs):
    """Expected counts of one sequence by summing over every hidden path (tiny HMMs only)."""
    import itertools

    K, M, T = len(start), B.shape[1], len(obs)
    first, trans, emit, total = np.zeros(K), np.zeros((K, K)), np.zeros((K, M)), 0.0
    for path in itertools.product(range(K), repeat=T):
        p = start[path[0]] * B[path[0], obs[0]]
        for t in range(1, T):
            p *= A[path[t - 1], path[t]] * B[path[t], obs[t]]
        total += p
        first[path[0]] += p
        for t in range(T):
            emit[path[t], obs[t]] += p
            if t:
                trans[path[t - 1], path[t]] += p
    return first / total, trans / total, emit / total, np.log(total)


def _scaled_counts(start, A, B, obs):
    """The same expected counts by the scaled forward-backward recursions (any length)."""
    T, K = len(obs), len(start)
    alpha, c = np.zeros((T, K)), np.zeros(T)
    a = start * B[:, obs[0]]
    for t in range(T):
        if t:
            a = (alpha[t - 1] @ A) * B[:, obs[t]]
        c[t] = a.sum()
        alpha[t] = a / c[t]
    beta = np.ones((T, K))
    for t in range(T - 2, -1, -1):
        beta[t] = A @ (B[:, obs[t + 1]] * beta[t + 1]) / c[t + 1]
    gamma = alpha * beta
    trans = sum(np.outer(alpha[t], B[:, obs[t + 1]] * beta[t + 1]) * A / c[t + 1] for t in range(T - 1))
    emit = np.zeros((K, B.shape[1]))
    np.add.at(emit.T, obs, gamma)
    return gamma[0], (trans if T > 1 else np.zeros((K, K))), emit, float(np.log(c).sum())


def _reestimate(counts):
    first, trans, emit, loglik = counts
    with np.errstate(invalid="ignore", divide="ignore"):
        return (first / first.sum(), trans / trans.sum(axis=1, keepdims=True),
                emit / emit.sum(axis=1, keepdims=True), loglik)


def check_baum_welch_step(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(startprob, transmat, emissionprob, obs) -> (startprob', transmat',
    emissionprob', log_likelihood)`: one EM update from one sequence, and log P(obs) before it."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(5):
        if i < 3:                                  # small enough to sum over every path
            K, M, T = int(rng.integers(2, 4)), int(rng.integers(2, 5)), int(rng.integers(3, 7))
        else:
            K, M, T = int(rng.integers(2, 5)), int(rng.integers(2, 7)), 1500
        start, A, B = _random_hmm(rng, K, M)
        obs = rng.integers(0, M, T)
        counts = _brute_force_counts(start, A, B, obs) if i < 3 else _scaled_counts(start, A, B, obs)
        what = f"K={K} states, M={M} symbols, T={T}" + (
            " (probabilities of 1500 steps underflow: scale, or work in logs)" if i >= 3 else
            " (checked against a sum over all hidden paths)")
        if i == 2:
            obs[obs == M - 1] = 0                  # a symbol that never occurs: its column is 0
            counts = _brute_force_counts(start, A, B, obs)
            what += f", symbol {M - 1} never seen"
        cases.append(Case((start, A, B, obs), _reestimate(counts), what))
    _copy_args(cases)

    def compare(got, expected):
        names = ("new startprob", "new transmat", "new emissionprob", "log-likelihood")
        if not isinstance(got, (tuple, list)) or len(got) != 4:
            return f"expected a tuple of 4 ({', '.join(names)}), got {type(got).__name__}"
        for g, e, name in zip(got, expected, names):
            problem = compare_arrays(g, np.asarray(e), what=name, rtol=1e-6, atol=1e-10)
            if problem:
                return problem
        return None

    return run_checks("baum_welch_step", func, cases, compare, points, seed,
                      forbid=("hmmlearn",))
