"""Checkers for chapter 0, Representing sequences."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import data as _data
from ._core import Case, Score, compare_arrays, fresh_seed, run_checks

def check_one_hot(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(indices, vocab_size) -> (len(indices), vocab_size)` float array."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((np.array([2]), 3), None, "a single index")]
    for _ in range(4):
        n, v = int(rng.integers(2, 12)), int(rng.integers(2, 20))
        cases.append(Case((rng.integers(0, v, size=n), v), None, f"{n} indices, vocab_size={v}"))
    v = int(rng.integers(3, 8))
    cases.append(Case((np.full(5, v - 1), v), None, f"a repeated last index, vocab_size={v}"))
    for case in cases:
        case.expected = _data.one_hot(case.args[0], case.args[1], dtype=np.float64)
        case.args = (case.args[0].copy(), case.args[1])

    def compare(got, expected):
        return compare_arrays(got, expected, what="one-hot matrix", dtype_kind="fiu")

    return run_checks("one_hot", func, cases, compare, points, seed,
                      forbid=("torch.nn.functional.one_hot",))


def check_pad_with_mask(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(sequences, pad_value) -> (padded (B, T_max), mask (B, T_max) bool)`."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    batches = [([[5, 6, 7], [8]], 0, "two sequences of lengths 3 and 1")]
    for _ in range(3):
        b = int(rng.integers(2, 6))
        seqs = [rng.integers(1, 50, size=int(rng.integers(1, 9))).tolist() for _ in range(b)]
        batches.append((seqs, 0, f"{b} sequences of lengths {[len(s) for s in seqs]}"))
    batches.append(([[3, 1], [], [4, 1, 5]], -1, "an empty sequence and pad_value=-1"))
    batches.append(([[9, 9, 9], [2, 2, 2]], 0, "sequences of equal length (nothing to pad)"))
    cases = []
    for seqs, pad, description in batches:
        expected = _data.pad_sequences(seqs, pad_value=pad)
        cases.append(Case(([list(s) for s in seqs],), expected, description, {"pad_value": pad}))

    def compare(got, expected):
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return f"expected a pair (padded, mask), got {type(got).__name__}"
        problem = compare_arrays(got[0], expected[0], what="padded array", dtype_kind="iu")
        if problem is None:
            problem = compare_arrays(got[1], expected[1], what="mask", dtype_kind="b")
        return problem

    return run_checks("pad_with_mask", func, cases, compare, points, seed,
                      forbid=("torch.nn.utils.rnn",))
