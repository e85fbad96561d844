"""The machinery shared by every checker: cases, comparison, feedback and partial credit.

A checker never raises on a wrong answer: whatever the reader's code does (wrong shape, NaN,
an exception, returning None), it prints what went wrong on which input and returns the
points earned. It reports inputs and mismatching values, never the reference's code.

Hardened against hostile answers: any exception (even a BaseException such as GeneratorExit or
an exception whose message cannot be printed) becomes feedback, messages are cut to a few
hundred characters, and only KeyboardInterrupt (how Jupyter stops a cell that ran too long)
passes through. Code running in the same process can still replace a checker, so graded scores
are decided outside the student's process (see rnnbook.grading).

No shortcuts: every call of the reader's function is watched (see `_guard`); one that runs the
course's reference or a forbidden torch equivalent scores 0 for the whole exercise. A checker
lists what its exercise adds to the defaults with `run_checks(..., allow=..., forbid=...)`.

Honest partial credit: only the fresh random cases earn credit; a case whose inputs are the same
on every run (a visible edge case) can only take credit away, so an answer that returns the
visible cases' answers and garbage elsewhere earns nothing. Such cases are found without any
per-chapter code (`find_fixed_cases` builds a checker's cases for a second seed first: those
that come out identical are fixed); a checker can also mark one with `Case(..., fixed=True)`.
"""
from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._guard import Shortcut, call_watched, make_policy

_MAX_MESSAGE = 300  # characters of a reader's exception message or value shown in feedback


def _describe(exc: BaseException) -> str:
    """'TypeName: message', cut short; never raises, whatever the exception's __str__ does."""
    try:
        text = str(exc)
    except BaseException:  # noqa: BLE001 - a hostile __str__
        text = "(the message could not be printed)"
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE] + " ..."
    return f"{type(exc).__name__}: {text}"


def _short(line: str) -> str:
    return line if len(line) <= 3 * _MAX_MESSAGE else line[: 3 * _MAX_MESSAGE] + " ..."


class Score(float):
    """Points earned by one check; a float (so nbgrader can read partial credit) with details."""

    passed: int
    total: int
    max_points: float

    def __new__(cls, points: float, passed: int, total: int, max_points: float) -> "Score":
        obj = super().__new__(cls, points)
        obj.passed, obj.total, obj.max_points = passed, total, max_points
        return obj


@dataclass
class Case:
    """One test input: positional arguments, a short description and the expected output.

    `fixed` marks an input that is the same on every run (a visible edge case): it can take
    credit away when it fails, never earn it (see `credit`).
    """

    args: tuple
    expected: Any
    description: str
    kwargs: dict = field(default_factory=dict)
    fixed: bool = False


def _to_array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, possibly on a GPU
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def as_whole_number(value: Any) -> int | None:
    """`value` as an int if it is one scalar holding a whole number (3, 3.0, np.int64(3)), else None."""
    try:
        arr = np.asarray(value)
        if arr.shape != () or arr.dtype.kind not in "iuf" or not float(arr).is_integer():
            return None
        return int(arr)
    except Exception:  # noqa: BLE001 - a reader may return anything
        return None


def compare_arrays(got: Any, expected: np.ndarray, *, what: str = "result", rtol: float = 1e-6,
                   atol: float = 1e-8, dtype_kind: str | None = None) -> str | None:
    """Return None if `got` matches `expected`, else one sentence saying how it differs."""
    if got is None:
        return f"the {what} is None: did the function forget to `return` it?"
    try:
        arr = _to_array(got)
    except Exception as exc:  # noqa: BLE001 - a reader may return anything
        return f"the {what} could not be read as an array ({type(exc).__name__}: {exc})"
    if arr.dtype == object:
        return f"the {what} is not a numeric array (got {type(got).__name__} of mixed objects)"
    if arr.shape != expected.shape:
        return f"the {what} has shape {arr.shape}, expected shape {expected.shape}"
    if dtype_kind is not None and arr.dtype.kind not in dtype_kind:
        names = {"b": "boolean", "i": "integer", "u": "unsigned integer", "f": "floating-point"}
        wanted = " or ".join(names.get(k, k) for k in dtype_kind)
        return f"the {what} has dtype {arr.dtype}, expected a {wanted} array"
    if arr.dtype.kind in "fc" and np.isnan(arr).any() and not np.isnan(expected).any():
        return f"the {what} contains NaN at {np.argwhere(np.isnan(arr))[0].tolist()}"
    if expected.dtype == bool or arr.dtype == bool:
        bad = arr.astype(bool) != expected
    else:
        try:
            bad = ~np.isclose(arr.astype(np.float64), expected.astype(np.float64), rtol=rtol, atol=atol)
        except (TypeError, ValueError) as exc:
            return f"the {what} could not be compared numerically ({exc})"
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        return (f"the {what} differs in {int(bad.sum())} of {bad.size} entries; "
                f"first at index {list(where)}: got {arr[where].item()!r}, expected {expected[where].item()!r}")
    return None


_probe: ContextVar[list | None] = ContextVar("rnnbook_probe", default=None)
_fixed: ContextVar[frozenset] = ContextVar("rnnbook_fixed", default=frozenset())


def _fingerprint(value: Any, digest: Any) -> None:
    """Feed `value` into `digest`; TypeError for what has no stable bytes (a function, a model)."""
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise TypeError("an object array")
        digest.update(f"a{value.dtype.str}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        _fingerprint(value.detach().cpu().numpy(), digest)
    elif isinstance(value, (list, tuple)):
        digest.update(f"{type(value).__name__}{len(value)}(".encode())
        for v in value:
            _fingerprint(v, digest)
        digest.update(b")")
    elif isinstance(value, dict):
        digest.update(f"d{len(value)}(".encode())
        for k, v in value.items():
            _fingerprint(k, digest)
            _fingerprint(v, digest)
        digest.update(b")")
    elif value is None or isinstance(value, (bool, int, float, complex, str, bytes, np.generic)):
        digest.update(f"{type(value).__name__}:{value!r};".encode())
    else:
        raise TypeError(type(value).__name__)


def case_key(case: Case) -> str | None:
    """A digest of a case's inputs, or None when they cannot be compared across runs."""
    digest = hashlib.sha1()
    try:
        _fingerprint((case.args, case.kwargs), digest)
    except TypeError:
        return None
    return digest.hexdigest()


def find_fixed_cases(checker: Callable) -> Callable:
    """`checker`, marking as fixed the cases it also builds, identically, for another seed."""

    @functools.wraps(checker)
    def wrapper(func: Callable, *args: Any, seed: int | None = None, **kwargs: Any) -> Score:
        seed = fresh_seed(seed)
        seen: list = []
        token = _probe.set(seen)
        try:  # run_checks returns at once in this pass, before it prints or calls `func`
            checker(func, *args, seed=(seed + 0x9E3779B9) % 2**32, **kwargs)
        except Exception:  # noqa: BLE001 - a checker that cannot be probed marks nothing
            seen = []
        finally:
            _probe.reset(token)
        token = _fixed.set(frozenset(k for k in seen if k is not None))
        try:
            return checker(func, *args, seed=seed, **kwargs)
        finally:
            _fixed.reset(token)

    return wrapper


def credit(points: float, cases: Sequence[Case], ok: Sequence[bool]) -> float:
    """Points for these results: the share of fresh cases passed, each failed fixed case added
    to the count (so it lowers the share); all or nothing when every case is fixed."""
    fresh = [good for case, good in zip(cases, ok) if not case.fixed]
    failed_fixed = sum(1 for case, good in zip(cases, ok) if case.fixed and not good)
    if all(ok):
        return float(points)
    if not fresh:
        return 0.0
    return points * sum(fresh) / (len(fresh) + failed_fixed)


def run_checks(name: str, func: Callable, cases: Sequence[Case],
               compare: Callable[[Any, Any], str | None], points: float = 1.0,
               seed: int | None = None, *, allow: Sequence[str] = (),
               forbid: Sequence[str] = ()) -> Score:
    """Call `func` on every case, print feedback and return the points earned (partial credit).

    `allow` names rnnbook helpers the answer may call ("rnnbook.scratch.sigmoid"); `forbid`
    names what it may not, beyond the defaults of `_guard` (all of rnnbook and torch's RNN
    layers): "torch.nn.functional.ctc_loss", "torch.softmax", a class or a whole module.
    """
    if not cases:
        raise ValueError(f"run_checks({name!r}): `cases` is empty; a checker needs at least one Case")
    probe = _probe.get()
    if probe is not None:  # find_fixed_cases' first pass: only the inputs are wanted
        probe.extend(case_key(case) for case in cases)
        return Score(0.0, 0, len(cases), points)
    policy = make_policy(tuple(allow), tuple(forbid))
    known = _fixed.get()
    if known:
        cases = [case if case.fixed or case_key(case) not in known else
                 Case(case.args, case.expected, case.description, case.kwargs, fixed=True)
                 for case in cases]
    if not callable(func):
        print(f"{name}: expected a function, got {type(func).__name__}. 0/{len(cases)} checks passed.")
        return Score(0.0, 0, len(cases), points)
    failures: list[str] = []
    ok: list[bool] = []
    for i, case in enumerate(cases, start=1):
        ok.append(False)
        try:
            got = call_watched(func, case.args, case.kwargs, policy)
        except Shortcut as exc:
            print(f"{name}: implement this yourself: calling {_short(exc.name)[:200]} is not allowed "
                  f"here. 0/{len(cases)} checks, 0/{points:g} points.")
            return Score(0.0, 0, len(cases), points)
        except NotImplementedError:
            print(f"{name}: not attempted yet (the function raises NotImplementedError). "
                  f"0/{len(cases)} checks, 0/{points:g} points.")
            return Score(0.0, 0, len(cases), points)
        except KeyboardInterrupt:  # the cell was interrupted (a time limit): stop, as Jupyter expects
            raise
        except BaseException as exc:  # noqa: BLE001 - report, never crash (SystemExit, GeneratorExit, ...)
            failures.append(f"check {i} ({case.description}): raised {_describe(exc)}")
            continue
        try:
            problem = compare(got, case.expected)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - a result whose methods raise
            problem = f"the result could not be checked ({_describe(exc)})"
        if problem is None:
            ok[-1] = True
        else:
            failures.append(_short(f"check {i} ({case.description}): {problem}"))
    passed = sum(ok)
    earned = credit(points, cases, ok)
    verdict = "all correct" if passed == len(cases) else "not yet"
    print(f"{name}: passed {passed}/{len(cases)} checks ({verdict}), {earned:g}/{points:g} points.")
    for line in failures[:3]:
        print("  - " + line)
    if len(failures) > 3:
        print(f"  ... and {len(failures) - 3} more failing checks.")
    if seed is not None and failures:
        print(f"  (random inputs drawn with seed {seed}; each run draws new ones)")
    return Score(earned, passed, len(cases), points)


def fresh_seed(seed: int | None) -> int:
    """A new random seed for each run (so answers cannot be fitted to known inputs), or `seed`."""
    return secrets.randbits(32) if seed is None else int(seed)
