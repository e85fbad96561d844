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


def ngrams(words, n):
    return Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def ref_corpus_bleu(hyps, refs, max_n, clip="max", ref_len="closest", brevity=True, average=False):
    if average:
        return float(np.mean([ref_corpus_bleu([h], [r], max_n) for h, r in zip(hyps, refs)]))
    matches, totals = np.zeros(max_n), np.zeros(max_n)
    c = r = 0
    for hyp, rs in zip(hyps, refs):
        for n in range(1, max_n + 1):
            h = ngrams(hyp, n)
            if clip == "max":
                most = Counter()
                for ref in rs:
                    most |= ngrams(ref, n)
            else:
                most = ngrams(rs[0], n)
            matches[n - 1] += sum(min(k, most[g]) for g, k in h.items())
            totals[n - 1] += sum(h.values())
        c += len(hyp)
        lens = [len(x) for x in rs]
        r += (min(lens, key=lambda x: (abs(x - len(hyp)), x)) if ref_len == "closest" else
              max(lens))
    log_p = np.mean(np.log(matches / totals))
    bp = min(0.0, 1 - r / c) if brevity else 0.0
    return 100 * np.exp(log_p + bp)


def ref_coverage(scores, lam, sign=1.0, jacobian=True, wrt_weights=False):
    a = np.exp(scores - scores.max(1, keepdims=True))
    a /= a.sum(1, keepdims=True)
    cover = a.sum(0)
    g = -2 * lam * (1 - cover) * sign          # d penalty / d alpha_ti, the same for every t
    d = a * (g - (a * g).sum(1, keepdims=True)) if jacobian else a * g
    if wrt_weights:  # stops one step short, at the attention weights
        d = np.broadcast_to(g, scores.shape).copy()
    return lam * ((1 - cover) ** 2).sum(), d


def ref_blind_spots(objects, captions, refs_for_one=0, colour_step=1):
    import sacrebleu

    order = ["red", "green", "blue", "yellow"]
    opposite = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}
    out = {"converse": [], "colour": [], "relation": [], "swap": []}
    for ((c1, s1), (c2, s2), rel), caps in zip(objects, captions):
        out["converse"].append(caps[1])
        out["colour"].append(f"a {order[(order.index(c1) + colour_step) % 4]} {s1} {rel} a {c2} {s2}")
        out["relation"].append(f"a {c1} {s1} {opposite[rel]} a {c2} {s2}")
        out["swap"].append(f"a {c2} {s2} {rel} a {c1} {s1}")
    one = [[c[refs_for_one] for c in captions]]
    both = [[c[0] for c in captions], [c[1] for c in captions]]
    return {k: (sacrebleu.corpus_bleu(h, one, tokenize="none").score,
                sacrebleu.corpus_bleu(h, both, tokenize="none").score) for k, h in out.items()}


CHECKERS = {
    "corpus_bleu": (exercises.check_corpus_bleu, ref_corpus_bleu, {
        "mean of sentence scores": lambda h, r, n: ref_corpus_bleu(h, r, n, average=True),
        "clips by the first reference only": lambda h, r, n: ref_corpus_bleu(h, r, n, clip="first"),
        "longest reference length": lambda h, r, n: ref_corpus_bleu(h, r, n, ref_len="longest"),
        "no brevity penalty": lambda h, r, n: ref_corpus_bleu(h, r, n, brevity=False),
        "0-1 scale": lambda h, r, n: ref_corpus_bleu(h, r, n) / 100,
    }),
    "coverage_penalty": (exercises.check_coverage_penalty, ref_coverage, {
        "gradient with the wrong sign": lambda e, lam: ref_coverage(e, lam, sign=-1.0),
        "softmax Jacobian's diagonal only": lambda e, lam: ref_coverage(e, lam, jacobian=False),
        "gradient with respect to the weights": lambda e, lam: ref_coverage(e, lam, wrt_weights=True),
        "penalty only": lambda e, lam: ref_coverage(e, lam)[0],
    }),
    "bleu_blind_spots": (exercises.check_bleu_blind_spots, ref_blind_spots, {
        "the converse as the one reference": lambda o, c: ref_blind_spots(o, c, refs_for_one=1),
        "swap that also flips the relation": lambda o, c: dict(
            ref_blind_spots(o, c), swap=ref_blind_spots(o, c)["converse"]),
        "a list": lambda o, c: list(ref_blind_spots(o, c).values()),
    }),
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
