"""Chapter 10 checkers: full marks for the reference, feedback (never a crash) for wrong answers."""
from collections import Counter

import numpy as np
import pytest
import torch

from checker_contract import checker_contract
from rnnbook import exercises, seq2seq


def ref_coordinates(images):
    B, _, H, W = images.shape
    ys = np.repeat(np.linspace(-1, 1, H)[:, None], W, axis=1)
    xs = np.repeat(np.linspace(-1, 1, W)[None, :], H, axis=0)
    return np.concatenate([images, np.tile(np.stack([ys, xs]), (B, 1, 1, 1))], axis=1)


def ref_bleu(hyp, ref, max_n):
    log_p = 0.0
    for n in range(1, max_n + 1):
        h = Counter(tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1))
        r = Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1))
        log_p += np.log(sum(min(c, r[g]) for g, c in h.items()) / max(sum(h.values()), 1)) / max_n
    bp = min(0.0, 1 - len(ref) / len(hyp))
    return 100 * np.exp(log_p + bp)


CHECKERS = {
    "add_coordinates": (exercises.check_add_coordinates, ref_coordinates, {
        "x before y": lambda im: ref_coordinates(im)[:, list(range(im.shape[1])) + [-1, -2]],
        "coordinates from 0 to 1": lambda im: np.concatenate(
            [im, (ref_coordinates(im)[:, -2:] + 1) / 2], axis=1),
        "coordinates only": lambda im: ref_coordinates(im)[:, -2:],
        "raises": lambda im: im.reshape(-1, 7),
    }),
    "sentence_bleu": (exercises.check_sentence_bleu, ref_bleu, {
        "no brevity penalty": lambda h, r, n: 100 * np.exp(np.log(ref_bleu(h, r, n) / 100)
                                                          - min(0.0, 1 - len(r) / len(h))),
        "0-1 scale": lambda h, r, n: ref_bleu(h, r, n) / 100,
        "unigram precision only": lambda h, r, n: ref_bleu(h, r, 1),
        "string": lambda h, r, n: "BLEU",
    }),
}

(test_the_reference_earns_full_marks_on_fresh_inputs,
 test_an_unattempted_exercise_scores_zero_and_says_so,
 test_typical_wrong_answers_earn_less_and_get_feedback) = checker_contract(CHECKERS)


def test_add_coordinates_matches_the_exercise_reference_and_the_image_encoder_uses_it():
    images = np.random.default_rng(0).normal(size=(2, 3, 5, 7))
    got = seq2seq.add_coordinates(torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(got, ref_coordinates(images), rtol=0, atol=1e-12)
    assert got[0, 3, 0, 0] == -1 and got[0, 3, -1, 0] == 1  # channel C: top row -1, bottom row 1
    assert got[0, 4, 0, 0] == -1 and got[0, 4, 0, -1] == 1  # channel C + 1: left -1, right 1
    # the encoder's first convolution reads the image and the two coordinate channels
    torch.manual_seed(0)
    encoder = seq2seq.ImageEncoder(3, 8).eval()
    assert encoder.cnn[0].in_channels == 3 + 2
    x = torch.from_numpy(images).float()
    feats = encoder.cnn(torch.from_numpy(ref_coordinates(images)).float())
    memory, _, _ = encoder(x)
    torch.testing.assert_close(memory, encoder.norm(feats.flatten(2).transpose(1, 2)))
    with pytest.raises(ValueError, match="floating-point"):
        seq2seq.add_coordinates(torch.zeros(1, 1, 2, 2, dtype=torch.uint8))


def test_the_bleu_reference_written_out_agrees_with_sacrebleu_on_a_hand_checked_sentence():
    # hyp "a red circle left of a blue square" vs ref with "green": precisions 7/8, 5/7, 4/6, 3/5,
    # whose product is 1/4: BLEU = 100 * (1/4) ** (1/4) = 100 / sqrt(2), no brevity penalty
    hyp, ref = "a red circle left of a blue square".split(), "a red circle left of a green square".split()
    expected = 100 / np.sqrt(2)
    assert abs(ref_bleu(hyp, ref, 4) - expected) < 1e-9
    assert exercises.check_sentence_bleu(ref_bleu, seed=1) == 1.0
