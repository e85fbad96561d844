"""Chapter 14 checkers: full marks for the reference, feedback (never a crash) for wrong answers."""
import math
import time

import torch
import torch.nn.functional as F

from checker_contract import checker_contract
from rnnbook import exercises


def ref_combine(first, second):
    (a1, b1), (a2, b2) = first, second
    return a1 * a2, a2 * b1 + b2


def ref_causal_mask(tq, tk):
    i = torch.arange(tq)[:, None]
    j = torch.arange(tk)[None, :]
    return j <= i + (tk - tq)


def ref_attend(q, k, v, cache):
    if cache is not None:
        k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
    w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
    return w @ v, (k, v)


def ref_step(state, norm, q, k, v):
    fq, fk = F.elu(q) + 1, F.elu(k) + 1
    state = state + fk[:, None] * v[None, :]
    norm = norm + fk
    return (fq @ state) / (fq @ norm), state, norm


def ref_doubling(a, b):
    shift = 1
    while shift < len(a):
        b = torch.cat([b[:shift], a[shift:] * b[:-shift] + b[shift:]])
        a = torch.cat([a[:shift], a[shift:] * a[:-shift]])
        shift *= 2
    return b


def wrong_mask_upper(tq, tk):
    return ~ref_causal_mask(tq, tk)


CHECKERS = {
    "combine": (exercises.check_combine, ref_combine, {
        "order swapped": lambda p, q: ref_combine(q, p),
        "adds the b's": lambda p, q: (p[0] * q[0], p[1] + q[1]),
        "forgets to scale b": lambda p, q: (p[0] * q[0], p[0] * p[1] + q[1]),
        "returns one tensor": lambda p, q: p[0] * q[0],
    }),
    "causal_mask": (exercises.check_causal_mask, ref_causal_mask, {
        "future instead of past": wrong_mask_upper,
        "aligned at the start": lambda tq, tk: torch.arange(tk)[None] <= torch.arange(tq)[:, None],
        "strictly past": lambda tq, tk: torch.arange(tk)[None] < torch.arange(tq)[:, None] + tk - tq,
        "float mask": lambda tq, tk: ref_causal_mask(tq, tk).double(),
    }),
    "attend_with_cache": (exercises.check_attend_with_cache, ref_attend, {
        "forgets the cache": lambda q, k, v, c: ref_attend(q, k, v, None),
        "no scaling": lambda q, k, v, c: ref_attend(q * math.sqrt(q.shape[-1]), k, v, c),
        "queries as keys": lambda q, k, v, c: ref_attend(q, q, v, c),
        "returns no cache": lambda q, k, v, c: ref_attend(q, k, v, c)[0],
    }),
    "linear_attention_step": (exercises.check_linear_attention_step, ref_step, {
        "no feature map": lambda s, z, q, k, v: (
            (q @ (s + k[:, None] * v[None])) / (q @ (z + k)), s + k[:, None] * v[None], z + k),
        "no normaliser": lambda s, z, q, k, v: ((F.elu(q) + 1) @ ref_step(s, z, q, k, v)[1],
                                                *ref_step(s, z, q, k, v)[1:]),
        "forgets the past": lambda s, z, q, k, v: ref_step(s * 0, z * 0, q, k, v),
        "state transposed": lambda s, z, q, k, v: (ref_step(s, z, q, k, v)[0][:1].expand(v.shape),
                                                   *ref_step(s, z, q, k, v)[1:]),
    }),
    "doubling_scan": (exercises.check_doubling_scan, ref_doubling, {
        "inclusive of nothing": lambda a, b: b,
        "one round too few": lambda a, b: ref_doubling(a[:max(1, len(a) // 2)], b[:max(1, len(a) // 2)]),
        "cumulative sum": lambda a, b: torch.cumsum(b, 0),
        "a applied after b": lambda a, b: ref_doubling(a, a * b),
    }),
}


def ref_scan_race(a, b, lengths, repeats, unit=1.0):
    def loop(a, b):
        h, out = torch.zeros_like(b[0]), []
        for t in range(len(a)):
            h = a[t] * h + b[t]
            out.append(h)
        return torch.stack(out)

    def best(fn, *args):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn(*args)
            times.append(time.perf_counter() - start)
        return min(times) * unit

    loop_s = [best(loop, a[:T], b[:T]) for T in lengths]
    scan_s = [best(ref_doubling, a[:T], b[:T]) for T in lengths]
    faster = [T for T, lo, sc in zip(lengths, loop_s, scan_s) if sc < lo]
    return {"loop_s": loop_s, "scan_s": scan_s, "crossover": faster[0] if faster else None,
            "states": ref_doubling(a, b)}


CHECKERS["scan_race"] = (exercises.check_scan_race, ref_scan_race, {
    "times in milliseconds": lambda *a: ref_scan_race(*a, unit=1000.0),
    "crossover is the longest length": lambda *a: dict(ref_scan_race(*a), crossover=a[2][-1]),
    "states of the loop without a": lambda a, b, n, r: dict(ref_scan_race(a, b, n, r), states=torch.cumsum(b, 0)),
    "times swapped": lambda *a: (lambda o: dict(o, loop_s=o["scan_s"], scan_s=o["loop_s"]))(ref_scan_race(*a)),
})


(test_the_reference_earns_full_marks_on_fresh_inputs,
 test_an_unattempted_exercise_scores_zero_and_says_so,
 test_typical_wrong_answers_earn_less_and_get_feedback) = checker_contract(CHECKERS)
