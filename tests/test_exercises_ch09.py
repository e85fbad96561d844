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


def ref_beam_search(next_log_probs, eos, width, max_len, alpha, keep_width_live=False,
                    normalise=True, cut=True):
    live, finished = [((), 0.0)], []
    for t in range(max_len):
        cands = sorted(((p + (y,), s + lp) for p, s in live for y, lp in enumerate(next_log_probs(p))),
                       key=lambda c: -c[1])
        live = []
        for seq, s in cands[: width if keep_width_live else width - len(finished)]:
            if seq[-1] == eos or (cut and t == max_len - 1):
                finished.append((list(seq), s / len(seq) ** (alpha if normalise else 0.0)))
            else:
                live.append((seq, s))
        if not live:
            break
    finished.sort(key=lambda pair: -pair[1])
    return finished[:width]


def ref_attention_backward(q, M, W_q, W_k, v, mask, d_c, tanh_grad=True, direct=True, jacobian=True):
    Z = np.tanh(W_q @ q + M @ W_k.T)
    e = Z @ v
    a = np.where(mask, np.exp(e - e[mask].max()), 0.0)
    a /= a.sum()
    d_a = M @ d_c
    d_e = a * (d_a - a @ d_a) if jacobian else a * d_a
    d_pre = np.outer(d_e, v) * ((1 - Z ** 2) if tanh_grad else 1.0)
    d_M = d_pre @ W_k + (np.outer(a, d_c) if direct else 0.0)
    d_u = d_pre.sum(0)
    return W_q.T @ d_u, d_M, np.outer(d_u, q), d_pre.T @ M, Z.T @ d_e


def ref_greedy_trap(V, T, eps, boost=None):
    d = eps / (4 * V) if boost is None else boost
    first = np.full(V, (1 - 1 / V - d) / (V - 1))
    first[0] = 1 / V + d
    P = np.zeros((V,) * T)
    P[0] = first[0] / V ** (T - 1)
    for a in range(1, V):
        P[(a,) + (0,) * (T - 1)] = first[a]
    return P


def ref_search_errors(pronounce, score, words, refs, widths, flip=False):
    out = {}
    for width in widths:
        labels = []
        for w in words:
            hyp = pronounce(w, width)
            if hyp in refs[w]:
                labels.append("correct")
            else:
                search = max(score(w, r) for r in refs[w]) > score(w, hyp)
                labels.append("search" if search != flip else "model")
        out[width] = labels
    return out


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
    "beam_search": (exercises.check_beam_search, ref_beam_search, {
        "no length normalisation": lambda f, e, w, m, a: ref_beam_search(f, e, w, m, a, normalise=False),
        "keeps width live hypotheses": lambda f, e, w, m, a: ref_beam_search(f, e, w, m, a, keep_width_live=True),
        "drops hypotheses cut at max_len": lambda f, e, w, m, a: ref_beam_search(f, e, w, m, a, cut=False),
        "greedy whatever the width": lambda f, e, w, m, a: ref_beam_search(f, e, 1, m, a),
        "worst first": lambda f, e, w, m, a: ref_beam_search(f, e, w, m, a)[::-1],
    }),
    "attention_backward": (exercises.check_attention_backward, ref_attention_backward, {
        "forgets the direct path to M": lambda *a: ref_attention_backward(*a, direct=False),
        "no tanh derivative": lambda *a: ref_attention_backward(*a, tanh_grad=False),
        "softmax Jacobian's diagonal only": lambda *a: ref_attention_backward(*a, jacobian=False),
        "d_W_k transposed": lambda *a: tuple(g.T if i == 3 else g
                                             for i, g in enumerate(ref_attention_backward(*a))),
        "NaN": lambda *a: tuple(g * np.nan for g in ref_attention_backward(*a)),
    }),
    "greedy_trap": (exercises.check_greedy_trap, ref_greedy_trap, {
        "greedy is optimal (uniform table)": lambda V, T, eps: np.full((V,) * T, 1.0 / V ** T),
        "margin too wide": lambda V, T, eps: ref_greedy_trap(V, T, eps, boost=0.5 / V),
        "not normalised": lambda V, T, eps: 2 * ref_greedy_trap(V, T, eps),
        "one axis only": lambda V, T, eps: ref_greedy_trap(V, 1, eps),
    }),
    "search_errors": (exercises.check_search_errors, ref_search_errors, {
        "search and model swapped": lambda *a: ref_search_errors(*a, flip=True),
        "greedy at every width": lambda p, s, w, r, ws: {k: ref_search_errors(p, s, w, r, [1])[1] for k in ws},
        "a list, not a dict": lambda *a: list(ref_search_errors(*a).values()),
        "never compares the scores": lambda p, s, words, refs, widths: {
            k: ["correct" if p(w, k) in refs[w] else "model" for w in words] for k in widths},
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
