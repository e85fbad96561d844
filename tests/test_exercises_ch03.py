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


# Issue 19: the written exercise's numeric check and the experiment.
def reach_reference(n_steps, k, lag):
    full, rest = divmod(n_steps, k)
    return full * max(0, k - lag) + max(0, rest - lag)


def sweep_reference(loss, grad, theta, epsilons, one_sided=False):
    exact = grad(theta)
    errors = []
    for eps in epsilons:
        numeric = np.zeros_like(theta)
        for i in range(theta.size):
            saved = theta[i]
            theta[i] = saved + eps
            up = loss(theta)
            theta[i] = saved if one_sided else saved - eps
            down = loss(theta)
            theta[i] = saved
            numeric[i] = (up - down) / (eps if one_sided else 2 * eps)
        errors.append(np.linalg.norm(numeric - exact) / (np.linalg.norm(numeric) + np.linalg.norm(exact)))
    errors = np.array(errors)
    keep = epsilons >= 1e-3
    slope = np.polyfit(np.log10(epsilons[keep]), np.log10(errors[keep]), 1)[0]
    return errors, float(epsilons[np.argmin(errors)]), float(slope)


def sweep_absolute(loss, grad, theta, epsilons):
    errors, _, _ = sweep_reference(loss, grad, theta, epsilons)
    scale = np.linalg.norm(grad(theta)) * 2
    errors = errors * scale
    keep = epsilons >= 1e-3
    return errors, float(epsilons[np.argmin(errors)]), float(
        np.polyfit(np.log10(epsilons[keep]), np.log10(errors[keep]), 1)[0])


NEW_CHECKERS = {
    "tbptt_reach": (exercises.check_tbptt_reach, reach_reference, {
        "ignores the windows": lambda n, k, lag: max(0, n - lag),
        "strict inequality": lambda n, k, lag: sum(1 for t in range(n) if t % k > lag),
        "only full windows": lambda n, k, lag: (n // k) * max(0, k - lag),
        "a fraction, not a count": lambda n, k, lag: reach_reference(n, k, lag) / max(n, 1) + 0.5,
    }),
    "gradient_sweep": (exercises.check_gradient_sweep, sweep_reference, {
        "one-sided differences": lambda l, g, th, e: sweep_reference(l, g, th, e, one_sided=True),
        "absolute, not relative, error": sweep_absolute,
        "the largest epsilon as the best": lambda l, g, th, e: (sweep_reference(l, g, th, e)[0], float(e[0]),
                                                                sweep_reference(l, g, th, e)[2]),
        "the slope over every epsilon": lambda l, g, th, e: (*sweep_reference(l, g, th, e)[:2], float(
            np.polyfit(np.log10(e), np.log10(sweep_reference(l, g, th, e)[0]), 1)[0])),
    }),
}

(test_new_references_earn_full_marks_on_fresh_inputs,
 test_new_unattempted_exercises_score_zero_and_say_so,
 test_new_typical_wrong_answers_earn_less_and_get_feedback) = checker_contract(NEW_CHECKERS)


def test_the_chapters_echo_stream_reaches_its_sources_only_beyond_the_lag():
    # chapter 3's table: 4000 steps, lag 4: none in-window for k <= 4, 20 % at k = 5
    from rnnbook.exercises import ch03
    assert [ch03._in_window_count(4000, k, 4) for k in (2, 4, 5, 16)] == [0, 0, 800, 3000]
