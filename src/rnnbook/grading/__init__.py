"""Course-side tools for instructors: find the exercises, make the student edition, grade submissions.

    python -m rnnbook.grading student [--out _build/student] [--no-html]
    python -m rnnbook.grading grade SUBMISSIONS [--out _build/grades] [--timeout 60] [--memory 4G]
    python -m rnnbook.grading leak-check DIR

Everything is discovered from `notebooks/*.ipynb` and their nbgrader metadata (never a hand-kept
list). Grading runs in two stages for every submitted notebook:

1. nbgrader's own autograder executes the notebook in a kernel with a per-cell time limit and a
   memory limit (a kernel launcher sets RLIMIT_AS), restores locked cells (and re-adds deleted
   ones) and writes the executed copy that nbgrader's feedback page shows.
2. The score is decided in a *clean room*: this (trusted) process, which never runs student code,
   calls the course's checkers with a stand-in for the student's function. Each call is forwarded
   to a separate, limited worker process that has executed the student's cells; only plain data
   (numbers, strings, arrays, without pickle) comes back. Whatever the student's code patches in
   its own process (a checker, numpy, torch, builtins), the comparison against the reference runs
   here, on inputs drawn here with a seed the student's process never sees.

The clean-room score is the one recorded (in the CSV files and in nbgrader's gradebook, so that its
feedback and `nbgrader export` agree); where it differs from what the kernel printed, the row is
listed in `flags.csv` for the instructor to look at.

Written answers (a Markdown cell marked solution and grade, holding the answer key and rubric) are
replaced whole in the student edition and graded by hand in nbgrader's formgrader; the CSV files
hold the checkers' points only.

The package, one job a module: `discovery` (exercises from the notebooks), `student_edition`
(nbgrader's release and the student book), `leak_check`, the clean room (`wire`, `worker`,
`sandbox`, `clean_room`), `autograde` (nbgrader's autograder and the gradebook), `reports` (CSV
files and feedback pages) and `cli`. Every name stays importable from `rnnbook.grading`.
"""

from __future__ import annotations

# noqa: F401 throughout: these imports are the package's interface
from .discovery import (BEGIN, END, KERNEL_NAME, KINDS, NOTEBOOKS, ROOT, CheckCell, Exercise,  # noqa: F401
                        WrittenCell, _answer_lines, _source, chapter_title, discover_exercises,
                        exercises_in, is_written_answer, nbgrader_meta, parse_check_call,
                        read_notebook, solution_lines)
from .wire import Opaque, RemoteError, _decode, _encode, _freeze, _pack, _unpack, _write_frame  # noqa: F401
from .student_edition import (_check_api, _copy_source, _nbgrader_api, _no_execute_config,  # noqa: F401
                              _student_book_source, _truncate_output_class, build_student_html,
                              make_student_edition)
from .leak_check import _searchable_text, leak_check  # noqa: F401
from .worker import PRELOAD, _preload, _worker_main  # noqa: F401
from .sandbox import Limits, Sandbox, _copy_back, _RemoteFunction, parse_bytes  # noqa: F401
from .clean_room import (CheckResult, _captured_stdout, _checkers, _names, _ThreadStdout,  # noqa: F401
                         student_cells, verify_notebook)
from .reports import _write_csvs, _write_feedback  # noqa: F401
from .autograde import (_SAFE_ID, GradeReport, _grade, _install_kernel, _kernel_main,  # noqa: F401
                        _kernel_scores, _record_scores, grade)
from .cli import main  # noqa: F401

__all__ = ["BEGIN", "END", "CheckCell", "CheckResult", "Exercise", "GradeReport", "KINDS", "Limits", "Opaque",
           "RemoteError", "Sandbox", "WrittenCell", "build_student_html", "chapter_title",
           "discover_exercises", "exercises_in", "grade", "is_written_answer", "leak_check", "main",
           "make_student_edition", "nbgrader_meta", "parse_bytes", "parse_check_call", "read_notebook",
           "solution_lines", "student_cells", "verify_notebook"]
