"""The repository's own rules: clean notebooks, a complete table of contents, one exercise format."""
import re

import pytest

from notebook_tools import ROOT, load, notebooks, toc_files

NOTEBOOKS = notebooks()
IDS = [p.stem for p in NOTEBOOKS]


def code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_there_are_chapter_notebooks_numbered_from_zero():
    assert NOTEBOOKS, "no notebooks found"
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers[0] == 0 and all(re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", p.name) for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebooks_are_committed_without_outputs(path):
    for cell in code_cells(load(path)):
        assert not cell.get("outputs"), f"{path.name} has stored outputs: clear them before committing"
        assert cell.get("execution_count") is None, f"{path.name} has execution counts"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebooks_use_the_standard_python3_kernel(path):
    assert load(path)["metadata"]["kernelspec"]["name"] == "python3"


def test_every_notebook_is_in_the_toc_and_every_toc_entry_exists():
    toc = toc_files()
    for path in NOTEBOOKS:
        assert f"notebooks/{path.stem}" in toc, f"{path.name} is missing from _toc.yml"
    for entry in toc:
        candidates = [ROOT / f"{entry}{suffix}" for suffix in (".md", ".ipynb")]
        assert any(c.exists() for c in candidates), f"_toc.yml names {entry}, which does not exist"
    assert len(toc) == len(set(toc)), "a page appears twice in _toc.yml"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_notebook_starts_with_a_title(path):
    nb = load(path)
    assert nb["cells"][0]["cell_type"] == "markdown" and source(nb["cells"][0]).startswith("# ")


def exercises_of(nb):
    """Yield (label, solution cell, check cell) for each {exercise} block of a notebook."""
    cells = nb["cells"]
    for i, cell in enumerate(cells):
        text = source(cell)
        if cell["cell_type"] != "markdown" or "{exercise}" not in text:
            continue
        label = re.search(r":label:\s*(\S+)", text)
        assert label, f"an exercise without a :label: in cell {i}"
        following = cells[i + 1:i + 6]
        solution = next((c for c in following if c["cell_type"] == "code"), None)
        check = next((c for c in following if c["cell_type"] == "code" and c is not solution), None)
        yield label.group(1), solution, check


ALL_EXERCISES = [(p.stem, label, sol, chk) for p in NOTEBOOKS for label, sol, chk in exercises_of(load(p))]


def test_exercise_labels_are_unique_across_the_course():
    labels = [label for _, label, _, _ in ALL_EXERCISES]
    assert len(labels) == len(set(labels)), f"duplicate exercise labels: {labels}"


@pytest.mark.parametrize("chapter, label, solution, check", ALL_EXERCISES,
                         ids=[f"{c}:{lab}" for c, lab, _, _ in ALL_EXERCISES])
def test_each_exercise_has_a_marked_solution_inside_a_function_and_a_check(chapter, label, solution, check):
    assert solution is not None and check is not None, f"{label}: needs a solution cell and a check cell"
    lines = source(solution).splitlines()
    begins = [i for i, line in enumerate(lines) if line.strip() == "### BEGIN SOLUTION"]
    ends = [i for i, line in enumerate(lines) if line.strip() == "### END SOLUTION"]
    assert begins and len(begins) == len(ends), f"{label}: solution markers missing or unbalanced"
    for b, e in zip(begins, ends):
        assert b < e
        assert lines[b].startswith((" ", "\t")), f"{label}: the solution must sit inside a function body"
        assert any(line.lstrip().startswith("def ") for line in lines[:b]), f"{label}: no function defined"
    assert re.search(r"\bcheck_\w+\(", source(check)), f"{label}: the check cell must call a checker"
    assert "rnnbook.exercises" in source(check)


def test_chapters_do_not_use_exercise_answers_outside_the_exercise():
    for path in NOTEBOOKS:
        nb = load(path)
        answers = set()
        for _, solution, _ in exercises_of(nb):
            answers |= set(re.findall(r"^def (\w+)", source(solution), flags=re.M))
        skip = {id(c) for _, s, k in exercises_of(nb) for c in (s, k)}
        for cell in code_cells(nb):
            if id(cell) in skip:
                continue
            for name in answers:
                assert not re.search(rf"(?<![.\w]){name}\(", source(cell)), \
                    f"{path.name}: a cell outside the exercise calls the answer {name}()"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_solution_block_is_labelled_and_collapsed(path):
    # Without a label sphinx-exercise makes an id containing "/", which breaks the toggle button.
    for cell in load(path)["cells"]:
        text = source(cell)
        if cell["cell_type"] == "markdown" and "{solution-start}" in text:
            assert re.search(r":label:\s*sol-\S+", text), f"{path.name}: solution without `:label: sol-...`"
            assert ":class: dropdown" in text, f"{path.name}: solutions must be collapsed (:class: dropdown)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_widgets_are_hidden_in_the_book_and_have_a_static_figure(path):
    # A widget is dead in the rendered book: its output is removed there, and the page shows a
    # figure drawn by the same code instead.
    nb = load(path)
    widget_cells = [c for c in code_cells(nb) if re.search(r"\binteract(ive)?\(|widgets\.\w+\(", source(c))]
    for cell in widget_cells:
        tags = cell.get("metadata", {}).get("tags", [])
        assert {"remove-output", "remove-cell"} & set(tags), f"{path.name}: widget cell not tagged remove-output"
    if widget_cells:
        assert any("{glue:figure}" in source(c) for c in nb["cells"]), f"{path.name}: widgets without a static figure"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_code_lines_fit_the_book_column(path):
    # The rendered book's code column shows about 88 characters before it scrolls sideways.
    long = [(len(line), line) for cell in code_cells(load(path)) for line in source(cell).splitlines()
            if len(line) > 88]
    assert not long, f"{path.name}: code lines longer than 88 characters: {long[:3]}"
