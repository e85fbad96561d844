"""The checkers: full marks for right answers, feedback (never a crash) for wrong ones."""
import inspect

import numpy as np
import pytest

from rnnbook import data, exercises


def reference_one_hot(indices, vocab_size):
    return data.one_hot(np.asarray(indices), vocab_size)


def reference_pad(sequences, pad_value=0):
    return data.pad_sequences(sequences, pad_value=pad_value)


def not_attempted(*args, **kwargs):
    raise NotImplementedError()


WRONG_ONE_HOT = {
    "wrong shape": lambda i, v: np.zeros((len(i), v + 1)),
    "transposed": lambda i, v: data.one_hot(np.asarray(i), v).T,
    "NaN": lambda i, v: data.one_hot(np.asarray(i), v) * np.nan,
    "exception": lambda i, v: {}["boom"],
    "returns None": lambda i, v: None,
    "returns a string": lambda i, v: "one-hot",
    "off by one": lambda i, v: np.roll(data.one_hot(np.asarray(i), v), 1, axis=1),
    "system exit": lambda i, v: exec("raise SystemExit(3)"),
}

WRONG_PAD = {
    "ignores pad_value": lambda s, pad_value=0: data.pad_sequences(s, pad_value=0),
    "integer mask": lambda s, pad_value=0: (reference_pad(s, pad_value)[0], reference_pad(s, pad_value)[1].astype(int)),
    "only padded": lambda s, pad_value=0: reference_pad(s, pad_value)[0],
    "time major": lambda s, pad_value=0: data.pad_sequences(s, pad_value, batch_first=False),
}


@pytest.mark.parametrize("checker, reference", [
    (exercises.check_one_hot, reference_one_hot),
    (exercises.check_pad_with_mask, reference_pad),
])
def test_reference_answers_earn_full_marks_on_fresh_inputs(checker, reference, capsys):
    for _ in range(5):
        score = checker(reference, points=2)
        assert score == 2.0 and score.passed == score.total
    assert "passed" in capsys.readouterr().out


@pytest.mark.parametrize("checker", [exercises.check_one_hot, exercises.check_pad_with_mask])
def test_an_unattempted_exercise_scores_zero_and_says_so(checker, capsys):
    assert checker(not_attempted) == 0.0
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(WRONG_ONE_HOT))
def test_wrong_one_hot_answers_get_feedback_not_a_crash(name, capsys):
    score = exercises.check_one_hot(WRONG_ONE_HOT[name])
    out = capsys.readouterr().out
    assert score < 1.0 and "check 1" in out


@pytest.mark.parametrize("name", sorted(WRONG_PAD))
def test_wrong_padding_answers_get_feedback_not_a_crash(name, capsys):
    score = exercises.check_pad_with_mask(WRONG_PAD[name])
    assert score < 1.0
    assert "check" in capsys.readouterr().out


def test_partial_credit_comes_from_fresh_cases_and_a_failed_fixed_case_lowers_it(capsys):
    # ignoring pad_value fails only the fixed case with pad_value=-1 (of 3 fixed, 3 fresh)
    score = exercises.check_pad_with_mask(WRONG_PAD["ignores pad_value"], points=6)
    assert (score.passed, score.total) == (5, 6)
    assert score == pytest.approx(6 * 3 / (3 + 1))


def test_credit_counts_fresh_cases_only():
    fixed, fresh = exercises.Case((), None, "", fixed=True), exercises.Case((), None, "")
    cases = [fixed, fixed, fresh, fresh]
    assert exercises.credit(4, cases, [True, True, True, True]) == 4
    assert exercises.credit(4, cases, [True, True, False, False]) == 0   # visible answers only
    assert exercises.credit(4, cases, [False, True, True, True]) == pytest.approx(4 * 2 / 3)
    assert exercises.credit(4, [fixed, fixed], [True, False]) == 0        # all fixed: all or nothing


def test_feedback_names_the_problem_precisely(capsys):
    exercises.check_one_hot(WRONG_ONE_HOT["wrong shape"])
    assert "has shape" in capsys.readouterr().out
    exercises.check_one_hot(WRONG_ONE_HOT["returns None"])
    assert "forget to `return`" in capsys.readouterr().out
    exercises.check_pad_with_mask(WRONG_PAD["integer mask"])
    assert "expected a boolean array" in capsys.readouterr().out


def test_feedback_never_shows_the_reference_code(capsys):
    exercises.check_one_hot(WRONG_ONE_HOT["off by one"])
    exercises.check_pad_with_mask(WRONG_PAD["time major"])
    out = capsys.readouterr().out
    for ref in (data.one_hot, data.pad_sequences):
        body = [line.strip() for line in inspect.getsource(ref).splitlines()[1:] if len(line.strip()) > 20]
        assert not any(line in out for line in body)


def test_the_same_seed_gives_the_same_inputs(capsys):
    seen = []
    exercises.check_one_hot(lambda i, v: seen.append((list(i), v)) or reference_one_hot(i, v), seed=7)
    first, seen[:] = list(seen), []
    exercises.check_one_hot(lambda i, v: seen.append((list(i), v)) or reference_one_hot(i, v), seed=7)
    assert seen == first


def test_a_student_mutating_the_input_cannot_change_the_expected_answer(capsys):
    def destructive(indices, vocab_size):
        result = reference_one_hot(indices, vocab_size)
        indices[:] = 0
        return result

    assert exercises.check_one_hot(destructive) == 1.0


def test_a_non_function_is_reported(capsys):
    assert exercises.check_one_hot(42) == 0.0
    assert "expected a function" in capsys.readouterr().out


def test_compare_arrays_accepts_torch_tensors_and_lists():
    import torch
    expected = np.eye(3)
    assert exercises.compare_arrays(torch.eye(3), expected) is None
    assert exercises.compare_arrays(np.eye(3).tolist(), expected) is None
    assert "differs in 1 of 9" in exercises.compare_arrays(np.eye(3) + np.diag([0, 0, 1e-3]), expected)
