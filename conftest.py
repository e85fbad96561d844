"""pytest plugin for `make test`: each chapter is executed once, by nbval, and the result reused.

nbval executes every notebook cell by cell (one pytest item a cell). When all of a notebook's cells
have passed, this plugin writes two things under `_build/smoke/nbval/`:

- `<chapter>.ipynb`: the notebook with the outputs nbval collected. The strict smoke book build
  (`tests/test_book.py`) stores these in its jupyter-cache, as myst-nb would store its own run,
  and so renders each chapter instead of executing it a second time.
- `<chapter>.student.json`: the student edition's cells run in the same kernel. The student
  edition differs from the chapter only from the first answer cell on (the exercises close each
  chapter), so its identical beginning has just run; the names that the chapter's own answers
  defined are deleted, and the student's cells from the first answer on are run in their place.
  `tests/test_student_edition.py` checks that these are exactly the cells of nbgrader's student
  notebook and reads the outcome; where they are not, it executes the student notebook itself.

A notebook with a failing cell leaves nothing behind, so the later tests execute it themselves
and fail on it too. Nothing here changes what nbval runs or checks.

`make test` runs nbval and the tests as two pytest runs over xdist workers (`--dist loadfile`
keeps each notebook's cells in one worker, in order). Both runs share one RNNBOOK_TEST_RUN token,
which is stamped on what is staged here; the readers take only what carries their own token (or,
without one, what was written since their session began), so a result left by an earlier run is
never reused.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from queue import Empty

import pytest

ROOT = Path(__file__).resolve().parent
STAGE = ROOT / "_build" / "smoke" / "nbval"  # tests/notebook_tools.py: NBVAL_STAGE
_MARK = "__rnnbook_names_before_the_answers__"
TEST_RUN = os.environ.get("RNNBOOK_TEST_RUN", "")  # tests/notebook_tools.py: staged_this_run


class _Run:
    def __init__(self, n_cells: int, first_answer: int | None, student: list[str]):
        self.n_cells = n_cells
        self.first_answer = first_answer  # index among code cells; None: no answers
        self.student = student  # the student edition's code cells from first_answer on
        self.outputs: dict[int, list] = {}
        self.failed = False
        self.started: float | None = None


_runs: dict[Path, _Run] = {}


def _is_nbval_cell(item) -> bool:
    return type(item).__name__ == "IPyNbCell" and hasattr(item, "cell_num")


def _path(item) -> Path:
    return Path(str(item.parent.fspath)).resolve()


def student_code_cells(path: Path) -> list[str]:
    """The code cells of the student edition, as nbgrader's generate_assignment writes them."""
    import tempfile

    import nbformat
    from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme, ClearSolutions

    from rnnbook.grading import _copy_source

    with tempfile.TemporaryDirectory() as tmp:
        # the copy that make_student_edition hands nbgrader (marker text in prose disguised)
        _copy_source(path, Path(tmp) / path.name)
        nb = nbformat.read(Path(tmp) / path.name, as_version=4)
    resources: dict = {}
    for step in (ClearSolutions(), ClearHiddenTests(), ClearMarkScheme()):
        nb, resources = step.preprocess(nb, resources)
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


def pytest_collection_modifyitems(session, config, items):
    if not config.getoption("nbval_lax", default=False):
        return
    import nbformat

    counts: dict[Path, int] = {}
    for item in items:
        if _is_nbval_cell(item):
            counts[_path(item)] = counts.get(_path(item), 0) + 1
    for path, n in counts.items():
        ours = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        try:
            theirs = student_code_cells(path)
        except Exception:  # nbgrader could not read it: the student test will say why
            theirs = ours
        first = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), None)
        _runs[path] = _Run(n, first, theirs[first:] if first is not None else [])
        if hasattr(config, "workerinput"):
            continue  # another xdist worker may already have staged it; readers check the token
        # stale results must never stand in for a notebook that fails in this run
        for suffix in (".ipynb", ".student.json"):
            (STAGE / f"{path.stem}{suffix}").unlink(missing_ok=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    run = _runs.get(_path(item)) if _is_nbval_cell(item) else None
    if run is not None and item.cell_num == run.first_answer and not run.failed:
        _execute(item.parent.kernel, f"{_MARK} = set(globals())")
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if not _is_nbval_cell(item):
        return
    run = _runs.get(_path(item))
    if run is None:
        return
    if call.when == "setup" and run.started is None:
        run.started = call.start  # the first cell's setup starts the notebook's kernel
    if call.when != "call":
        return
    report = outcome.get_result()
    if report.failed or report.skipped:
        run.failed = True
        return
    run.outputs[item.cell_num] = list(getattr(item, "test_outputs", None) or [])
    if len(run.outputs) == run.n_cells and not run.failed:
        seconds = time.time() - run.started
        STAGE.mkdir(parents=True, exist_ok=True)
        _write_executed(_path(item), run, seconds)
        if run.first_answer is not None:
            _run_student_cells(item, run)


def _write_executed(path: Path, run: _Run, seconds: float) -> None:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    if len(code_cells) != run.n_cells:
        return  # the file changed while the tests ran: let the build execute it
    for number, cell in enumerate(code_cells, start=1):
        outputs = []
        for out in run.outputs[number - 1]:
            out = nbformat.from_dict(dict(out))
            if out.get("output_type") == "execute_result":
                out["execution_count"] = number
            outputs.append(out)
        cell.outputs = outputs
        cell.execution_count = number
    nb.metadata["rnnbook_execution_seconds"] = round(seconds, 3)
    nb.metadata["rnnbook_test_run"] = TEST_RUN
    nbformat.write(nb, STAGE / path.name)


def _run_student_cells(item, run: _Run) -> None:
    kernel = item.parent.kernel
    _execute(kernel, f"for _name in set(globals()) - {_MARK}:\n    del globals()[_name]\n"
                     f"del _name")
    cells = []
    for source in run.student:
        cells.append({"source": source, "outputs": _execute(kernel, source)})
    record = {"first_answer": run.first_answer, "run": TEST_RUN, "cells": cells}
    (STAGE / f"{_path(item).stem}.student.json").write_text(json.dumps(record, indent=1))


def _execute(kernel, source: str, timeout: float = 300) -> list[dict]:
    """Run `source` in nbval's kernel and return its outputs (stream, display, result, error)."""
    msg_id = kernel.execute_cell_input(source, allow_stdin=False)
    kernel.await_reply(msg_id, timeout=timeout)
    outputs = []
    while True:
        try:
            msg = kernel.get_message(stream="iopub", timeout=timeout)
        except Empty:
            outputs.append({"output_type": "error", "ename": "Timeout", "evalue": "no reply", "traceback": []})
            return outputs
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "status" and content["execution_state"] == "idle":
            return outputs
        if kind == "stream":
            outputs.append({"output_type": "stream", "name": content["name"], "text": content["text"]})
        elif kind in ("display_data", "execute_result"):
            outputs.append({"output_type": kind, "data": content["data"]})
        elif kind == "error":
            outputs.append({"output_type": "error", "ename": content["ename"], "evalue": content["evalue"],
                            "traceback": content["traceback"]})
