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


# --- issue 19: the LSTM step backward pass, the cell path's gradient, the forget-gate bias experiment

_FORBID_AUTOGRAD = ("torch.autograd", "torch.func")
_BACKWARD_NAMES = ("dx", "dh", "dc", "dW_ih", "dW_hh", "db")


def _lstm_backward_reference(x, h, c, W_ih, W_hh, b, dh_new, dc_new):
    """The checker's own gradients of sum(dh_new * h_new + dc_new * c_new), by torch autograd."""
    leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, h, c, W_ih, W_hh, b)]
    tx, th, tc, tW, tU, tb = leaves
    i, f, g, o = torch.chunk(tx @ tW.T + th @ tU.T + tb, 4, dim=1)
    c_new = torch.sigmoid(f) * tc + torch.sigmoid(i) * torch.tanh(g)
    h_new = torch.sigmoid(o) * torch.tanh(c_new)
    loss = (h_new * torch.from_numpy(dh_new)).sum() + (c_new * torch.from_numpy(dc_new)).sum()
    return tuple(g.numpy() for g in torch.autograd.grad(loss, leaves))


def check_lstm_step_backward(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(x, h, c, W_ih, W_hh, b, dh_new, dc_new) -> (dx, dh, dc, dW_ih, dW_hh, db)`."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    H = 2  # all weights zero, gates set by the bias: i = g = f = o = 1/2 at tanh(0) = 0 for g
    cases.append(Case((np.ones((1, 1)), np.zeros((1, H)), np.array([[1.0, -2.0]]), np.zeros((4 * H, 1)),
                       np.zeros((4 * H, H)), np.zeros(4 * H), np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])),
                      None, "all weights and biases zero, one sequence, upstream gradients one-hot"))
    for B, I, H, W_ih, W_hh in _sizes(rng, 3, 4):
        cases.append(Case((rng.normal(size=(B, I)), rng.normal(size=(B, H)), rng.normal(size=(B, H)), W_ih,
                           W_hh, rng.normal(size=4 * H), rng.normal(size=(B, H)), rng.normal(size=(B, H))),
                          None, f"B={B}, input {I}, hidden {H}"))
    B, I, H = 3, 2, 4  # a saturated forget gate: the cell path passes dc_new through unchanged
    b = rng.normal(size=4 * H)
    b[H:2 * H] = 40.0
    cases.append(Case((rng.normal(size=(B, I)), rng.normal(size=(B, H)), rng.normal(size=(B, H)),
                       rng.normal(size=(4 * H, I)) * 0.5, rng.normal(size=(4 * H, H)) * 0.5, b,
                       np.zeros((B, H)), rng.normal(size=(B, H))), None,
                      "a forget gate saturated open (bias 40) and dh_new = 0"))
    B, I, H = int(rng.integers(2, 5)), int(rng.integers(1, 5)), int(rng.integers(2, 6))
    cases.append(Case((rng.normal(size=(B, I)) * 3, rng.normal(size=(B, H)), rng.normal(size=(B, H)) * 3,
                       rng.normal(size=(4 * H, I)), rng.normal(size=(4 * H, H)), rng.normal(size=4 * H) * 2,
                       rng.normal(size=(B, H)), rng.normal(size=(B, H))), None,
                      f"large inputs (saturating gates), B={B}, input {I}, hidden {H}"))
    for case in cases:
        case.expected = _lstm_backward_reference(*case.args)
        case.args = tuple(np.array(a, copy=True) for a in case.args)

    def compare(got, expected):
        if not isinstance(got, (tuple, list)) or len(got) != 6:
            return f"expected a tuple of six gradients ({', '.join(_BACKWARD_NAMES)}), got {type(got).__name__}"
        for g, e, name in zip(got, expected, _BACKWARD_NAMES):
            problem = compare_arrays(g, e, what=f"gradient {name}", rtol=1e-7, atol=1e-10)
            if problem:
                return problem
        return None

    return run_checks("lstm_step_backward", func, cases, compare, points, seed, forbid=_FORBID_AUTOGRAD)


def check_forget_bias_for_memory(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(T, keep) -> float`: the forget-gate bias whose cell path keeps `keep` over T steps."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    specs = [(1, 0.5, "one step, keep half")]
    for _ in range(5):
        specs.append((int(rng.integers(2, 200)), float(rng.uniform(0.01, 0.9)), "random T and share"))
    cases = []
    for T, keep, description in specs:
        per_step = keep ** (1.0 / T)  # sigma(b)^T = keep
        cases.append(Case((T, keep), float(np.log(per_step) - np.log1p(-per_step)),
                          f"{description}: T={T}, keep={keep:.4g}"))

    def compare(got, expected):
        try:
            value = float(got.item() if hasattr(got, "item") else got)
        except (TypeError, ValueError):
            return f"expected a number, got {type(got).__name__}"
        if not np.isfinite(value) or not np.isclose(value, expected, rtol=1e-6, atol=1e-9):
            return f"got {value!r}, expected {expected!r}"
        return None

    return run_checks("forget_bias_for_memory", func, cases, compare, points, seed)


REACH_BIASES = tuple(float(b) for b in np.arange(0.0, 6.01, 0.5))  # the grid the experiment scans
_REACH_HIDDEN = 16


def _reach_experiment(T: int, seed: int) -> tuple[list[float], list[dict]]:
    """The experiment exactly as the exercise states it: the ratio and the LSTM for every bias.

    A ratio over 256 sequences scatters from one draw of sequences to the next (against 4,096
    sequences, 99 % of draws within a factor 1.45, the worst of 1,500 off by 2.9: a few
    sequences carry most of the gradient), so no tolerance on fresh sequences is both safe and
    tight. The exercise fixes the seed and the order of the draws instead, and the checker
    repeats them; the global generator is restored afterwards.
    """
    H, ratios, states = _REACH_HIDDEN, [], []
    with torch.random.fork_rng(devices=[]):
        for bias in REACH_BIASES:
            torch.manual_seed(seed)
            lstm = torch.nn.LSTM(1, H, dtype=torch.float64)
            with torch.no_grad():
                lstm.bias_ih_l0[H:2 * H] = bias
                lstm.bias_hh_l0[H:2 * H] = 0.0
            x = torch.randn(T, 256, 1, dtype=torch.float64, requires_grad=True)
            grad, = torch.autograd.grad(lstm(x)[0][-1].sum(), x)
            ratios.append(float(grad[0].norm() / grad[-1].norm()))
            states.append({k: v.detach().clone() for k, v in lstm.state_dict().items()})
    return ratios, states


def check_gradient_reach(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(T, target, seed) -> (bias, state_dict, ratios)`, the forget-bias experiment.

    `ratios` are the student's measured ||dh_T/dx_1|| / ||dh_T/dx_T|| for REACH_BIASES, `bias` the
    smallest of them whose ratio reaches `target`, `state_dict` the LSTM measured at that bias.
    The checker repeats the experiment with the same seed and compares all three.
    """
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(2):
        T, target = int(rng.integers(30, 61)), float(10 ** rng.uniform(-3, -1))
        run_seed = int(rng.integers(0, 2**31))
        cases.append(Case((T, target, run_seed), (target, *_reach_experiment(T, run_seed)),
                          f"T={T}, target ratio {target:.3g}, seed {run_seed}"))

    def compare(got, expected):
        target, true_ratios, true_states = expected
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            return f"expected a tuple (bias, state_dict, ratios), got {type(got).__name__}"
        bias, state, ratios = got
        try:
            bias, ratios = float(bias), [float(r) for r in ratios]
        except (TypeError, ValueError):
            return "bias must be a number and ratios a list of numbers"
        if len(ratios) != len(REACH_BIASES):
            return f"expected {len(REACH_BIASES)} ratios (one per bias 0, 0.5, ..., 6), got {len(ratios)}"
        for b, mine, true in zip(REACH_BIASES, ratios, true_ratios):
            if not np.isclose(mine, true, rtol=1e-6, atol=0.0):
                return (f"at bias {b:g} your ratio is {mine:.6g}, the experiment as stated gives "
                        f"{true:.6g}: for every bias call torch.manual_seed(seed), then build the "
                        "float64 LSTM, set its forget biases, then draw x (in that order), and take "
                        "the norms of the gradient at the first and the last step over the batch")
        on_grid = [k for k, b in enumerate(REACH_BIASES) if abs(b - bias) < 1e-9]
        if not on_grid:
            return f"the bias {bias!r} is not one of the grid's values 0, 0.5, ..., 6"
        k, bias = on_grid[0], REACH_BIASES[on_grid[0]]
        if ratios[k] < target or any(r >= target for r in ratios[:k]):
            return f"your own ratios say that {bias:g} is not the smallest bias reaching the target"
        if not isinstance(state, dict) or set(state) != set(true_states[k]):
            return "the state_dict is not an nn.LSTM(1, 16)'s state_dict (lstm.state_dict())"
        for name, value in true_states[k].items():
            mine = torch.as_tensor(state[name]).detach().double().cpu()
            if mine.shape != value.shape or not torch.allclose(mine, value, rtol=0.0, atol=1e-12):
                return (f"the returned state_dict's {name} is not that of the LSTM measured at "
                        f"bias {bias:g}")
        return None

    return run_checks("gradient_reach", func, cases, compare, points, seed,
                      allow=("torch.nn.LSTM", "torch.lstm"))
