"""The chapter 9 and 10 task generators: deterministic, train/test disjoint, right on hand-checked cases."""
import datetime

import numpy as np
import pytest

from rnnbook import transduction as T


def test_number_words_match_hand_checked_examples():
    assert T.number_to_tokens(342105, "en") == [
        "three", "hundred", "and", "forty", "-", "two", "thousand", ",", "one", "hundred", "and", "five"]
    assert T.number_to_tokens(97, "fr") == ["quatre", "-", "vingt", "-", "dix", "-", "sept"]
    assert T.number_to_tokens(71, "fr") == ["soixante", "et", "onze"]
    assert T.number_to_tokens(71, "de") == list("einundsiebzig")
    with pytest.raises(ValueError, match="lang"):
        T.number_to_tokens(3, "xx")


@pytest.mark.parametrize("lang", T.LANGUAGES)
def test_number_words_are_deterministic_disjoint_and_their_targets_are_the_digits(lang):
    train, test = T.number_words(300, 100, lang=lang, max_digits=7, seed=5)
    again, _ = T.number_words(300, 100, lang=lang, max_digits=7, seed=5)
    assert train.sources == again.sources and train.targets == again.targets
    assert len(train) == 300 and len(test) == 100
    assert not set(train.keys) & set(test.keys)
    assert len(set(train.keys)) == 300
    for n, src, tgt in zip(test.keys, test.sources, test.targets):
        assert "".join(tgt) == str(n) and src == T.number_to_tokens(n, lang)
    digits = [len(str(k)) for k in train.keys]
    assert min(digits) == 1 and max(digits) == 7  # every length is represented
    assert T.number_words(50, 10, seed=6)[0].keys != train.keys[:50]
    rev, _ = T.number_words(5, 1, lang=lang, seed=5, reverse=True)
    assert rev.sources == [list(str(k)) for k in rev.keys]


def test_sample_integers_rejects_impossible_requests():
    with pytest.raises(ValueError, match="max_digits"):
        T.sample_integers(10, 0, 0)
    with pytest.raises(ValueError, match="distinct"):
        T.sample_integers(60, 2, 0)
    with pytest.raises(ValueError, match="n_train"):
        T.number_words(-1, 3)


def test_dates_match_hand_checked_examples():
    day = datetime.date(2023, 7, 4)
    assert T.date_to_tokens(day, "de_DE", "long") == ["<de_DE>"] + list("4. Juli 2023")
    assert T.date_to_tokens(day, "en_US", "short") == ["<en_US>"] + list("7/4/23")
    assert T.date_to_tokens(day, "en_GB", "short") == ["<en_GB>"] + list("04/07/2023")
    assert T.date_to_tokens(day, "fr_FR", "full") == ["<fr_FR>"] + list("mardi 4 juillet 2023")
    with pytest.raises(ValueError, match="locale"):
        T.date_to_tokens(day, "xx_XX", "long")


def test_dates_are_deterministic_disjoint_and_target_iso():
    train, test = T.dates(400, 100, seed=2)
    again, _ = T.dates(400, 100, seed=2)
    assert train.sources == again.sources
    assert not set(train.keys) & set(test.keys)
    for day, src, tgt in zip(train.keys, train.sources, train.targets):
        assert "".join(tgt) == day.isoformat() and 1950 <= day.year <= 2049
        assert src[0][1:-1] in T.DATE_LOCALES
    assert len({s[0] for s in train.sources}) == len(T.DATE_LOCALES)


def test_digit_strips_hold_the_right_images_at_their_spans_and_split_images_first():
    from sklearn.datasets import load_digits

    digits = load_digits()
    train, test = T.digit_strips(200, 80, seed=3)
    again, _ = T.digit_strips(200, 80, seed=3)
    np.testing.assert_array_equal(train.images, again.images)
    assert train.images.shape == (200, 8, 60) and test.images.shape == (80, 8, 60)
    assert train.images.dtype == np.float32 and 0 <= train.images.min() and train.images.max() <= 1
    used_train = {i for ids in train.digit_ids for i in ids}
    used_test = {i for ids in test.digit_ids for i in ids}
    assert not used_train & used_test
    for strips in (train, test):
        for img, label, spans, ids in zip(strips.images, strips.labels, strips.spans, strips.digit_ids):
            assert 3 <= len(label) <= 5 and label == "".join(str(digits.target[i]) for i in ids)
            for (a, b), i in zip(spans, ids):
                source = digits.images[i] / 16
                block = img[:, a:b]
                # jitter moves the digit at most one row: one of three shifts reproduces it
                assert b - a == 8 and any(
                    np.allclose(block, T._shift_rows(source.astype(np.float32), dy)) for dy in (-1, 0, 1))
            gaps = [spans[k + 1][0] - spans[k][1] for k in range(len(spans) - 1)]
            assert all(1 <= g <= 3 for g in gaps)


def test_shift_rows_moves_without_wrapping():
    img = np.arange(12.0).reshape(4, 3)
    np.testing.assert_array_equal(T._shift_rows(img, 1), [[0, 0, 0], [0, 1, 2], [3, 4, 5], [6, 7, 8]])
    np.testing.assert_array_equal(T._shift_rows(img, -1), [[3, 4, 5], [6, 7, 8], [9, 10, 11], [0, 0, 0]])


def _centre(img, colour):
    mask = np.all(np.isclose(img.transpose(1, 2, 0), T.SCENE_COLORS[colour]), axis=-1)
    ys, xs = np.nonzero(mask)
    return xs.mean(), ys.mean(), mask.sum()


def test_scenes_draw_what_their_captions_say():
    train, test = T.scenes(120, 40, seed=1)
    again, _ = T.scenes(120, 40, seed=1)
    np.testing.assert_array_equal(train.images, again.images)
    assert train.images.shape == (120, 3, 32, 32)
    for img, caps, (o1, o2, rel) in zip(train.images, train.captions, train.objects):
        assert caps[0] == f"a {o1[0]} {o1[1]} {rel} a {o2[0]} {o2[1]}"
        assert caps[1] == f"a {o2[0]} {o2[1]} {T.RELATIONS[rel]} a {o1[0]} {o1[1]}"
        (x1, y1, n1), (x2, y2, n2) = _centre(img, o1[0]), _centre(img, o2[0])
        assert n1 > 15 and n2 > 15
        d = {"left of": x2 - x1, "right of": x1 - x2, "above": y2 - y1, "below": y1 - y2}[rel]
        assert d > 8  # separated by more than a shape's radius along the relation's axis
    flat_train = {img.tobytes() for img in train.images}
    assert not any(img.tobytes() in flat_train for img in test.images)


def test_shapes_differ_and_bad_names_are_rejected():
    masks = {s: T._shape_mask(s, 16, 16, 6, 32).sum() for s in T.SCENE_SHAPES}
    assert masks["triangle"] < masks["circle"] < masks["square"] * 1.2 and len(set(masks.values())) == 3
    with pytest.raises(ValueError, match="relation"):
        T.draw_scene(("red", "circle"), ("blue", "square"), "near", np.random.default_rng(0))


def test_make_vocab_puts_the_seq2seq_specials_first():
    vocab = T.make_vocab([["b", "a"], ["a"]])
    assert vocab.itos[:5] == ["<pad>", "<bos>", "<eos>", "<unk>", "a"]
    assert T.encode(vocab, [["a", "zz"]]) == [[4, 3]]


def test_the_checked_digit_file_reads_the_same_images_as_scikit_learn():
    from sklearn.datasets import load_digits

    images, labels = T.load_digit_images()
    digits = load_digits()
    np.testing.assert_array_equal(images * 16, digits.images)
    np.testing.assert_array_equal(labels, digits.target)
    assert images.shape == (1797, 8, 8) and images.dtype == np.float32
