"""The student edition: nbgrader's generate_assignment on every chapter, and the student book built
from it.
"""

from __future__ import annotations
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .discovery import BEGIN, END, KERNEL_NAME, NOTEBOOKS, ROOT, _source, nbgrader_meta, read_notebook


def _nbgrader_api(course: Path, limits: "Limits | None" = None):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, Execute, IgnorePattern,
                                        LimitOutput, SaveAutoGrades)
    from traitlets.config import Config

    # nbgrader runs the `alembic` command when it creates a gradebook: find it beside this Python
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bindir, os.environ.get("PATH", "")])
    c = Config()
    c.CourseDirectory.root = str(course)
    c.CourseDirectory.course_id = "memory-machines"
    c.OverwriteCells.add_missing_cells = True
    if limits is not None:
        c.Execute.timeout = int(limits.cell_timeout)
        c.Execute.kernel_name = KERNEL_NAME
        c.Execute.startup_timeout = 120
        c.LimitOutput.max_lines = 200
        c.Autograde.autograde_preprocessors = [Execute, _truncate_output_class(), IgnorePattern, ClearMetadataPreprocessor,
                                               LimitOutput, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
    coursedir = CourseDirectory(config=c)
    api = NbGraderAPI(coursedir=coursedir, config=c)
    api.log.setLevel("ERROR")
    return api


@functools.cache
def _truncate_output_class():
    from nbgrader.preprocessors import NbGraderPreprocessor

    class _TruncateOutput(NbGraderPreprocessor):
        """Cut each text output to `max_chars` (LimitOutput counts lines; one 100 MB line is one line)."""

        max_chars = 20_000

        def preprocess_cell(self, cell, resources, index):
            for out in cell.get("outputs", []):
                if isinstance(out.get("text"), str) and len(out["text"]) > self.max_chars:
                    out["text"] = out["text"][: self.max_chars] + "\n... [output truncated by the grader]\n"
                for key, value in list(out.get("data", {}).items()):
                    if isinstance(value, str) and len(value) > self.max_chars:
                        out["data"][key] = value[: self.max_chars] + "\n... [truncated]"
            return cell, resources

    return _TruncateOutput


def _check_api(result: dict, what: str) -> None:
    if not result.get("success"):
        raise RuntimeError(f"nbgrader failed to {what}:\n{result.get('log', '')[-4000:]}")


def _copy_source(path: Path, dst: Path) -> None:
    """Copy a chapter for nbgrader; marker text in prose is disguised (nbgrader would take it for a marker)."""
    nb = read_notebook(path)
    for cell in nb["cells"]:
        if not (cell.get("cell_type") == "code" and nbgrader_meta(cell).get("solution")):
            text = _source(cell)
            for marker in (BEGIN, END):
                text = text.replace(marker, marker.replace(" SOLUTION", "\u00a0SOLUTION"))
            cell["source"] = text
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")


def make_student_edition(out: Path, notebook_dir: Path = NOTEBOOKS) -> list[Path]:
    """Run nbgrader generate_assignment on every chapter; copy the editions to out/notebooks."""
    out, notebook_dir = Path(out).resolve(), Path(notebook_dir).resolve()
    shutil.rmtree(Path(out) / "notebooks", ignore_errors=True)
    (Path(out) / "notebooks").mkdir(parents=True)
    made = []
    # nbgrader's course folder holds the solutions, so it lives outside `out` and is thrown away
    with tempfile.TemporaryDirectory(prefix="rnnbook-nbgrader-") as tmp:
        course = Path(tmp)
        api = _nbgrader_api(course)
        for path in sorted(Path(notebook_dir).glob("*.ipynb")):
            _copy_source(path, course / "source" / path.stem / path.name)
            _check_api(api.generate_assignment(path.stem), f"generate the student edition of {path.name}")
            dst = Path(out) / "notebooks" / path.name
            shutil.copy(course / "release" / path.stem / path.name, dst)
            made.append(dst)
    return made


def _student_book_source(out: Path, notebooks: Sequence[Path]) -> Path:
    """A copy of the book's sources with the student notebooks and no solution blocks."""
    src = Path(out) / "book_src"
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(ROOT / "book", src / "book", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, src / name)
    (src / "notebooks").mkdir()
    for path in notebooks:
        nb = read_notebook(path)
        # the {solution-start}/{solution-end} wrappers would show an empty "Solution" dropdown
        nb["cells"] = [c for c in nb["cells"] if not (c.get("cell_type") == "markdown" and re.match(
            r"\s*(`{3,}|:{3,})\{solution-(start|end)\}", _source(c)))]
        (src / "notebooks" / path.name).write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return src


def build_student_html(out: Path, notebooks: Sequence[Path], execute: bool = True) -> Path:
    """Build the student book with jupyter-book into out/html (solutions absent, not collapsed)."""
    out = Path(out).resolve()
    src = _student_book_source(out, notebooks)
    work = Path(out) / "work"
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(src), "--path-output",
               str(work), "--keep-going"]
    env = dict(os.environ, RNNBOOK_PROGRESS="0")
    if not execute:
        command += ["--config", str(_no_execute_config(src))]
    subprocess.run(command, check=True, env=env, cwd=src)
    html_dir = Path(out) / "html"
    shutil.rmtree(html_dir, ignore_errors=True)
    shutil.copytree(work / "_build" / "html", html_dir)
    return html_dir


def _no_execute_config(src: Path) -> Path:
    import yaml

    config = yaml.safe_load((src / "_config.yml").read_text())
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    path = src / "_config_noexec.yml"
    path.write_text(yaml.safe_dump(config))
    return path
