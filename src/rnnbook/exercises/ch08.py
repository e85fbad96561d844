"""Checkers for chapter 8, Word embeddings.

The references are written here, in a few lines each, rather than taken from the modules the
chapter trains with; `tests/test_exercises_ch08.py` checks them against the package
(`rnnbook.word2vec`, `rnnbook.glove`) and torch's autograd.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._core import Case, Score, compare_arrays, fresh_seed, run_checks


# ---------------------------------------------------------------- references

def _sgns_pair(v, u_pos, u_neg) -> tuple[float, np.ndarray]:
    """(loss, dloss/dv) of one skip-gram pair with K negatives."""
    a_pos, a_neg = u_pos @ v, u_neg @ v
    loss = np.logaddexp(0.0, -a_pos) + np.logaddexp(0.0, a_neg).sum()
    return float(loss), (1 / (1 + np.exp(-a_pos)) - 1) * u_pos + (1 / (1 + np.exp(-a_neg))) @ u_neg


def _keep_probabilities(counts, sample: float) -> np.ndarray:
    """word2vec's subsampling: keep probability min(1, (sqrt(f/t) + 1) t/f), t = sample * total."""
    counts = np.asarray(counts, dtype=np.float64)
    t = sample * counts.sum()
    return np.minimum((np.sqrt(counts / t) + 1) * t / counts, 1.0)


def _glove_weight(x, x_max: float, alpha: float) -> np.ndarray:
    """GloVe's f(x) = (x / x_max)^alpha below x_max, 1 above."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x < x_max, (x / x_max) ** alpha, 1.0)


def _analogy(vectors, a: int, b: int, c: int) -> int:
    """Row with the largest cosine to unit(a) - unit(b) + unit(c), a, b and c excluded."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = unit @ (unit[a] - unit[b] + unit[c])
    scores[[a, b, c]] = -np.inf
    return int(np.argmax(scores))


def check_sgns_loss_grad(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(v, u_pos, u_neg) -> (loss, dloss_dv)` for one skip-gram pair with K negatives."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    shapes = [(3, 1), (4, 2)] + [(int(rng.integers(2, 20)), int(rng.integers(1, 8))) for _ in range(4)]
    cases = []
    for D, K in shapes:
        v, u, U = rng.normal(size=D), rng.normal(size=D), rng.normal(size=(K, D))
        loss, dv = _sgns_pair(v, u, U)
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
        case.expected = _keep_probabilities(*case.args)
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
        case.expected = _glove_weight(*case.args)
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
        best = _analogy(vectors, a, b, c)
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


# ---------------------------------------------------------------- one SGNS minibatch step

def _sgns_minibatch_step(W_in, W_out, centres, contexts, negatives, lr):
    """(loss, W_in', W_out') of one SGD step on a minibatch's summed SGNS loss, by autograd."""
    import torch

    w_in = torch.tensor(np.asarray(W_in, dtype=np.float64), requires_grad=True)
    w_out = torch.tensor(np.asarray(W_out, dtype=np.float64), requires_grad=True)
    c = torch.as_tensor(np.asarray(centres, dtype=np.int64))
    o = torch.as_tensor(np.asarray(contexts, dtype=np.int64))
    n = torch.as_tensor(np.asarray(negatives, dtype=np.int64))
    v = w_in[c]                                            # (B, D)
    pos = (w_out[o] * v).sum(-1)                           # (B,)
    neg = torch.einsum("bkd,bd->bk", w_out[n], v)          # (B, K)
    loss = torch.nn.functional.softplus(-pos).sum() + torch.nn.functional.softplus(neg).sum()
    g_in, g_out = torch.autograd.grad(loss, (w_in, w_out))
    return (float(loss.detach()), (w_in - lr * g_in).detach().numpy(), (w_out - lr * g_out).detach().numpy())


def check_sgns_minibatch(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(W_in, W_out, centres, contexts, negatives, lr) -> (loss, W_in', W_out')`: one SGD
    step on the summed skip-gram negative-sampling loss of a minibatch, gradients by hand."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    specs = [(4, 2, 1, 1, "one pair, one negative"),
             (3, 2, 4, 2, "3 words, 4 pairs: centres, contexts and negatives repeat")]
    specs += [(int(rng.integers(5, 40)), int(rng.integers(2, 12)), int(rng.integers(1, 16)),
               int(rng.integers(1, 7)), "random sizes") for _ in range(4)]
    specs.append((int(rng.integers(2, 4)), int(rng.integers(2, 6)), int(rng.integers(8, 20)), 5,
                  "a tiny vocabulary: every index repeats many times"))
    cases = []
    for k, (V, D, B, K, what) in enumerate(specs):
        r = np.random.default_rng(0) if k < 2 else rng  # the first two are the same on every run
        W_in, W_out = r.normal(0, 0.5, (V, D)), r.normal(0, 0.5, (V, D))
        centres, contexts = r.integers(0, V, B), r.integers(0, V, B)
        negatives = r.integers(0, V, (B, K))
        lr = float(np.round(r.uniform(0.05, 0.5), 3))
        args = (W_in, W_out, centres, contexts, negatives, lr)
        cases.append(Case(tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args),
                          _sgns_minibatch_step(*args),
                          f"V={V}, D={D}, {B} pairs, K={K}, lr={lr} ({what})"))

    def compare(got, expected):
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            return f"expected a triple (loss, W_in, W_out), got {type(got).__name__}"
        for value, want, what in zip(got, expected, ("loss (before the step)", "updated W_in",
                                                     "updated W_out")):
            problem = compare_arrays(value, np.asarray(want), what=what, rtol=1e-8, atol=1e-10)
            if problem:
                return problem
        return None

    return run_checks("sgns_minibatch", func, cases, compare, points, seed,
                      forbid=("torch.autograd",))


# ---------------------------------------------------------------- SGNS's optimum (written)

def _sgns_gradient(counts, k, noise, X):
    """d/dX of the expected SGNS objective sum N log s(X) + k N_w P_n(c) log s(-X), with its scale."""
    counts = np.asarray(counts, dtype=np.float64)
    negatives = k * counts.sum(1, keepdims=True) * np.asarray(noise, dtype=np.float64)[None, :]
    s = 1.0 / (1.0 + np.exp(-X))
    return counts * (1 - s) - negatives * s, counts + negatives


def check_sgns_optimum(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(counts, k, noise) -> X` (V, C): the dot products that maximise the expected
    skip-gram objective, verified by its gradient being zero there."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((np.array([[4.0, 1.0], [2.0, 3.0]]), 1, np.array([0.5, 0.5])), None,
                  "counts [[4, 1], [2, 3]], k = 1, uniform noise")]
    for j in range(5):
        V, C = int(rng.integers(2, 15)), int(rng.integers(2, 15))
        counts = rng.integers(1, 200, (V, C)).astype(np.float64)
        k = int(rng.integers(1, 16))
        unigram = counts.sum(0) / counts.sum()
        power = 1.0 if j % 2 == 0 else 0.75        # unigram noise, or word2vec's smoothed one
        noise = unigram ** power / (unigram ** power).sum()
        cases.append(Case((counts, k, noise), None,
                          f"{V} x {C} counts, k = {k}, noise: unigram^{power:g}"))
    for case in cases:
        case.expected = np.zeros(case.args[0].shape)
    inputs = {id(case.expected): tuple(a.copy() if isinstance(a, np.ndarray) else a
                                       for a in case.args) for case in cases}

    def compare(got, zero):
        counts, k, noise = inputs[id(zero)]
        if got is None:
            return "the result is None: did the function forget to `return` it?"
        try:
            X = np.asarray(got.detach().cpu().numpy() if hasattr(got, "detach") else got,
                           dtype=np.float64)
        except Exception:  # noqa: BLE001
            return "the result could not be read as an array of numbers"
        if X.shape != zero.shape:
            return f"the result has shape {X.shape}, expected shape {zero.shape}"
        if not np.isfinite(X).all():
            return "the result has a non-finite entry"
        grad, scale = _sgns_gradient(counts, k, noise, X)
        return compare_arrays(grad / scale, zero, atol=1e-9, rtol=0,
                              what="gradient of the expected objective at your X (relative)")

    return run_checks("sgns_optimum", func, cases, compare, points, seed)


# ---------------------------------------------------------------- experiment: window size

def _topic_corpus(rng: np.random.Generator):
    """Sentences alternating nouns and verbs, all of one topic, and the topics' words."""
    T, per = int(rng.integers(4, 8)), int(rng.integers(4, 7))
    topics = [([f"n{t}{chr(97 + i)}" for i in range(per)], [f"v{t}{chr(97 + i)}" for i in range(per)])
              for t in range(T)]
    sentences = []
    for _ in range(int(rng.integers(500, 700))):
        nouns, verbs = topics[int(rng.integers(T))]
        length = 2 * int(rng.integers(4, 7))
        sentences.append([(nouns if j % 2 == 0 else verbs)[int(rng.integers(per))]
                          for j in range(length)])
    return sentences, topics


def _cosines(W: np.ndarray) -> np.ndarray:
    unit = W / np.linalg.norm(W, axis=1, keepdims=True)
    return unit @ unit.T


def _topic_scores(W, words, topics) -> tuple[float, float]:
    """(topic score, role score): mean cosine of same-topic noun-verb pairs (resp. same-topic noun
    pairs), minus the mean cosine of noun-verb pairs of different topics."""
    index = {w: i for i, w in enumerate(words)}
    cos = _cosines(np.asarray(W, dtype=np.float64))
    same, other, nouns = [], [], []
    for t, (ns, vs) in enumerate(topics):
        same += [cos[index[a], index[b]] for a in ns for b in vs]
        nouns += [cos[index[a], index[b]] for a in ns for b in ns if a < b]
        for u, (_, ws) in enumerate(topics):
            if u != t:
                other += [cos[index[a], index[b]] for a in ns for b in ws]
    return float(np.mean(same) - np.mean(other)), float(np.mean(nouns) - np.mean(other))


def check_window_topics(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(sentences, words, topics, windows, seed) -> {window: (score, W)}`: skip-gram
    vectors trained at each window, with their topic score, re-measured here from W."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(2):
        sentences, topics = _topic_corpus(rng)
        words = sorted({w for s in sentences for w in s})
        windows = [1, int(rng.choice([2, 3, 5]))]
        run_seed = int(rng.integers(0, 2**31))
        cases.append(Case((sentences, words, topics, windows, run_seed), None,
                          f"{len(topics)} topics of {len(topics[0][0])} nouns and verbs, "
                          f"{len(sentences)} sentences, windows {windows}, seed {run_seed}"))
    for case in cases:
        case.expected = case.args[1:4]

    def compare(got, params):
        words, topics, windows = params
        if not isinstance(got, dict) or sorted(got) != sorted(windows):
            return f"expected a dict with one entry per window {windows}, got {type(got).__name__}" + (
                f" with keys {sorted(got)}" if isinstance(got, dict) else "")
        for window in windows:
            entry = got[window]
            if not isinstance(entry, (tuple, list)) or len(entry) != 2:
                return f"window {window}: expected a pair (score, W)"
            try:
                W = np.asarray(entry[1], dtype=np.float64)
                claimed = float(entry[0])
            except (TypeError, ValueError):
                return f"window {window}: the score or W is not numeric"
            if W.ndim != 2 or W.shape[0] != len(words) or not np.isfinite(W).all() \
                    or (np.linalg.norm(W, axis=1) == 0).any():
                return (f"window {window}: W must be a finite (len(words), D) array with no zero "
                        f"row, got shape {W.shape}")
            topic, role = _topic_scores(W, words, topics)
            if not np.isclose(claimed, topic, rtol=1e-6, atol=1e-6):
                return (f"window {window}: your topic score is {claimed:.6f}, but your vectors "
                        f"W measure {topic:.6f}")
            if role < 0.3:
                return (f"window {window}: nouns of one topic are hardly closer to each other than "
                        f"to other topics' verbs (role score {role:.3f}): were the vectors trained?")
            if window == 1 and topic > 0.2:
                return (f"window 1: the topic score of W is {topic:.3f}; with a window of one the "
                        "nouns and verbs of a topic share no context words: check the window")
            if window > 1 and topic < 0.35:
                return (f"window {window}: the topic score of W is only {topic:.3f}: were these "
                        f"vectors trained with window={window}?")
        return None

    # numba's dispatcher reports each call of the compiled epoch kernel to the profiler with a
    # frame that has no caller, so the watch cannot see that train() made it: allowed by name
    return run_checks("window_topics", func, cases, compare, points, seed,
                      allow=("rnnbook.word2vec.train", "rnnbook.word2vec._kernel"))
