"""Checkers for chapter 5, Gated recurrent units: LSTM and GRU steps, a minimal GRU, parameter counts."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .. import cells as _cells
from ._core import Case, Score, compare_arrays, fresh_seed, run_checks


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


def _cell_reference(cls, x, h, W_ih, W_hh, b_ih, b_hh, c=None):
    """Run one step of an rnnbook.cells cell, in float64, with the given parameters."""
    cell = cls(W_ih.shape[1], W_hh.shape[1], dtype=torch.float64)
    with torch.no_grad():
        for name, value in (("weight_ih", W_ih), ("weight_hh", W_hh), ("bias_ih", b_ih), ("bias_hh", b_hh)):
            getattr(cell, name).copy_(torch.from_numpy(value))
        state = torch.from_numpy(h) if c is None else (torch.from_numpy(h), torch.from_numpy(c))
        out = cell(torch.from_numpy(x), state)
    return tuple(o.numpy() for o in out) if c is not None else out.numpy()


def _sizes(rng, cases: int, gates: int):
    for _ in range(cases):
        b, i, h = (int(v) for v in rng.integers(1, 7, size=3))
        yield b, i, h, rng.normal(size=(gates * h, i)), rng.normal(size=(gates * h, h)) * 0.7


def check_lstm_step(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(x, h, c, W_ih, W_hh, b) -> (h_new, c_new)`, gates stacked i|f|g|o."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    H = 2
    W_ih, W_hh = np.zeros((4 * H, 1)), np.zeros((4 * H, H))
    b = np.array([0.0, 0, 50, 50, 0, 0, 50, 50])  # f = 1, o = 1, i = g = 0.5 for the first unit
    cases.append(Case((np.ones((1, 1)), np.zeros((1, H)), np.array([[1.0, -2.0]]), W_ih, W_hh, b), None,
                      "hand-made gates (all weights zero): c' = f*c + i*g, h' = o*tanh(c')"))
    for B, I, H, W_ih, W_hh in _sizes(rng, 5, 4):
        cases.append(Case((rng.normal(size=(B, I)), rng.normal(size=(B, H)), rng.normal(size=(B, H)),
                           W_ih, W_hh, rng.normal(size=4 * H)), None, f"B={B}, input {I}, hidden {H}"))
    for case in cases:
        x, h, c, W_ih, W_hh, b = case.args
        case.expected = _cell_reference(_cells.LSTMCell, x, h, W_ih, W_hh, b, np.zeros_like(b), c)
        case.args = tuple(np.array(a, copy=True) for a in case.args)

    def compare(got, expected):
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return f"expected a pair (h_new, c_new), got {type(got).__name__}"
        return (compare_arrays(got[1], expected[1], what="new cell state c", rtol=1e-9, atol=1e-12)
                or compare_arrays(got[0], expected[0], what="new hidden state h", rtol=1e-9, atol=1e-12))

    return run_checks("lstm_step", func, cases, compare, points, seed)


def check_gru_step(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(x, h, W_ih, W_hh, b_ih, b_hh) -> h_new`, gates stacked r|z|n as in torch.nn.GRU."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for B, I, H, W_ih, W_hh in _sizes(rng, 6, 3):
        cases.append(Case((rng.normal(size=(B, I)), rng.normal(size=(B, H)), W_ih, W_hh,
                           rng.normal(size=3 * H), rng.normal(size=3 * H)), None, f"B={B}, input {I}, hidden {H}"))
    for case in cases:
        case.expected = _cell_reference(_cells.GRUCell, *case.args)
        case.args = tuple(np.array(a, copy=True) for a in case.args)

    def compare(got, expected):
        return compare_arrays(got, expected, what="new hidden state", rtol=1e-9, atol=1e-12)

    return run_checks("gru_step", func, cases, compare, points, seed)


def _minimal_gru(x, h, W_z, U_z, b_z, W_h, U_h, b_h):
    z = _sigmoid(x @ W_z.T + h @ U_z.T + b_z)
    return z * h + (1 - z) * np.tanh(x @ W_h.T + h @ U_h.T + b_h)


def check_minimal_gru_step(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(x, h, W_z, U_z, b_z, W_h, U_h, b_h) -> h_new` of the update-gate-only GRU."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    H = 3
    big = np.full(H, 40.0)
    cases.append(Case((np.ones((1, 2)), np.array([[0.5, -1.0, 2.0]]), np.zeros((H, 2)), np.zeros((H, H)), big,
                       rng.normal(size=(H, 2)), rng.normal(size=(H, H)), np.zeros(H)), None,
                      "an update gate saturated at z = 1: the state must be kept unchanged"))
    for _ in range(5):
        B, I, H = (int(v) for v in rng.integers(1, 7, size=3))
        args = (rng.normal(size=(B, I)), rng.normal(size=(B, H)))
        for _gate in range(2):
            args += (rng.normal(size=(H, I)), rng.normal(size=(H, H)), rng.normal(size=H))
        cases.append(Case(args, None, f"B={B}, input {I}, hidden {H}"))
    for case in cases:
        case.expected = _minimal_gru(*case.args)
        case.args = tuple(np.array(a, copy=True) for a in case.args)

    def compare(got, expected):
        return compare_arrays(got, expected, what="new hidden state", rtol=1e-9, atol=1e-12)

    return run_checks("minimal_gru_step", func, cases, compare, points, seed)


def check_param_count(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(kind, input_size, hidden_size) -> int` for kind in 'rnn', 'gru', 'lstm' (torch.nn)."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    layers = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}
    cases = []
    for kind in ("rnn", "gru", "lstm", "lstm", "gru", "rnn"):
        i, h = int(rng.integers(1, 300)), int(rng.integers(1, 300))
        count = sum(p.numel() for p in layers[kind](i, h).parameters())
        cases.append(Case((kind, i, h), count, f"kind={kind!r}, input_size={i}, hidden_size={h}"))

    def compare(got, expected):
        try:
            value = float(got)
        except (TypeError, ValueError):
            return f"expected a number, got {type(got).__name__}"
        if value != expected:
            return f"got {got!r:.60}, expected {expected}"
        return None

    return run_checks("param_count", func, cases, compare, points, seed)
