"""Chapter 3's checkers: full marks for the reference, 0 when not attempted, feedback otherwise."""
import numpy as np

from rnnbook import exercises, gradcheck, scratch

from checker_contract import checker_contract


def reference_backward(params, inputs, targets, h0):
    model = scratch.VanillaRNN(len(params["b_y"]), len(params["b_h"]))
    model.params = params
    return model.loss_and_grads(inputs, targets, h0)[1]


def backward_without_time(params, inputs, targets, h0):
    """Cuts the recurrence: each step's gradient from its own loss only (k = 1)."""
    model = scratch.VanillaRNN(len(params["b_y"]), len(params["b_h"]))
    model.params = params
    _, hs = model.forward(inputs, h0)
    total = {k: np.zeros_like(v) for k, v in params.items()}
    for t in range(len(inputs)):
        g = model.loss_and_grads(inputs[t:t + 1], targets[t:t + 1], hs[t])[1]
        for k in total:
            total[k] += g[k]
    return total


def forward_difference(f, x, eps):
    grad, base = np.zeros_like(x), f()
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        grad[i] = (f() - base) / eps
        x[i] = old
    return grad


def no_restore(f, x, eps):
    grad = gradcheck.numerical_gradient(f, x, eps)
    x += 1.0
    return grad


CHECKERS = {
    "hidden_delta": (exercises.check_hidden_delta, scratch.hidden_delta, {
        "no tanh derivative": lambda d, dn, h, W_hy, W_hh: W_hy.T @ d + W_hh.T @ dn,
        "ignores the next step": lambda d, dn, h, W_hy, W_hh: (1 - h ** 2) * (W_hy.T @ d),
        "sigmoid derivative": lambda d, dn, h, W_hy, W_hh: h * (1 - h) * (W_hy.T @ d + W_hh.T @ dn),
        "W_hh not transposed": lambda d, dn, h, W_hy, W_hh: (1 - h ** 2) * (W_hy.T @ d + W_hh @ dn),
    }),
    "numerical_gradient": (exercises.check_numerical_gradient, gradcheck.numerical_gradient, {
        "one-sided differences": forward_difference,
        "leaves x changed": no_restore,
        "zeros": lambda f, x, eps: np.zeros_like(x),
        "flattened": lambda f, x, eps: gradcheck.numerical_gradient(f, x, eps).ravel(),
    }),
    "rnn_backward": (exercises.check_rnn_backward, reference_backward, {
        "no gradient through time": backward_without_time,
        "all zeros": lambda p, *a: {k: np.zeros_like(v) for k, v in p.items()},
        "a list, not a dict": lambda p, *a: list(reference_backward(p, *a).values()),
        "missing biases": lambda p, *a: {k: v for k, v in reference_backward(p, *a).items()
                                         if not k.startswith("b")},
    }),
    "tbptt_windows": (exercises.check_tbptt_windows, scratch.tbptt_windows, {
        "overlapping": lambda n, k: [(s, min(s + k, n)) for s in range(0, n, max(1, k - 1))],
        "drops the short last window": lambda n, k: [(s, s + k) for s in range(0, n - k + 1, k)],
        "inclusive stop": lambda n, k: [(s, min(s + k, n) - 1) for s in range(0, n, k)],
        "returns None": lambda n, k: None,
    }),
}


(test_the_reference_earns_full_marks_on_fresh_inputs,
 test_an_unattempted_exercise_scores_zero_and_says_so,
 test_typical_wrong_answers_earn_less_and_get_feedback) = checker_contract(CHECKERS)


def test_forgetting_to_restore_x_is_named(capsys):
    exercises.check_numerical_gradient(no_restore)
    assert "x was left changed" in capsys.readouterr().out


def test_cutting_the_recurrence_passes_only_the_single_step_case(capsys):
    score = exercises.check_rnn_backward(backward_without_time, points=5)
    assert score.passed == 1 and "gradient W_" in capsys.readouterr().out
