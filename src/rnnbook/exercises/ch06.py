"""Checkers for chapter 6, Deeper and wider recurrence: bidirectional layers, highway layers, gating."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .. import cells as _cells
from ._core import Case, Score, compare_arrays, fresh_seed, run_checks


def _direction(module: torch.nn.Module, suffix: str) -> _cells.Recurrent:
    """A one-direction rnnbook layer holding the weights of one direction of a torch layer."""
    single = type(module)(module.input_size, module.hidden_size, dtype=torch.float64)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(single, f"{name}_l0").copy_(getattr(module, f"{name}_l0{suffix}"))
    return _cells.Recurrent.from_torch(single)


def check_bidirectional(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(forward_layer, backward_layer, x) -> (T, B, 2H)` against torch's bidirectional layers."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    cases = []
    for kind in (torch.nn.GRU, torch.nn.LSTM, torch.nn.RNN, torch.nn.GRU):
        T, B, D, H = (int(v) for v in rng.integers(1, 8, size=4))
        T += 1
        module = kind(D, H, bidirectional=True, dtype=torch.float64)
        x = torch.randn(T, B, D, dtype=torch.float64)
        with torch.no_grad():
            expected = module(x)[0].numpy()
        cases.append(Case((_direction(module, ""), _direction(module, "_reverse"), x), expected,
                          f"a {kind.__name__} pair, T={T}, B={B}, D={D}, H={H}"))

    def compare(got, expected):
        return compare_arrays(got, expected, what="bidirectional output", rtol=1e-9, atol=1e-12)

    return run_checks("bidirectional", func, cases, compare, points, seed)


def _highway(x, W_h, b_h, W_t, b_t):
    transform = 1 / (1 + np.exp(-(x @ W_t.T + b_t)))
    return transform * np.maximum(x @ W_h.T + b_h, 0) + (1 - transform) * x


def check_highway_layer(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(x, W_h, b_h, W_t, b_t) -> (N, D)`: y = T * relu(x W_h^T + b_h) + (1 - T) * x."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    D = 3
    cases = [Case((rng.normal(size=(2, D)), rng.normal(size=(D, D)), rng.normal(size=D), np.zeros((D, D)),
                   np.full(D, -40.0)), None, "a transform gate shut (T = 0): the input must pass unchanged")]
    for _ in range(5):
        N, D = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        cases.append(Case((rng.normal(size=(N, D)), rng.normal(size=(D, D)), rng.normal(size=D),
                           rng.normal(size=(D, D)), rng.normal(size=D)), None, f"N={N}, D={D}"))
    for case in cases:
        case.expected = _highway(*case.args)
        case.args = tuple(a.copy() for a in case.args)

    def compare(got, expected):
        return compare_arrays(got, expected, what="highway output", rtol=1e-9, atol=1e-12)

    return run_checks("highway_layer", func, cases, compare, points, seed)


def _mixture(expert_outputs, gate_logits):
    z = gate_logits - gate_logits.max(axis=1, keepdims=True)
    gates = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return np.einsum("nk,nkd->nd", gates, expert_outputs)


def check_mixture_output(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(expert_outputs (N, K, D), gate_logits (N, K)) -> (N, D)`, the softmax-gated mixture."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((np.array([[[1.0], [3.0]]]), np.zeros((1, 2))), None, "two experts, equal gates: the mean")]
    for _ in range(4):
        N, K, D = (int(v) for v in rng.integers(1, 6, size=3))
        cases.append(Case((rng.normal(size=(N, K, D)), rng.normal(size=(N, K)) * 2), None, f"N={N}, K={K}, D={D}"))
    cases.append(Case((rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 4)) * 50 + 800), None,
                      "very large gate logits (a naive softmax overflows)"))
    for case in cases:
        case.expected = _mixture(*case.args)
        case.args = tuple(a.copy() for a in case.args)

    def compare(got, expected):
        return compare_arrays(got, expected, what="mixture output", rtol=1e-9, atol=1e-12)

    return run_checks("mixture_output", func, cases, compare, points, seed)


def _reverse_padded(x, lengths):
    out = x.copy()
    for b, n in enumerate(lengths):
        out[:n, b] = x[:n, b][::-1]
    return out


def check_reverse_padded(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(x (T, B, F), lengths (B,)) -> (T, B, F)`, each sequence reversed within its length."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((np.arange(6.0).reshape(3, 2, 1), np.array([3, 3])), None, "no padding: a plain time reversal")]
    for _ in range(4):
        T, B, F = int(rng.integers(2, 9)), int(rng.integers(1, 6)), int(rng.integers(1, 4))
        lengths = rng.integers(1, T + 1, size=B)
        cases.append(Case((rng.normal(size=(T, B, F)), lengths), None, f"T={T}, lengths {lengths.tolist()}"))
    cases.append(Case((rng.normal(size=(5, 3, 2)), np.array([1, 5, 2])), None, "a sequence of length 1"))
    for case in cases:
        case.expected = _reverse_padded(*case.args)
        case.args = tuple(a.copy() for a in case.args)

    def compare(got, expected):
        return compare_arrays(got, expected, what="reversed batch", rtol=1e-12, atol=0)

    return run_checks("reverse_padded", func, cases, compare, points, seed)
