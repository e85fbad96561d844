"""Chapter 9 checkers: full marks for the reference, feedback (never a crash) for wrong answers."""
import numpy as np

from checker_contract import checker_contract
from rnnbook import exercises


def softmax(e):
    e = np.exp(e - e.max())
    return e / e.sum()


def ref_attention(q, M, W_q, W_k, v, mask, act=np.tanh):
    e = act(W_q @ q + M @ W_k.T) @ v
    a = np.where(mask, np.exp(e - e[mask].max()), 0.0)
    a /= a.sum()
    return a, a @ M


def ref_beam_step(scores, log_probs, width):
    total = (scores[:, None] + log_probs).ravel()
    order = np.argsort(-total, kind="stable")[:width]
    V = log_probs.shape[1]
    return order // V, order % V, total[order]


def ref_decode_loop(step, h, bos, targets, teacher_forcing):
    preds, prev = [], bos
    for y in targets:
        logits, h = step(prev, h)
        preds.append(int(np.argmax(logits)))
        prev = y if teacher_forcing else preds[-1]
    return np.array(preds)


CHECKERS = {
    "additive_attention": (exercises.check_additive_attention, ref_attention, {
        "ignores the mask": lambda q, M, W_q, W_k, v, mask: (softmax(np.tanh(W_q @ q + M @ W_k.T) @ v),
                                                              softmax(np.tanh(W_q @ q + M @ W_k.T) @ v) @ M),
        "no tanh": lambda q, M, W_q, W_k, v, mask: ref_attention(q, M, W_q, W_k, v, mask, act=lambda x: x),
        "returns scores, not weights": lambda q, M, W_q, W_k, v, mask: (np.tanh(W_q @ q + M @ W_k.T) @ v, q),
        "NaN": lambda q, M, W_q, W_k, v, mask: (np.full(len(M), np.nan), q * np.nan),
    }),
    "beam_step": (exercises.check_beam_step, ref_beam_step, {
        "forgets the running scores": lambda s, lp, w: ref_beam_step(np.zeros_like(s), lp, w),
        "best token per hypothesis": lambda s, lp, w: (np.arange(len(s))[:w], lp.argmax(1)[:w],
                                                       (s + lp.max(1))[:w]),
        "worst first": lambda s, lp, w: tuple(x[::-1] for x in ref_beam_step(s, lp, w)),
        "raises": lambda s, lp, w: 1 / 0,
    }),
    "decode_loop": (exercises.check_decode_loop, ref_decode_loop, {
        "always teacher forcing": lambda step, h, bos, y, tf: ref_decode_loop(step, h, bos, y, True),
        "always free running": lambda step, h, bos, y, tf: ref_decode_loop(step, h, bos, y, False),
        "feeds the current target (peeks ahead)": lambda step, h, bos, y, tf: ref_decode_loop(
            step, h, y[0], list(y[1:]) + [0], tf),
        "None": lambda step, h, bos, y, tf: None,
    }),
}

(test_the_reference_earns_full_marks_on_fresh_inputs,
 test_an_unattempted_exercise_scores_zero_and_says_so,
 test_typical_wrong_answers_earn_less_and_get_feedback) = checker_contract(CHECKERS)
