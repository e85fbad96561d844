"""Checkers for chapter 14, after recurrence: scans, attention and linear attention."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .. import attention as _attention
from .. import linear_attention as _linear
from .. import scan as _scan
from ._core import Case, Score, _to_array, compare_arrays, fresh_seed, run_checks

_FORBID_ATTENTION = ("torch.nn.functional.scaled_dot_product_attention",
                     "torch.nn.MultiheadAttention")


def _tensor(rng: np.random.Generator, *shape: int) -> torch.Tensor:
    return torch.from_numpy(rng.normal(size=shape))


def _tuple(got, expected, names) -> str | None:
    if not isinstance(got, (tuple, list)) or len(got) != len(expected):
        return f"expected a tuple of {len(expected)} ({', '.join(names)}), got {type(got).__name__}"
    for g, e, name in zip(got, expected, names):
        problem = compare_arrays(g, e, what=name, rtol=1e-7, atol=1e-9)
        if problem:
            return problem
    return None


def _clone(args):
    return tuple(tuple(x.clone() for x in a) if isinstance(a, tuple) else
                 a.clone() if isinstance(a, torch.Tensor) else a for a in args)


def check_combine(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func((a1, b1), (a2, b2)) -> (a, b)`: the step (a1, b1) followed by (a2, b2)."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case(((torch.tensor([0.5]), torch.tensor([1.0])),
                   (torch.tensor([2.0]), torch.tensor([3.0]))), None,
                  "h -> 0.5 h + 1, then h -> 2 h + 3 (so h -> h + 5)")]
    for _ in range(4):
        shape = tuple(int(s) for s in rng.integers(1, 6, size=int(rng.integers(1, 3))))
        first = (_tensor(rng, *shape), _tensor(rng, *shape))
        second = (_tensor(rng, *shape), _tensor(rng, *shape))
        cases.append(Case((first, second), None, f"two steps on states of shape {shape}"))
    for case in cases:
        case.expected = tuple(x.numpy() for x in _scan.combine(*case.args))
        case.args = _clone(case.args)

    def compare(got, expected):
        return _tuple(got, expected, ("a", "b"))

    return run_checks("combine", func, cases, compare, points, seed)


def check_causal_mask(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(tq, tk) -> bool (tq, tk)`, True where query i may see key j <= i + tk - tq."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    sizes = [(1, 1), (4, 4), (2, 5)]
    for _ in range(3):
        tk = int(rng.integers(2, 12))
        sizes.append((int(rng.integers(1, tk + 1)), tk))
    cases = [Case((tq, tk), _attention.causal_mask(tq, tk).numpy(),
                  f"{tq} queries, {tk} keys") for tq, tk in sizes]

    def compare(got, expected):
        return compare_arrays(got, expected, what="mask", dtype_kind="b")

    return run_checks("causal_mask", func, cases, compare, points, seed)


def _cached_run(func: Callable) -> Callable:
    """Feed `func` one position at a time, as generation does; return all outputs and the cache."""
    if not callable(func):
        return func

    def run(q, k, v):
        cache, outs = None, []
        for t in range(q.shape[2]):
            out, cache = func(q[:, :, t:t + 1], k[:, :, t:t + 1], v[:, :, t:t + 1], cache)
            outs.append(torch.as_tensor(out))
        if not isinstance(cache, (tuple, list)) or len(cache) != 2:
            raise TypeError(f"the cache must be a pair (keys, values), got {type(cache).__name__}")
        return torch.cat(outs, dim=2), cache[0], cache[1]

    return run


def check_attend_with_cache(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(q, k, v, cache) -> (output, (keys, values))` for one new position at a time.

    q, k, v are (B, H, 1, d); cache is None or the pair returned for the previous position. Run
    from the first position to the last, the outputs must equal causal attention over the whole
    sequence, and the final cache must hold all keys and values.
    """
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(5):
        b, h, t, d = (int(x) for x in (rng.integers(1, 3), rng.integers(1, 4),
                                       rng.integers(1, 9), rng.integers(1, 6)))
        q, k, v = _tensor(rng, b, h, t, d), _tensor(rng, b, h, t, d), _tensor(rng, b, h, t, d)
        full, _ = _attention.scaled_dot_product_attention(q, k, v, causal=True)
        cases.append(Case((q, k, v), (full.numpy(), k.numpy(), v.numpy()),
                          f"B={b}, H={h}, {t} positions, d={d}"))
    for case in cases:
        case.args = _clone(case.args)

    def compare(got, expected):
        return _tuple(got, expected, ("outputs of all positions", "cached keys", "cached values"))

    return run_checks("attend_with_cache", _cached_run(func), cases, compare, points, seed,
                      forbid=_FORBID_ATTENTION)


def _stepped(func: Callable) -> Callable:
    """Run `func(state, norm, q_t, k_t, v_t)` over a sequence from zero state and normaliser."""
    if not callable(func):
        return func

    def run(q, k, v):
        state = torch.zeros(q.shape[1], v.shape[1], dtype=q.dtype)
        norm = torch.zeros(q.shape[1], dtype=q.dtype)
        outs = []
        for t in range(q.shape[0]):
            y, state, norm = func(state, norm, q[t], k[t], v[t])
            outs.append(torch.as_tensor(y))
        return torch.stack(outs)

    return run


def check_linear_attention_step(func: Callable, points: float = 1.0, seed: int | None = None
                                ) -> Score:
    """Check `func(S, z, q_t, k_t, v_t) -> (y_t, S_t, z_t)`, one step of causal linear attention.

    With phi(x) = elu(x) + 1: S_t = S + phi(k_t) v_t^T, z_t = z + phi(k_t) and
    y_t = phi(q_t)^T S_t / (phi(q_t)^T z_t). Stepped over a whole sequence from zeros, the
    outputs must equal the parallel form of linear attention.
    """
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(5):
        t, d, dv = (int(x) for x in (rng.integers(1, 12), rng.integers(1, 6), rng.integers(1, 6)))
        q, k, v = _tensor(rng, t, d), _tensor(rng, t, d), _tensor(rng, t, dv)
        cases.append(Case((q, k, v), _linear.linear_attention(q, k, v).numpy(),
                          f"{t} steps, d={d}, dv={dv}"))
    for case in cases:
        case.args = _clone(case.args)

    def compare(got, expected):
        return compare_arrays(got, expected, what="outputs of all steps", rtol=1e-7, atol=1e-9)

    return run_checks("linear_attention_step", _stepped(func), cases, compare, points, seed)


def check_doubling_scan(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(a, b) -> h (T, ...)`, all states of h_t = a_t h_{t-1} + b_t from h_{-1} = 0."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((torch.tensor([0.5, 0.5, 0.5]), torch.tensor([1.0, 1.0, 1.0])), None,
                  "a = 0.5, b = 1 for three steps (1, 1.5, 1.75)")]
    for steps in (1, int(rng.integers(2, 9)), int(rng.integers(9, 40)), int(rng.integers(40, 300))):
        shape = (steps, int(rng.integers(1, 5)))
        a = torch.from_numpy(rng.uniform(-1, 1, size=shape))
        cases.append(Case((a, _tensor(rng, *shape)), None, f"T={steps}, {shape[1]} channels"))
    for case in cases:
        case.expected = _scan.linear_loop(*case.args).numpy()
        case.args = _clone(case.args)

    def compare(got, expected):
        return compare_arrays(got, expected, what="states", rtol=1e-7, atol=1e-9)

    return run_checks("doubling_scan", func, cases, compare, points, seed)


def _loop_states(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """h_t = a_t h_{t-1} + b_t from zero, one step at a time: the checker's own loop."""
    h, out = torch.zeros_like(b[0]), []
    for t in range(len(a)):
        h = a[t] * h + b[t]
        out.append(h)
    return torch.stack(out)


def _best_time(fn: Callable, repeats: int) -> float:
    import time

    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def check_scan_race(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(a, b, lengths, repeats)` -> {"loop_s", "scan_s", "crossover", "states"}.

    The reader times a step-by-step loop and a whole-tensor scan of h_t = a_t h_{t-1} + b_t on
    the first T rows of a, b (T, C) for each T in `lengths` (best of `repeats`), and returns both
    times, the shortest T at which the scan is faster (None if never), and the scan's states on
    all of a, b. Checked: the states, the crossover against the reported times, the scan faster
    at the longest T, and the loop's time at the longest T against the checker's own timing
    (within a factor of 8, so a busy machine does not fail an honest answer).
    """
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    lengths = [2, 8, 32, 128, 512, 2048]
    a = torch.from_numpy(rng.uniform(0.5, 1.0, size=(lengths[-1], 8)))
    b = _tensor(rng, lengths[-1], 8)
    cases = [Case((a.clone(), b.clone(), list(lengths), 3), None, "T from 2 to 2,048, 8 channels")]

    def compare(got, expected):
        if not isinstance(got, dict) or not {"loop_s", "scan_s", "crossover", "states"} <= set(got):
            return "expected a dict with keys 'loop_s', 'scan_s', 'crossover' and 'states'"
        problem = compare_arrays(got["states"], _loop_states(a, b).numpy(), what="scan's states",
                                 rtol=1e-7, atol=1e-9)
        if problem:
            return problem
        try:
            loop_s = _to_array(got["loop_s"]).astype(np.float64).reshape(-1)
            scan_s = _to_array(got["scan_s"]).astype(np.float64).reshape(-1)
        except Exception as exc:  # noqa: BLE001 - a reader may return anything
            return f"the times could not be read as arrays ({type(exc).__name__})"
        if loop_s.shape != (len(lengths),) or scan_s.shape != (len(lengths),):
            return f"'loop_s' and 'scan_s' need one time per length ({len(lengths)})"
        if not (np.isfinite(loop_s).all() and np.isfinite(scan_s).all()
                and (loop_s > 0).all() and (scan_s > 0).all()):
            return "every time must be a positive number of seconds"
        faster = [T for T, lo, sc in zip(lengths, loop_s, scan_s) if sc < lo]
        truth = faster[0] if faster else None
        claimed = got["crossover"]
        if claimed != truth and not (claimed is not None and truth is not None
                                     and np.isclose(float(claimed), truth)):
            return (f"'crossover' is {claimed!r}, but by the reported times the scan is first "
                    f"faster at T = {truth}")
        if scan_s[-1] >= loop_s[-1]:
            return (f"at T = {lengths[-1]} the scan took {scan_s[-1]:.3g} s, the loop {loop_s[-1]:.3g} s: "
                    "a scan with whole-tensor rounds should win there")
        reference = _best_time(lambda: _loop_states(a, b), 2)
        if not reference / 8 <= loop_s[-1] <= reference * 8:
            return (f"the loop's time at T = {lengths[-1]} is {loop_s[-1]:.3g} s, but timed again it "
                    f"takes about {reference:.3g} s: are the times in seconds, best of `repeats`?")
        return None

    return run_checks("scan_race", func, cases, compare, points, seed)
