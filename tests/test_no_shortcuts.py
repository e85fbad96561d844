"""No shortcuts, for every exercise of every notebook (issue 19).

Each exercise's own solution cell, compiled as a notebook cell is, earns full marks with the
watch on; the same answer that also calls the course's reference (directly, or found with
importlib and getattr) or a listed torch/scipy equivalent earns 0 with "implement this
yourself: calling X is not allowed here"; and an answer that returns the visible (fixed)
cases' answers and garbage elsewhere earns nothing. The checkers run in this process (the
clean room runs the same watch in the student's process: tests/test_grading.py).
"""
import hashlib
import importlib
import inspect
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnbook import exercises, grading
from rnnbook.exercises import _core, _guard

ENFORCE_NO_SHORTCUTS = True  # tests/conftest.py: the watch is on here, as in a notebook
ROOT = Path(__file__).resolve().parents[1]
PACKAGE = str(Path(exercises.__file__).parents[1])
EXERCISES = str(Path(exercises.__file__).parent)


def _checks():
    found = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = grading.read_notebook(path)
        sources = {str(grading.nbgrader_meta(c).get("grade_id")): grading._source(c) for c in nb["cells"]}
        for ex in grading.exercises_in(nb, path.stem):
            for chk in ex.checks:
                found.append((f"{path.stem[:2]}:{chk.function}", chk,
                              [sources[s] for s in ex.solution_ids if s in sources]))
    return found


CHECKS = _checks()
IDS = [c[0] for c in CHECKS]


def _namespace(cell_sources):
    """The solution cells run as a notebook runs them: a cell's file name, the usual imports."""
    import math

    import scipy.special
    import torch.nn.functional as F

    ns = {"np": np, "torch": torch, "nn": torch.nn, "F": F, "math": math, "scipy": scipy}
    for i, src in enumerate(cell_sources):
        exec(compile(src, f"<ipython-input-{i}-solution>", "exec"), ns)
    return ns


def _checker(chk):
    return getattr(exercises, chk.checker)


def _run(chk, func, **kwargs):
    with np.errstate(all="ignore"):
        return _checker(chk)(func, **dict(chk.kwargs, **kwargs))


def test_every_exercise_is_found_and_has_its_checker():
    assert len(CHECKS) >= 50
    for name, chk, cells in CHECKS:
        assert cells, f"{name}: no solution cell"
        assert hasattr(exercises, chk.checker), f"{name}: unknown checker {chk.checker}"


@pytest.mark.parametrize("name, chk, cells", CHECKS, ids=IDS)
def test_the_solution_cell_earns_full_marks_with_the_watch_on(name, chk, cells, capsys):
    func = _namespace(cells)[chk.function]
    score = _run(chk, func, points=2)
    out = capsys.readouterr().out
    assert score == 2.0 and "not allowed" not in out, out


def _course_references(chk, func):
    """[(module, qualified name, args, kwargs)] of the first function of the course (outside
    rnnbook.exercises) that the checker itself calls to build its expected answers."""
    found, checker_files = [], {str(Path(inspect.getfile(_checker(chk).__wrapped__)).resolve())}

    def spy(frame, event, arg):
        if event != "call":
            return
        code, caller = frame.f_code, frame.f_back
        if caller is None or str(Path(caller.f_code.co_filename).resolve()) not in checker_files:
            return
        if not code.co_filename.startswith(PACKAGE) or code.co_name.startswith("<") \
                or code.co_filename.startswith(EXERCISES):
            return
        info = inspect.getargvalues(frame)
        args = [info.locals[a] for a in info.args]
        args += list(info.locals.get(info.varargs, ())) if info.varargs else []
        kwargs = dict(info.locals.get(info.keywords, {})) if info.keywords else {}
        found.append((frame.f_globals.get("__name__"), code.co_qualname, args, kwargs))
        sys.setprofile(None)  # one is enough; the rest of the run goes at full speed

    with exercises.trusted():
        sys.setprofile(spy)
        try:
            _run(chk, func)
        finally:
            sys.setprofile(None)
    return found


def _resolve(module, qualname):
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("route", ["direct", "importlib"])
@pytest.mark.parametrize("name, chk, cells", CHECKS, ids=IDS)
def test_an_answer_that_calls_the_course_reference_scores_zero(name, chk, cells, route, capsys):
    right = _namespace(cells)[chk.function]
    refs = _course_references(chk, right)
    capsys.readouterr()
    if not refs:  # the checker computes its answers inline: any course function will do
        refs = [("rnnbook.data", "one_hot", [np.array([0, 1]), 2], {})]
    module, qualname, ref_args, ref_kwargs = refs[0]
    reference = _resolve(module, qualname)
    if inspect.ismethod(reference):  # a classmethod: the class is bound already
        ref_args = ref_args[1:]
    if route == "importlib":
        mod = importlib.import_module(module)
        reference = mod
        for part in qualname.split("."):
            reference = getattr(reference, part)

    def delegating(*args, **kwargs):
        try:                       # the reference on the answer's own inputs, if it takes them
            return reference(*args, **kwargs)
        except TypeError:
            reference(*ref_args, **ref_kwargs)
            return right(*args, **kwargs)

    score = _run(chk, delegating, points=2)
    out = capsys.readouterr().out
    assert score == 0.0, out
    assert "implement this yourself: calling rnnbook." in out and "is not allowed here" in out, out


# How to call each listed equivalent (a label of _guard's DEFAULT_FORBID or a checker's forbid=):
# the import the answer's cell makes, and the call inside the answer.
EQUIVALENTS = {
    "torch.nn.LSTMCell": ("import torch", "torch.nn.LSTMCell(2, 3)(torch.zeros(1, 2))"),
    "torch.nn.GRU": ("import torch", "torch.nn.GRU(2, 3)"),
    "torch.gru_cell": ("import torch", "torch.gru_cell(torch.zeros(1, 2), torch.zeros(1, 3), "
                                       "torch.zeros(9, 2), torch.zeros(9, 3))"),
    "torch.softmax": ("import torch", "torch.softmax(torch.zeros(3), 0)"),
    "torch.nn.functional.softmax": ("import torch.nn.functional as F", "F.softmax(torch.zeros(3), 0)"),
    "scipy.special.softmax": ("import scipy.special", "scipy.special.softmax(np.zeros(3))"),
    "torch.nn.functional.cross_entropy": (
        "import torch.nn.functional as F",
        "F.cross_entropy(torch.zeros(1, 3), torch.zeros(1, dtype=torch.long))"),
    "torch.nn.functional.one_hot": ("import torch.nn.functional as F", "F.one_hot(torch.tensor([0]), 2)"),
    "torch.nn.utils.rnn": ("import torch.nn.utils.rnn as R", "R.pad_sequence([torch.zeros(2)])"),
    "torch.autograd": ("import torch", "(torch.ones(1, requires_grad=True) * 2).sum().backward()"),
    "torch.nn.MultiheadAttention": ("import torch", "torch.nn.MultiheadAttention(4, 1)"),
    "scipy.stats": ("import scipy.stats", "scipy.stats.norm.logpdf(0.0)"),
    "hmmlearn": ("import hmmlearn.hmm", "hmmlearn.hmm.CategoricalHMM(2)"),
    "gensim": ("import gensim.models", "gensim.models.KeyedVectors(2)"),
    "sklearn.feature_extraction.text": ("import sklearn.feature_extraction.text as T",
                                        "T.TfidfTransformer()"),
}


def _listed(chk, func):
    """The labels of what this checker's exercise forbids (its Policy, as run_checks made it)."""
    seen = []
    real = _core.make_policy

    def spy(*args, **kwargs):
        policy = real(*args, **kwargs)
        seen.append(policy)
        return policy

    _core.make_policy = spy
    try:
        with exercises.trusted():
            _run(chk, func)
    finally:
        _core.make_policy = real
    labels = {label for p in seen for *_, label in p.forbid_code + p.forbid_c}
    return sorted(labels & set(EQUIVALENTS))


@pytest.mark.parametrize("name, chk, cells", CHECKS, ids=IDS)
def test_an_answer_that_calls_a_listed_torch_equivalent_scores_zero(name, chk, cells, capsys):
    right = _namespace(cells)[chk.function]
    labels = _listed(chk, right)
    capsys.readouterr()
    assert "torch.nn.LSTMCell" in labels  # the defaults hold for every exercise
    for label in labels:
        imports, call = EQUIVALENTS[label]
        cell = (f"{imports}\ndef answer(*args, **kwargs):\n    {call}\n"
                f"    return right(*args, **kwargs)\n")
        ns = {"np": np, "torch": torch, "right": right}
        exec(compile(cell, "<ipython-input-9-answer>", "exec"), ns)
        score = _run(chk, ns["answer"], points=2)
        out = capsys.readouterr().out
        assert score == 0.0 and "is not allowed here" in out, (label, out)


def _key(args, kwargs):
    try:
        return hashlib.sha1(pickle.dumps((args, kwargs))).hexdigest()
    except Exception:  # noqa: BLE001 - a function among the inputs: never a visible case
        return None


@pytest.mark.parametrize("name, chk, cells", CHECKS, ids=IDS)
def test_an_answer_hard_coding_the_visible_cases_gets_no_credit(name, chk, cells, capsys):
    right = _namespace(cells)[chk.function]
    runs = [{}, {}]

    def recording(run):
        def record(*args, **kwargs):  # what a student sees of the cases, answers included
            key, result = _key(args, kwargs), right(*args, **kwargs)
            if key is not None:
                run[key] = result
            return result
        return record

    _run(chk, recording(runs[0]), seed=1)
    _run(chk, recording(runs[1]), seed=3)
    visible = {k: v for k, v in runs[0].items() if k in runs[1]}  # the same on every run

    def hard_coded(*args, **kwargs):
        key = _key(args, kwargs)
        if key in visible:
            return visible[key]
        return None

    score = _run(chk, hard_coded, seed=2)
    out = capsys.readouterr().out
    assert score == 0.0, out


def test_the_watch_sees_aliases_getattr_threads_and_unhooking(capsys):
    src = '''
import importlib, sys, threading
import rnnbook.scratch as s
step = getattr(importlib.import_module("rnnbook.scratch"), "rnn" + "_step")
def alias(*a):
    return step(*a)
def threaded(*a):
    out = []
    t = threading.Thread(target=lambda: out.append(s.rnn_step(*a)))
    t.start(); t.join()
    return out[0]
def unhooked(*a):
    sys.setprofile(None)
    return s.rnn_step(*a)
def copied_code(*a):
    f = type(alias)(s.rnn_step.__code__, {"np": __import__("numpy")})
    return f(*a)
'''
    ns = {}
    exec(compile(src, "<ipython-input-1-x>", "exec"), ns)
    for name in ("alias", "threaded", "unhooked", "copied_code"):
        assert exercises.check_rnn_step(ns[name]) == 0.0, name
        assert "is not allowed here" in capsys.readouterr().out


def test_a_checkers_own_helper_is_no_answer(capsys):
    from rnnbook.exercises import ch11

    assert exercises.check_masked_mean_pool(ch11._masked_mean) == 0.0
    assert "calling rnnbook.exercises.ch11._masked_mean is not allowed" in capsys.readouterr().out


def test_what_the_checker_hands_over_may_run_course_code(capsys):
    # chapter 6 hands the answer rnnbook layers, chapter 9 a step function: calling them is the task
    ns = _namespace(next(cells for name, _, cells in CHECKS if name.endswith(":bidirectional")))
    assert exercises.check_bidirectional(ns["bidirectional"]) == 1.0


def test_the_course_tests_may_use_the_reference_inside_trusted(capsys):
    from rnnbook import scratch

    assert exercises.check_rnn_step(scratch.rnn_step) == 0.0
    with exercises.trusted():
        assert exercises.check_rnn_step(scratch.rnn_step) == 1.0


def test_an_unknown_name_in_a_policy_is_a_clear_error():
    with pytest.raises(ValueError, match="no such module in the rnnbook package"):
        _guard.make_policy(allow=("rnnbook.no_such_module.f",))
