"""Checkers for chapter 2, Recurrent networks."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import scratch as _scratch
from ._core import Case, Score, as_whole_number, compare_arrays, fresh_seed, run_checks
from ._guard import SOFTMAX_FUNCTIONS as _SOFTMAX_FORBID


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


def check_rnn_costs(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(D, H, V, T) -> (n_params, n_multiply_adds)` of a vanilla RNN with an output
    layer at every step, run forward over T steps."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((1, 1, 1, 1), None, "D = H = V = T = 1")]
    for i in range(5):
        D, H, V = (int(rng.integers(1, 300)) for _ in range(3))
        T = int(rng.integers(1, 500)) if i else 1
        cases.append(Case((D, H, V, T), None, f"D={D}, H={H}, V={V}, T={T}"))
    for case in cases:
        D, H, V, T = case.args
        weights = {"W_xh": H * D, "W_hh": H * H, "W_hy": V * H}
        case.expected = (sum(weights.values()) + H + V, T * sum(weights.values()))

    def compare(got, expected):
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return f"expected a pair (n_params, n_multiply_adds), got {type(got).__name__}"
        for g, e, name in zip(got, expected, ("n_params", "n_multiply_adds")):
            value = as_whole_number(g)
            if value is None:
                return f"{name} should be a whole number, got {g!r:.60}"
            if value != e:
                return f"{name} is {value}, expected {e}"
        return None

    return run_checks("rnn_costs", func, cases, compare, points, seed)


def _reservoir(rng: np.random.Generator, H: int, radius: float) -> tuple[np.ndarray, np.ndarray]:
    W_hh = rng.normal(size=(H, H))
    W_hh *= radius / np.max(np.abs(np.linalg.eigvals(W_hh)))
    return rng.normal(0, 0.5, H), W_hh


def _memory_curve(W_xh, W_hh, xs, max_delay, washout):
    """The checker's own run: R^2 of the best linear read-out of x_{t-d} from h_t, d = 0..max_delay."""
    h, states = np.zeros(len(W_xh)), []
    for x in xs:
        h = np.tanh(W_xh * x + W_hh @ h)
        states.append(h)
    ts = np.arange(washout, len(xs))
    design = np.column_stack([np.array(states)[ts], np.ones(len(ts))])
    r2 = []
    for d in range(max_delay + 1):
        target = xs[ts - d]
        fit = design @ np.linalg.lstsq(design, target, rcond=None)[0]
        r2.append(1 - np.sum((target - fit) ** 2) / np.sum((target - target.mean()) ** 2))
    return np.array(r2)


def check_memory_curve(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(W_xh, W_hh, xs, max_delay, washout) -> r2` (max_delay + 1,) on fresh random
    recurrent networks: how well a linear read-out of h_t recovers the input d steps back."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for radius in (0.5, 0.95, float(rng.uniform(0.3, 1.0)), float(rng.uniform(0.3, 1.0))):
        H, T, max_delay = int(rng.integers(6, 25)), int(rng.integers(300, 700)), int(rng.integers(8, 20))
        W_xh, W_hh = _reservoir(rng, H, radius)
        xs = rng.uniform(-1, 1, T)
        washout = max_delay + int(rng.integers(0, 30))
        cases.append(Case((W_xh, W_hh, xs, max_delay, washout),
                          _memory_curve(W_xh, W_hh, xs, max_delay, washout),
                          f"H={H}, spectral radius {radius:.2f}, T={T}, max_delay={max_delay}, "
                          f"washout={washout}"))
    for case in cases:
        case.args = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in case.args)

    def compare(got, expected):
        return compare_arrays(got, expected, what="memory curve (R^2 per delay)", rtol=1e-6, atol=1e-6)

    return run_checks("memory_curve", func, cases, compare, points, seed,
                      forbid=("sklearn.linear_model",))


def _one_by_one(params, xs, lengths, labels):
    """The checker's own answer: each sequence run alone to its length, no padding at all."""
    losses, finals = [], []
    for x, n, y in zip(xs, lengths, labels):
        h = np.zeros(len(params["b_h"]))
        for t in range(int(n)):
            h = np.tanh(params["W_xh"] @ x[t] + params["W_hh"] @ h + params["b_h"])
        o = params["W_hy"] @ h + params["b_y"]
        losses.append(np.log(np.sum(np.exp(o - o.max()))) + o.max() - o[y])
        finals.append(h)
    return float(np.mean(losses)), np.array(finals)


def check_masked_batch_forward(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(params, xs, lengths, labels) -> (mean_loss, final_states)` for a padded batch
    read by a many-to-one vanilla RNN: each sequence's state stops at its own length."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(6):
        B, T = int(rng.integers(1, 7)), int(rng.integers(1, 10))
        D, H, V = int(rng.integers(1, 6)), int(rng.integers(2, 7)), int(rng.integers(2, 7))
        params = {"W_xh": rng.normal(0, 0.8, (H, D)), "W_hh": rng.normal(0, 0.8, (H, H)),
                  "b_h": rng.normal(0, 0.5, H), "W_hy": rng.normal(0, 1.0, (V, H)),
                  "b_y": rng.normal(0, 0.5, V)}
        lengths = np.full(B, T) if i == 0 else rng.integers(1, T + 1, B)
        xs = rng.normal(size=(B, T, D))
        for b, n in enumerate(lengths):     # padding that must not leak into the states
            xs[b, n:] = rng.normal(0, 50, (T - n, D))
        labels = rng.integers(0, V, B)
        what = f"B={B} sequences padded to T={T}, D={D}, H={H}, V={V}, lengths {lengths.tolist()}"
        if i == 0:
            what += " (no padding)"
        if i == 5:
            params["W_hy"] *= 100.0
            params["b_y"] += 1000.0
            what += " (logits around 1000: subtract the maximum before exp)"
        expected = _one_by_one(params, xs, lengths, labels)
        cases.append(Case(({k: v.copy() for k, v in params.items()}, xs.copy(), lengths.copy(),
                           labels.copy()), expected, what))

    def compare(got, expected):
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return f"expected a pair (mean_loss, final_states), got {type(got).__name__}"
        try:
            loss = float(np.asarray(got[0], dtype=np.float64).reshape(()))
        except Exception:  # noqa: BLE001 - a reader may return anything
            return f"mean_loss should be one number, got {type(got[0]).__name__}"
        problem = compare_arrays(got[1], expected[1], what="final states (B, H)", rtol=1e-6, atol=1e-9)
        return problem or compare_arrays(np.array(loss), np.array(expected[0]), what="mean loss",
                                         rtol=1e-6, atol=1e-9)

    return run_checks("masked_batch_forward", func, cases, compare, points, seed,
                      forbid=("torch.nn.functional.cross_entropy", "torch.nn.utils.rnn")
                      + _SOFTMAX_FORBID)
