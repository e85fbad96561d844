"""Chapter 2's checkers: full marks for the reference, 0 when not attempted, feedback otherwise."""
import numpy as np

from rnnbook import exercises, scratch

from checker_contract import checker_contract


def naive_perplexity(logits, targets):
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)      # overflows for large logits
    return float(np.exp(-np.log(p[np.arange(len(targets)), targets]).mean()))


def sampled_generate(params, h0, first, n):
    rng = np.random.default_rng(0)
    h, i, out = h0, first, []
    for _ in range(n):
        h = np.tanh(params["W_xh"][:, i] + params["W_hh"] @ h + params["b_h"])
        i = int(rng.choice(len(params["b_y"]), p=scratch.softmax(params["W_hy"] @ h + params["b_y"])))
        out.append(i)
    return np.array(out)


CHECKERS = {
    "rnn_step": (exercises.check_rnn_step, scratch.rnn_step, {
        "no tanh": lambda x, h, W_xh, W_hh, b: W_xh @ x + W_hh @ h + b,
        "forgets the recurrence": lambda x, h, W_xh, W_hh, b: np.tanh(W_xh @ x + b),
        "transposed W_hh": lambda x, h, W_xh, W_hh, b: np.tanh(W_xh @ x + W_hh.T @ h + b),
        "returns None": lambda *a: None,
    }),
    "rnn_forward": (exercises.check_rnn_forward, scratch.rnn_forward, {
        "resets h every step": lambda xs, h0, W_xh, W_hh, b: np.array(
            [scratch.rnn_step(x, h0, W_xh, W_hh, b) for x in xs]),
        "includes h0": lambda xs, h0, W_xh, W_hh, b: np.vstack(
            [h0, scratch.rnn_forward(xs, h0, W_xh, W_hh, b)]),
        "only the last state": lambda xs, h0, W_xh, W_hh, b: scratch.rnn_forward(xs, h0, W_xh, W_hh, b)[-1],
        "raises": lambda *a: 1 / 0,
    }),
    "perplexity": (exercises.check_perplexity, scratch.perplexity, {
        "naive softmax": naive_perplexity,
        "mean cross-entropy": lambda lo, y: float(scratch.cross_entropy_per_step(lo, y).mean()),
        "sum not mean": lambda lo, y: float(np.exp(scratch.cross_entropy_per_step(lo, y).sum())),
        "returns an array": lambda lo, y: np.exp(scratch.cross_entropy_per_step(lo, y)),
    }),
    "greedy_generate": (exercises.check_greedy_generate, scratch.greedy_generate, {
        "samples instead": sampled_generate,
        "ignores h0": lambda p, h0, f, n: scratch.greedy_generate(p, np.zeros_like(h0), f, n),
        "includes the first index": lambda p, h0, f, n: np.concatenate(
            [[f], scratch.greedy_generate(p, h0, f, n)])[:n],
        "wrong length": lambda p, h0, f, n: scratch.greedy_generate(p, h0, f, n + 1),
    }),
}


(test_the_reference_earns_full_marks_on_fresh_inputs,
 test_an_unattempted_exercise_scores_zero_and_says_so,
 test_typical_wrong_answers_earn_less_and_get_feedback) = checker_contract(CHECKERS)


def test_a_naive_softmax_gets_partial_credit_and_is_told_about_overflow(capsys):
    with np.errstate(all="ignore"):
        score = exercises.check_perplexity(naive_perplexity, seed=5)
    out = capsys.readouterr().out
    assert 0 < score < 1 and "overflows" in out


# Issue 19: the written exercise's numeric check and the experiment.
def costs_reference(D, H, V, T):
    per_step = D * H + H * H + H * V
    return per_step + H + V, T * per_step


def memory_reference(W_xh, W_hh, xs, max_delay, washout):
    H = len(W_xh)
    states = np.zeros((len(xs), H))
    h = np.zeros(H)
    for t, x in enumerate(xs):
        h = np.tanh(W_xh * x + W_hh @ h)
        states[t] = h
    S = np.hstack([states[washout:], np.ones((len(xs) - washout, 1))])
    out = []
    for d in range(max_delay + 1):
        y = xs[washout - d:len(xs) - d]
        w = np.linalg.solve(S.T @ S, S.T @ y)
        out.append(1 - np.var(y - S @ w) / np.var(y))
    return np.array(out)


def memory_without_bias(W_xh, W_hh, xs, max_delay, washout):
    H = len(W_xh)
    states, h = [], np.zeros(H)
    for x in xs:
        h = np.tanh(W_xh * x + W_hh @ h)
        states.append(h)
    S = np.array(states)[washout:]
    out = []
    for d in range(max_delay + 1):
        y = xs[washout - d:len(xs) - d]
        r = y - S @ np.linalg.lstsq(S, y, rcond=None)[0]
        out.append(1 - np.sum(r ** 2) / np.sum((y - y.mean()) ** 2))
    return np.array(out)


NEW_CHECKERS = {
    "rnn_costs": (exercises.check_rnn_costs, costs_reference, {
        "forgets the biases": lambda D, H, V, T: (costs_reference(D, H, V, T)[0] - H - V,
                                                  costs_reference(D, H, V, T)[1]),
        "parameters grow with T": lambda D, H, V, T: (T * costs_reference(D, H, V, 1)[0],
                                                      costs_reference(D, H, V, T)[1]),
        "one step of compute": lambda D, H, V, T: costs_reference(D, H, V, 1),
        "no output layer": lambda D, H, V, T: (D * H + H * H + H, T * (D * H + H * H)),
    }),
    "memory_curve": (exercises.check_memory_curve, memory_reference, {
        "no intercept in the read-out": memory_without_bias,
        "delay off by one": lambda W_xh, W_hh, xs, m, w: memory_reference(W_xh, W_hh, np.roll(xs, 1), m, w),
        "no washout": lambda W_xh, W_hh, xs, m, w: np.r_[memory_reference(W_xh, W_hh, xs, m, m)],
        "correlation, not R^2": lambda *a: np.sqrt(np.clip(memory_reference(*a), 0, 1)),
    }),
}

(test_new_references_earn_full_marks_on_fresh_inputs,
 test_new_unattempted_exercises_score_zero_and_say_so,
 test_new_typical_wrong_answers_earn_less_and_get_feedback) = checker_contract(NEW_CHECKERS)


def masked_reference(params, xs, lengths, labels, stop=0, stable=True, reduce=np.mean):
    B, T, _ = xs.shape
    h = np.zeros((B, len(params["b_h"])))
    for t in range(T):
        new = np.tanh(xs[:, t] @ params["W_xh"].T + h @ params["W_hh"].T + params["b_h"])
        keep = (t < np.asarray(lengths) + stop)[:, None]
        h = np.where(keep, new, h)
    o = h @ params["W_hy"].T + params["b_y"]
    shift = o.max(axis=1, keepdims=True) if stable else 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        log_z = np.log(np.exp(o - shift).sum(axis=1)) + np.squeeze(shift)
    return float(reduce(log_z - o[np.arange(B), labels])), h


MASKED_CHECKERS = {
    "masked_batch_forward": (exercises.check_masked_batch_forward, masked_reference, {
        "ignores the padding mask": lambda p, x, n, y: masked_reference(p, x, np.full(len(n), x.shape[1]), y),
        "one step too many": lambda p, x, n, y: masked_reference(p, x, n, y, stop=1),
        "exp without the maximum": lambda p, x, n, y: masked_reference(p, x, n, y, stable=False),
        "summed, not averaged": lambda p, x, n, y: masked_reference(p, x, n, y, reduce=np.sum),
    }),
}

(test_masked_reference_earns_full_marks,
 test_masked_unattempted_scores_zero,
 test_masked_wrong_answers_earn_less) = checker_contract(MASKED_CHECKERS)
