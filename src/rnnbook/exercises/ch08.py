"""Checkers for chapter 8, Word embeddings."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import glove as _glove
from .. import word2vec as _w2v
from ._core import Case, Score, compare_arrays, fresh_seed, run_checks


def check_sgns_loss_grad(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(v, u_pos, u_neg) -> (loss, dloss_dv)` for one skip-gram pair with K negatives."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    shapes = [(3, 1), (4, 2)] + [(int(rng.integers(2, 20)), int(rng.integers(1, 8))) for _ in range(4)]
    cases = []
    for D, K in shapes:
        v, u, U = rng.normal(size=D), rng.normal(size=D), rng.normal(size=(K, D))
        loss, dv, _, _ = _w2v.sgns_loss_and_grads(v, u, U)
        cases.append(Case((v.copy(), u.copy(), U.copy()), (np.array(loss), dv),
                          f"dimension {D}, {K} negative(s)"))

    def compare(got, expected):
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return f"expected a pair (loss, gradient), got {type(got).__name__}"
        problem = compare_arrays(got[0], expected[0], what="loss", rtol=1e-6)
        return problem or compare_arrays(got[1], expected[1], what="gradient with respect to v", rtol=1e-6)

    return run_checks("sgns_loss_grad", func, cases, compare, points, seed,
                      forbid=("torch.autograd",))


def check_keep_probability(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(counts, sample) -> keep probabilities` (word2vec's subsampling, capped at 1)."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((np.array([1000, 100, 10, 1]), 1e-2), None, "counts 1000, 100, 10, 1 with sample=0.01")]
    for _ in range(4):
        counts = np.sort(rng.zipf(1.3, size=int(rng.integers(5, 40))).astype(np.int64))[::-1]
        sample = float(10 ** rng.uniform(-4, -1))
        cases.append(Case((counts, sample), None, f"{counts.size} Zipf counts, sample={sample:.2g}"))
    for case in cases:
        case.expected = _w2v.keep_probabilities(*case.args)
        case.args = (case.args[0].copy(), case.args[1])

    def compare(got, expected):
        return compare_arrays(got, expected, what="keep probabilities", rtol=1e-6)

    return run_checks("keep_probability", func, cases, compare, points, seed)


def check_glove_weight(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(x, x_max, alpha) -> f(x)`, GloVe's weighting of co-occurrence counts."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((np.array([1.0, 50.0, 100.0, 400.0]), 100.0, 0.75), None, "x around x_max=100")]
    for _ in range(4):
        x_max, alpha = float(rng.uniform(5, 200)), float(rng.uniform(0.3, 1.0))
        x = rng.uniform(0.1, 3 * x_max, size=int(rng.integers(3, 30)))
        cases.append(Case((x, x_max, alpha), None, f"{x.size} counts, x_max={x_max:.3g}, alpha={alpha:.2f}"))
    for case in cases:
        case.expected = _glove.weighting(*case.args)
        case.args = (case.args[0].copy(),) + case.args[1:]

    def compare(got, expected):
        return compare_arrays(got, expected, what="weights", rtol=1e-6)

    return run_checks("glove_weight", func, cases, compare, points, seed)


def check_analogy(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(vectors, a, b, c) -> index` of the 3CosAdd answer to a - b + c (a, b, c excluded)."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(6):
        n, d = int(rng.integers(6, 60)), int(rng.integers(2, 12))
        vectors = rng.normal(size=(n, d)) * rng.uniform(0.1, 5, size=(n, 1))  # norms differ
        a, b, c = (int(i) for i in rng.choice(n, 3, replace=False))
        if k == 0:  # the nearest word to a - b + c is one of the inputs: it must be skipped
            vectors[a] = vectors[b] + 0.01 * rng.normal(size=d)
        emb = _w2v.Embeddings([f"w{i}" for i in range(n)], vectors)
        best = emb.index(emb.analogy(f"w{a}", f"w{b}", f"w{c}"))
        cases.append(Case((vectors.copy(), a, b, c), best, f"{n} words of dimension {d}"))

    def compare(got, expected):
        try:
            value = int(got)
        except (TypeError, ValueError):
            return f"expected an integer index, got {type(got).__name__}"
        if value != expected:
            return f"got index {value}, expected {expected}"
        return None

    return run_checks("analogy", func, cases, compare, points, seed,
                      forbid=("gensim",))
