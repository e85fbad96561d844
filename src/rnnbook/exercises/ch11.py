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
