"""Connectionist temporal classification (Graves et al. 2006) from scratch: loss, gradient, decoding.

A network emits, at each of T steps, a distribution over C classes, one of which is the *blank*.
An alignment is one class per step; collapsing it (merge runs of equal classes, then drop the
blanks) gives a label sequence. CTC's likelihood of a label sequence l is the sum over all
alignments that collapse to l. It is computed by the forward algorithm of an HMM (chapter 1)
whose states are the positions of the *extended* sequence l' = (blank, l_1, blank, l_2, ...,
blank) of length 2|l| + 1: from position s the chain may stay, step to s + 1, or jump to s + 2 when
that skips a blank between two different labels. Everything runs in log space.

`ctc_loss` has torch's layout and returns the per-sequence negative log-likelihood (B,). Its
gradient is computed by the backward recursion (beta), not by autograd through the forward loop:
d(-log p)/d log y_t(k) = -sum over positions s with l'_s = k of alpha_t(s) beta_t(s) / p, the
posterior probability of being at a position labelled k at step t. Note that
`torch.nn.functional.ctc_loss` returns a different gradient with respect to its `log_probs`
(it assumes they come out of a log_softmax and folds that Jacobian in); through a log_softmax the
two agree exactly, and that is what the tests compare.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["extend_with_blanks", "collapse", "min_input_length", "ctc_forward", "ctc_backward",
           "ctc_loss", "ctc_posteriors", "greedy_decode", "prefix_beam_search", "count_alignments"]

NEG_INF = -math.inf


def collapse(path: Sequence[int], blank: int = 0) -> list[int]:
    """The label sequence of an alignment: merge runs of equal classes, then drop the blanks."""
    return [int(k) for k, _ in itertools.groupby(int(p) for p in path) if k != blank]


def min_input_length(labels: Sequence[int]) -> int:
    """The fewest steps that can emit `labels`: one per label, plus a blank between equal neighbours."""
    labels = [int(v) for v in labels]
    return len(labels) + sum(a == b for a, b in zip(labels, labels[1:]))


def count_alignments(labels: Sequence[int], T: int, blank: int = 0) -> int:
    """How many length-T alignments collapse to `labels` (the forward recursion with counts)."""
    ext = [blank]
    for v in labels:
        ext += [int(v), blank]
    S = len(ext)
    alpha = [0] * S
    alpha[0] = 1
    if S > 1:
        alpha[1] = 1
    for _ in range(1, T):
        new = [0] * S
        for s in range(S):
            new[s] = alpha[s] + (alpha[s - 1] if s >= 1 else 0)
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                new[s] += alpha[s - 2]
        alpha = new
    return alpha[-1] + (alpha[-2] if S > 1 else 0) if T >= 1 else int(S == 1)


def extend_with_blanks(targets: torch.Tensor, blank: int = 0) -> torch.Tensor:
    """(B, S) padded labels -> (B, 2S + 1) extended sequences (blank, l_1, blank, ..., blank)."""
    B, S = targets.shape
    ext = torch.full((B, 2 * S + 1), blank, dtype=torch.long, device=targets.device)
    ext[:, 1::2] = targets.long()
    return ext


def _check(log_probs: torch.Tensor, targets: torch.Tensor, input_lengths, target_lengths,
           blank: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate the inputs; return (targets, input_lengths, target_lengths) as long tensors."""
    if not isinstance(log_probs, torch.Tensor) or log_probs.dim() != 3:
        shape = tuple(log_probs.shape) if isinstance(log_probs, torch.Tensor) else type(log_probs)
        raise ValueError(f"log_probs must be a (T, B, C) tensor of log-softmaxed scores, got {shape}")
    if not log_probs.is_floating_point():
        raise TypeError(f"log_probs must be floating point, got {log_probs.dtype}")
    T, B, C = log_probs.shape
    if not 0 <= blank < C:
        raise ValueError(f"blank={blank} is not a class: log_probs has C={C} classes (0..{C - 1})")
    targets = torch.as_tensor(targets, device=log_probs.device)
    if targets.dim() != 2 or targets.shape[0] != B:
        raise ValueError(f"targets must be padded to shape (B, S) = ({B}, S), got shape "
                         f"{tuple(targets.shape)}; pad each label sequence to the longest one")
    if targets.is_floating_point() or targets.dtype == torch.bool:
        raise TypeError(f"targets must hold integer class ids, got {targets.dtype}")
    lengths = []
    for name, value, size in (("input_lengths", input_lengths, T),
                              ("target_lengths", target_lengths, targets.shape[1])):
        value = torch.as_tensor(value, device=log_probs.device)
        if value.is_floating_point() or value.dim() != 1 or value.shape[0] != B:
            raise ValueError(f"{name} must be a 1-D integer tensor of B={B} lengths, got "
                             f"shape {tuple(value.shape)} and dtype {value.dtype}")
        if bool((value < 0).any()) or bool((value > size).any()):
            raise ValueError(f"{name} must lie in 0..{size} (the tensor's size along that axis), "
                             f"got {value.tolist()}")
        lengths.append(value.long())
    in_len, tgt_len = lengths
    if bool((in_len < 1).any()):
        raise ValueError(f"every input length must be at least 1, got {in_len.tolist()}")
    targets = targets.long()
    for b in range(B):
        lab = targets[b, : int(tgt_len[b])]
        if bool((lab == blank).any()):
            raise ValueError(f"target {b} contains the blank class {blank} at position "
                             f"{int((lab == blank).nonzero()[0])}; labels must be other classes")
        if bool(((lab < 0) | (lab >= C)).any()):
            raise ValueError(f"target {b} has class ids outside 0..{C - 1}: {lab.tolist()}")
        need = min_input_length(lab.tolist())
        if need > int(in_len[b]):
            raise ValueError(f"target {b} ({int(tgt_len[b])} labels) needs at least {need} input "
                             f"steps (one per label and a blank between repeated labels), but "
                             f"its input length is {int(in_len[b])}")
    return targets, in_len, tgt_len


def _gather(lp_t: torch.Tensor, ext: torch.Tensor) -> torch.Tensor:
    """lp_t (B, C), ext (B, S') -> the log-probability of each extended position's class (B, S')."""
    return lp_t.gather(1, ext)


def _skip_allowed(ext: torch.Tensor, blank: int) -> torch.Tensor:
    """(B, S') True where position s may be entered from s - 2: a label unlike the one before it."""
    allowed = torch.zeros_like(ext, dtype=torch.bool)
    allowed[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
    return allowed


def _lse3(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """log(e^a + e^b + e^c) elementwise, -inf (not NaN) where all three are -inf."""
    m = torch.maximum(torch.maximum(a, b), c)
    m_safe = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    s = (a - m_safe).exp() + (b - m_safe).exp() + (c - m_safe).exp()
    return torch.where(torch.isfinite(m), m_safe + s.log(), m)


def ctc_forward(log_probs: torch.Tensor, ext: torch.Tensor, input_lengths: torch.Tensor,
                blank: int = 0) -> torch.Tensor:
    """Log forward variables alpha (T, B, S'): log P(emissions 1..t, at extended position s at t).

    For t at or past a sequence's input length the last valid alpha is carried unchanged.
    """
    T, B, _ = log_probs.shape
    S = ext.shape[1]
    allowed = _skip_allowed(ext, blank)
    neg = torch.full((B, S), NEG_INF, dtype=log_probs.dtype, device=log_probs.device)
    alpha = neg.clone()
    emit = _gather(log_probs[0], ext)
    alpha[:, 0] = emit[:, 0]
    if S > 1:
        alpha[:, 1] = emit[:, 1]
    out = [alpha]
    for t in range(1, T):
        stay = alpha
        step = torch.cat([neg[:, :1], alpha[:, :-1]], dim=1)
        skip = torch.where(allowed, torch.cat([neg[:, :2], alpha[:, :-2]], dim=1), neg)
        new = _lse3(stay, step, skip) + _gather(log_probs[t], ext)
        alpha = torch.where((t < input_lengths)[:, None], new, alpha)
        out.append(alpha)
    return torch.stack(out)


def ctc_backward(log_probs: torch.Tensor, ext: torch.Tensor, input_lengths: torch.Tensor,
                 target_lengths: torch.Tensor, blank: int = 0) -> torch.Tensor:
    """Log backward variables beta (T, B, S'): log P(emissions t+1..T_b | at position s at t).

    beta excludes step t's own emission, so alpha_t(s) + beta_t(s) - log p is the log posterior
    of position s at step t. Steps at or past a sequence's input length hold -inf.
    """
    T, B, _ = log_probs.shape
    S = ext.shape[1]
    allowed = _skip_allowed(ext, blank)
    neg = torch.full((B, S), NEG_INF, dtype=log_probs.dtype, device=log_probs.device)
    pos = torch.arange(S, device=ext.device)[None, :]
    last = 2 * target_lengths[:, None]
    init = torch.where((pos == last) | (pos == last - 1), torch.zeros_like(neg), neg)
    beta = neg.clone()
    out = [None] * T
    for t in range(T - 1, -1, -1):
        if t < T - 1:
            nxt = beta + _gather(log_probs[t + 1], ext)   # beta_{t+1}(s) * y_{t+1}(l'_s)
            stay = nxt
            step = torch.cat([nxt[:, 1:], neg[:, :1]], dim=1)
            # s -> s + 2 is allowed exactly when s + 2 may be entered from s
            skip = torch.cat([torch.where(allowed, nxt, neg)[:, 2:], neg[:, :2]], dim=1)
            rec = _lse3(stay, step, skip)
        else:
            rec = neg
        is_last = (t == input_lengths - 1)[:, None]
        inside = (t < input_lengths - 1)[:, None]
        beta = torch.where(is_last, init, torch.where(inside, rec, neg))
        out[t] = beta
    return torch.stack(out)


def _nll_from_alpha(alpha: torch.Tensor, input_lengths: torch.Tensor,
                    target_lengths: torch.Tensor) -> torch.Tensor:
    B = alpha.shape[1]
    final = alpha[input_lengths - 1, torch.arange(B, device=alpha.device)]   # (B, S')
    last = 2 * target_lengths
    end = final.gather(1, last[:, None])[:, 0]
    before = final.gather(1, (last - 1).clamp(min=0)[:, None])[:, 0]
    before = torch.where(target_lengths > 0, before, torch.full_like(before, NEG_INF))
    return -torch.logaddexp(end, before)


def ctc_posteriors(log_probs: torch.Tensor, targets: torch.Tensor, input_lengths, target_lengths,
                   blank: int = 0) -> torch.Tensor:
    """(T, B, C): the posterior probability that step t emits class k, summed over alignments."""
    with torch.no_grad():
        targets, in_len, tgt_len = _check(log_probs, targets, input_lengths, target_lengths, blank)
        ext = extend_with_blanks(targets, blank)
        alpha = ctc_forward(log_probs, ext, in_len, blank)
        nll = _nll_from_alpha(alpha, in_len, tgt_len)
        beta = ctc_backward(log_probs, ext, in_len, tgt_len, blank)
        log_gamma = alpha + beta + nll[None, :, None]          # per extended position
        gamma = torch.where(torch.isfinite(nll)[None, :, None], log_gamma.exp(),
                            torch.zeros_like(log_gamma))
        out = torch.zeros_like(log_probs)
        out.scatter_add_(2, ext[None].expand(log_probs.shape[0], -1, -1), gamma)
    return out


class _CTC(torch.autograd.Function):
    """Loss by the forward recursion; its gradient by the backward recursion."""

    @staticmethod
    def forward(ctx, log_probs, targets, in_len, tgt_len, blank):
        ext = extend_with_blanks(targets, blank)
        alpha = ctc_forward(log_probs, ext, in_len, blank)
        nll = _nll_from_alpha(alpha, in_len, tgt_len)
        ctx.save_for_backward(log_probs, ext, in_len, tgt_len, alpha, nll)
        ctx.blank = blank
        return nll

    @staticmethod
    def backward(ctx, grad_nll):
        log_probs, ext, in_len, tgt_len, alpha, nll = ctx.saved_tensors
        beta = ctc_backward(log_probs, ext, in_len, tgt_len, ctx.blank)
        log_gamma = alpha + beta + nll[None, :, None]
        # an impossible sequence (p = 0, nll = inf) has no gradient rather than a NaN one
        gamma = torch.where(torch.isfinite(nll)[None, :, None], log_gamma.exp(),
                            torch.zeros_like(log_gamma))
        grad = torch.zeros_like(log_probs)
        grad.scatter_add_(2, ext[None].expand(log_probs.shape[0], -1, -1), gamma)
        return -grad * grad_nll[None, :, None], None, None, None, None


def ctc_loss(log_probs: torch.Tensor, targets: torch.Tensor, input_lengths, target_lengths,
             blank: int = 0) -> torch.Tensor:
    """Per-sequence CTC negative log-likelihood (B,) of padded `targets` under (T, B, C) log_probs."""
    targets, in_len, tgt_len = _check(log_probs, targets, input_lengths, target_lengths, blank)
    return _CTC.apply(log_probs, targets, in_len, tgt_len, int(blank))


def _one_sequence(log_probs, blank: int) -> np.ndarray:
    """(T, C) or (T, 1, C) log-probabilities of one sequence as a float64 NumPy array."""
    if hasattr(log_probs, "detach"):
        log_probs = log_probs.detach().cpu().numpy()
    lp = np.asarray(log_probs, dtype=np.float64)
    if lp.ndim == 3 and lp.shape[1] == 1:
        lp = lp[:, 0]
    if lp.ndim != 2 or lp.shape[0] < 1:
        raise ValueError(f"expected the log-probabilities of ONE sequence, shape (T, C) or "
                         f"(T, 1, C), got shape {lp.shape}; decode a batch one column at a time")
    if not 0 <= blank < lp.shape[1]:
        raise ValueError(f"blank={blank} is not a class: there are C={lp.shape[1]} classes")
    return lp


def greedy_decode(log_probs, blank: int = 0) -> list[int]:
    """Best path decoding: the most likely class at every step, collapsed."""
    lp = _one_sequence(log_probs, blank)
    return collapse(lp.argmax(axis=1), blank)


def prefix_beam_search(log_probs, width: int, blank: int = 0) -> list[tuple[list[int], float]]:
    """The `width` most probable label sequences found by prefix beam search, best first.

    Each prefix keeps two log-probabilities: of the alignments so far that end in a blank and of
    those that end in its last label, because only the first may be extended by a repeat of that
    label. Scores are log P(labels) summed over alignments; with a width at least the number of
    prefixes reached they are exact.
    """
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    lp = _one_sequence(log_probs, blank)
    T, C = lp.shape
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, NEG_INF)}  # (blank, non-blank)
    for t in range(T):
        new: dict[tuple[int, ...], list[float]] = {}

        def add(prefix, which, value):
            cur = new.setdefault(prefix, [NEG_INF, NEG_INF])
            cur[which] = np.logaddexp(cur[which], value)

        for prefix, (p_b, p_nb) in beams.items():
            total = np.logaddexp(p_b, p_nb)
            add(prefix, 0, total + lp[t, blank])              # emit a blank: prefix unchanged
            if prefix:                                        # repeat the last label: merged
                add(prefix, 1, p_nb + lp[t, prefix[-1]])
            for k in range(C):
                if k == blank:
                    continue
                if prefix and k == prefix[-1]:
                    add(prefix + (k,), 1, p_b + lp[t, k])     # a new k needs a blank before it
                else:
                    add(prefix + (k,), 1, total + lp[t, k])
        # a prefix no alignment reaches (its score is -inf) is not a candidate
        ranked = sorted(((p, v) for p, v in new.items() if np.logaddexp(*v) > NEG_INF),
                        key=lambda kv: -np.logaddexp(*kv[1]))
        beams = {p: (v[0], v[1]) for p, v in ranked[:width]}
    ranked = sorted(beams.items(), key=lambda kv: -np.logaddexp(*kv[1]))
    return [(list(p), float(np.logaddexp(*v))) for p, v in ranked]
