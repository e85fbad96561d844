"""Checkers for chapter 12, Who is speaking? An HMM against an RNN."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import gaussian_hmm as _ghmm
from .. import vowels as _vowels
from ._core import Case, Score, _to_array, compare_arrays, fresh_seed, run_checks


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


def _diag_loglik(X, mean, var):
    """(..., ) log N(x; mean, diag(var)) summed over the last axis, in the checker's own words."""
    return -0.5 * (np.log(2 * np.pi * var) + (X - mean) ** 2 / var).sum(axis=-1)


def check_linear_rule(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(means (C, D), variances (D,)) -> (W (C, D), beta (C,))`.

    With one Gaussian per speaker and a variance shared by all, log p(x_1..T | c) + log P(c)
    must equal s @ W[c] + T * beta[c] + log P(c) + (a term that is the same for every c), where
    s is the sum of the frames. Checked on fresh utterances of random lengths.
    """
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((np.array([[0.0], [1.0]]), np.array([1.0])), None, "two speakers, one coefficient")]
    for _ in range(5):
        C, D = int(rng.integers(2, 7)), int(rng.integers(1, 6))
        cases.append(Case((rng.normal(size=(C, D)), rng.uniform(0.3, 3.0, size=D)), None,
                          f"{C} speakers, {D} coefficients"))
    for case in cases:
        means, var = case.args
        utterances = [rng.normal(size=(int(rng.integers(1, 40)), means.shape[1])) * 1.5
                      for _ in range(6)]
        log_prior = np.log(rng.dirichlet(np.ones(len(means))))
        truth = np.stack([np.array([_diag_loglik(x, means[c], var).sum() for c in range(len(means))])
                          for x in utterances]) + log_prior
        case.expected = (utterances, log_prior, truth)
        case.args = (means.copy(), var.copy())

    def compare(got, expected):
        utterances, log_prior, truth = expected
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return "expected a pair (W, beta)"
        try:
            W = _to_array(got[0]).astype(np.float64)
            beta = _to_array(got[1]).astype(np.float64)
        except Exception as exc:  # noqa: BLE001 - a reader may return anything
            return f"W and beta could not be read as arrays ({type(exc).__name__})"
        C, D = truth.shape[1], utterances[0].shape[1]
        if W.shape != (C, D) or beta.shape != (C,):
            return f"W has shape {W.shape} and beta {beta.shape}, expected ({C}, {D}) and ({C},)"
        for i, x in enumerate(utterances):
            score = x.sum(axis=0) @ W.T + len(x) * beta + log_prior
            gap = truth[i] - score  # must be one number for every speaker
            if not np.allclose(gap, gap[0], rtol=1e-9, atol=1e-8):
                c = int(np.argmax(np.abs(gap - gap[0])))
                return (f"on an utterance of {len(x)} frames, speaker {c}'s score minus speaker 0's "
                        f"is off by {float(gap[c] - gap[0]):.6g} from the log-posterior difference")
        return None

    return run_checks("linear_rule", func, cases, compare, points, seed, forbid=("scipy.stats",))


def _sample_hmm(rng, start, transmat, means, var, T):
    K = len(start)
    states = [rng.choice(K, p=start)]
    for _ in range(T - 1):
        states.append(rng.choice(K, p=transmat[states[-1]]))
    states = np.array(states)
    return means[states] + np.sqrt(var[states]) * rng.normal(size=(T, means.shape[1]))


def _prefix_logliks(X, log_start, log_transmat, means, var):
    """(N, C, T) log p(x_1..t | c) by the forward recursion, the checker's own."""
    N, T, _ = X.shape
    C = log_start.shape[0]
    out = np.empty((N, C, T))
    for c in range(C):
        log_b = _diag_loglik(X[:, :, None, :], means[c][None, None], var[c][None, None])  # (N, T, K)
        alpha = log_start[c][None] + log_b[:, 0]
        out[:, c, 0] = np.logaddexp.reduce(alpha, axis=1)
        for t in range(1, T):
            alpha = np.logaddexp.reduce(alpha[:, :, None] + log_transmat[c][None], axis=1) + log_b[:, t]
            out[:, c, t] = np.logaddexp.reduce(alpha, axis=1)
    return out


def _speakers(rng, C=4, K=3, D=3):
    """Random left-to-right Gaussian HMMs, close enough that a few frames do not settle it."""
    log_start = np.log(np.tile(np.r_[0.8, np.full(K - 1, 0.2 / (K - 1))], (C, 1)))
    transmat = np.zeros((C, K, K))
    for c in range(C):
        for k in range(K):
            stay = rng.uniform(0.6, 0.9)
            transmat[c, k, k] = stay if k < K - 1 else 1.0
            if k < K - 1:
                transmat[c, k, k + 1] = 1 - stay
    with np.errstate(divide="ignore"):
        log_transmat = np.log(transmat)
    means = rng.normal(size=(1, K, D)) + 0.45 * rng.normal(size=(C, K, D))
    var = rng.uniform(0.5, 1.5, size=(C, K, D))
    return log_start, log_transmat, means, var


def check_prefix_accuracy(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(X, labels, log_start, log_transmat, means, variances, prefixes)`.

    X is (N, T, D), the HMMs' parameters are stacked over C speakers: (C, K), (C, K, K),
    (C, K, D), (C, K, D). The answer is {"accuracy": (P,), "earliest": int or None}: the share of
    utterances whose first t frames the HMMs classify right, for each t in `prefixes`, and the
    shortest of them with accuracy >= 0.9. Checked against the checker's own forward pass.
    """
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    prefixes = np.array([1, 2, 4, 8, 16, 32])
    cases = []
    for k in range(2):
        log_start, log_transmat, means, var = _speakers(rng)
        C = len(means)
        labels = rng.integers(0, C, size=120)
        X = np.stack([_sample_hmm(rng, np.exp(log_start[c]), np.exp(log_transmat[c]), means[c], var[c],
                                  int(prefixes.max())) for c in labels])
        log_prior = np.log(np.full(C, 1.0 / C))
        guess = (_prefix_logliks(X, log_start, log_transmat, means, var)
                 + log_prior[None, :, None]).argmax(axis=1)  # (N, T)
        acc = (guess[:, prefixes - 1] == labels[:, None]).mean(axis=0)
        reached = np.flatnonzero(acc >= 0.9)
        earliest = int(prefixes[reached[0]]) if reached.size else None
        cases.append(Case((X, labels, log_start, log_transmat, means, var, prefixes.copy()),
                          (acc, earliest), f"experiment {k + 1}: {C} speakers, {len(X)} utterances"))
    for case in cases:
        case.args = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in case.args)

    def compare(got, expected):
        acc, earliest = expected
        if not isinstance(got, dict) or not {"accuracy", "earliest"} <= set(got):
            return "expected a dict with keys 'accuracy' and 'earliest'"
        problem = compare_arrays(got["accuracy"], acc, what="accuracy per prefix length", rtol=0,
                                 atol=1e-9)
        if problem:
            return problem
        claimed = got["earliest"]
        try:
            claimed = None if claimed is None else int(claimed)
        except (TypeError, ValueError):
            return f"'earliest' must be a prefix length or None, got {type(claimed).__name__}"
        if claimed != earliest:
            return (f"'earliest' is {claimed}, but that is not the shortest prefix whose measured "
                    f"accuracy is at least 0.9")
        return None

    return run_checks("prefix_accuracy", func, cases, compare, points, seed, forbid=("hmmlearn",))


def _m_step(X, gamma, xi, floor):
    """The checker's own M-step: (startprob, transmat, means, variances)."""
    start = np.mean([g[0] for g in gamma], axis=0)
    counts = sum(x.sum(axis=0) for x in xi)
    transmat = counts / counts.sum(axis=1, keepdims=True)
    frames, weights = np.concatenate(X), np.concatenate(gamma)          # (N, D), (N, K)
    total = weights.sum(axis=0)                                         # (K,)
    means = weights.T @ frames / total[:, None]
    second = weights.T @ frames ** 2 / total[:, None]
    return start, transmat, means, np.maximum(second - means ** 2, floor)


def _posteriors(rng: np.random.Generator, T: int, K: int):
    gamma = rng.dirichlet(np.full(K, 0.5), size=T)
    xi = np.stack([np.outer(gamma[t], gamma[t + 1]) * rng.uniform(0.5, 1.5, size=(K, K))
                   for t in range(T - 1)]).reshape(T - 1, K, K)
    xi /= np.maximum(xi.sum(axis=(1, 2), keepdims=True), 1e-300)
    return gamma, xi


def check_gaussian_m_step(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(X, gamma, xi, floor) -> (startprob, transmat, means, variances)`.

    X, gamma and xi are lists over training sequences of (T_i, D) frames, (T_i, K) state
    posteriors and (T_i - 1, K, K) transition posteriors; the answer is one Baum-Welch
    re-estimate with the variances floored at `floor`.
    """
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(6):
        K, D, n = int(rng.integers(2, 5)), int(rng.integers(1, 5)), int(rng.integers(1, 5))
        lengths = rng.integers(2, 15, size=n)
        if k == 0:  # frames beyond the two equal ones, so that every other state has some
            lengths[0] = max(int(lengths[0]), 4)
        X = [rng.normal(size=(int(T), D)) * rng.uniform(0.5, 2.0, size=D) for T in lengths]
        post = [_posteriors(rng, int(T), K) for T in lengths]
        gamma, xi = [p[0] for p in post], [p[1] for p in post]
        floor = 1e-3
        if k == 0:  # state 0 owns just two equal frames: its variance falls to the floor
            X[0][:2] = 0.7
            for g in gamma:
                g[:, 0] = 0.0
                g[:, 1:] = rng.dirichlet(np.ones(K - 1), size=len(g))
            gamma[0][:2] = np.eye(K)[0]
            floor = 0.05
        cases.append(Case(([x.copy() for x in X], [g.copy() for g in gamma],
                           [x.copy() for x in xi], floor), _m_step(X, gamma, xi, floor),
                          f"{n} sequences, K={K} states, D={D}" +
                          (", one state on two equal frames" if k == 0 else "")))

    def compare(got, expected):
        names = ("startprob", "transmat", "means", "variances")
        if not isinstance(got, (tuple, list)) or len(got) != 4:
            return "expected a tuple (startprob, transmat, means, variances)"
        for g, e, name in zip(got, expected, names):
            problem = compare_arrays(g, e, what=name, rtol=1e-7, atol=1e-10)
            if problem:
                return problem
        return None

    return run_checks("gaussian_m_step", func, cases, compare, points, seed, forbid=("hmmlearn",))
