"""Chapter 6's checkers: full marks for a correct answer, 0 when not attempted, feedback otherwise."""
import numpy as np
import torch

from rnnbook.exercises import ch06

from checker_contract import checker_contract


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


(test_the_reference_earns_full_marks_on_fresh_inputs,
 test_an_unattempted_exercise_scores_zero_and_says_so,
 test_typical_wrong_answers_earn_less_and_get_feedback) = checker_contract(CHECKERS)


def test_a_naive_softmax_loses_only_the_overflow_case(capsys):
    with np.errstate(all="ignore"):
        score = ch06.check_mixture_output(naive_mixture, seed=7)
    assert 0 < score < 1 and "very large gate logits" in capsys.readouterr().out
