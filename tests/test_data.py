import numpy as np
import pytest
import torch

from rnnbook import data


@pytest.fixture
def rng():
    return np.random.default_rng()


def test_vocab_puts_specials_first_then_tokens_by_frequency_then_alphabet():
    vocab = data.Vocab(list("banana bandana"))
    assert vocab.itos[:2] == ["<pad>", "<unk>"]
    # a:6, n:4, b:2, then ' ' and 'd' once each, tied and so in character order
    assert vocab.itos[2:] == ["a", "n", "b", " ", "d"]
    assert vocab.pad_index == 0 and vocab.unk_index == 1


def test_vocab_is_deterministic_whatever_the_order_of_the_corpus(rng):
    tokens = [str(t) for t in rng.integers(0, 30, size=500)]
    a = data.Vocab(tokens)
    b = data.Vocab(list(reversed(tokens)))
    assert a.itos == b.itos


def test_encode_decode_round_trips_and_unknowns_become_unk(rng):
    words = data.tokenize_words("The cat sat on the mat. The dog didn't!")
    vocab = data.Vocab(words)
    assert vocab.decode(vocab.encode(words)) == words
    assert "didn't" in vocab
    assert vocab.decode(vocab.encode(["zebra"])) == ["<unk>"]
    assert vocab.encode(["the", "zebra"]).dtype == np.int64


def test_min_freq_drops_rare_tokens():
    vocab = data.Vocab(["a", "a", "b"], min_freq=2)
    assert "b" not in vocab and vocab.index("b") == vocab.unk_index


def test_vocab_without_unk_says_which_token_is_missing():
    vocab = data.Vocab("abc", specials=())
    with pytest.raises(KeyError, match="'z'"):
        vocab.encode("abz")
    with pytest.raises(IndexError, match="outside the vocabulary"):
        vocab.decode([3])


def test_character_tokens_keep_every_character():
    text = "Hi,\n you!"
    assert "".join(data.tokenize_chars(text)) == text


def test_one_hot_matches_torch_on_random_shapes(rng):
    for _ in range(5):
        v = int(rng.integers(1, 40))
        shape = tuple(int(s) for s in rng.integers(1, 6, size=int(rng.integers(1, 4))))
        idx = rng.integers(0, v, size=shape)
        expected = torch.nn.functional.one_hot(torch.from_numpy(idx), v).numpy()
        got = data.one_hot(idx, v)
        assert got.shape == shape + (v,) and got.dtype == np.float32
        np.testing.assert_array_equal(got, expected)


def test_one_hot_rejects_out_of_range_and_non_integer_indices():
    with pytest.raises(ValueError, match="index 5 is outside 0..4"):
        data.one_hot([1, 5], 5)
    with pytest.raises(ValueError, match="outside"):
        data.one_hot([-1], 5)
    with pytest.raises(TypeError, match="integers"):
        data.one_hot([0.5], 5)


def test_pad_sequences_matches_torch_pad_sequence_and_masks_real_tokens(rng):
    for _ in range(5):
        seqs = [rng.integers(1, 100, size=int(rng.integers(1, 12))) for _ in range(int(rng.integers(1, 7)))]
        padded, mask = data.pad_sequences(seqs, pad_value=-7)
        expected = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(s) for s in seqs], batch_first=True,
                                                   padding_value=-7).numpy()
        np.testing.assert_array_equal(padded, expected)
        np.testing.assert_array_equal(mask.sum(1), [len(s) for s in seqs])
        assert mask.dtype == bool
        assert (padded[~mask] == -7).all()
        time_major, time_mask = data.pad_sequences(seqs, pad_value=-7, batch_first=False)
        np.testing.assert_array_equal(time_major, padded.T)
        np.testing.assert_array_equal(time_mask, mask.T)


def test_pad_sequences_accepts_empty_sequences():
    padded, mask = data.pad_sequences([[1, 2], []])
    np.testing.assert_array_equal(padded, [[1, 2], [0, 0]])
    np.testing.assert_array_equal(mask, [[True, True], [False, False]])
    with pytest.raises(ValueError, match="at least one"):
        data.pad_sequences([])


def test_batchify_columns_are_contiguous_pieces_of_the_stream(rng):
    n, b = int(rng.integers(50, 200)), int(rng.integers(1, 7))
    stream = np.arange(n)
    cols = data.batchify(stream, b)
    length = n // b
    assert cols.shape == (length, b)
    for j in range(b):
        np.testing.assert_array_equal(cols[:, j], stream[j * length:(j + 1) * length])


def test_bptt_windows_cover_the_columns_with_targets_shifted_by_one(rng):
    cols = data.batchify(np.arange(int(rng.integers(60, 300))), int(rng.integers(1, 5)))
    seq_len = int(rng.integers(1, 9))
    windows = list(data.bptt_batches(cols, seq_len))
    inputs = np.concatenate([x for x, _ in windows])
    targets = np.concatenate([y for _, y in windows])
    np.testing.assert_array_equal(inputs, cols[:-1])
    np.testing.assert_array_equal(targets, cols[1:])
    assert all(x.shape[0] <= seq_len for x, _ in windows)


def test_batching_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match="too short"):
        data.batchify(np.arange(3), 4)
    with pytest.raises(ValueError, match="batchify first"):
        next(data.bptt_batches(np.arange(10), 3))


def test_vocab_from_counts_equals_the_vocab_of_the_tokens(rng):
    tokens = [f"w{t}" for t in rng.integers(0, 40, size=600)]
    from collections import Counter
    for kw in ({}, {"min_freq": 12}, {"specials": ()}, {"max_size": 10}, {"order": "token"}):
        a, b = data.Vocab(tokens, **kw), data.Vocab.from_counts(Counter(tokens), **kw)
        assert a.itos == b.itos and a.counts == b.counts


def test_vocab_max_size_keeps_the_most_frequent_and_counts_the_specials():
    vocab = data.Vocab(list("aaaabbbccd"), max_size=4)
    assert vocab.itos == ["<pad>", "<unk>", "a", "b"]
    assert data.Vocab(list("aaaabbbccd"), specials=(), max_size=2).itos == ["a", "b"]
    with pytest.raises(ValueError, match="max_size"):
        data.Vocab("ab", max_size=1)


def test_vocab_in_token_order_ignores_the_counts():
    vocab = data.Vocab(list("cccbba"), specials=(), order="token")
    assert vocab.itos == ["a", "b", "c"]
    with pytest.raises(ValueError, match="order"):
        data.Vocab("ab", order="count")


def test_hash_split_follows_sha256_buckets_and_shares():
    import hashlib
    parts = (("train", 80), ("validation", 10), ("test", 10))
    for key in ["", "a review", "naïve", *map(str, range(200))]:
        bucket = int(hashlib.sha256(key.encode()).hexdigest()[:16], 16) % 100
        want = "train" if bucket < 80 else "validation" if bucket < 90 else "test"
        assert data.hash_split(key, parts) == want
    got = [data.hash_split(str(i), parts) for i in range(5000)]
    assert abs(got.count("train") / 5000 - 0.8) < 0.03
    with pytest.raises(ValueError, match="sum to 100"):
        data.hash_split("x", (("a", 50), ("b", 40)))


def test_encode_sentences_drops_unknown_tokens_and_empty_sentences_and_cuts_long_ones():
    stoi = {"a": 0, "b": 1, "c": 2}
    ids, bounds = data.encode_sentences([["a", "x", "b"], [], ["c"] * 5], stoi, max_len=2)
    assert ids.tolist() == [0, 1, 2, 2, 2, 2, 2] and ids.dtype == np.int32
    assert bounds.tolist() == [0, 2, 4, 6, 7] and bounds.dtype == np.int64
