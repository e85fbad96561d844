"""Batch grading survives hostile submissions and grades each one honestly (rnnbook.grading).

The submissions are made here from nbgrader's student edition of chapter 0, cut down to its set-up
cells and exercises so that a class of a dozen grades in about a minute: a blank edition, the
reference answers, wrong answers, NaN, exceptions, an endless loop, a sleep, a 20 GiB allocation,
100 MB of printing, os._exit, a file that is not JSON, edited and deleted check cells, a
monkeypatched checker (and numpy, torch), another chapter's notebook under this one's name, and
answers that call the course's reference (through importlib, and through an alias).
"""
import csv
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from notebook_tools import NOTEBOOK_DIR, load, notebooks
from rnnbook import grading
from rnnbook.grading import Limits, exercises_in, nbgrader_meta

CHAPTER = "00_representing_sequences"
LIMITS = Limits(cell_timeout=5, memory=4 * 2**30, notebook_timeout=90)


def src(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def mini_chapter(nb):
    """The chapter's title, set-up cells and exercise cells: the same exercises, seconds to run."""
    code_seen, kept = 0, []
    for cell in nb["cells"]:
        text = src(cell)
        keep = (not kept or nbgrader_meta(cell) or any(k in text for k in ("{exercise}", "{solution-start}",
                                                                           "{solution-end}")))
        if cell["cell_type"] == "code":
            code_seen += 1
            keep = keep or code_seen <= 2
        if keep:
            kept.append(cell)
    return dict(nb, cells=kept)


def cell_by_id(nb, grade_id):
    return next(c for c in nb["cells"] if nbgrader_meta(c).get("grade_id") == grade_id)


WRAP = '''
_reference_{f} = {f}


def _each_array(result, change):
    import numpy as _np
    if isinstance(result, (tuple, list)):
        return type(result)(_each_array(r, change) for r in result)
    return change(_np.asarray(result))


def {f}(*args, **kwargs):
    return _each_array(_reference_{f}(*args, **kwargs), lambda x: {expr})
'''
REPLACE = {
    "exception": "def {f}(*args, **kwargs):\n    raise ZeroDivisionError('boom')\n",
    "loop": "def {f}(*args, **kwargs):\n    while True:\n        pass\n",
    "sleep": "import time\n\n\ndef {f}(*args, **kwargs):\n    time.sleep(10**6)\n",
    "20 GiB": "def {f}(*args, **kwargs):\n    import numpy\n    return numpy.ones(20 * 2**30 // 8)\n",
    "os._exit": "def {f}(*args, **kwargs):\n    import os\n    os._exit(1)\n",
}
CHANGE = {"wrong": "x * 2 + 1", "NaN": "np.full(x.shape, np.nan)", "shape": "x[..., None]", "dtype": "x.astype(str)"}
PATCH = '''import numpy, torch
import rnnbook.exercises
import rnnbook.exercises._core as core
for _name in rnnbook.exercises.__all__:
    if _name.startswith("check_"):
        setattr(rnnbook.exercises, _name, lambda *a, points=1.0, **k: float(points))
core.run_checks = lambda name, func, cases, compare, points=1.0, seed=None: float(points)
core.compare_arrays = lambda *a, **k: None
numpy.isclose = lambda a, b, **k: numpy.ones(numpy.broadcast(numpy.asarray(a), numpy.asarray(b)).shape, bool)
numpy.array_equal = lambda *a, **k: True
torch.allclose = lambda *a, **k: True
'''
DELEGATE = {  # answers that hand the work to the course's own reference, two ways
    "importlib": "import importlib\n\n\ndef {f}(*args, **kwargs):\n"
                 "    return getattr(importlib.import_module('rnnbook.data'), '{ref}')(*args, **kwargs)\n",
    "alias": "from rnnbook import data as _d\n_{ref} = _d.{ref}\n\n\ndef {f}(*args, **kwargs):\n"
             "    return _{ref}(*args, **kwargs)\n",
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade a hostile class once; return (report, expected scores, the chapter's exercises, tmp)."""
    tmp = tmp_path_factory.mktemp("grading")
    source = mini_chapter(load(NOTEBOOK_DIR / f"{CHAPTER}.ipynb"))
    (tmp / "notebooks").mkdir()
    (tmp / "notebooks" / f"{CHAPTER}.ipynb").write_text(json.dumps(source))
    grading.make_student_edition(tmp / "student", notebook_dir=tmp / "notebooks")
    student = json.loads((tmp / "student" / "notebooks" / f"{CHAPTER}.ipynb").read_text())
    exercises = exercises_in(source, CHAPTER)
    assert len(exercises) >= 2, "chapter 0 needs two exercises for this suite"
    a, b = exercises[0], exercises[1]
    fa, fb = a.checks[0].function, b.checks[0].function
    P = {a.label: a.points, b.label: b.points}

    def reference(ex):
        return src(cell_by_id(source, ex.solution_ids[0]))

    def submission(changes=None, drop=(), edit=None):
        nb = json.loads(json.dumps(student))
        for ex, code in (changes or {}).items():
            cell_by_id(nb, ex.solution_ids[0])["source"] = code
        for grade_id, code in (edit or {}).items():
            cell_by_id(nb, grade_id)["source"] = code
        nb["cells"] = [c for c in nb["cells"] if nbgrader_meta(c).get("grade_id") not in drop]
        return nb

    def wrap(ex, f, kind):
        return reference(ex) + WRAP.format(f=f, expr=CHANGE[kind])

    def replace(f, kind):
        return REPLACE[kind].format(f=f)

    other = json.loads(json.dumps(source))  # another chapter that happens to define the same names
    for cell in other["cells"]:
        if nbgrader_meta(cell):
            cell["metadata"]["nbgrader"]["grade_id"] = "ex-other-" + nbgrader_meta(cell)["grade_id"][3:]
    hostile = {  # name: (notebook or raw bytes, expected score of a, of b; "<" = partial, below full)
        "a_blank": (submission(), 0, 0),
        "b_wrong_and_exception": (submission({a: wrap(a, fa, "wrong"), b: replace(fb, "exception")}), 0, 0),
        "c_nan_and_shape": (submission({a: wrap(a, fa, "NaN"), b: wrap(b, fb, "shape")}), 0, 0),
        "e_loop": (submission({a: replace(fa, "loop"), b: reference(b)}), 0, P[b.label]),
        "f_memory_and_sleep": (submission({a: replace(fa, "20 GiB"), b: replace(fb, "sleep")}), 0, 0),
        "g_exit_and_printing": (submission({a: replace(fa, "os._exit"),
                                            b: "print('x' * (100 * 2**20))\n" + reference(b)}), 0, P[b.label]),
        "h_not_json": (b"this is not a notebook \x00\xff", 0, 0),
        "i_edited_checks": (submission({b: reference(b)}, drop={b.checks[0].grade_id},
                                       edit={a.checks[0].grade_id: "print('all correct')\n1.0"}), 0, P[b.label]),
        "j_monkeypatch_and_dtype": (submission({a: PATCH + src(cell_by_id(student, a.solution_ids[0])),
                                                b: wrap(b, fb, "dtype")}), 0, 0),
        "k_wrong_chapter": (other, 0, 0),
        "l_delegates": (submission({a: DELEGATE["importlib"].format(f=fa, ref="one_hot"),
                                    b: DELEGATE["alias"].format(f=fb, ref="pad_sequences")}), 0, 0),
        "z_reference": (submission({a: reference(a), b: reference(b)}), P[a.label], P[b.label]),
    }
    subs = tmp / "submissions"
    for name, (nb, _, _) in hostile.items():
        (subs / name).mkdir(parents=True)
        path = subs / name / f"{CHAPTER}.ipynb"
        path.write_bytes(nb) if isinstance(nb, bytes) else path.write_text(json.dumps(nb))
    t0 = time.monotonic()
    before = os.getcwd()
    os.chdir(tmp)  # relative folders, as `make grade` passes them
    try:
        report = grading.grade(Path("submissions"), Path("grades"), LIMITS, notebook_dir=Path("notebooks"),
                               show_progress=False)
    finally:
        os.chdir(before)
    report.seconds = time.monotonic() - t0
    expected = {(name, a.label): ea for name, (_, ea, _) in hostile.items()}
    expected.update({(name, b.label): eb for name, (_, _, eb) in hostile.items()})
    return report, expected, (a, b), tmp


def test_every_hostile_submission_gets_exactly_its_score(graded):
    report, expected, _, _ = graded
    ran = {f.split("/")[0] for f in report.nbgrader_failed}
    # nbgrader cannot run these three; every other notebook went through its autograder
    assert ran == {"g_exit_and_printing", "h_not_json", "k_wrong_chapter"}, report.nbgrader_failed
    got = {(r.student, r.exercise): r.score for r in report.rows}
    assert set(got) == set(expected)
    wrong = {key: (got[key], want) for key, want in expected.items() if got[key] != pytest.approx(want)}
    assert not wrong, f"(student, exercise): (score, expected) {wrong}"


def test_partial_answers_of_the_wrong_shape_or_dtype_earn_less_than_full_marks(graded):
    report, _, (a, b), _ = graded
    rows = {(r.student, r.exercise): r for r in report.rows}
    assert rows["c_nan_and_shape", b.label].score < b.points
    assert "shape" in rows["c_nan_and_shape", b.label].feedback
    assert "NaN" in rows["c_nan_and_shape", a.label].feedback
    dtype = rows["j_monkeypatch_and_dtype", b.label].feedback
    assert "dtype" in dtype or "numeric" in dtype, dtype


def test_a_monkeypatched_checker_fools_the_kernel_but_not_the_clean_room(graded):
    report, _, (a, _), tmp = graded
    row = next(r for r in report.rows if r.student == "j_monkeypatch_and_dtype" and r.exercise == a.label)
    assert row.kernel_score == pytest.approx(a.points), "the attack should have worked inside the kernel"
    assert row.score == 0 and "not attempted" in row.feedback
    flags = list(csv.DictReader((tmp / "grades" / "flags.csv").open()))
    assert {"student": "j_monkeypatch_and_dtype", "exercise": a.label} in [
        {"student": f["student"], "exercise": f["exercise"]} for f in flags]


def test_an_answer_calling_the_course_reference_scores_zero_in_the_clean_room(graded):
    report, _, (a, b), _ = graded
    rows = {r.exercise: r for r in report.rows if r.student == "l_delegates"}
    for ex, ref in ((a, "one_hot"), (b, "pad_sequences")):
        assert rows[ex.label].score == 0
        assert f"implement this yourself: calling rnnbook.data.{ref} is not allowed here" in \
            rows[ex.label].feedback, rows[ex.label].feedback
        assert rows[ex.label].kernel_score == 0  # the notebook's own checker says the same


def test_the_class_is_graded_in_bounded_time(graded):
    report, expected, _, _ = graded
    students = {s for s, _ in expected}
    # two limited stages per notebook; the hung ones cost about one cell time-out each
    assert report.seconds < 30 * len(students) + 4 * LIMITS.cell_timeout, report.seconds


def test_the_csv_files_and_feedback_pages_are_written(graded):
    report, expected, (a, b), tmp = graded
    out = tmp / "grades"
    rows = list(csv.reader((out / "grades.csv").open()))
    assert rows[0] == ["student", "notebook", "exercise", "score", "max_score"]
    assert len(rows) - 1 == len(expected)
    totals = {r["student"]: r for r in csv.DictReader((out / "totals.csv").open())}
    assert float(totals["z_reference"]["score"]) == float(totals["z_reference"]["max_score"]) == a.points + b.points
    assert float(totals["a_blank"]["score"]) == 0
    for student in {s for s, _ in expected}:
        assert (out / "feedback" / student / "index.html").exists()
    assert (out / "feedback" / "z_reference" / f"{CHAPTER}.html").exists(), "nbgrader's feedback page"
    assert "not a readable notebook" in (out / "feedback" / "h_not_json" / "index.html").read_text()


@pytest.mark.parametrize("path", notebooks(), ids=[p.stem for p in notebooks()])
def test_the_reference_answers_of_every_chapter_earn_full_marks_in_the_clean_room(path):
    nb = load(path)
    exercises = exercises_in(nb, path.stem)
    results = grading.verify_notebook(nb, path.stem, exercises, Limits(cell_timeout=30), course_nb=nb)
    assert results and all(r.score == r.max_score for r in results), [(r.exercise, r.feedback) for r in results]


def test_replies_from_the_student_process_are_decoded_without_pickle():
    import torch

    arrays = []
    value = (np.arange(6.0).reshape(2, 3), [np.int64(3), None, "s"], {"k": torch.ones(2)}, object())
    tree, arrs = grading._unpack(grading._pack(grading._encode(value, arrays), arrays))
    back = grading._decode(tree, arrs)
    np.testing.assert_array_equal(back[0], value[0])
    assert back[1] == [3, None, "s"] and torch.equal(back[2]["k"], torch.ones(2))
    assert isinstance(back[3], grading.Opaque)
    evil = np.array([object()], dtype=object)
    assert isinstance(grading._decode(grading._encode(evil, []), []), grading.Opaque)


def test_checker_feedback_survives_hostile_exceptions(capsys):
    from rnnbook.exercises import check_one_hot

    class Unprintable(Exception):
        def __str__(self):
            raise RuntimeError("no")

    def huge(*args):
        raise ValueError("x" * 10**7)

    def unprintable(*args):
        raise Unprintable()

    def base(*args):
        raise GeneratorExit()

    for func in (huge, unprintable, base):
        assert check_one_hot(func) == 0
    out = capsys.readouterr().out
    assert len(out) < 20_000 and "could not be printed" in out and "GeneratorExit" in out


def test_an_interrupted_check_stops_like_a_cell_does():
    from rnnbook.exercises import check_one_hot

    def interrupted(*args):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        check_one_hot(interrupted)


def test_a_checker_without_cases_is_a_clear_error():
    from rnnbook.exercises import run_checks

    with pytest.raises(ValueError, match="cases"):
        run_checks("nothing", lambda: None, [], lambda got, expected: None)


def test_memory_sizes_are_read_as_binary_units():
    assert grading.parse_bytes("4G") == 4 * 2**30 and grading.parse_bytes("512M") == 512 * 2**20
    with pytest.raises(ValueError, match="memory limit"):
        grading.parse_bytes("lots")
