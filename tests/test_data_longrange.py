"""The long-range synthetic tasks of chapters 5 and 6: shapes, targets recomputed independently."""
import numpy as np
import pytest

from rnnbook import data


def test_adding_problem_targets_are_the_sum_of_the_two_marked_values():
    x, y = data.adding_problem(500, 37, seed=3)
    assert x.shape == (500, 37, 2) and y.shape == (500,) and x.dtype == y.dtype == np.float32
    markers = x[:, :, 1]
    assert np.all(markers.sum(axis=1) == 2)
    for n in range(500):
        first, second = np.flatnonzero(markers[n])
        assert first < 37 // 2 <= second          # one marker in each half
        assert y[n] == pytest.approx(x[n, first, 0] + x[n, second, 0], abs=1e-6)
    assert np.all((x[:, :, 0] >= 0) & (x[:, :, 0] < 1))
    # answering 1 always: mean squared error near 1/6, the variance of a sum of two uniforms
    assert np.mean((y - 1) ** 2) == pytest.approx(1 / 6, abs=0.03)


def test_adding_problem_is_reproducible_and_seed_dependent():
    a, b, c = (data.adding_problem(20, 10, seed=s)[0] for s in (1, 1, 2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_copy_task_layout_and_targets():
    tokens, targets = data.copy_task(50, n_copy=5, delay=12, n_symbols=6, seed=0)
    length = 2 * 5 + 12
    assert tokens.shape == targets.shape == (50, length) and tokens.dtype == np.int64
    blank, go = 6, 7
    assert np.all(tokens[:, :5] < 6)
    assert np.all(tokens[:, 5 + 12 - 1] == go)
    rest = np.delete(tokens[:, 5:], 12 - 1, axis=1)
    assert np.all(rest == blank)
    assert np.array_equal(targets[:, -5:], tokens[:, :5])
    assert np.all(targets[:, :-5] == blank)
    assert len(np.unique(tokens[:, :5])) == 6          # every symbol is used


def test_lookahead_labels_point_shift_steps_into_the_future():
    tokens, labels = data.lookahead_labels(40, 15, shift=3, n_symbols=5, seed=4)
    assert tokens.shape == labels.shape == (40, 15)
    for t in range(15):
        expected = tokens[:, t + 3] if t + 3 < 15 else np.full(40, 5)
        assert np.array_equal(labels[:, t], expected)


@pytest.mark.parametrize("call, message", [
    (lambda: data.adding_problem(0, 10), "n_sequences"),
    (lambda: data.adding_problem(5, 1), "length"),
    (lambda: data.copy_task(5, 0, 3), "n_copy"),
    (lambda: data.copy_task(5, 3, 3, n_symbols=1), "n_symbols"),
    (lambda: data.lookahead_labels(5, 4, shift=4), "shift=4"),
    (lambda: data.lookahead_labels(5, 4, shift=1.5), "shift"),
])
def test_long_range_tasks_reject_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()
