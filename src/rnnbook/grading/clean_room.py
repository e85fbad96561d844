"""The clean room: the course's checkers, in this trusted process, call the student's functions in
a sandbox.
"""

from __future__ import annotations
import ast
import contextlib
import io
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
import numpy as np

from .discovery import Exercise, _source, nbgrader_meta
from .sandbox import Limits, Sandbox, _RemoteFunction


@dataclass
class CheckResult:
    """The clean-room verdict on one check cell."""

    notebook: str
    exercise: str
    grade_id: str
    score: float
    max_score: float
    feedback: str = ""
    kernel_score: float | None = None
    student: str = ""


class _ThreadStdout(io.TextIOBase):
    """sys.stdout that sends a thread's writes to its own buffer while it captures (checkers print)."""

    def __init__(self, default):
        self.default, self.local = default, threading.local()

    def write(self, text: str) -> int:
        return (getattr(self.local, "buffer", None) or self.default).write(text)

    def flush(self) -> None:
        (getattr(self.local, "buffer", None) or self.default).flush()


@contextlib.contextmanager
def _captured_stdout():
    if not isinstance(sys.stdout, _ThreadStdout):
        sys.stdout = _ThreadStdout(sys.stdout)
    proxy, buffer = sys.stdout, io.StringIO()
    proxy.local.buffer = buffer
    try:
        yield buffer
    finally:
        proxy.local.buffer = None
        if sys.stdout is proxy:
            sys.stdout = proxy.default


def _checkers() -> dict[str, Callable]:
    from .. import exercises

    return {name: getattr(exercises, name) for name in dir(exercises) if name.startswith("check_")}


def _names(source: str) -> tuple[set[str], set[str]]:
    """(names a cell binds, names it reads without binding them itself), from its syntax tree."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except (SyntaxError, ValueError):
        return set(), set()
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    return bound, read - bound


def student_cells(nb: dict, course_nb: dict | None = None, functions: Iterable[str] = (),
                  keep_first: int = 2) -> list[str]:
    """The code the clean room runs, in notebook order (never the locked check cells).

    With the chapter's own notebook given, that is: its first `keep_first` code cells (set-up and
    imports), the solution cells, every cell the student wrote or changed, and the chapter's cells
    that bind a name those cells read or a checked function's name (transitively). The chapter's demonstrations, which no answer uses, are
    skipped, so the clean room takes seconds, not a full run of the chapter.
    """
    code = [c for c in nb["cells"] if c.get("cell_type") == "code"
            and not (nbgrader_meta(c).get("grade") and not nbgrader_meta(c).get("solution"))]
    cells = [_source(c) for c in code]
    if course_nb is None:
        return cells
    course = [_source(c).strip() for c in course_nb["cells"] if c.get("cell_type") == "code"]
    keep = [src.strip() not in course or src.strip() in course[:keep_first] or bool(nbgrader_meta(c).get("solution"))
            for src, c in zip(cells, code)]
    names = [_names(src) for src in cells]
    wanted = set(functions).union(*(names[i][1] for i in range(len(cells)) if keep[i]))
    changed = True
    while changed:
        changed = False
        for i, (bound, read) in enumerate(names):
            if not keep[i] and bound & wanted:
                keep[i], changed = True, True
                wanted |= read
    return [src for src, k in zip(cells, keep) if k]


def verify_notebook(submission: dict | None, notebook: str, exercises: Sequence[Exercise], limits: Limits,
                    checkers: dict[str, Callable] | None = None, course_nb: dict | None = None) -> list[CheckResult]:
    """Score one submitted notebook in the clean room; `submission` None means unreadable."""
    checkers = checkers or _checkers()
    results = [CheckResult(notebook, ex.label, chk.grade_id, 0.0, chk.points) for ex in exercises for chk in ex.checks]
    if submission is None:
        for r in results:
            r.feedback = "the file is not a readable notebook (not JSON in the notebook format)"
        return results
    present = {str(nbgrader_meta(c).get("grade_id")) for c in submission["cells"]}
    if not any(sid in present for ex in exercises for sid in ex.solution_ids):
        for r in results:
            r.feedback = (f"none of the exercises of {notebook} is in this file: is it another chapter's "
                          "notebook handed in under this name?")
        return results
    start = time.monotonic()
    functions = [chk.function for ex in exercises for chk in ex.checks]
    scratch = tempfile.TemporaryDirectory(prefix="rnnbook-clean-room-")  # the student's working folder
    sandbox = Sandbox(student_cells(submission, course_nb, functions), limits, start + limits.notebook_timeout,
                      cwd=scratch.name)
    by_id = {r.grade_id: r for r in results}
    try:
        sandbox.boot()
        for ex in exercises:
            for chk in ex.checks:
                result = by_id[chk.grade_id]
                if not sandbox.alive:
                    sandbox.boot()
                if time.monotonic() > sandbox.deadline or chk.checker not in checkers:
                    result.feedback = ("the notebook ran out of its time limit" if chk.checker in checkers
                                       else f"unknown checker {chk.checker}")
                    continue
                deadline = min(time.monotonic() + limits.cell_timeout, sandbox.deadline)
                func = _RemoteFunction(sandbox, chk.function, deadline)
                with _captured_stdout() as out:
                    try:
                        score = checkers[chk.checker](func, **dict(chk.kwargs))
                    except Exception as exc:  # noqa: BLE001 - a checker bug must not stop the class
                        score = 0.0
                        print(f"the checker failed: {type(exc).__name__}: {exc}")
                top = float(getattr(score, "max_points", dict(chk.kwargs).get("points", 1.0)) or 1.0)
                fraction = float(score) / top if np.isfinite(float(score)) else 0.0
                result.score = round(chk.points * min(max(fraction, 0.0), 1.0), 6)
                result.feedback = out.getvalue()[:5000]
    finally:
        sandbox.kill()
        scratch.cleanup()
    if sandbox.notes:
        for r in results:
            r.feedback = "\n".join(sandbox.notes) + ("\n" + r.feedback if r.feedback else "")
    return results
