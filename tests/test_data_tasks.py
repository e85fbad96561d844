"""The synthetic tasks of rnnbook.data: the long-dependency recall task of chapter 4."""
import numpy as np
import pytest

from rnnbook import data


@pytest.mark.parametrize("lag", [1, 2, 7, 40])
def test_recall_task_puts_the_answer_exactly_lag_steps_before_the_query(lag):
    n_keys, n_noise = 5, 3
    x, y = data.recall_task(500, lag, n_keys, n_noise, seed=np.random.default_rng().integers(1 << 30))
    assert x.shape == (500, lag + 1) and y.shape == (500,)
    assert x.dtype == np.int64 and y.dtype == np.int64
    query = n_keys + n_noise
    assert np.all(x[:, -1] == query)
    np.testing.assert_array_equal(x[:, -1 - lag], y)            # the answer, lag steps back
    assert np.all((y >= 0) & (y < n_keys))
    middle = x[:, 1:-1]                                          # nothing else gives the answer away
    assert np.all((middle >= n_keys) & (middle < query))


def test_recall_task_is_balanced_and_reproducible():
    x, y = data.recall_task(8000, 10, n_keys=4, seed=1)
    counts = np.bincount(y, minlength=4) / len(y)
    assert np.all(np.abs(counts - 0.25) < 0.03)                  # chance accuracy is 1 / n_keys
    x2, y2 = data.recall_task(8000, 10, n_keys=4, seed=1)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    x3, _ = data.recall_task(8000, 10, n_keys=4, seed=2)
    assert not np.array_equal(x, x3)


def test_recall_task_distractors_are_independent_of_the_answer():
    # No shortcut: the distractor counts carry no information about the key.
    x, y = data.recall_task(20000, 6, n_keys=2, n_noise=2, seed=3)
    first_noise = x[:, 1:-1] == 2
    frac = [first_noise[y == k].mean() for k in (0, 1)]
    assert abs(frac[0] - frac[1]) < 0.02


@pytest.mark.parametrize("kwargs, word", [
    (dict(n_sequences=0, lag=3), "n_sequences"), (dict(n_sequences=5, lag=0), "lag"),
    (dict(n_sequences=5, lag=3, n_keys=1), "n_keys"), (dict(n_sequences=5, lag=3, n_noise=0), "n_noise")])
def test_recall_task_rejects_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        data.recall_task(**kwargs)
