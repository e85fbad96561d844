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
