"""Products of many small matrices in a semiring, by a log-depth scan: the engine of `rnnbook.hmm`.

An element is a tuple of arrays whose LAST axis is the batch. `scan` gives every prefix product
v0·M1···Mt and `reduce` the whole product, each in about log2(n) rounds of batched NumPy work.
Three algebras plug in: (max, +) for Viterbi (`maxplus_mul`, `maxplus_act`), ordinary (+, x)
with rescaling for the forward and backward passes (`sumprod_*`: each matrix carries the log
of its scale, so nothing underflows), and composition of maps for Viterbi's back-tracking
(`compose`, `apply_map`).

This module knows nothing of hidden Markov models (states, emissions, fitting are
`rnnbook.hmm`); chapter 14's linear recurrences have their own scan (`rnnbook.scan`, in torch).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["Elem", "take", "concat", "scan", "reduce", "maxplus_matmul", "maxplus_mul",
           "maxplus_act", "safe_log", "sumprod_mul", "sumprod_act", "sumprod_matrices",
           "sumprod_vector", "compose", "apply_map"]

# An element of a semigroup is a tuple of arrays sharing their LAST (batch) axis: with a few
# states, "structure of arrays" makes every operation a handful of contiguous vector operations.
Elem = tuple


def take(elem: Elem, index) -> Elem:
    """The batch entries `index` (last axis) of every array of `elem`, as contiguous copies."""
    # Contiguous copies: arithmetic on every-other-column views is ~10x slower than the copy.
    return tuple(np.ascontiguousarray(a[..., index]) for a in elem)


def concat(first: Elem, second: Elem) -> Elem:
    """Two elements' batches one after the other (along the last axis)."""
    return tuple(np.concatenate([a, b], axis=-1) for a, b in zip(first, second))


def scan(v0: Elem, mats: Elem, mul: Callable[[Elem, Elem], Elem],
         act: Callable[[Elem, Elem], Elem]) -> Elem:
    """All prefixes v0·M1, v0·M1·M2, ..., v0·M1···Mn for an associative `mul`, in log depth.

    Arrays carry the batch on their last axis: `v0` holds one vector (batch of length 1),
    `mats` holds n matrices; `mul(A, B)` is the batched product A·B and `act(v, M)` the batched
    vector–matrix product v·M. The recursion multiplies neighbours in pairs, solves the
    half-length problem, then fills in every other prefix with one more batched product:
    about 2n products in total, log2(n) levels deep.
    """
    n = mats[0].shape[-1]
    if n == 1:
        return act(v0, mats)
    pairs = mul(take(mats, slice(0, n - 1, 2)), take(mats, slice(1, n, 2)))
    at_even = scan(v0, pairs, mul, act)                  # prefixes ending at M2, M4, ...
    n_odd = (n + 1) // 2
    before_odd = concat(v0, take(at_even, slice(0, n_odd - 1)))
    at_odd = act(before_odd, take(mats, slice(0, n, 2)))   # prefixes ending at M1, M3, ...
    return tuple(_interleave(a, b) for a, b in zip(at_odd, at_even))


def _interleave(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # a[..., 0], b[..., 0], a[..., 1], b[..., 1], ... (a may be one longer than b)
    m = b.shape[-1]
    out = np.stack([a[..., :m], b], axis=-1).reshape(a.shape[:-1] + (2 * m,))
    return np.concatenate([out, a[..., m:]], axis=-1) if a.shape[-1] > m else out


def reduce(mats: Elem, mul: Callable[[Elem, Elem], Elem]) -> Elem:
    """The product M1·M2···Mn of n matrices as one element, by pairwise (tree) multiplication."""
    while mats[0].shape[-1] > 1:
        n = mats[0].shape[-1]
        paired = mul(take(mats, slice(0, n - 1, 2)), take(mats, slice(1, n, 2)))
        mats = concat(paired, take(mats, slice(n - 1, n))) if n % 2 else paired
    return mats


# --- the (max, +) semiring ------------------------------------------------------------------

def maxplus_matmul(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """(max, +) matrix product: C[..., i, j] = max_k A[..., i, k] + B[..., k, j]."""
    A, B = np.asarray(A, dtype=float), np.asarray(B, dtype=float)
    if A.shape[-1] != B.shape[-2]:
        raise ValueError(f"A has {A.shape[-1]} columns but B has {B.shape[-2]} rows; they must match")
    return (A[..., :, :, None] + B[..., None, :, :]).max(axis=-2)


def maxplus_mul(a: Elem, b: Elem) -> Elem:
    """Batched (max, +) product of (K, K, n) matrices, for `scan` and `reduce`."""
    A, B = a[0], b[0]                                    # (K, K, n) each
    C = A[:, 0, None] + B[None, 0]
    for k in range(1, A.shape[1]):
        np.maximum(C, A[:, k, None] + B[None, k], out=C)
    return (C,)


def maxplus_act(v: Elem, m: Elem) -> Elem:
    """Batched (max, +) vector-matrix product: (K, n) vectors times (K, K, n) matrices."""
    x, M = v[0], m[0]                                    # (K, n), (K, K, n)
    u = x[0] + M[0]
    for k in range(1, len(x)):
        np.maximum(u, x[k] + M[k], out=u)
    return (u,)


# --- the (+, ×) semiring with rescaling: (matrix with largest entry 1, log of its scale) ------

def safe_log(x: np.ndarray) -> np.ndarray:
    """log(x) with log(0) = -inf and no warning."""
    with np.errstate(divide="ignore"):
        return np.log(x)


def _max_leading(C: np.ndarray) -> np.ndarray:
    # max over all but the last axis; NumPy's multi-axis max is ~50x slower on this layout
    return C.reshape(-1, C.shape[-1]).max(axis=0)


def _rescale(C: np.ndarray, log_scale: np.ndarray, size: np.ndarray) -> Elem:
    # A zero product (an impossible sequence) keeps scale 0, i.e. log scale -inf, and no NaN.
    safe = np.where(size > 0, size, 1.0)
    return C / safe, log_scale + safe_log(size)


def sumprod_mul(a: Elem, b: Elem) -> Elem:
    """Batched (+, x) product of rescaled matrices (matrix, log scale)."""
    A, B = a[0], b[0]
    C = A[:, 0, None] * B[None, 0]
    for k in range(1, A.shape[1]):
        C += A[:, k, None] * B[None, k]
    return _rescale(C, a[1] + b[1], _max_leading(C))


def sumprod_act(v: Elem, m: Elem) -> Elem:
    """Batched (+, x) vector-matrix product of rescaled vectors and matrices."""
    x, M = v[0], m[0]
    u = x[0] * M[0]
    for k in range(1, len(x)):
        u += x[k] * M[k]
    return _rescale(u, v[1] + m[1], u.sum(axis=0))     # vectors are kept summing to 1


def sumprod_matrices(M: np.ndarray) -> Elem:
    """(K, K, n) matrices as rescaled elements (largest entry 1, log of the scale)."""
    return _rescale(M, np.zeros(M.shape[-1]), _max_leading(M))


def sumprod_vector(v: np.ndarray) -> Elem:
    """One (K,) vector as a rescaled element (summing to 1, log of the scale)."""
    return _rescale(v[:, None], np.zeros(1), np.array([v.sum()]))


# --- composition of maps {0..K-1} -> {0..K-1}, for back-tracking ------------------------------

def compose(f: Elem, g: Elem) -> Elem:
    """Maps {0..K-1} -> {0..K-1} composed, first f then g, batched over the last axis."""
    # "first f, then g": x -> g[f[x]], batched over the last axis.
    F, G = f[0], g[0]
    return (G[F, np.arange(F.shape[-1])],)


def apply_map(s: Elem, f: Elem) -> Elem:
    """States s mapped by f, batched over the last axis."""
    return (f[0][s[0], np.arange(len(s[0]))],)
