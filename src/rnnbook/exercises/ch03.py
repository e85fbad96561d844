"""Checkers for chapter 3, Backpropagation through time."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import scratch as _scratch
from ._core import Case, Score, as_whole_number, compare_arrays, fresh_seed, run_checks


def check_hidden_delta(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(dlogits_t, delta_next, h_t, W_hy, W_hh) -> delta_t` (H,), one BPTT step."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(5):
        V, H = int(rng.integers(2, 8)), int(rng.integers(2, 7))
        dlogits, h = rng.normal(size=V), np.tanh(rng.normal(size=H))
        delta_next = np.zeros(H) if i == 0 else rng.normal(size=H)
        W_hy, W_hh = rng.normal(size=(V, H)), rng.normal(size=(H, H))
        what = f"V={V}, H={H}" + (", last step (delta_next = 0)" if i == 0 else "")
        expected = _scratch.hidden_delta(dlogits, delta_next, h, W_hy, W_hh)
        cases.append(Case((dlogits, delta_next, h, W_hy, W_hh), expected, what))
    for case in cases:
        case.args = tuple(a.copy() for a in case.args)

    def compare(got, expected):
        return compare_arrays(got, expected, what="delta_t")

    return run_checks("hidden_delta", func, cases, compare, points, seed,
                      forbid=("torch.autograd",))


def check_numerical_gradient(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(f, x, eps) -> grad`, central differences of a function f() that reads x in place."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []

    def add(f, grad_of, x, what):
        expected = grad_of(x.copy())
        # The expected value carries x and a copy, to check that x is restored afterwards.
        cases.append(Case((f, x, 1e-5), (expected, x, x.copy()), what))

    n = int(rng.integers(2, 7))
    a = rng.normal(size=n)
    x1 = rng.normal(size=n)
    add(lambda: float(a @ x1), lambda x: a.copy(), x1, f"f(x) = a.x, x of length {n} (gradient a)")
    m, n = int(rng.integers(2, 5)), int(rng.integers(2, 5))
    A = rng.normal(size=(m, n))
    x2 = rng.normal(size=n)
    add(lambda: float(np.sin(A @ x2).sum()), lambda x: A.T @ np.cos(A @ x), x2,
        f"f(x) = sum(sin(A x)), A of shape {(m, n)}")
    X = rng.normal(size=(int(rng.integers(2, 4)), int(rng.integers(2, 4))))
    add(lambda: float((X ** 3).sum()), lambda x: 3 * x ** 2, X,
        f"f(X) = sum(X^3) for a matrix X of shape {X.shape}")
    x4 = rng.normal(size=int(rng.integers(2, 6)))
    add(lambda: float(np.exp(x4).sum()), lambda x: np.exp(x), x4,
        "f(x) = sum(exp(x)) (curved: one-sided differences are not accurate enough)")

    def compare(got, expected):
        grad, x, original = expected
        problem = compare_arrays(got, grad, what="numerical gradient", rtol=1e-6, atol=1e-8)
        if problem is None and not np.array_equal(x, original):
            problem = "the gradient is right, but x was left changed: restore each entry after nudging it"
        x[...] = original   # repair it, so one mistake does not spoil the following checks
        return problem

    return run_checks("numerical_gradient", func, cases, compare, points, seed)


def check_rnn_backward(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(params, inputs, targets, h0) -> grads`, a dict keyed like params (full BPTT)."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(5):
        V, H, T = int(rng.integers(2, 7)), int(rng.integers(2, 6)), int(rng.integers(3, 10))
        if i == 0:
            T = 1
        model = _scratch.VanillaRNN(V, H, seed=int(rng.integers(2 ** 31)))
        for name in model.params:
            model.params[name] = rng.normal(0, 0.6, model.params[name].shape)
        inputs, targets = rng.integers(0, V, T), rng.integers(0, V, T)
        h0 = rng.normal(0, 0.5, H)
        _, grads, _ = model.loss_and_grads(inputs, targets, h0)
        what = f"V={V}, H={H}, T={T}" + (" (one step: no gradient through time yet)" if T == 1 else "")
        cases.append(Case(({k: v.copy() for k, v in model.params.items()}, inputs.copy(),
                            targets.copy(), h0.copy()), grads, what))

    def compare(got, expected):
        if not isinstance(got, dict):
            return f"expected a dict of gradients keyed like params, got {type(got).__name__}"
        missing = [k for k in expected if k not in got]
        if missing:
            return f"the dict of gradients lacks {missing}"
        for name in _scratch.PARAM_NAMES:
            problem = compare_arrays(got[name], expected[name], what=f"gradient {name}", rtol=1e-6)
            if problem:
                return problem
        return None

    return run_checks("rnn_backward", func, cases, compare, points, seed,
                      forbid=("torch.autograd",))


def check_tbptt_windows(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(n_steps, k) -> [(start, stop), ...]`, the windows of truncated BPTT."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    pairs = [(10, 5, "n_steps a multiple of k"), (7, 3, "a shorter last window"),
             (4, 10, "k longer than the stream"), (5, 1, "k = 1"), (0, 3, "an empty stream")]
    for _ in range(4):
        n, k = int(rng.integers(1, 200)), int(rng.integers(1, 40))
        pairs.append((n, k, "random sizes"))
    cases = [Case((n, k), _scratch.tbptt_windows(n, k), f"n_steps={n}, k={k}, {what}")
             for n, k, what in pairs]

    def compare(got, expected):
        try:
            got = [tuple(int(v) for v in pair) for pair in got]
        except Exception:  # noqa: BLE001
            return "expected a list of (start, stop) pairs of integers"
        if len(got) != len(expected):
            return f"got {len(got)} windows, expected {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            if g != e:
                return f"window {i} is {g}, expected {e}"
        return None

    return run_checks("tbptt_windows", func, cases, compare, points, seed)


def _in_window_count(n_steps: int, k: int, lag: int) -> int:
    """The checker's own count, by brute force over the windows [0, k), [k, 2k), ..."""
    return sum(1 for t in range(n_steps) if t - lag >= (t // k) * k)


def check_tbptt_reach(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(n_steps, k, lag) -> int`: how many steps t of a stream cut into windows of k
    have their source, the input at t - lag, inside their own window."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    triples = [(12, 4, 2), (10, 3, 3)]
    for _ in range(6):
        k = int(rng.integers(1, 40))
        triples.append((int(rng.integers(0, 2000)), k, int(rng.integers(0, k + 5))))
    cases = [Case(args, _in_window_count(*args), "n_steps={}, k={}, lag={}".format(*args))
             for args in triples]

    def compare(got, expected):
        value = as_whole_number(got)
        if value is None:
            return f"expected one whole number, got {type(got).__name__} {got!r:.60}"
        return None if value == expected else f"got {value}, expected {expected}"

    return run_checks("tbptt_reach", func, cases, compare, points, seed)


def _sweep(loss, grad, theta, epsilons):
    """The checker's own sweep: relative error of central differences for each epsilon."""
    exact, errors = grad(theta), []
    for eps in epsilons:
        numeric = np.empty_like(theta)
        for i in range(len(theta)):
            step = np.zeros_like(theta)
            step[i] = eps
            numeric[i] = (loss(theta + step) - loss(theta - step)) / (2 * eps)
        errors.append(np.linalg.norm(numeric - exact) / (np.linalg.norm(numeric) + np.linalg.norm(exact)))
    return np.array(errors)


def _slope(epsilons, errors, lo=1e-3):
    keep = epsilons >= lo
    return float(np.polyfit(np.log10(epsilons[keep]), np.log10(errors[keep]), 1)[0])


def _rnn_loss_and_grad(rng):
    """A random small RNN's loss as a function of its W_hh, flattened: (loss, grad, theta)."""
    V, H, T = int(rng.integers(3, 6)), int(rng.integers(3, 6)), int(rng.integers(4, 9))
    model = _scratch.VanillaRNN(V, H, seed=int(rng.integers(2 ** 31)))
    p = {name: rng.normal(0, 0.5, value.shape) for name, value in model.params.items()}
    inputs, targets, h0 = rng.integers(0, V, T), rng.integers(0, V, T), rng.normal(0, 0.5, H)

    def loss(vector):             # the summed cross-entropy, as VanillaRNN.loss, without its checks
        W_hh, h, total = np.asarray(vector, dtype=float).reshape(H, H), h0, 0.0
        for x, y in zip(inputs, targets):
            h = np.tanh(p["W_xh"][:, x] + W_hh @ h + p["b_h"])
            o = p["W_hy"] @ h + p["b_y"]
            total += np.log(np.sum(np.exp(o - o.max()))) + o.max() - o[y]
        return float(total)

    def grad(vector):
        model.params = dict(p, W_hh=np.asarray(vector, dtype=float).reshape(H, H))
        return model.loss_and_grads(inputs, targets, h0)[1]["W_hh"].ravel()

    return loss, grad, p["W_hh"].ravel().copy(), f"V={V}, H={H}, T={T}: the gradient of W_hh ({H * H} entries)"


def check_gradient_sweep(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(loss, grad, theta, epsilons) -> (rel_errors, best_eps, slope)`: a gradient
    check of central differences against the exact gradient, for every epsilon."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    epsilons = 10.0 ** -np.arange(1, 11)
    cases = []
    for _ in range(3):
        loss, grad, theta, what = _rnn_loss_and_grad(rng)
        errors = _sweep(loss, grad, theta.copy(), epsilons)
        cases.append(Case((loss, grad, theta.copy(), epsilons.copy()), (errors, theta.copy()), what))

    def compare(got, expected):
        errors, theta = expected
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            return f"expected a triple (rel_errors, best_eps, slope), got {type(got).__name__}"
        try:
            mine = np.asarray(got[0], dtype=float)
            best, slope = float(got[1]), float(got[2])
        except Exception:  # noqa: BLE001 - a reader may return anything
            return "rel_errors must be an array, best_eps and slope numbers"
        if mine.shape != errors.shape:
            return f"rel_errors has shape {mine.shape}, expected {errors.shape} (one per epsilon)"
        large = epsilons >= 1e-3        # where truncation error dominates: the same for everyone
        problem = compare_arrays(mine[large], errors[large], what="relative error for epsilon >= 1e-3",
                                 rtol=0.05, atol=0.0)
        if problem:
            return problem
        # where rounding dominates, another order of the same operations gives other noise
        ratio = mine[~large] / np.maximum(errors[~large], 1e-300)
        if not np.all(np.isfinite(ratio)) or np.any(ratio > 20) or np.any(ratio < 1 / 20):
            i = int(np.argmax(~np.isfinite(ratio) | (ratio > 20) | (ratio < 1 / 20)))
            return (f"the relative error at epsilon = {epsilons[~large][i]:.0e} is {mine[~large][i]:.3g}, "
                    f"far from what central differences give there")
        if not np.isclose(best, epsilons[int(np.argmin(mine))], rtol=1e-9):
            return f"best_eps is {best:.3g}, but your errors are smallest at {epsilons[int(np.argmin(mine))]:.0e}"
        if abs(slope - _slope(epsilons, mine)) > 0.05:
            return (f"slope is {slope:.3g}, but a straight-line fit of log10(error) against "
                    f"log10(epsilon) for epsilon >= 1e-3 gives {_slope(epsilons, mine):.3g}")
        return None

    return run_checks("gradient_sweep", func, cases, compare, points, seed,
                      forbid=("torch.autograd",))
