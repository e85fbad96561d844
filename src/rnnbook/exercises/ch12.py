"""Checkers for chapter 12, Who is speaking? An HMM against an RNN."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import gaussian_hmm as _ghmm
from .. import vowels as _vowels
from ._core import Case, Score, compare_arrays, fresh_seed, run_checks


def _copy_args(cases: list[Case]) -> None:
    for case in cases:
        case.args = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in case.args)


def check_diag_gaussian_logpdf(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(X, means, variances) -> (T, K)` log densities of diagonal Gaussians."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(5):
        T, K, D = (int(rng.integers(1, 8)) for _ in range(3))
        what = f"T={T} frames, K={K} states, D={D} coefficients"
        if i == 0:
            T, K, D, what = 3, 1, 1, "one state, one coefficient: the 1-d normal density"
        X = rng.normal(0, 2, (T, D))
        means = rng.normal(0, 2, (K, D))
        variances = rng.uniform(0.05, 3.0, (K, D))
        if i == 4:
            X, means = X + 50.0, means + 50.0
            what += " (frames and means near 50)"
        cases.append(Case((X, means, variances), _ghmm.diag_log_density(X, means, variances), what))
    _copy_args(cases)

    def compare(got, expected):
        return compare_arrays(got, expected, what="(T, K) array of log densities", rtol=1e-7, atol=1e-8)

    return run_checks("diag_gaussian_logpdf", func, cases, compare, points, seed,
                      forbid=("scipy.stats",))


def check_gaussian_forward_step(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(log_alpha, log_transmat, log_b) -> new log_alpha` (K,)."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(5):
        K = int(rng.integers(2, 6))
        log_alpha = np.log(rng.dirichlet(np.ones(K))) - rng.uniform(0, 30)
        A = rng.dirichlet(np.ones(K), size=K)
        log_b = rng.normal(-15, 5, K)              # 12-d Gaussian densities are far below 1
        what = f"K={K} states"
        if i == 2:
            log_alpha = log_alpha - 2000.0
            log_b = log_b - 500.0
            what += " (log_alpha near -2000: exp underflows to 0, stay in logs)"
        with np.errstate(divide="ignore"):
            log_A = np.log(A)
            if i == 3:                                 # left-to-right: no way back
                log_A = np.log(np.triu(A) / np.triu(A).sum(axis=1, keepdims=True))
                what += " (left-to-right: log_transmat holds -inf below the diagonal)"
            if i == 4:
                log_alpha[0] = -np.inf
                what += " (log_alpha[0] = -inf, a state that cannot be occupied)"
        expected = _ghmm.log_forward_step(log_alpha, log_A, log_b)
        cases.append(Case((log_alpha, log_A, log_b), expected, what))
    _copy_args(cases)

    def compare(got, expected):
        return compare_arrays(got, expected, what="new log_alpha", rtol=1e-9, atol=1e-8)

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return run_checks("gaussian_forward_step", func, cases, compare, points, seed,
                      forbid=("hmmlearn",))


def check_classify_by_likelihood(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(log_likelihoods, log_prior) -> labels` (N,), Bayes' rule in logs."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(5):
        N, C = int(rng.integers(3, 12)), int(rng.integers(2, 10))
        scores = rng.normal(-300, 8, (N, C))
        prior = rng.dirichlet(np.ones(C))
        what = f"N={N} sequences, C={C} classes"
        if i == 0:
            prior = np.full(C, 1.0 / C)
            what += " (equal priors)"
        if i in (2, 3):
            # make the prior decide some rows: two classes within a few nats of each other
            prior = rng.dirichlet(np.full(C, 0.3))
            top = scores.argmax(axis=1)
            scores[np.arange(N), (top + 1) % C] = scores[np.arange(N), top] - rng.uniform(0, 2, N)
            what += " (close calls that the prior decides)"
        if i == 4:
            scores = scores * 30.0
            what += " (log-likelihoods near -9000: exp underflows to 0)"
        log_prior = np.log(prior)
        cases.append(Case((scores, log_prior), _ghmm.classify(scores, log_prior), what))
    _copy_args(cases)

    def compare(got, expected):
        return compare_arrays(got, expected, what="array of labels", dtype_kind="iu")

    with np.errstate(under="ignore", divide="ignore", invalid="ignore", over="ignore"):
        return run_checks("classify_by_likelihood", func, cases, compare, points, seed)


def check_masked_mean(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(x, lengths) -> (N, D)`: the mean of each sequence over its real frames only."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(5):
        N, T, D = int(rng.integers(1, 7)), int(rng.integers(1, 12)), int(rng.integers(1, 5))
        lengths = rng.integers(1, T + 1, N)
        lengths[0] = T                                 # one sequence fills the batch
        x = rng.normal(0, 1, (N, T, D))
        what = f"N={N}, T={T}, D={D}, lengths={lengths.tolist()}"
        if i == 1:
            x[np.arange(T)[None, :] >= lengths[:, None]] = 0.0
            what += " (zero padding)"
        else:
            x[np.arange(T)[None, :] >= lengths[:, None]] = 99.0
            what += " (padding filled with 99: it must not count)"
        cases.append(Case((x, lengths), _vowels.masked_mean(x, lengths), what))
    _copy_args(cases)

    def compare(got, expected):
        return compare_arrays(got, expected, what="(N, D) array of means", rtol=1e-7, atol=1e-9)

    return run_checks("masked_mean", func, cases, compare, points, seed)
