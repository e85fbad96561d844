"""Chapter 8 checkers: full marks for the reference, feedback (never a crash) for wrong answers."""
import numpy as np
import pytest

from rnnbook import exercises, glove, word2vec


def not_attempted(*args, **kwargs):
    raise NotImplementedError()


def ref_sgns(v, u, U):
    loss, dv, _, _ = word2vec.sgns_loss_and_grads(v, u, U)
    return loss, dv


def ref_analogy(vectors, a, b, c):
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    target = unit[a] - unit[b] + unit[c]
    scores = unit @ target
    scores[[a, b, c]] = -np.inf
    return int(np.argmax(scores))


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


REFERENCES = {
    exercises.check_sgns_loss_grad: ref_sgns,
    exercises.check_keep_probability: word2vec.keep_probabilities,
    exercises.check_glove_weight: glove.weighting,
    exercises.check_analogy: ref_analogy,
}

WRONG = {
    exercises.check_sgns_loss_grad: {
        "sign of the negative term": lambda v, u, U: (-np.log(sigmoid(u @ v)) - np.log(sigmoid(U @ v)).sum(),
                                                       (sigmoid(u @ v) - 1) * u + sigmoid(U @ v) @ U),
        "forgets the negatives in the gradient": lambda v, u, U: (ref_sgns(v, u, U)[0], (sigmoid(u @ v) - 1) * u),
        "returns only the loss": lambda v, u, U: ref_sgns(v, u, U)[0],
        "NaN": lambda v, u, U: (np.nan, v * np.nan),
        "raises": lambda v, u, U: 1 / 0,
    },
    exercises.check_keep_probability: {
        "no cap at one": lambda c, s: (np.sqrt(c / (s * c.sum())) + 1) * s * c.sum() / c,
        "the paper's 1 - sqrt(t/f) as a keep probability": lambda c, s: 1 - np.sqrt(s * c.sum() / c),
        "wrong shape": lambda c, s: np.ones(len(c) + 1),
        "None": lambda c, s: None,
    },
    exercises.check_glove_weight: {
        "no cap": lambda x, m, a: (x / m) ** a,
        "exponent on the wrong side": lambda x, m, a: np.minimum((m / x) ** a, 1),
        "all ones": lambda x, m, a: np.ones_like(x),
        "string": lambda x, m, a: "f(x)",
    },
    exercises.check_analogy: {
        "does not exclude the inputs": lambda v, a, b, c: int(np.argmax(
            (v / np.linalg.norm(v, axis=1, keepdims=True)) @ (v[a] - v[b] + v[c]))),
        "b - a + c": lambda v, a, b, c: ref_analogy(v, b, a, c),
        "unnormalised dot product": lambda v, a, b, c: int(np.argmax(np.where(
            np.isin(np.arange(len(v)), [a, b, c]), -np.inf, v @ (v[a] - v[b] + v[c])))),
        "returns a word": lambda v, a, b, c: "queen",
    },
}


@pytest.mark.parametrize("checker", list(REFERENCES), ids=lambda c: c.__name__)
def test_reference_answers_earn_full_marks_on_fresh_inputs(checker, capsys):
    for _ in range(3):
        score = checker(REFERENCES[checker], points=3)
        assert score == 3.0 and score.passed == score.total
    assert "all correct" in capsys.readouterr().out


@pytest.mark.parametrize("checker", list(REFERENCES), ids=lambda c: c.__name__)
def test_an_unattempted_exercise_scores_zero_and_says_so(checker, capsys):
    assert checker(not_attempted) == 0.0
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize("checker, name, wrong",
                         [(c, n, w) for c, ws in WRONG.items() for n, w in ws.items()],
                         ids=lambda x: getattr(x, "__name__", x) if not callable(x) or hasattr(x, "__name__") else "")
def test_typical_wrong_answers_lose_points_with_feedback(checker, name, wrong, capsys):
    score = checker(wrong, points=2)
    assert score < 2.0
    assert "check" in capsys.readouterr().out


def test_partial_credit_comes_from_the_random_cases_only(capsys):
    right = lambda x, m, a: np.where(x < m, (x / m) ** a, 1.0)  # noqa: E731
    # right on the fixed, visible first case only (x_max=100, alpha=0.75): nothing
    score = exercises.check_glove_weight(
        lambda x, m, a: right(x, m, a) if (m, a) == (100.0, 0.75) else x * 0, points=5)
    assert score == 0.0 and score.passed == 1
    # right on the 4 random cases, wrong on the fixed one: 4 of 4 + 1
    score = exercises.check_glove_weight(
        lambda x, m, a: x * 0 if (m, a) == (100.0, 0.75) else right(x, m, a), points=5)
    assert score == pytest.approx(4.0)


def test_the_analogy_checker_includes_a_case_where_an_input_is_nearest(capsys):
    score = exercises.check_analogy(WRONG[exercises.check_analogy]["does not exclude the inputs"], seed=11)
    assert score < 1.0


# ---------------------------------------------------------------- issue 19's exercises

from checker_contract import checker_contract  # noqa: E402
from rnnbook.exercises import ch08  # noqa: E402


def ref_minibatch(W_in, W_out, centres, contexts, negatives, lr):
    v = W_in[centres]
    s_pos = sigmoid(np.einsum("bd,bd->b", W_out[contexts], v))
    s_neg = sigmoid(np.einsum("bkd,bd->bk", W_out[negatives], v))
    loss = -np.log(s_pos).sum() - np.log(1 - s_neg).sum()
    g_v = (s_pos - 1)[:, None] * W_out[contexts] + np.einsum("bk,bkd->bd", s_neg, W_out[negatives])
    g_in, g_out = np.zeros_like(W_in), np.zeros_like(W_out)
    np.add.at(g_in, centres, g_v)
    np.add.at(g_out, contexts, (s_pos - 1)[:, None] * v)
    np.add.at(g_out, negatives, s_neg[:, :, None] * v[:, None, :])
    return loss, W_in - lr * g_in, W_out - lr * g_out


def minibatch_fancy_index(W_in, W_out, centres, contexts, negatives, lr):
    """W[idx] -= ... keeps only one of the updates of a repeated index."""
    loss, _, _ = ref_minibatch(W_in, W_out, centres, contexts, negatives, lr)
    v = W_in[centres]
    s_pos = sigmoid(np.einsum("bd,bd->b", W_out[contexts], v))
    s_neg = sigmoid(np.einsum("bkd,bd->bk", W_out[negatives], v))
    g_v = (s_pos - 1)[:, None] * W_out[contexts] + np.einsum("bk,bkd->bd", s_neg, W_out[negatives])
    W_in, W_out = W_in.copy(), W_out.copy()
    W_in[centres] -= lr * g_v
    W_out[contexts] -= lr * (s_pos - 1)[:, None] * v
    W_out[negatives] -= lr * s_neg[:, :, None] * v[:, None, :]
    return loss, W_in, W_out


def minibatch_sequential(W_in, W_out, centres, contexts, negatives, lr):
    """word2vec's pair-by-pair updates: each pair sees the previous pair's step."""
    W_in, W_out, total = W_in.copy(), W_out.copy(), 0.0
    for b in range(len(centres)):
        loss, W_in, W_out = ref_minibatch(W_in, W_out, centres[b:b + 1], contexts[b:b + 1],
                                          negatives[b:b + 1], lr)
        total += loss
    return total, W_in, W_out


def minibatch_no_negative_update(W_in, W_out, centres, contexts, negatives, lr):
    loss, W_in2, _ = ref_minibatch(W_in, W_out, centres, contexts, negatives, lr)
    _, _, W_out_pos = ref_minibatch(W_in, W_out, centres, contexts, negatives[:, :0], lr)
    return loss, W_in2, W_out_pos


def minibatch_gradient_ascent(W_in, W_out, centres, contexts, negatives, lr):
    return ref_minibatch(W_in, W_out, centres, contexts, negatives, -lr)


def ref_optimum(counts, k, noise):
    counts = np.asarray(counts, dtype=float)
    return np.log(counts / (k * counts.sum(1, keepdims=True) * noise[None, :]))


def pmi(counts, k, noise):
    counts = np.asarray(counts, dtype=float)
    return np.log(counts * counts.sum() / (counts.sum(1, keepdims=True) * counts.sum(0)))


def ref_window_topics(sentences, words, topics, windows, seed):
    out = {}
    for window in windows:
        emb = word2vec.train(sentences, vector_size=20, window=window, negative=5, min_count=1,
                             sample=0, epochs=5, seed=seed)
        W = np.stack([emb[w] for w in words])
        out[window] = (ch08._topic_scores(W, words, topics)[0], W)
    return out


def window_topics_same_window(sentences, words, topics, windows, seed):
    """Trains every entry with the first window."""
    W = ref_window_topics(sentences, words, topics, windows[:1], seed)[windows[0]]
    return {w: W for w in windows}


def window_topics_random_vectors(sentences, words, topics, windows, seed):
    W = np.random.default_rng(seed).normal(size=(len(words), 20))
    return {w: (ch08._topic_scores(W, words, topics)[0], W) for w in windows}


def window_topics_cosine_of_raw_dot(sentences, words, topics, windows, seed):
    out = ref_window_topics(sentences, words, topics, windows, seed)
    return {w: (score + 0.1, W) for w, (score, W) in out.items()}


CHECKERS = {
    "sgns_minibatch": (exercises.check_sgns_minibatch, ref_minibatch, {
        "fancy-index update loses repeats": minibatch_fancy_index,
        "pair by pair": minibatch_sequential,
        "negatives not updated": minibatch_no_negative_update,
        "ascent": minibatch_gradient_ascent,
        "returns the loss only": lambda *a: ref_minibatch(*a)[0],
    }),
    "sgns_optimum": (exercises.check_sgns_optimum, ref_optimum, {
        "plain PMI": pmi,
        "PMI + log k": lambda c, k, q: ref_optimum(c, k, q) + 2 * np.log(k) + 0.1,
        "zeros": lambda c, k, q: np.zeros(np.shape(c)),
        "transposed": lambda c, k, q: ref_optimum(c, k, q).T,
        "NaN": lambda c, k, q: ref_optimum(c, k, q) * np.nan,
    }),
    "window_topics": (exercises.check_window_topics, ref_window_topics, {
        "one window for all": window_topics_same_window,
        "untrained vectors": window_topics_random_vectors,
        "score not of these vectors": window_topics_cosine_of_raw_dot,
        "a list": lambda *a: [1, 2],
    }),
}

(test_new_reference_earns_full_marks_on_fresh_inputs,
 test_new_unattempted_exercise_scores_zero_and_says_so,
 test_new_wrong_answers_earn_less_and_get_feedback) = checker_contract(CHECKERS)


@pytest.mark.parametrize("seed", range(5))
def test_the_minibatch_reference_matches_a_by_hand_gradient_with_repeats(seed):
    rng = np.random.default_rng(seed)
    V, D, B, K = 3, 4, 10, 3
    args = (rng.normal(size=(V, D)), rng.normal(size=(V, D)), rng.integers(0, V, B),
            rng.integers(0, V, B), rng.integers(0, V, (B, K)), 0.1)
    for got, want in zip(ch08._sgns_minibatch_step(*args), ref_minibatch(*args)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_the_optimum_is_shifted_pmi_for_unigram_noise():
    rng = np.random.default_rng(0)
    counts = rng.integers(1, 50, (6, 7)).astype(float)
    unigram = counts.sum(0) / counts.sum()
    np.testing.assert_allclose(ref_optimum(counts, 5, unigram), pmi(counts, 5, unigram) - np.log(5),
                               rtol=1e-12)
    grad, scale = ch08._sgns_gradient(counts, 5, unigram, ref_optimum(counts, 5, unigram))
    assert np.abs(grad / scale).max() < 1e-12


@pytest.mark.parametrize("seed", range(4))
def test_a_window_of_one_misses_topics_that_wider_windows_find(seed):
    sentences, topics = ch08._topic_corpus(np.random.default_rng(seed))
    words = sorted({w for s in sentences for w in s})
    out = ref_window_topics(sentences, words, topics, [1, 2], seed)
    narrow, wide = (ch08._topic_scores(out[w][1], words, topics) for w in (1, 2))
    assert narrow[0] < 0.15 < 0.45 < wide[0] and min(narrow[1], wide[1]) > 0.45


@pytest.mark.parametrize("seed", range(5))
def test_the_private_references_match_the_package(seed):
    rng = np.random.default_rng(seed)
    D, K = int(rng.integers(2, 12)), int(rng.integers(1, 6))
    v, u, U = rng.normal(size=D), rng.normal(size=D), rng.normal(size=(K, D))
    loss, dv = ch08._sgns_pair(v, u, U)
    want = word2vec.sgns_loss_and_grads(v, u, U)
    np.testing.assert_allclose(loss, want[0], rtol=1e-12)
    np.testing.assert_allclose(dv, want[1], rtol=1e-12, atol=1e-14)
    counts = np.sort(rng.zipf(1.3, size=30))[::-1]
    np.testing.assert_allclose(ch08._keep_probabilities(counts, 1e-3),
                               word2vec.keep_probabilities(counts, 1e-3), rtol=1e-12)
    x = rng.uniform(0.1, 300, 40)
    np.testing.assert_allclose(ch08._glove_weight(x, 100.0, 0.75), glove.weighting(x, 100.0, 0.75),
                               rtol=1e-12)
    vectors = rng.normal(size=(30, 6))
    a, b, c = (int(i) for i in rng.choice(30, 3, replace=False))
    emb = word2vec.Embeddings([f"w{i}" for i in range(30)], vectors)
    assert ch08._analogy(vectors, a, b, c) == emb.index(emb.analogy(f"w{a}", f"w{b}", f"w{c}"))
