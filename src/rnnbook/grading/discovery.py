"""Discovery: the exercises of every chapter, read from the notebooks' cells and nbgrader metadata."""

from __future__ import annotations
import ast
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


ROOT = Path(__file__).resolve().parents[3]
NOTEBOOKS = ROOT / "notebooks"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
KERNEL_NAME = "rnnbook-grading"
_EXERCISE = re.compile(r"(?:`{3,}|:{3,})\{exercise\}[ \t]*(.*)")
_LABEL = re.compile(r"^:label:\s*(\S+)", re.M)
_DIFFICULTY = ("easy", "medium", "hard")
KINDS = ("implement", "written", "experiment")
_MINUTES = re.compile(r"^minutes-(\d{1,3})$")


@dataclass(frozen=True)
class CheckCell:
    """A locked, graded cell: its nbgrader grade_id and points, the checker and the function it checks."""

    grade_id: str
    points: float
    checker: str
    function: str
    kwargs: tuple = ()


@dataclass(frozen=True)
class WrittenCell:
    """A manually graded Markdown answer (nbgrader: solution and grade): its grade_id and points.

    The course's cell holds the answer key and the rubric; nbgrader's student edition replaces
    the whole cell by a stub in which the student writes, and an instructor grades it by hand.
    """

    grade_id: str
    points: float


@dataclass(frozen=True)
class Exercise:
    """One exercise of a chapter, as the notebook's cells and nbgrader metadata describe it."""

    notebook: str
    chapter: str
    label: str
    title: str
    solution_ids: tuple[str, ...]
    checks: tuple[CheckCell, ...]
    difficulty: str = ""
    answer_lines: int = 0
    written: tuple[WrittenCell, ...] = ()
    kind_tag: str = ""
    minutes_tag: int = 0

    @property
    def points(self) -> float:
        return float(sum(c.points for c in self.checks) + sum(w.points for w in self.written))

    @property
    def auto_points(self) -> float:
        """The points the checkers award (the written answers' points are graded by hand)."""
        return float(sum(c.points for c in self.checks))

    @property
    def kind(self) -> str:
        """implement, written or experiment: the author's `kind-*` tag, else what the cells say
        (only manually graded answers: written; code checked by a checker: implement)."""
        if self.kind_tag:
            return self.kind_tag
        if self.written and not self.checks:
            return "written"
        return "implement + written" if self.written else "implement"

    @property
    def minutes(self) -> int:
        """The author's time estimate (a `minutes-N` tag), else 5 + 3 per answer line + 15 per
        written answer, rounded up to 5 minutes."""
        if self.minutes_tag:
            return self.minutes_tag
        guess = 5 + 3 * self.answer_lines + 15 * len(self.written)
        return -(-guess // 5) * 5

    @property
    def time_estimate(self) -> str:
        """'20 min', or '~15 min (estimated)' when no tag gives the author's own estimate."""
        return f"{self.minutes} min" if self.minutes_tag else f"~{self.minutes} min (estimated)"

    @property
    def level(self) -> str:
        """The author's rating (a difficulty-* tag), else one read off the reference answer's length."""
        if self.difficulty:
            return self.difficulty
        guess = "easy" if self.answer_lines <= 4 else "medium" if self.answer_lines <= 10 else "hard"
        return f"{guess} ({self.answer_lines}-line answer)"


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def nbgrader_meta(cell: dict) -> dict:
    """The cell's nbgrader metadata ({} when there is none)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def read_notebook(path: Path) -> dict:
    """The notebook at `path` as a dict; ValueError if it is not a readable notebook."""
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable notebook ({type(exc).__name__}: {exc})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError(f"{path}: not a notebook (no list of cells)")
    return nb


def chapter_title(nb: dict) -> str:
    """The text of the notebook's first '# Title' line."""
    for cell in nb["cells"]:
        if cell.get("cell_type") == "markdown":
            for line in _source(cell).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


def parse_check_call(source: str) -> tuple[str, str, tuple]:
    """(checker, function, literal keyword arguments) of the last `check_x(func, ...)` call in a cell."""
    calls = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call)]
    for node in reversed(calls):
        name = node.func.id if isinstance(node.func, ast.Name) else (
            node.func.attr if isinstance(node.func, ast.Attribute) else "")
        if name.startswith("check_") and node.args and isinstance(node.args[0], ast.Name):
            kwargs = tuple((k.arg, ast.literal_eval(k.value)) for k in node.keywords if k.arg)
            return name, node.args[0].id, kwargs
    raise ValueError("the check cell calls no checker `check_x(function)` from rnnbook.exercises")


def exercises_in(nb: dict, notebook: str) -> list[Exercise]:
    """The exercises of one notebook: each {exercise} block with the nbgrader cells that follow it."""
    found: list[dict] = []
    for cell in nb["cells"]:
        text, meta = _source(cell), nbgrader_meta(cell)
        match = _EXERCISE.search(text) if cell.get("cell_type") == "markdown" else None
        if match:
            label = _LABEL.search(text)
            tags = cell.get("metadata", {}).get("tags", [])
            level = next((t.split("-", 1)[1] for t in tags if t in {f"difficulty-{d}" for d in _DIFFICULTY}), "")
            kind = next((t.split("-", 1)[1] for t in tags if t in {f"kind-{k}" for k in KINDS}), "")
            minutes = next((int(m.group(1)) for m in map(_MINUTES.match, tags) if m), 0)
            found.append({"label": label.group(1) if label else "", "title": match.group(1).strip(),
                          "solutions": [], "checks": [], "difficulty": level, "lines": 0,
                          "written": [], "kind": kind, "minutes": minutes})
        elif found and is_written_answer(cell):
            found[-1]["written"].append(WrittenCell(str(meta.get("grade_id", "")),
                                                    float(meta.get("points", 0))))
        elif found and meta.get("solution"):
            found[-1]["solutions"].append(str(meta.get("grade_id", "")))
            found[-1]["lines"] += len(_answer_lines(text))
        elif found and meta.get("grade") and cell.get("cell_type") == "code":
            checker, function, kwargs = parse_check_call(text)
            found[-1]["checks"].append(CheckCell(str(meta.get("grade_id", "")), float(meta.get("points", 0)),
                                                 checker, function, kwargs))
    title = chapter_title(nb)
    return [Exercise(notebook, title, f["label"], f["title"], tuple(f["solutions"]), tuple(f["checks"]),
                     f["difficulty"], f["lines"], tuple(f["written"]), f["kind"], f["minutes"])
            for f in found]


def is_written_answer(cell: dict) -> bool:
    """True for a manually graded Markdown answer cell (nbgrader solution and grade)."""
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "markdown" and bool(meta.get("solution")) and bool(meta.get("grade"))


def _answer_lines(source: str) -> list[str]:
    """The non-blank, non-comment lines between the solution markers of a cell."""
    inside, lines = False, []
    for raw in source.splitlines():
        line = raw.strip()
        if line.startswith(BEGIN) or line.startswith(END):
            inside = line.startswith(BEGIN)
        elif inside and line and not line.startswith("#"):
            lines.append(line)
    return lines


def discover_exercises(notebook_dir: Path = NOTEBOOKS) -> list[Exercise]:
    """Every exercise of every notebook in `notebook_dir`, in notebook order."""
    return [ex for path in sorted(Path(notebook_dir).glob("*.ipynb"))
            for ex in exercises_in(read_notebook(path), path.stem)]


def solution_lines(notebooks: Iterable[dict], min_chars: int = 12) -> set[str]:
    """The non-trivial lines between solution markers that appear nowhere else in these notebooks."""
    inside, outside = set(), set()
    for cell in (c for nb in notebooks for c in nb["cells"]):
        # a written answer's cell is all answer key and rubric: nbgrader replaces it whole
        in_solution = is_written_answer(cell)
        marked = cell.get("cell_type") == "code" and nbgrader_meta(cell).get("solution")
        for raw in _source(cell).splitlines():
            line = " ".join(raw.split())
            if marked and line.startswith(BEGIN):
                in_solution = True
            elif marked and line.startswith(END):
                in_solution = False
            elif line:
                (inside if in_solution else outside).add(line)
    # a line the course also shows outside an answer (`states.append(h)`) is public anyway
    return {line for line in inside - outside if len(line.replace(" ", "")) >= min_chars}
