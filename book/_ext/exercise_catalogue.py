"""Sphinx extension: the {exercise-catalogue} directive, a table of every exercise of the course.

The table is read from the notebooks' cells and nbgrader metadata when the book is built
(rnnbook.grading.discover_exercises), never typed by hand: chapter, title, label, points and
difficulty (a `difficulty-easy|medium|hard` tag on the exercise's Markdown cell, or else a guess
from the length of the reference answer, marked as such).
"""
from __future__ import annotations

from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

COLUMNS = [("Chapter", 4), ("Exercise", 4), ("Label", 3), ("Points", 1), ("Difficulty", 2)]


def _link(text: str, reftype: str, target: str) -> nodes.Node:
    ref = addnodes.pending_xref("", refdomain="std", reftype=reftype, reftarget=target, refexplicit=True,
                                refwarn=True)
    ref += nodes.inline(text=text)
    return ref


def _row(cells: list[nodes.Node | str]) -> nodes.row:
    row = nodes.row()
    for cell in cells:
        entry, para = nodes.entry(), nodes.paragraph()
        para += nodes.Text(cell) if isinstance(cell, str) else cell
        entry += para
        row += entry
    return row


class ExerciseCatalogue(SphinxDirective):
    """A table of every exercise in notebooks/*.ipynb, with links to the chapters and exercises."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from rnnbook.grading import discover_exercises

        notebook_dir = Path(self.env.srcdir) / "notebooks"
        for path in sorted(notebook_dir.glob("*.ipynb")):
            self.env.note_dependency(str(path))  # the page is rebuilt when a chapter changes
        exercises = discover_exercises(notebook_dir)
        table = nodes.table(classes=["exercise-catalogue"])
        group = nodes.tgroup(cols=len(COLUMNS))
        table += group
        for _, width in COLUMNS:
            group += nodes.colspec(colwidth=width)
        head, body = nodes.thead(), nodes.tbody()
        head += _row([name for name, _ in COLUMNS])
        for ex in exercises:
            number = ex.notebook.split("_", 1)[0]
            number = str(int(number)) if number.isdigit() else number
            body += _row([_link(f"{number}. {ex.chapter}", "doc", f"/notebooks/{ex.notebook}"),
                          _link(ex.title, "ref", ex.label), nodes.literal(text=ex.label), f"{ex.points:g}",
                          ex.level])
        group += head
        group += body
        chapters = len({ex.notebook for ex in exercises})
        summary = nodes.paragraph(text=(f"{len(exercises)} exercises in {chapters} chapters, "
                                        f"{sum(ex.points for ex in exercises):g} points in all."))
        return [summary, table]


def setup(app: Sphinx) -> dict:
    app.add_directive("exercise-catalogue", ExerciseCatalogue)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
