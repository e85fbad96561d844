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


# --- issue 19's exercises: Adam with clipping, the bound's guarantee, the edge of vanishing
import math  # noqa: E402

import torch  # noqa: E402

from checker_contract import checker_contract  # noqa: E402
from rnnbook.exercises import ch04  # noqa: E402


def adam_run(theta, grads, lr, beta1, beta2, eps, max_norm=None, *, correct=True, clip="global"):
    theta, m, v, out = np.array(theta, dtype=float), 0.0, 0.0, []
    for t, g in enumerate(grads, start=1):
        if max_norm is not None and clip == "global":
            g = g * min(1.0, max_norm / np.sqrt((g ** 2).sum()))
        elif max_norm is not None:
            g = np.clip(g, -max_norm, max_norm)
        m, v = beta1 * m + (1 - beta1) * g, beta2 * v + (1 - beta2) * g ** 2
        m_hat, v_hat = (m / (1 - beta1 ** t), v / (1 - beta2 ** t)) if correct else (m, v)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(theta)
    return np.array(out)


def guaranteed_steps(W, gamma, eps, *, norm=lambda W: np.linalg.norm(W, 2), rounding=np.ceil):
    if eps >= 1:
        return 0
    q = norm(W) * gamma
    return math.inf if q >= 1 else int(rounding(np.log(eps) / np.log(q) - 1e-12))


def edge_of_vanishing(scale, seed, *, H=32, T=100, trials=8, slope=True, pick=None):
    rng, rates = np.random.default_rng(seed), []
    for rho in ch04.EDGE_RADII:
        runs = []
        for _ in range(trials):
            G = rng.standard_normal((H, H))
            W = G * (rho / np.abs(np.linalg.eigvals(G)).max())
            h, J = np.zeros(H), np.eye(H)
            for _t in range(T):
                h = np.tanh(W @ h + scale * rng.standard_normal(H))
                J = ((1 - h ** 2)[:, None] if slope else 1.0) * (W @ J)
            runs.append(np.log(np.linalg.norm(J, 2)) / T)
        rates.append(float(np.mean(runs)))
    k = next(k for k, r in enumerate(rates) if r >= 0) if pick is None else pick(rates)
    return ch04.EDGE_RADII[k], rates


def _not_per_step(scale, seed):
    radius, rates = edge_of_vanishing(scale, seed)
    return radius, [100 * r for r in rates]  # log ||dh_T/dh_0|| itself, not divided by T


CHECKERS = {
    "adam_run": (ch04.check_adam_run, adam_run, {
        "no bias correction": lambda *a: adam_run(*a, correct=False),
        "clips each entry, not the global norm": lambda *a: adam_run(*a, clip="entry"),
        "returns only the last step": lambda *a: adam_run(*a)[-1],
        "eps inside the square root": lambda th, g, lr, b1, b2, eps, c: adam_run(th, g, lr, b1, b2, 0.0, c)
        if eps < 1e-7 else adam_run(th, g, lr, b1, b2, math.sqrt(eps), c),
    }),
    "guaranteed_steps": (ch04.check_guaranteed_steps, guaranteed_steps, {
        "spectral radius instead of norm": lambda *a: guaranteed_steps(
            *a, norm=lambda W: np.abs(np.linalg.eigvals(W)).max()),
        "floor instead of ceiling": lambda *a: guaranteed_steps(*a, rounding=np.floor),
        "ignores gamma_g": lambda W, g, e: guaranteed_steps(W, 1.0, e),
        "None for no guarantee": lambda *a: None if guaranteed_steps(*a) == math.inf else guaranteed_steps(*a),
    }),
    "edge_of_vanishing": (ch04.check_edge_of_vanishing, edge_of_vanishing, {
        "a linear network's rates": lambda s, seed: edge_of_vanishing(s, seed, slope=False),
        "the largest radius": lambda s, seed: edge_of_vanishing(s, seed, pick=lambda r: len(r) - 1),
        "the log norm, not per step": _not_per_step,
        "rates of other input scale": lambda s, seed: edge_of_vanishing(2.0 * s, seed),
        "networks of another seed": lambda s, seed: edge_of_vanishing(s, seed + 1),
    }),
}

(test_the_reference_earns_full_marks_on_fresh_inputs,
 test_an_unattempted_exercise_scores_zero_and_says_so,
 test_typical_wrong_answers_earn_less_and_get_feedback) = checker_contract(CHECKERS)


def test_the_adam_checker_agrees_with_torch_optim_adam_and_clipping():
    rng = np.random.default_rng(0)
    theta, grads = rng.normal(size=5), rng.normal(size=(7, 5)) * 3
    p = torch.nn.Parameter(torch.from_numpy(theta.copy()))
    opt = torch.optim.Adam([p], lr=0.05, betas=(0.8, 0.99), eps=1e-3)
    ours = ch04._adam_reference(theta, grads, 0.05, 0.8, 0.99, 1e-3, 2.0)
    for k, g in enumerate(grads):
        p.grad = torch.from_numpy(g.copy())
        norm = float(p.grad.norm())
        if norm > 2.0:
            p.grad.mul_(2.0 / norm)
        opt.step()
        assert np.allclose(p.detach().numpy(), ours[k], rtol=1e-12, atol=1e-14)
