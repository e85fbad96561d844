"""Checkers for the course's exercises: they test a reader's function on fresh random inputs.

A checker never raises on a wrong answer: whatever the reader's code does (wrong shape, NaN,
an exception, returning None), it prints what went wrong on which input and returns the
points earned. It reports inputs and mismatching values, never the reference's code.
Each chapter's checkers live in their own module (`ch00`, `ch01`, ...) and are re-exported here.
"""
from ._core import Case, Score, compare_arrays, fresh_seed, run_checks
from .ch00 import check_one_hot, check_pad_with_mask

__all__ = ["Case", "Score", "compare_arrays", "fresh_seed", "run_checks",
           "check_one_hot", "check_pad_with_mask"]
