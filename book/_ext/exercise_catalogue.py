"""Sphinx extension: the {exercise-catalogue} directive, a table of every exercise of the course.

The table is read from the notebooks' cells and nbgrader metadata when the book is built
(rnnbook.grading.discover_exercises), never typed by hand: chapter, title, label, kind, points,
time and difficulty. Tags on the exercise's Markdown cell give the author's own: `kind-implement|
written|experiment`, `minutes-N` and `difficulty-easy|medium|hard`; without them the kind is read
off its cells (a manually graded answer: written; a checker: implement) and the time and the
difficulty are guessed from the reference answer's length, marked as such.
"""
from __future__ import annotations

from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

COLUMNS = [("Chapter", 4), ("Exercise", 4), ("Label", 3), ("Kind", 2), ("Points", 1), ("Time", 2),
           ("Difficulty", 2)]


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


def _points(ex) -> str:
    """'3' or '3 (1 by hand)' when part of the points are a written answer's."""
    by_hand = ex.points - ex.auto_points
    return f"{ex.points:g}" + (f" ({by_hand:g} by hand)" if by_hand else "")


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
                          _link(ex.title, "ref", ex.label), nodes.literal(text=ex.label), ex.kind,
                          _points(ex), ex.time_estimate, ex.level])
        group += head
        group += body
        chapters = len({ex.notebook for ex in exercises})
        kinds = {}
        for ex in exercises:
            kinds[ex.kind] = kinds.get(ex.kind, 0) + 1
        hand = sum(ex.points - ex.auto_points for ex in exercises)
        summary = nodes.paragraph(text=(
            f"{len(exercises)} exercises in {chapters} chapters ("
            + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())) + "), "
            f"{sum(ex.points for ex in exercises):g} points in all, {hand:g} of them graded by hand; "
            f"about {sum(ex.minutes for ex in exercises) / 60:.0f} hours of work."))
        return [summary, table]


def setup(app: Sphinx) -> dict:
    app.add_directive("exercise-catalogue", ExerciseCatalogue)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
