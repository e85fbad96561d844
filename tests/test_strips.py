"""rnnbook.strips: chapter 6's variable digit strips, made apart from the recogniser."""
import numpy as np

from rnnbook import ctc_strips, strips


def test_strips_are_the_recognisers_data_under_the_old_names_too():
    for name in ("SpacedStrips", "image_pools", "spaced_strips", "HEIGHT"):
        assert getattr(ctc_strips, name) is getattr(strips, name)


def test_each_digit_span_holds_its_stretched_image_and_lengths_cover_the_spans():
    rng = np.random.default_rng()
    seed = int(rng.integers(2**31))
    made = strips.spaced_strips(50, "validation", np.random.default_rng(seed))
    again = strips.spaced_strips(50, "validation", np.random.default_rng(seed))
    np.testing.assert_array_equal(made.images, again.images)  # the generator fixes everything
    assert made.images.shape == (50, strips.HEIGHT, made.lengths.max())
    for k in range(len(made)):
        assert 1 <= len(made.labels[k]) <= 5 and len(made.spans[k]) == len(made.labels[k])
        ends = [b for _, b in made.spans[k]]
        assert ends[-1] <= made.lengths[k] <= ends[-1] + 3  # a right margin of 0-3 columns
        for (a, b), nxt in zip(made.spans[k], [s for s, _ in made.spans[k][1:]] + [None]):
            assert 5 <= b - a <= 10 and (nxt is None or 0 <= nxt - b <= 3)
        assert not made.images[k, :, made.lengths[k]:].any()  # zero padding beyond the strip
