"""The Japanese vowels loader: the counts of Kudo, Toyama & Shimbo (1999), read without aeon."""
import sys

import numpy as np
import pytest

from rnnbook import vowels


@pytest.fixture(scope="module")
def data():
    return vowels.load_japanese_vowels()


def test_counts_match_kudo_toyama_shimbo_1999(data):
    # Kudo et al. (1999), section 5 and the UCI description: 9 speakers, 30 training
    # utterances each (270), 370 test utterances (24 to 88 per speaker), 12 LPC cepstral
    # coefficients per frame, 7 to 29 frames per utterance.
    assert len(data.train) == 270 and len(data.test) == 370
    np.testing.assert_array_equal(np.bincount(data.train.labels), [30] * 9)
    np.testing.assert_array_equal(np.bincount(data.test.labels),
                                  [31, 35, 88, 44, 29, 24, 40, 50, 29])
    lengths = np.concatenate([data.train.lengths, data.test.lengths])
    assert lengths.min() == 7 and lengths.max() == 29
    assert all(x.shape[1] == 12 and x.dtype == np.float64 for x in data.train.sequences)
    assert all(np.isfinite(x).all() for x in data.test.sequences)


def test_first_utterance_is_parsed_frame_by_frame(data):
    x = data.train.sequences[0]
    assert x.shape == (20, 12) and data.train.labels[0] == 0
    # the file lists coefficient 1 over time first, then coefficient 2, ...
    assert x[0, 0] == 1.860936 and x[1, 0] == 1.891651 and x[0, 1] == -0.207383


def test_aeon_is_never_imported(data):
    assert "aeon" not in sys.modules


def test_a_changed_file_is_refused_with_both_hashes(monkeypatch):
    relpath, _ = vowels.FILES["train"]
    monkeypatch.setitem(vowels.FILES, "train", (relpath, "0" * 64))
    with pytest.raises(vowels.ChecksumError, match="expected 0000"):
        vowels.read_verified("train")


def test_unknown_split_and_bad_text_raise_value_errors():
    with pytest.raises(ValueError, match="split must be one of"):
        vowels.read_verified("validation")
    with pytest.raises(ValueError, match="no @data"):
        vowels.parse_ts("@problemName x\n")
    with pytest.raises(ValueError, match="different lengths"):
        vowels.parse_ts("@data\n1,2,3:4,5:1\n")


def test_summary_features_are_mean_then_standard_deviation():
    x = np.arange(12.0).reshape(4, 3)
    f = vowels.summary_features([x])
    np.testing.assert_allclose(f[0], np.concatenate([x.mean(0), x.std(0)]))


def test_validation_split_holds_out_a_third_of_every_speaker_deterministically(data):
    held_out = vowels.validation_split(data.train.labels)
    # 10 of each speaker's 30, the 3rd, 6th, ... in file order: the split the chapter chooses on
    np.testing.assert_array_equal(np.bincount(data.train.labels[held_out]), [10] * 9)
    np.testing.assert_array_equal(np.bincount(data.train.labels[~held_out]), [20] * 9)
    np.testing.assert_array_equal(held_out, vowels.validation_split(data.train.labels))
    first = np.flatnonzero(data.train.labels == 0)
    np.testing.assert_array_equal(np.flatnonzero(held_out[first]), np.arange(2, 30, 3))
    # shuffled labels: still stratified, each class's 2nd of every pair held out with every=2
    labels = np.random.default_rng().permutation(np.repeat(np.arange(4), 6))
    mask = vowels.validation_split(labels, every=2)
    np.testing.assert_array_equal(np.bincount(labels[mask]), [3] * 4)
    for c in range(4):
        np.testing.assert_array_equal(mask[labels == c], [False, True] * 3)


def test_validation_split_refuses_bad_arguments():
    with pytest.raises(ValueError, match="every must be"):
        vowels.validation_split(np.array([0, 0, 1, 1]), every=1)
    with pytest.raises(ValueError, match="fewer than every"):
        vowels.validation_split(np.array([0, 0, 0, 1]), every=3)
    with pytest.raises(ValueError, match="integer array"):
        vowels.validation_split(np.array([0.0, 1.0]))
