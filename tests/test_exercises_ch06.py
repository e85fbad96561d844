"""Chapter 6's checkers: full marks for a correct answer, 0 when not attempted, feedback otherwise."""
import numpy as np
import pytest
import torch

from rnnbook.exercises import ch06


def bidirectional(forward_layer, backward_layer, x):
    out_f, _ = forward_layer(x)
    out_b, _ = backward_layer(torch.flip(x, dims=[0]))
    return torch.cat([out_f, torch.flip(out_b, dims=[0])], dim=2)


def highway_layer(x, W_h, b_h, W_t, b_t):
    t = 1 / (1 + np.exp(-(x @ W_t.T + b_t)))
    return t * np.maximum(x @ W_h.T + b_h, 0) + (1 - t) * x


def mixture_output(expert_outputs, gate_logits):
    z = gate_logits - gate_logits.max(axis=1, keepdims=True)
    g = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return (g[:, :, None] * expert_outputs).sum(axis=1)


def reverse_padded(x, lengths):
    out = x.copy()
    for b, n in enumerate(lengths):
        out[:n, b] = x[n - 1::-1, b]
    return out


def not_attempted(*args, **kwargs):
    raise NotImplementedError()


def naive_mixture(expert_outputs, gate_logits):
    g = np.exp(gate_logits) / np.exp(gate_logits).sum(axis=1, keepdims=True)
    return (g[:, :, None] * expert_outputs).sum(axis=1)


CHECKERS = {
    "bidirectional": (ch06.check_bidirectional, bidirectional, {
        "backward outputs not re-reversed": lambda f, b, x: torch.cat(
            [f(x)[0], b(torch.flip(x, dims=[0]))[0]], dim=2),
        "backward layer reads forwards": lambda f, b, x: torch.cat([f(x)[0], b(x)[0]], dim=2),
        "only the forward half": lambda f, b, x: f(x)[0],
    }),
    "highway_layer": (ch06.check_highway_layer, highway_layer, {
        "gates swapped": lambda x, Wh, bh, Wt, bt: highway_layer(x, Wh, bh, Wt, bt) * 0 + (
            (1 - 1 / (1 + np.exp(-(x @ Wt.T + bt)))) * np.maximum(x @ Wh.T + bh, 0)
            + 1 / (1 + np.exp(-(x @ Wt.T + bt))) * x),
        "residual instead": lambda x, Wh, bh, Wt, bt: np.maximum(x @ Wh.T + bh, 0) + x,
        "no carry": lambda x, Wh, bh, Wt, bt: 1 / (1 + np.exp(-(x @ Wt.T + bt))) * np.maximum(x @ Wh.T + bh, 0),
    }),
    "mixture_output": (ch06.check_mixture_output, mixture_output, {
        "naive softmax": naive_mixture,
        "average of experts": lambda e, g: e.mean(axis=1),
        "best expert only": lambda e, g: e[np.arange(len(g)), g.argmax(axis=1)],
    }),
    "reverse_padded": (ch06.check_reverse_padded, reverse_padded, {
        "flips the padding too": lambda x, lengths: x[::-1].copy(),
        "unchanged": lambda x, lengths: x.copy(),
        "wrong shape": lambda x, lengths: reverse_padded(x, lengths)[:, :, 0],
    }),
}


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_a_correct_answer_earns_full_marks_on_fresh_inputs(name, capsys):
    checker, reference, _ = CHECKERS[name]
    for _ in range(3):
        score = checker(reference, points=2)
        assert score == 2.0 and score.passed == score.total, capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_an_unattempted_exercise_scores_zero_and_says_so(name, capsys):
    assert CHECKERS[name][0](not_attempted) == 0.0
    assert "not attempted yet" in capsys.readouterr().out


WRONG = [(name, wrong) for name in sorted(CHECKERS) for wrong in sorted(CHECKERS[name][2])]


@pytest.mark.parametrize("name, wrong", WRONG, ids=[f"{n}:{w}" for n, w in WRONG])
def test_typical_wrong_answers_earn_less_and_get_feedback(name, wrong, capsys):
    checker, _, wrongs = CHECKERS[name]
    with np.errstate(all="ignore"):
        score = checker(wrongs[wrong], seed=123)
    out = capsys.readouterr().out
    assert score < 1.0 and "check " in out


def test_a_naive_softmax_loses_only_the_overflow_case(capsys):
    with np.errstate(all="ignore"):
        score = ch06.check_mixture_output(naive_mixture, seed=7)
    assert 0 < score < 1 and "very large gate logits" in capsys.readouterr().out
