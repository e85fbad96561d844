"""The reports of a grading run: grades.csv, totals.csv, flags.csv and each student's feedback
page.
"""

from __future__ import annotations
import csv
import html
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from typing import TYPE_CHECKING

from .clean_room import CheckResult

if TYPE_CHECKING:
    from .autograde import GradeReport


def _write_feedback(folder: Path, notebook: str, results: Sequence[CheckResult], course: Path, auto: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    student = folder.name
    page = course / "feedback" / student / notebook / f"{notebook}.html"
    if page.exists():
        shutil.copy(page, folder / f"{notebook}.html")
    rows = "".join(
        f"<tr><td>{html.escape(r.exercise)}</td><td>{r.score:g}</td><td>{r.max_score:g}</td>"
        f"<td><pre>{html.escape(r.feedback)}</pre></td></tr>" for r in results)
    note = ("" if auto.get("success") else
            "<p>nbgrader could not execute this notebook (it crashed or is unreadable); the scores below come "
            "from the clean-room check alone.</p>")
    link = f'<p><a href="{notebook}.html">The executed notebook with nbgrader\'s feedback</a></p>' if page.exists() else ""
    with (folder / "index.html").open("a", encoding="utf-8") as f:
        f.write(f"<h2>{html.escape(notebook)}</h2>{note}{link}<table border=1><tr><th>exercise</th><th>score</th>"
                f"<th>max</th><th>what the checker said</th></tr>{rows}</table>\n")


def _write_csvs(out: Path, report: GradeReport, students: Iterable[Path]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "grades.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "notebook", "exercise", "score", "max_score"])
        for r in report.rows:
            w.writerow([r.student, r.notebook, r.exercise, f"{r.score:g}", f"{r.max_score:g}"])
    totals: dict[str, list[float]] = {s.name: [0.0, 0.0] for s in students}
    for r in report.rows:
        totals[r.student][0] += r.score
        totals[r.student][1] += r.max_score
    with (out / "totals.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "score", "max_score"])
        for student, (score, top) in sorted(totals.items()):
            w.writerow([student, f"{score:g}", f"{top:g}"])
            report.totals[student] = (score, top)
    with (out / "flags.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "notebook", "exercise", "kernel_score", "verified_score"])
        for r in report.rows:
            if r.kernel_score is None or abs(r.kernel_score - r.score) > 1e-6:
                w.writerow([r.student, r.notebook, r.exercise,
                            "" if r.kernel_score is None else f"{r.kernel_score:g}", f"{r.score:g}"])
