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
