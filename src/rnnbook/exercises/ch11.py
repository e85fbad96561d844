"""Checkers for chapter 11, Sentiment of movie reviews: pooling over valid positions, tf-idf, buckets."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._core import Case, Score, _to_array, compare_arrays, fresh_seed, run_checks


def _batch(rng: np.random.Generator, lengths: np.ndarray, D: int, fill: float) -> np.ndarray:
    """(B, T, D) outputs with `fill` (not zero: zeros would hide a wrong mask) beyond each length."""
    B, T = len(lengths), int(lengths.max()) + int(rng.integers(0, 3))
    x = rng.normal(size=(B, T, D))
    for b, n in enumerate(lengths):
        x[b, n:] = fill
    return x


def _masked_mean(x, lengths):
    return np.stack([x[b, :n].mean(axis=0) for b, n in enumerate(lengths)])


def check_masked_mean_pool(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(x (B, T, D), lengths (B,)) -> (B, D)`: the mean over the valid positions only."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((np.array([[[1.0], [3.0], [50.0]]]), np.array([2])), np.array([[2.0]]),
                  "one sequence of length 2 padded to 3: the padding (50) must not count")]
    for _ in range(5):
        B, D = int(rng.integers(2, 6)), int(rng.integers(1, 5))
        lengths = rng.integers(1, 9, size=B)
        x = _batch(rng, lengths, D, fill=float(rng.normal(5, 1)))
        cases.append(Case((x, lengths.copy()), _masked_mean(x, lengths),
                          f"B={B}, D={D}, lengths {lengths.tolist()}, padding {x.shape[1]} steps"))

    def compare(got, expected):
        return compare_arrays(got, expected, what="pooled (B, D) array", rtol=1e-9, atol=1e-12)

    return run_checks("masked_mean_pool", func, cases, compare, points, seed)


def check_last_valid(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(outputs (B, T, H), lengths (B,)) -> (B, H)`: each row's output at step length-1."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(6):
        B, H = int(rng.integers(2, 6)), int(rng.integers(1, 5))
        lengths = rng.integers(1, 9, size=B)
        lengths[0] = lengths.max() if rng.random() < 0.5 else lengths[0]
        x = _batch(rng, lengths, H, fill=float(rng.normal(-4, 1)))
        expected = np.stack([x[b, n - 1] for b, n in enumerate(lengths)])
        cases.append(Case((x, lengths.copy()), expected,
                          f"B={B}, H={H}, lengths {lengths.tolist()}, T={x.shape[1]}"))

    def compare(got, expected):
        return compare_arrays(got, expected, what="last valid outputs", rtol=0, atol=0)

    return run_checks("last_valid", func, cases, compare, points, seed)


def _tfidf(counts):
    counts = np.asarray(counts, dtype=np.float64)
    n = counts.shape[0]
    df = (counts > 0).sum(axis=0)
    idf = np.log((1 + n) / (1 + df)) + 1
    tf = np.where(counts > 0, 1 + np.log(np.maximum(counts, 1)), 0.0)
    w = tf * idf
    norm = np.linalg.norm(w, axis=1, keepdims=True)
    return np.divide(w, norm, out=np.zeros_like(w), where=norm > 0)


def check_tfidf(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(counts (N, F)) -> (N, F)`: sublinear tf times smoothed idf, rows of unit length."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((np.array([[2, 0], [1, 1]]),), None, "two documents, two terms"),
             Case((np.array([[0, 0, 0], [3, 1, 0]]),), None, "an empty document stays a zero row")]
    for _ in range(4):
        N, F = int(rng.integers(2, 7)), int(rng.integers(2, 8))
        counts = rng.poisson(1.0, size=(N, F)) * (rng.random((N, F)) < 0.6)
        counts[0, 0] = 5  # a repeated term, so sublinear tf matters
        cases.append(Case((counts,), None, f"{N} documents, {F} terms"))
    for case in cases:
        case.expected = _tfidf(case.args[0])
        case.args = (case.args[0].copy(),)

    def compare(got, expected):
        return compare_arrays(got, expected, what="tf-idf matrix", rtol=1e-9, atol=1e-12)

    return run_checks("tfidf", func, cases, compare, points, seed,
                      forbid=("sklearn.feature_extraction.text",))


def _by_length(correct, lengths, edges):
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = [c for c, n in zip(correct, lengths) if lo <= n < hi]
        out.append(np.mean(inside) if inside else np.nan)
    return np.array(out, dtype=np.float64)


def check_accuracy_by_length(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(correct (N,), lengths (N,), edges (K+1,)) -> (K,)`: accuracy per length bucket."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((np.array([True, False, True]), np.array([5, 10, 10]), np.array([0, 10, 20])),
                  None, "lengths on a bucket edge belong to the bucket that starts there"),
             Case((np.array([True, True]), np.array([1, 2]), np.array([0, 3, 6, 9])), None,
                  "empty buckets give NaN")]
    for _ in range(4):
        N = int(rng.integers(5, 40))
        lengths = rng.integers(1, 60, size=N)
        edges = np.unique(np.concatenate([[0, 61], rng.integers(1, 60, size=3)]))
        cases.append(Case((rng.random(N) < 0.7, lengths, edges), None,
                          f"{N} reviews, edges {edges.tolist()}"))
    for case in cases:
        case.expected = _by_length(*case.args)
        case.args = tuple(a.copy() for a in case.args)

    def compare(got, expected):
        if got is None:
            return "the result is None: did the function forget to `return` it?"
        try:
            arr = _to_array(got).astype(np.float64)
        except Exception as exc:  # noqa: BLE001 - a reader may return anything
            return f"the result could not be read as a float array ({type(exc).__name__})"
        if arr.shape != expected.shape:
            return f"the result has shape {arr.shape}, expected {expected.shape} (one per bucket)"
        wrong = np.flatnonzero(np.isnan(arr) != np.isnan(expected))
        if wrong.size:  # the first bucket only: the whole expected array would be the answer
            k = int(wrong[0])
            return (f"NaN where a bucket is empty, numbers elsewhere: bucket {k} is {arr[k]!r}, "
                    f"expected {'NaN (empty)' if np.isnan(expected[k]) else 'a number'}")
        return compare_arrays(np.nan_to_num(arr, nan=-1.0), np.nan_to_num(expected, nan=-1.0),
                              what="accuracy per bucket", rtol=1e-9, atol=1e-12)

    return run_checks("accuracy_by_length", func, cases, compare, points, seed)


def _pool_weights(lengths, T, kind):
    lengths = np.asarray(lengths)
    steps = np.arange(T)[None, :]
    if kind == "masked_mean":
        return (steps < lengths[:, None]) / lengths[:, None].astype(np.float64)
    if kind == "unmasked_mean":
        return np.full((len(lengths), T), 1.0 / T)
    return (steps == lengths[:, None] - 1).astype(np.float64)


def check_pool_weights(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(lengths (B,), T, kind) -> (B, T)`: the weight of output t in review b's pool.

    `kind` is "masked_mean", "unmasked_mean" (the plain mean over all T steps of a zero-padded
    batch) or "last" (the last valid state).
    """
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((np.array([2, 4]), 4, kind), None, f"lengths [2, 4], T = 4, {kind}")
             for kind in ("masked_mean", "unmasked_mean", "last")]
    for kind in ("masked_mean", "unmasked_mean", "last", "masked_mean", "last"):
        lengths = rng.integers(1, 30, size=int(rng.integers(1, 6)))
        T = int(lengths.max()) + int(rng.integers(0, 4))
        cases.append(Case((lengths, T, kind), None, f"lengths {lengths.tolist()}, T = {T}, {kind}"))
    for case in cases:
        case.expected = _pool_weights(*case.args)
        case.args = (case.args[0].copy(), *case.args[1:])

    def compare(got, expected):
        return compare_arrays(got, expected, what="(B, T) weights", rtol=1e-9, atol=1e-12)

    return run_checks("pool_weights", func, cases, compare, points, seed)


# The synthetic reviews of the length experiment: a few words lean positive, a few negative.
_VOCAB, _LEANING = 30, 5


def _word_probs() -> np.ndarray:
    """(2, V) token probabilities of a negative (row 0) and a positive (row 1) review."""
    p = np.full((2, _VOCAB), 0.8 / (_VOCAB - 2 * _LEANING))
    p[1, :_LEANING], p[1, _LEANING:2 * _LEANING] = 0.03, 0.01
    p[0, :_LEANING], p[0, _LEANING:2 * _LEANING] = 0.01, 0.03
    return p


def _reviews(rng: np.random.Generator, n: int, lo: int = 4, hi: int = 400):
    """(counts (n, V), labels (n,)): review lengths log-uniform in [lo, hi)."""
    lengths = np.exp(rng.uniform(np.log(lo), np.log(hi), size=n)).astype(np.int64)
    labels = rng.integers(0, 2, size=n)
    counts = rng.multinomial(lengths, _word_probs()[labels])
    return counts, labels


def _predict(w, b, counts):
    x = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    return (x @ w + b > 0).astype(np.int64)


def check_length_experiment(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(counts_train, y_train, counts_test, y_test, edges) -> {"w", "b", "accuracy"}`.

    The reader trains a logistic regression on length-normalised counts and measures its
    accuracy per length bucket of the test reviews. Checked: the reported accuracies are those of
    the returned (w, b) on the test reviews, and on fresh reviews of more than 100 tokens that
    the function never saw, (w, b) is within 0.03 of the best possible (Bayes) classifier.
    """
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    edges = np.array([4, 10, 25, 60, 150, 400])
    log_odds = np.log(_word_probs()[1] / _word_probs()[0])
    cases = []
    for k in range(2):
        train, test = _reviews(rng, 2000), _reviews(rng, 1000)
        fresh = _reviews(rng, 3000, lo=100)
        bayes = float(np.mean((fresh[0] @ log_odds > 0) == fresh[1]))
        # copies: an answer that normalises its inputs in place must not change the truth
        cases.append(Case((train[0].copy(), train[1].copy(), test[0].copy(), test[1].copy(),
                           edges.copy()),
                          (test, fresh, bayes), f"experiment {k + 1}: 2,000 training reviews"))

    def compare(got, expected):
        (counts, labels), (fresh, fresh_labels), bayes = expected
        if not isinstance(got, dict) or not {"w", "b", "accuracy"} <= set(got):
            return "expected a dict with keys 'w', 'b' and 'accuracy'"
        try:
            w = _to_array(got["w"]).astype(np.float64).reshape(-1)
            b = float(_to_array(got["b"]))
        except Exception as exc:  # noqa: BLE001 - a reader may return anything
            return f"'w' and 'b' could not be read as numbers ({type(exc).__name__})"
        if w.shape != (_VOCAB,) or not np.isfinite(w).all() or not np.isfinite(b):
            return f"'w' must be {_VOCAB} finite weights and 'b' a finite number"
        right = _predict(w, b, counts) == labels
        measured = _by_length(right, counts.sum(axis=1), edges)
        problem = compare_arrays(got["accuracy"], measured, what="reported accuracy per bucket",
                                 rtol=0, atol=1e-9)
        if problem:
            return problem + " (measured again from the returned w and b on the test reviews)"
        long_acc = float(np.mean(_predict(w, b, fresh) == fresh_labels))
        if long_acc < bayes - 0.03:
            return (f"on fresh reviews of 100+ tokens the classifier scores {long_acc:.3f}; "
                    f"the best possible is about {bayes:.3f}: train it further")
        return None

    return run_checks("length_experiment", func, cases, compare, points, seed)


def _pack(x, lengths):
    """The checker's own packing: longest first (ties by index), time-major, valid steps only."""
    order = np.array(sorted(range(len(lengths)), key=lambda b: (-int(lengths[b]), b)))
    sizes = np.array([int((lengths > t).sum()) for t in range(int(lengths.max()))])
    data = np.concatenate([x[order[:n], t] for t, n in enumerate(sizes)])
    return data, sizes, order


def check_pack_batch(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(x (B, T, D), lengths (B,)) -> (data (sum(lengths), D), batch_sizes, order)`.

    Packing as `pack_padded_sequence(..., enforce_sorted=False)` does it: the reviews ordered by
    decreasing length (ties by index), then for each step t the step-t outputs of the reviews
    still running, so that the layer can process step t for batch_sizes[t] reviews at once.
    """
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((np.arange(6.0).reshape(2, 3, 1), np.array([2, 3])), None,
                  "two reviews of lengths 2 and 3, one feature")]
    for _ in range(5):
        B, D = int(rng.integers(1, 7)), int(rng.integers(1, 4))
        lengths = rng.integers(1, 9, size=B)
        if B > 2:
            lengths[1] = lengths[0]  # a tie, broken by the index
        x = _batch(rng, lengths, D, fill=float(rng.normal(7, 1)))
        cases.append(Case((x, lengths), None, f"B={B}, D={D}, lengths {lengths.tolist()}, "
                                              f"padded to {x.shape[1]}"))
    for case in cases:
        case.expected = _pack(*case.args)
        case.args = tuple(a.copy() for a in case.args)

    def compare(got, expected):
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            return "expected a tuple (data, batch_sizes, order)"
        for g, e, what in zip(got, expected, ("packed data", "batch_sizes", "order")):
            problem = compare_arrays(g, e, what=what, rtol=0, atol=0,
                                     dtype_kind=None if what == "packed data" else "iu")
            if problem:
                return problem
        return None

    return run_checks("pack_batch", func, cases, compare, points, seed,
                      forbid=("torch.nn.utils.rnn",))
