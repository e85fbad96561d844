"""Chapter 4's checkers: the reference earns full marks, typical mistakes earn less, nothing crashes."""
import numpy as np
import pytest

from rnnbook import gradients
from rnnbook.exercises import (check_clip_by_global_norm, check_jacobian_norm, check_orthogonal_from,
                               check_spectral_radius)


def not_attempted(*args, **kwargs):
    raise NotImplementedError()


def returns_nan(*args, **kwargs):
    return np.nan


def jacobian_norm_reference(W, pre):
    return float(np.linalg.norm(gradients.jacobians_from_preactivations(W, pre, "tanh")[-1], 2))


def clip_reference(grads, max_norm):
    clipped, _ = gradients.clip_grad_norm(grads, max_norm, eps=0.0)
    return clipped


REFERENCES = [
    (check_spectral_radius, gradients.spectral_radius),
    (check_jacobian_norm, jacobian_norm_reference),
    (check_clip_by_global_norm, clip_reference),
    (check_orthogonal_from, gradients.orthogonal_from),
]
WRONG = [
    # spectral radius: real parts only; the largest singular value; the largest absolute entry
    (check_spectral_radius, lambda W: float(np.max(np.real(np.linalg.eigvals(W))))),
    (check_spectral_radius, lambda W: float(np.linalg.norm(W, 2))),
    (check_spectral_radius, lambda W: float(np.abs(W).max())),
    (check_spectral_radius, lambda W: np.linalg.eigvals(W)),              # an array, not a number
    # Jacobian norm: forgetting tanh'; factors in the wrong order; tanh'(a) = 1 - a^2; Frobenius norm
    (check_jacobian_norm, lambda W, pre: float(np.linalg.norm(np.linalg.matrix_power(W, len(pre)), 2))),
    (check_jacobian_norm, lambda W, pre: float(np.linalg.norm(
        np.linalg.multi_dot([np.eye(len(W))] + [W * (1 - np.tanh(a) ** 2) for a in pre]), 2))),
    (check_jacobian_norm, lambda W, pre: float(np.linalg.norm(
        np.linalg.multi_dot([np.eye(len(W))] + [(1 - a[:, None] ** 2) * W for a in pre[::-1]]), 2))),
    (check_jacobian_norm, lambda W, pre: float(np.linalg.norm(
        gradients.jacobians_from_preactivations(W, pre, "tanh")[-1], "fro"))),
    # clipping: each array on its own; always rescaling to max_norm; clipping entries
    (check_clip_by_global_norm, lambda g, m: {k: v * min(1, m / np.linalg.norm(v)) for k, v in g.items()}),
    (check_clip_by_global_norm, lambda g, m: {k: v * m / gradients.global_norm(g) for k, v in g.items()}),
    (check_clip_by_global_norm, lambda g, m: {k: np.clip(v, -m, m) for k, v in g.items()}),
    (check_clip_by_global_norm, lambda g, m: list(g.values())),
    # orthogonal factor without the sign correction; the transpose; A itself
    (check_orthogonal_from, lambda A: np.linalg.qr(A)[0]),
    (check_orthogonal_from, lambda A: gradients.orthogonal_from(A).T),
    (check_orthogonal_from, lambda A: A),
]


@pytest.mark.parametrize("checker, reference", REFERENCES, ids=lambda x: getattr(x, "__name__", ""))
def test_reference_solutions_earn_full_marks_on_fresh_inputs(checker, reference, capsys):
    for _ in range(3):
        score = checker(reference, points=2.0)
        assert score == 2.0 and score.passed == score.total, capsys.readouterr().out


@pytest.mark.parametrize("checker, reference", REFERENCES, ids=lambda x: getattr(x, "__name__", ""))
def test_not_attempted_earns_zero_and_says_so(checker, reference, capsys):
    assert checker(not_attempted) == 0.0
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize("checker, reference", REFERENCES, ids=lambda x: getattr(x, "__name__", ""))
def test_nan_none_and_exceptions_earn_zero_without_crashing(checker, reference, capsys):
    assert checker(returns_nan) == 0.0
    assert checker(lambda *a: None) == 0.0
    assert checker(lambda *a: 1 / 0) == 0.0
    assert checker("not a function") == 0.0
    out = capsys.readouterr().out
    assert "ZeroDivisionError" in out and "None" in out


@pytest.mark.parametrize("checker, wrong", WRONG)
def test_typical_mistakes_earn_less_than_full_marks(checker, wrong, capsys):
    for seed in range(5):
        score = checker(wrong, seed=seed)
        assert score < 1.0, f"{checker.__name__} gave full marks to a wrong answer (seed {seed})"
    assert "not yet" in capsys.readouterr().out


def test_feedback_names_the_failing_input_but_not_the_reference_code(capsys):
    check_spectral_radius(lambda W: float(np.max(np.real(np.linalg.eigvals(W)))), seed=0)
    out = capsys.readouterr().out
    assert "check 1" in out and "negative entry" in out
    assert "eigvals" not in out and "def " not in out
