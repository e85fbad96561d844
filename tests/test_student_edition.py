"""nbgrader's student edition: answers removed, runs top to bottom, and no line of an answer leaks.

The student notebooks are made by nbgrader (rnnbook.grading.make_student_edition), executed in
smoke mode, and searched, together with a student HTML book built from them, for every
non-trivial line of the reference answers (the leak check; a planted line proves it can fail).
"""
import contextlib
import json
import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from notebook_tools import NBVAL_STAGE, NOTEBOOK_DIR, load, notebooks, staged_this_run
from rnnbook import grading
from rnnbook.grading import BEGIN, END, exercises_in, nbgrader_meta

NOTEBOOKS = notebooks()
SESSION_START = time.time()  # imported at collection, before nbval runs


@contextlib.contextmanager
def working_folder(path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    base = tmp_path_factory.mktemp("student")
    with working_folder(base):  # a relative output folder, as `make student` passes
        made = grading.make_student_edition(Path("out"))
    return base / "out", {p.stem: p for p in made}


def test_nbgrader_makes_one_student_notebook_per_chapter(edition):
    _, made = edition
    # (a chapter added while the tests run may appear in `made` too)
    assert {p.stem for p in NOTEBOOKS} <= set(made)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_answers_are_replaced_by_a_stub_and_the_exercises_and_checks_stay(edition, path):
    _, made = edition
    student = load(made[path.stem])
    assert [e.label for e in exercises_in(student, path.stem)] == [e.label for e in exercises_in(load(path), path.stem)]
    for cell in student["cells"]:
        text = "".join(cell["source"])
        assert BEGIN not in text and END not in text
        if grading.is_written_answer(cell):  # the answer key and rubric are gone, a stub is left
            assert text.strip() == "YOUR ANSWER HERE", text[:200]
            continue
        if nbgrader_meta(cell).get("solution"):
            assert "raise NotImplementedError()" in text
        if nbgrader_meta(cell).get("grade"):
            assert nbgrader_meta(cell).get("locked") and "rnnbook.exercises" in text


def run_in_nbvals_kernel(path: Path, student: nbformat.NotebookNode) -> list | None:
    """The student edition's code cells with their outputs, from the run that the root conftest.py
    made in nbval's kernel this session, or None where there is none or its cells are not
    exactly nbgrader's (the same beginning as the chapter, then the student's cells)."""
    staged = NBVAL_STAGE / f"{path.stem}.student.json"
    if not staged.exists():
        return None
    record = json.loads(staged.read_text())
    if not staged_this_run(staged, record.get("run", ""), SESSION_START):
        return None
    first = record["first_answer"]
    ours = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    code = [c for c in student.cells if c.cell_type == "code"]
    if ([c.source for c in code[:first]] != ours[:first]
            or [c["source"] for c in record["cells"]] != [c.source for c in code[first:]]
            or any(nbgrader_meta(c).get("grade") for c in code[:first])):
        return None
    for cell, ran in zip(code[first:], record["cells"]):
        cell.outputs = [nbformat.from_dict(o) for o in ran["outputs"]]
    return code


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_the_student_edition_runs_top_to_bottom_and_scores_zero(edition, path, monkeypatch):
    _, made = edition
    nb = nbformat.read(made[path.stem], as_version=4)
    # nbval has run the chapter, whose cells up to the first answer the student's equal: where it
    # also ran the student's cells after them (see the root conftest.py), read that run
    code = run_in_nbvals_kernel(path, nb)
    if code is None:
        monkeypatch.setenv("RNNBOOK_SMOKE", "1")
        monkeypatch.setenv("RNNBOOK_PROGRESS", "0")
        monkeypatch.setenv("MPLBACKEND", "Agg")
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOK_DIR)}}).execute()
        code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [(i, o.get("ename")) for i, c in enumerate(code) for o in c.outputs if o.output_type == "error"]
    assert not errors, f"code cells that raised: {errors}"
    for cell in code:
        if nbgrader_meta(cell).get("grade"):
            text = "".join(o.get("text", "") for o in cell.outputs)
            results = [o["data"]["text/plain"] for o in cell.outputs if o.output_type == "execute_result"]
            assert "not attempted yet" in text and results and float(results[-1]) == 0.0


def test_no_answer_line_is_left_in_the_student_notebooks(edition):
    out, _ = edition
    assert grading.leak_check(out) == []


def test_written_answer_keys_and_rubrics_count_as_answer_lines():
    written = [c for p in NOTEBOOKS for c in load(p)["cells"] if grading.is_written_answer(c)]
    secrets = grading.solution_lines(load(p) for p in NOTEBOOKS)
    for cell in written:
        lines = [" ".join(raw.split()) for raw in "".join(cell["source"]).splitlines()]
        assert any("Rubric" in line and line in secrets for line in lines), "the rubric is a secret"
        assert sum(line in secrets for line in lines) >= 3, "the answer key's lines are secrets"


def test_the_leak_check_finds_a_planted_answer_line(edition, tmp_path):
    out, made = edition
    secret = sorted(grading.solution_lines(load(p) for p in NOTEBOOKS))[0]
    nb = load(next(iter(made.values())))
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": ["A hint:\n", f"`{secret}`"]})
    (tmp_path / "leaky.ipynb").write_text(json.dumps(nb))
    (tmp_path / "page.html").write_text("<pre><span>" + secret.replace("(", "</span>(<span>") + "</span></pre>")
    leaks = grading.leak_check(tmp_path)
    assert len(leaks) == 2 and secret in leaks[0]


def test_no_answer_line_is_left_in_the_student_html_book(edition):
    out, made = edition
    # executing adds nothing a leak could come from (the student notebooks hold no answers)
    with working_folder(out.parent):
        html = grading.build_student_html(Path(out.name), list(made.values()), execute=False)
    assert (html / "index.html").exists() and any(html.rglob("*.ipynb")), "the book and its downloads"
    assert any((html / "_sources").rglob("*")) and (html / "searchindex.js").exists()
    assert grading.leak_check(out) == []
