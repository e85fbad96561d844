"""Checkers for chapter 2, Recurrent networks."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import scratch as _scratch
from ._core import Case, Score, compare_arrays, fresh_seed, run_checks


def _weights(rng: np.random.Generator, D: int, H: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (rng.normal(0, 0.8, (H, D)), rng.normal(0, 0.8, (H, H)), rng.normal(0, 0.5, H))


def _describe(D: int, H: int, T: int | None = None) -> str:
    return f"D={D}, H={H}" + ("" if T is None else f", T={T}")


def check_rnn_step(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(x, h_prev, W_xh, W_hh, b_h) -> h` (H,) for the vanilla tanh step."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(5):
        D, H = int(rng.integers(1, 7)), int(rng.integers(1, 7))
        if i == 0:
            D, H = 3, 2
        W_xh, W_hh, b_h = _weights(rng, D, H)
        x, h_prev = rng.normal(size=D), rng.normal(0, 0.7, H)
        what = _describe(D, H)
        if i == 1:
            h_prev = np.zeros(H)
            what += ", h_prev = 0"
        cases.append(Case((x, h_prev, W_xh, W_hh, b_h), _scratch.rnn_step(x, h_prev, W_xh, W_hh, b_h),
                          what))
    for case in cases:
        case.args = tuple(a.copy() for a in case.args)

    def compare(got, expected):
        return compare_arrays(got, expected, what="new hidden state")

    return run_checks("rnn_step", func, cases, compare, points, seed)


def check_rnn_forward(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(xs, h0, W_xh, W_hh, b_h) -> states` (T, H): the step unrolled over xs (T, D)."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(5):
        D, H, T = int(rng.integers(1, 6)), int(rng.integers(2, 6)), int(rng.integers(2, 9))
        if i == 0:
            T = 1
        W_xh, W_hh, b_h = _weights(rng, D, H)
        xs, h0 = rng.normal(size=(T, D)), rng.normal(0, 0.7, H)
        what = _describe(D, H, T) + (", a single step" if T == 1 else "")
        cases.append(Case((xs, h0, W_xh, W_hh, b_h), _scratch.rnn_forward(xs, h0, W_xh, W_hh, b_h),
                          what))
    for case in cases:
        case.args = tuple(a.copy() for a in case.args)

    def compare(got, expected):
        return compare_arrays(got, expected, what="array of hidden states (T, H)")

    return run_checks("rnn_forward", func, cases, compare, points, seed)


def check_perplexity(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(logits, targets) -> float`: exp of the mean per-step cross-entropy."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    V = 4
    cases.append(Case((np.zeros((3, V)), np.array([0, 1, 2])), float(V),
                      "uniform predictions over V=4 (the answer is V)"))
    for _ in range(3):
        T, V = int(rng.integers(1, 10)), int(rng.integers(2, 12))
        logits, targets = rng.normal(0, 2, (T, V)), rng.integers(0, V, T)
        cases.append(Case((logits, targets), _scratch.perplexity(logits, targets), f"T={T}, V={V}"))
    T, V = 5, 6
    logits, targets = rng.normal(0, 2, (T, V)) + 800.0, rng.integers(0, V, T)
    cases.append(Case((logits, targets), _scratch.perplexity(logits, targets),
                      "logits around 800 (exp overflows unless the maximum is subtracted)"))
    for case in cases:
        case.args = tuple(a.copy() for a in case.args)

    def compare(got, expected):
        try:
            value = float(np.asarray(got, dtype=np.float64).reshape(()))
        except Exception:  # noqa: BLE001 - a reader may return anything
            return f"expected one number, got {type(got).__name__} {np.shape(got)}"
        return compare_arrays(np.array(value), np.array(expected), what="perplexity", rtol=1e-6)

    return run_checks("perplexity", func, cases, compare, points, seed,
                      forbid=("torch.nn.functional.cross_entropy", "torch.nn.functional.nll_loss",
                                 "torch.nn.modules.loss"))


def check_greedy_generate(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(params, h0, first_index, n_steps) -> indices` (n_steps,) generated greedily."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(5):
        V, H, n = int(rng.integers(3, 9)), int(rng.integers(2, 9)), int(rng.integers(1, 12))
        params = _scratch.VanillaRNN(V, H, seed=int(rng.integers(2 ** 31))).params
        for name in params:   # larger weights than at initialisation, so the outputs vary
            params[name] = rng.normal(0, 1.2, params[name].shape)
        h0 = np.zeros(H) if i == 0 else rng.normal(0, 0.7, H)
        first = int(rng.integers(V))
        expected = _scratch.greedy_generate(params, h0, first, n)
        what = f"V={V}, H={H}, first_index={first}, n_steps={n}" + (", h0 = 0" if i == 0 else "")
        cases.append(Case(({k: v.copy() for k, v in params.items()}, h0.copy(), first, n),
                          expected, what))

    def compare(got, expected):
        return compare_arrays(got, expected, what="generated sequence of indices", dtype_kind="iu")

    return run_checks("greedy_generate", func, cases, compare, points, seed)
