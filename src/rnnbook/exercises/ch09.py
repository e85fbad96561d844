"""Checkers for chapter 9, Encoder–decoder models and attention."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .. import seq2seq as _s2s
from ._core import Case, Score, compare_arrays, fresh_seed, run_checks


def _pair(got, expected, names, rtol=1e-6, dtype_kinds=(None, None)):
    if not isinstance(got, (tuple, list)) or len(got) != len(expected):
        return f"expected a tuple of {len(expected)} ({', '.join(names)}), got {type(got).__name__}"
    for g, e, name, kind in zip(got, expected, names, dtype_kinds):
        problem = compare_arrays(g, e, what=name, rtol=rtol, atol=1e-9, dtype_kind=kind)
        if problem:
            return problem
    return None


def check_additive_attention(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(q, M, W_q, W_k, v, mask) -> (weights (S,), context (H,))` (Bahdanau attention)."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(6):
        S, H, A = int(rng.integers(2, 12)), int(rng.integers(2, 9)), int(rng.integers(2, 7))
        q, M = rng.normal(size=H), rng.normal(size=(S, H))
        W_q, W_k, v = rng.normal(size=(A, H)), rng.normal(size=(A, H)), rng.normal(size=A)
        mask = np.ones(S, dtype=bool)
        if k >= 2:  # padding at the end, as in a batch of unequal lengths
            mask[int(rng.integers(1, S)):] = False
        keys = torch.from_numpy(M @ W_k.T)[None]
        scores = _s2s.additive_scores(torch.from_numpy(q)[None], keys, torch.from_numpy(W_q),
                                      torch.from_numpy(v))
        weights = _s2s.masked_softmax(scores, torch.from_numpy(mask)[None])[0].numpy()
        desc = f"S={S}, H={H}, A={A}, {int(mask.sum())} real positions"
        cases.append(Case((q, M, W_q, W_k, v, mask), (weights, weights @ M), desc))
    for case in cases:
        case.args = tuple(np.copy(a) for a in case.args)

    def compare(got, expected):
        return _pair(got, expected, ("attention weights", "context vector"))

    return run_checks("additive_attention", func, cases, compare, points, seed,
                      forbid=("torch.nn.functional.scaled_dot_product_attention",
                               "torch.nn.MultiheadAttention"))


def check_beam_step(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(scores (K,), log_probs (K, V), width) -> (parents, tokens, totals)`, best first."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(6):
        K, V = int(rng.integers(1, 5)), int(rng.integers(3, 9))
        width = int(rng.integers(1, min(K * V, 6) + 1))
        scores = -rng.exponential(2.0, size=K)
        logits = rng.normal(size=(K, V)) * 2
        log_probs = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        rows, toks, best = _s2s.top_extensions(torch.from_numpy(scores), torch.from_numpy(log_probs), width)
        cases.append(Case((scores.copy(), log_probs.copy(), width),
                          (rows.numpy(), toks.numpy(), best.numpy()), f"K={K} hypotheses, V={V}, width={width}"))

    def compare(got, expected):
        return _pair(got, expected, ("parent indices", "tokens", "total scores"), dtype_kinds=("iu", "iu", "f"))

    return run_checks("beam_step", func, cases, compare, points, seed)


def _random_decoder(rng, V, H):
    """A small numpy RNN decoder: step(token, h) -> (logits (V,), new h)."""
    E, W, U = rng.normal(size=(V, H)), rng.normal(size=(H, H)) / np.sqrt(H), rng.normal(size=(V, H)) * 2

    def step(token, h):
        h = np.tanh(E[int(token)] + W @ h)
        return U @ h, h

    return step


def _decode_loop(step, h, bos, targets, teacher_forcing):
    preds, prev = [], bos
    for y in targets:
        logits, h = step(prev, h)
        preds.append(int(np.argmax(logits)))
        prev = int(y) if teacher_forcing else preds[-1]
    return np.array(preds, dtype=np.int64)


def check_decode_loop(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(step, h0, bos, targets, teacher_forcing) -> argmax predictions (len(targets),)`."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(6):
        V, H, T = int(rng.integers(4, 9)), int(rng.integers(3, 7)), int(rng.integers(3, 9))
        step = _random_decoder(rng, V, H)
        h0, targets = rng.normal(size=H), rng.integers(1, V, size=T)
        tf = k % 2 == 0
        expected = _decode_loop(step, h0.copy(), 0, targets, tf)
        if not tf:  # free running must not peek at the targets: make them differ from the predictions
            targets = (expected + 1) % V
        cases.append(Case((step, h0.copy(), 0, targets.copy(), tf), expected,
                          f"V={V}, T={T}, teacher_forcing={tf}"))

    def compare(got, expected):
        return compare_arrays(got, expected, what="predictions", dtype_kind="iu")

    return run_checks("decode_loop", func, cases, compare, points, seed)
