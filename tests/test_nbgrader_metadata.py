"""Every exercise of every notebook is an nbgrader task: marked solution cells, locked graded checks."""
import re

import pytest

from notebook_tools import load, notebooks
from rnnbook import exercises as checkers
from rnnbook.grading import (BEGIN, END, discover_exercises, exercises_in, is_written_answer, nbgrader_meta,
                             parse_check_call)

NOTEBOOKS = notebooks()
EXERCISES = discover_exercises()


def cells_with_nbgrader(path):
    return [(i, c, nbgrader_meta(c)) for i, c in enumerate(load(path)["cells"]) if nbgrader_meta(c)]


def source(cell):
    return "".join(cell["source"])


def test_the_course_has_graded_exercises():
    assert EXERCISES, "no exercise found in notebooks/*.ipynb"
    assert all(ex.checks for ex in EXERCISES), [ex.label for ex in EXERCISES if not ex.checks]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_solution_cells_are_marked_and_hold_the_markers_inside_a_function(path):
    for i, cell, meta in cells_with_nbgrader(path):
        if not meta.get("solution") or is_written_answer(cell):
            continue
        text = source(cell)
        assert cell["cell_type"] == "code" and meta.get("solution") is True, f"cell {i}: solution must be true"
        assert not meta.get("grade") and not meta.get("locked"), f"cell {i}: a solution cell is neither graded nor locked"
        assert re.fullmatch(r"ex-[a-z0-9-]+-solution", meta.get("grade_id", "")), f"cell {i}: grade_id {meta.get('grade_id')!r}"
        begin = [line for line in text.splitlines() if line.strip() == BEGIN]
        end = [line for line in text.splitlines() if line.strip() == END]
        assert len(begin) == len(end) >= 1, f"cell {i} ({meta['grade_id']}): one {BEGIN} / {END} pair per answer"
        # inside a function body, so the student edition (answer replaced by a raise) still runs
        assert all(line.startswith((" ", "\t")) for line in begin + end), f"cell {i}: markers must be indented"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_written_answers_are_unlocked_graded_markdown_with_an_answer_key_and_a_rubric(path):
    for i, cell, meta in cells_with_nbgrader(path):
        if not is_written_answer(cell):
            continue
        text = source(cell)
        assert meta.get("solution") is True and meta.get("grade") is True and not meta.get("locked"), f"cell {i}"
        assert float(meta.get("points", 0)) > 0, f"cell {i} ({meta.get('grade_id')}): points must be > 0"
        assert re.fullmatch(r"ex-[a-z0-9-]+-answer", meta.get("grade_id", "")), f"cell {i}: {meta.get('grade_id')!r}"
        assert "Answer key" in text and "Rubric" in text, f"cell {i}: an answer key and a rubric for the grader"
        assert BEGIN not in text and END not in text, f"cell {i}: the whole cell is the key (no markers)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_check_cells_are_graded_locked_worth_points_and_call_a_course_checker(path):
    for i, cell, meta in cells_with_nbgrader(path):
        if meta.get("solution"):
            continue
        assert cell["cell_type"] == "code", f"cell {i}: graded cells are code cells (or written answers)"
        assert meta.get("grade") is True and meta.get("locked") is True, f"cell {i}: grade and locked must be true"
        assert float(meta.get("points", 0)) > 0, f"cell {i} ({meta.get('grade_id')}): points must be > 0"
        assert re.fullmatch(r"ex-[a-z0-9-]+-check(-\d+)?", meta.get("grade_id", "")), f"cell {i}: {meta.get('grade_id')!r}"
        checker, function, _ = parse_check_call(source(cell))
        assert callable(getattr(checkers, checker, None)), f"cell {i}: {checker} is not in rnnbook.exercises"
        assert checker in checkers.__all__, f"{checker} must be listed in rnnbook.exercises.__all__"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_solution_markers_appear_only_in_solution_code_cells(path):
    # nbgrader treats the marker text in any code cell as a solution region and refuses the notebook
    for i, cell in enumerate(load(path)["cells"]):
        if cell["cell_type"] == "code" and not nbgrader_meta(cell).get("solution"):
            assert BEGIN not in source(cell) and END not in source(cell), f"cell {i}: solution marker outside a solution cell"


def test_grade_ids_are_unique_across_the_course():
    ids = [meta["grade_id"] for path in NOTEBOOKS for _, _, meta in cells_with_nbgrader(path)]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_nbgrader_cell_belongs_to_an_exercise_and_every_exercise_is_graded(path):
    nb = load(path)
    found = exercises_in(nb, path.stem)
    owned = {sid for ex in found for sid in ex.solution_ids} | {c.grade_id for ex in found for c in ex.checks}
    owned |= {w.grade_id for ex in found for w in ex.written}
    assert owned == {meta["grade_id"] for _, _, meta in cells_with_nbgrader(path)}
    for ex in found:
        assert ex.label and len(ex.solution_ids) == 1 and ex.checks, f"{ex.label}: one solution cell, >= 1 check"
        assert ex.solution_ids[0] == f"{ex.label}-solution", f"{ex.label}: solution grade_id {ex.solution_ids[0]}"
        assert all(c.grade_id.startswith(f"{ex.label}-check") for c in ex.checks), ex.checks
        assert all(w.grade_id == f"{ex.label}-answer" for w in ex.written), ex.written


def test_the_exercise_catalogue_page_is_generated_from_the_notebooks():
    import yaml

    from notebook_tools import ROOT, toc_files

    assert "book/exercises" in toc_files()
    page = (ROOT / "book" / "exercises.md").read_text()
    assert "```{exercise-catalogue}" in page and "ex-" not in page, "the table must be generated, not typed"
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["sphinx"]["local_extensions"]["exercise_catalogue"] == "book/_ext"
    assert all(ex.level for ex in EXERCISES)


def _chapter_number(ex):
    return int(ex.notebook[:2])


@pytest.mark.parametrize("number", range(15), ids=[f"ch{n:02d}" for n in range(15)])
def test_every_chapter_has_enough_exercises_of_every_kind(number):
    """Issue 19: chapters 1-14 have >= 5 exercises, among them a written answer (graded by hand,
    with an answer key and a rubric) and an experiment (a measured property checked by code);
    chapter 0 has >= 2. Every exercise says its kind, points and time."""
    found = [ex for ex in EXERCISES if _chapter_number(ex) == number]
    least = 2 if number == 0 else 5
    assert len(found) >= least, f"chapter {number}: {len(found)} exercises, needs at least {least}"
    for ex in found:
        assert ex.points > 0 and ex.minutes > 0, f"{ex.label}: points {ex.points}, minutes {ex.minutes}"
        assert ex.kind in {"implement", "written", "experiment", "implement + written"}, (ex.label, ex.kind)
    if number == 0:
        return
    labels = [ex.label for ex in found]
    assert any(ex.written for ex in found), f"chapter {number}: no written answer among {labels}"
    assert all(w.points > 0 for ex in found for w in ex.written), f"chapter {number}: a written answer without points"
    experiments = [ex for ex in found if ex.kind == "experiment"]
    assert experiments, f"chapter {number}: no exercise tagged kind-experiment among {labels}"
    assert all(ex.minutes_tag for ex in experiments), "an experiment must state its time (a minutes-N tag)"
    assert any(ex.kind.startswith("implement") for ex in found), f"chapter {number}: nothing to implement"
