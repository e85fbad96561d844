"""Batch grading: nbgrader's autograder in a limited kernel beside the clean room, scores into the
gradebook.
"""

from __future__ import annotations
import contextlib
import json
import os
import re
import shutil
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .discovery import KERNEL_NAME, NOTEBOOKS, exercises_in, read_notebook
from .student_edition import _check_api, _copy_source, _nbgrader_api
from .worker import _preload
from .sandbox import Limits
from .clean_room import CheckResult, _checkers, verify_notebook
from .reports import _write_csvs, _write_feedback


def _install_kernel(course: Path, limits: Limits) -> Path:
    """A kernelspec whose launcher sets the memory limit before ipykernel starts."""
    spec = course / "jupyter" / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "rnnbook.grading", "kernel", "--memory", str(int(limits.memory)), "--",
            "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({
        "argv": argv, "display_name": "rnnbook grading (limited)", "language": "python",
        "env": {"RNNBOOK_SMOKE": os.environ.get("RNNBOOK_SMOKE", "1"), "RNNBOOK_PROGRESS": "0",
                "MPLBACKEND": "Agg", "CUDA_VISIBLE_DEVICES": ""}}))
    return course / "jupyter"


def _kernel_main(memory: int, rest: list[str]) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # the kernel's own log lines would break the progress bar
    _preload()
    from ipykernel.kernelapp import launch_new_instance

    sys.argv = [sys.argv[0], *rest]
    launch_new_instance()


_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,99}$")


@dataclass
class GradeReport:
    """What `grade` wrote and how long it took."""

    rows: list[CheckResult] = field(default_factory=list)
    totals: dict[str, tuple[float, float]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    nbgrader_failed: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _kernel_scores(course: Path, notebook: str, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook, MissingEntry

    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        try:
            nb = gb.find_submission_notebook(notebook, notebook, student)
        except MissingEntry:
            return scores
        for grade in nb.grades:
            scores[grade.name] = grade.auto_score
    return scores


def _record_scores(course: Path, notebook: str, student: str, results: Sequence[CheckResult]) -> None:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for r in results:
            with contextlib.suppress(MissingEntry):
                grade = gb.find_grade(r.grade_id, notebook, notebook, student)
                grade.auto_score, grade.manual_score = r.score, None
        gb.db.commit()


def grade(submissions: Path, out: Path, limits: Limits = Limits(), notebook_dir: Path = NOTEBOOKS,
          show_progress: bool = True) -> GradeReport:
    """Grade dir/<student>/<notebook>.ipynb; write grades.csv, totals.csv, flags.csv and feedback/."""
    t0 = time.monotonic()
    # absolute paths: nbgrader changes the working folder while it converts a notebook
    submissions, out, notebook_dir = Path(submissions).resolve(), Path(out).resolve(), Path(notebook_dir).resolve()
    if not submissions.is_dir():
        raise ValueError(f"SUBMISSIONS={submissions}: not a folder; expected SUBMISSIONS/<student>/<notebook>.ipynb")
    checkers = _checkers()  # imported before any student code runs anywhere
    sources = {p.stem: p for p in sorted(Path(notebook_dir).glob("*.ipynb"))}
    course = out / "course"
    shutil.rmtree(course, ignore_errors=True)
    shutil.rmtree(out / "feedback", ignore_errors=True)
    saved = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(_install_kernel(course, limits)), saved]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nbgrader's and nbconvert's, once per student
            return _grade(submissions, out, limits, sources, checkers, course, t0, show_progress)
    finally:
        os.environ.pop("JUPYTER_PATH") if saved is None else os.environ.update(JUPYTER_PATH=saved)


def _grade(submissions: Path, out: Path, limits: Limits, sources: dict[str, Path], checkers: dict[str, Callable],
           course: Path, t0: float, show_progress: bool) -> GradeReport:
    exercises = {stem: exercises_in(read_notebook(p), stem) for stem, p in sources.items()}
    api = _nbgrader_api(course, limits)
    report = GradeReport()
    students = sorted(p for p in submissions.iterdir() if p.is_dir())
    for p in students:
        if not _SAFE_ID.match(p.name):
            report.skipped.append(f"{p.name}: not a usable student id (letters, digits, _.@+- only)")
    students = [p for p in students if _SAFE_ID.match(p.name)]
    wanted = sorted({f.stem for s in students for f in s.glob("*.ipynb") if f.stem in sources})
    for stem in wanted:
        _copy_source(sources[stem], course / "source" / stem / f"{stem}.ipynb")
        _check_api(api.generate_assignment(stem), f"register {stem}")
    from ..progress import progress

    iterator = progress(students, desc="grading students") if show_progress else students
    course_nbs = {stem: read_notebook(p) for stem, p in sources.items()}
    # the clean room (a worker process) runs beside nbgrader's kernel: two processes, two cores
    with ThreadPoolExecutor(max_workers=1) as pool:
        for student_dir in iterator:
            student = student_dir.name
            for path in sorted(student_dir.iterdir()):
                if path.suffix != ".ipynb" or path.stem not in sources:
                    report.skipped.append(f"{student}/{path.name}: not a notebook of the course; ignored")
                    continue
                stem = path.stem
                try:
                    submission = read_notebook(path)
                except ValueError:
                    submission = None
                clean_room = pool.submit(verify_notebook, submission, stem, exercises[stem], limits, checkers,
                                         course_nbs[stem])
                target = course / "submitted" / student / stem / f"{stem}.ipynb"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)
                auto = api.autograde(stem, student)
                kernel = _kernel_scores(course, stem, student) if auto.get("success") else {}
                if not auto.get("success"):
                    errors = [ln.strip() for ln in auto.get("log", "").splitlines() if "Error" in ln]
                    report.nbgrader_failed.append(f"{student}/{stem}: {(errors or ['no log'])[-1][:200]}")
                results = clean_room.result()
                for r in results:
                    r.kernel_score, r.student = kernel.get(r.grade_id), student
                if auto.get("success"):
                    _record_scores(course, stem, student, results)
                    api.generate_feedback(stem, student)
                report.rows += results
                _write_feedback(out / "feedback" / student, stem, results, course, auto)
    _write_csvs(out, report, students)
    report.seconds = time.monotonic() - t0
    return report
