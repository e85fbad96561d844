"""Checkers for the course's exercises: they test a reader's function on fresh random inputs.

A checker never raises on a wrong answer: whatever the reader's code does (wrong shape, NaN,
an exception, returning None), it prints what went wrong on which input and returns the
points earned. It reports inputs and mismatching values, never the reference's code.
Each chapter's checkers live in their own module (`ch00`, `ch01`, ...): every public `check_*`
function defined there is re-exported here, so a new checker needs no edit of this file.
An answer that calls the course's reference (or a listed torch equivalent) scores 0 (see `_guard`).
"""
import importlib as _importlib

from ._core import Case, Score, compare_arrays, credit, find_fixed_cases, fresh_seed, run_checks
from ._guard import Shortcut, trusted

CHAPTERS = tuple(f"ch{n:02d}" for n in range(15))

__all__ = ["Case", "Score", "Shortcut", "compare_arrays", "credit", "find_fixed_cases", "fresh_seed",
           "run_checks", "trusted"]

# Every checker finds its fixed (visible) cases itself, so that they never earn partial credit.
for _chapter in CHAPTERS:
    _module = _importlib.import_module(f".{_chapter}", __name__)
    for _name, _obj in vars(_module).items():
        if _name.startswith("check_") and callable(_obj) and getattr(_obj, "__module__", "") == _module.__name__:
            globals()[_name] = find_fixed_cases(_obj)
            __all__.append(_name)
del _chapter, _module, _name, _obj
