"""The command line behind `make student`, `make grade` and `python -m rnnbook.grading`."""

from __future__ import annotations
import argparse
from collections.abc import Sequence
from pathlib import Path

from .discovery import ROOT
from .student_edition import build_student_html, make_student_edition
from .leak_check import leak_check
from .sandbox import Limits, parse_bytes
from .autograde import _kernel_main, grade


def main(argv: Sequence[str] | None = None) -> int:
    """The command line behind `make student` and `make grade`."""
    parser = argparse.ArgumentParser(prog="python -m rnnbook.grading", description=(
        "Course-side tools for instructors: find the exercises, make the student edition, grade submissions."))
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("student", help="student edition (nbgrader) + student HTML book + leak check")
    p.add_argument("--out", type=Path, default=ROOT / "_build" / "student")
    p.add_argument("--no-html", action="store_true", help="only the notebooks (and their leak check)")
    p = sub.add_parser("grade", help="grade SUBMISSIONS/<student>/<notebook>.ipynb")
    p.add_argument("submissions", type=Path)
    p.add_argument("--out", type=Path, default=ROOT / "_build" / "grades")
    p.add_argument("--timeout", type=float, default=Limits.cell_timeout, help="seconds per cell (default 60)")
    p.add_argument("--memory", default="4G", help="memory per notebook process (default 4G)")
    p.add_argument("--notebook-timeout", type=float, default=Limits.notebook_timeout,
                   help="seconds per notebook in the clean room (default 900)")
    p = sub.add_parser("leak-check", help="fail if a reference solution line appears under DIR")
    p.add_argument("directory", type=Path)
    p = sub.add_parser("kernel", help=argparse.SUPPRESS)
    p.add_argument("--memory", type=int, required=True)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    if args.command == "kernel":
        _kernel_main(args.memory, [a for a in args.rest if a != "--"])
    if args.command == "student":
        args.out = args.out.resolve()
        notebooks = make_student_edition(args.out)
        print(f"student edition: {len(notebooks)} notebooks in {args.out / 'notebooks'}")
        if not args.no_html:
            print(f"student book: {build_student_html(args.out, notebooks)}/index.html")
        args.directory = args.out
    if args.command in {"student", "leak-check"}:
        leaks = leak_check(args.directory)
        for leak in leaks[:50]:
            print("LEAK:", leak)
        print(f"leak check of {args.directory}: {'FAILED, ' + str(len(leaks)) + ' leaks' if leaks else 'no solution line found'}")
        return 1 if leaks else 0
    if args.command == "grade":
        limits = Limits(cell_timeout=args.timeout, memory=parse_bytes(args.memory),
                        notebook_timeout=args.notebook_timeout)
        report = grade(args.submissions, args.out, limits)
        for line in report.skipped:
            print("skipped:", line)
        for line in report.nbgrader_failed:
            print("nbgrader could not run (scored by the clean room alone):", line)
        print(f"graded {len(report.totals)} students in {report.seconds:.0f} s: {args.out / 'grades.csv'}, "
              f"{args.out / 'totals.csv'}, feedback in {args.out / 'feedback'}")
    return 0
