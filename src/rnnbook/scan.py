"""Linear recurrences h_t = a_t * h_{t-1} + b_t, step by step and as a parallel prefix scan.

One step of the recurrence is the affine map h -> a h + b, written as the pair (a, b). Doing
(a, b) first and then (a', b') is again such a map, (a, b) o (a', b') = (a a', a' b + b'), and
composition of maps is associative, so all T states are the prefix "sums" of the pairs under o.
A prefix scan computes them in O(log T) sequential rounds (Blelloch 1990; for RNNs, Martin &
Cundy 2018). `linear_scan` uses the odd-even (Blelloch-style) scheme: combine neighbouring pairs,
scan the half-length sequence recursively, then fill in the even positions with one more step.
Every round is a few whole-tensor operations, so there is no Python loop over T, the total work
stays O(T), and torch's autograd differentiates it like any other tensor expression.

Elementwise products mean that `a` and `b` may have any trailing shape (channels, a diagonal
state, batch); real or complex floating dtypes both work.
"""
from __future__ import annotations

import torch

__all__ = ["combine", "linear_loop", "linear_scan", "time_against_loop"]


def _check(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None) -> None:
    """Raise a clear error unless a, b (and h0) are tensors of matching shape, dtype and device."""
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if not (x.is_floating_point() or x.is_complex()):
            raise TypeError(f"{name} must have a floating or complex dtype, got {x.dtype} "
                            "(convert it with .double() or .float())")
    if a.dim() < 1:
        raise ValueError("a and b need a leading time axis: shape (T, ...), got a scalar")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape (T, ...), got {tuple(a.shape)} and "
                         f"{tuple(b.shape)} (broadcast them first, e.g. a.expand_as(b))")
    if a.dtype != b.dtype or a.device != b.device:
        raise TypeError(f"a and b must share dtype and device, got {a.dtype}/{a.device} and "
                        f"{b.dtype}/{b.device}")
    if h0 is not None:
        if not isinstance(h0, torch.Tensor):
            raise TypeError(f"h0 must be a torch.Tensor or None, got {type(h0).__name__}")
        if h0.shape != a.shape[1:]:
            raise ValueError(f"h0 must have the shape of one state, {tuple(a.shape[1:])}, "
                             f"got {tuple(h0.shape)}")
        if h0.dtype != a.dtype or h0.device != a.device:
            raise TypeError(f"h0 must share the dtype and device of a ({a.dtype}, {a.device}), "
                            f"got {h0.dtype}, {h0.device}")


def combine(first: tuple[torch.Tensor, torch.Tensor], second: tuple[torch.Tensor, torch.Tensor]
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """The step `first` followed by `second`: (a, b) o (a', b') = (a a', a' b + b')."""
    (a1, b1), (a2, b2) = first, second
    return a1 * a2, a2 * b1 + b2


def linear_loop(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """All states of h_t = a_t h_{t-1} + b_t, one step at a time (the reference): shape (T, ...)."""
    _check(a, b, h0)
    if a.shape[0] == 0:
        return b.clone()
    h = torch.zeros_like(b[0]) if h0 is None else h0
    states = []
    for t in range(a.shape[0]):
        h = a[t] * h + b[t]
        states.append(h)
    return torch.stack(states)


def _scan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """States from h_{-1} = 0 by odd-even recursion; depth ceil(log2 T)."""
    steps = a.shape[0]
    if steps == 1:
        return b
    if steps % 2:  # pad with the identity step (a = 1, b = 0) so that the pairs come out even
        a = torch.cat([a, torch.ones_like(a[:1])])
        b = torch.cat([b, torch.zeros_like(b[:1])])
    a_even, a_odd, b_even, b_odd = a[0::2], a[1::2], b[0::2], b[1::2]
    # each pair (2k, 2k+1) becomes one step; the half-length scan gives the odd states
    pair_a, pair_b = combine((a_even, b_even), (a_odd, b_odd))
    h_odd = _scan(pair_a, pair_b)
    # an even state is one step after the odd state before it (h_0 = b_0 from zero)
    h_even = torch.cat([b_even[:1], a_even[1:] * h_odd[:-1] + b_even[1:]])
    h = torch.stack([h_even, h_odd], dim=1).reshape(a.shape)
    return h[:steps]


def linear_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """All states of h_t = a_t h_{t-1} + b_t by a parallel prefix scan: shape (T, ...)."""
    _check(a, b, h0)
    if a.shape[0] == 0:
        return b.clone()
    if h0 is not None:  # fold the initial state into the first step: h_0 = a_0 h0 + b_0
        b = torch.cat([(a[0] * h0 + b[0]).unsqueeze(0), b[1:]])
    return _scan(a, b)


def time_against_loop(lengths: list[int], channels: int = 64, repeats: int = 3,
                      device: str | torch.device = "cpu", loop_max_seconds: float = 2.0,
                      seed: int = 0) -> list[dict]:
    """Best-of-`repeats` seconds of linear_scan and linear_loop on (T, channels) float32 inputs.

    One row per T: {"T", "scan_s", "loop_s", "speedup"}. The loop is timed once only when one
    run of it would take longer than `loop_max_seconds` (its time hardly varies at that size).
    """
    import time

    if not lengths or min(lengths) < 1 or channels < 1 or repeats < 1:
        raise ValueError("need lengths >= 1, channels >= 1 and repeats >= 1")
    device = torch.device(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    g = torch.Generator().manual_seed(seed)
    rows = []
    for steps in lengths:
        a = (0.5 + 0.5 * torch.rand(steps, channels, generator=g)).to(device)
        b = torch.randn(steps, channels, generator=g).to(device)
        best = {}
        for name, fn in (("scan", linear_scan), ("loop", linear_loop)):
            times = []
            for _ in range(repeats):
                sync()
                t0 = time.perf_counter()
                with torch.no_grad():
                    fn(a, b)
                sync()
                times.append(time.perf_counter() - t0)
                if name == "loop" and times[-1] > loop_max_seconds:
                    break
            best[name] = min(times)
        rows.append({"T": steps, "scan_s": best["scan"], "loop_s": best["loop"],
                     "speedup": best["loop"] / best["scan"]})
    return rows
