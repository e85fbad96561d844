"""The contract every exercise checker keeps, as tests a chapter's checker test module adopts.

A module defines CHECKERS = {name: (checker, reference answer, {label: wrong answer})} and writes

    (test_the_reference_earns_full_marks_on_fresh_inputs,
     test_an_unattempted_exercise_scores_zero_and_says_so,
     test_typical_wrong_answers_earn_less_and_get_feedback) = checker_contract(CHECKERS)
"""
import numpy as np
import pytest


def not_attempted(*args, **kwargs):
    """What the student edition's function does: nbgrader replaced the answer by this raise."""
    raise NotImplementedError()


def checker_contract(checkers: dict, repeats: int = 3):
    """The three contract tests, parametrised over the chapter's checkers."""
    names = sorted(checkers)
    wrong = [(name, label) for name in names for label in sorted(checkers[name][2])]

    @pytest.mark.parametrize("name", names)
    def test_the_reference_earns_full_marks_on_fresh_inputs(name, capsys):
        checker, reference, _ = checkers[name]
        for _ in range(repeats):
            score = checker(reference, points=2)
            assert score == 2.0 and score.passed == score.total, capsys.readouterr().out

    @pytest.mark.parametrize("name", names)
    def test_an_unattempted_exercise_scores_zero_and_says_so(name, capsys):
        assert checkers[name][0](not_attempted) == 0.0
        assert "not attempted yet" in capsys.readouterr().out

    @pytest.mark.parametrize("name, label", wrong, ids=[f"{n}:{w}" for n, w in wrong])
    def test_typical_wrong_answers_earn_less_and_get_feedback(name, label, capsys):
        checker, _, answers = checkers[name]
        with np.errstate(all="ignore"):
            score = checker(answers[label], seed=123)
        assert score < 1.0 and "check " in capsys.readouterr().out

    return (test_the_reference_earns_full_marks_on_fresh_inputs,
            test_an_unattempted_exercise_scores_zero_and_says_so,
            test_typical_wrong_answers_earn_less_and_get_feedback)
