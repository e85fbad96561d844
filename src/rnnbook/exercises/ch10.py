"""Checkers for chapter 10, Attention over images: digit strips and captions."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ._core import Case, Score, compare_arrays, fresh_seed, run_checks


def check_add_coordinates(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(images (B, C, H, W)) -> (B, C + 2, H, W)` with y then x channels in [-1, 1]."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((np.zeros((1, 1, 3, 5)),), None, "one blank 3 x 5 image (rows differ from columns)")]
    while len(cases) < 6:
        B, C = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        H, W = int(rng.integers(2, 9)), int(rng.integers(2, 9))
        cases.append(Case((rng.normal(size=(B, C, H, W)),), None,
                          f"a batch of {B} images, {C} channel(s), height {H}, width {W}"))
    for case in cases:  # the checker's own reference: row then column coordinates in [-1, 1]
        B, _, H, W = case.args[0].shape
        rows, cols = np.meshgrid(np.linspace(-1, 1, H), np.linspace(-1, 1, W), indexing="ij")
        case.expected = np.concatenate([case.args[0], np.broadcast_to(np.stack([rows, cols]), (B, 2, H, W))],
                                       axis=1)

    def compare(got, expected):
        return compare_arrays(got, expected, what="images with coordinate channels", rtol=1e-6,
                              atol=1e-9)

    return run_checks("add_coordinates", func, cases, compare, points, seed)


def _bleu_reference(hyp: list[str], ref: list[str], max_n: int) -> float:
    import sacrebleu

    metric = sacrebleu.metrics.BLEU(max_ngram_order=max_n, smooth_method="none", tokenize="none",
                                    effective_order=False)
    # One sentence scored as a corpus: the same number as sentence_score without effective order,
    # minus the warning sacrebleu logs to stderr (which would land in the student's notebook).
    return metric.corpus_score([" ".join(hyp)], [[" ".join(ref)]]).score


def check_sentence_bleu(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(hypothesis tokens, reference tokens, max_n) -> BLEU on the 0-100 scale` (no smoothing)."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    words = "a the red blue green circle square triangle left right of above below".split()
    cases = [Case(("a red circle left of a blue square".split(),
                   "a red circle left of a green square".split(), 4), None, "one word changed")]
    while len(cases) < 6:
        ref = list(rng.choice(words, size=int(rng.integers(6, 12))))
        hyp = list(ref)
        for _ in range(int(rng.integers(1, 3))):  # edit: substitute, delete or insert a word
            i, op = int(rng.integers(len(hyp))), int(rng.integers(3))
            if op == 0:
                hyp[i] = str(rng.choice(words))
            elif op == 1 and len(hyp) > 5:
                del hyp[i]
            else:
                hyp.insert(i, str(rng.choice(words)))
        max_n = int(rng.integers(2, 5))
        if _bleu_reference(hyp, ref, max_n) > 0 and hyp != ref:
            cases.append(Case((hyp, ref, max_n), None, f"{len(hyp)} hypothesis words, {len(ref)} reference "
                                                       f"words, max_n={max_n}"))
    for case in cases:
        case.expected = np.array(_bleu_reference(*case.args))
        case.args = (list(case.args[0]), list(case.args[1]), case.args[2])

    def compare(got, expected):
        return compare_arrays(got, expected, what="BLEU", rtol=1e-6, atol=1e-6)

    return run_checks("sentence_bleu", func, cases, compare, points, seed,
                      forbid=("nltk", "sacrebleu", "torchtext", "torchmetrics"))


# ----------------------------------------------------------------- corpus BLEU (issue 19)
def _corpus_bleu_reference(hyps: list[list[str]], refs: list[list[list[str]]], max_n: int) -> float:
    import sacrebleu

    metric = sacrebleu.metrics.BLEU(max_ngram_order=max_n, smooth_method="none", tokenize="none",
                                    effective_order=False)
    streams = [[" ".join(r[k]) for r in refs] for k in range(len(refs[0]))]
    return metric.corpus_score([" ".join(h) for h in hyps], streams).score


def _edit(rng: np.random.Generator, words: list[str], vocab: list[str], edits: int) -> list[str]:
    out = list(words)
    for _ in range(edits):  # substitute, delete or insert a word
        i, op = int(rng.integers(len(out))), int(rng.integers(3))
        if op == 0:
            out[i] = str(rng.choice(vocab))
        elif op == 1 and len(out) > 5:
            del out[i]
        else:
            out.insert(i, str(rng.choice(vocab)))
    return out


def check_corpus_bleu(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(hypotheses, references, max_n) -> corpus BLEU (0-100)`, several references each."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    vocab = "a the red blue green yellow circle square triangle left right of above below".split()
    cases = []
    while len(cases) < 6:
        n_sent, n_refs = int(rng.integers(2, 6)), int(rng.integers(1, 4))
        max_n = int(rng.integers(2, 5))
        hyps, refs = [], []
        for _ in range(n_sent):
            base = list(rng.choice(vocab, size=int(rng.integers(5, 11))))
            sent_refs = [base] + [_edit(rng, base, vocab, int(rng.integers(1, 4))) for _ in range(n_refs - 1)]
            hyp = _edit(rng, sent_refs[int(rng.integers(n_refs))], vocab, int(rng.integers(1, 4)))
            if len(cases) % 2:  # cut short, so that the brevity penalty bites
                hyp = hyp[: max(max_n, len(hyp) - int(rng.integers(1, 4)))]
            hyps.append(hyp)
            refs.append(sent_refs)
        if min(len(h) for h in hyps) < max_n or _corpus_bleu_reference(hyps, refs, max_n) <= 0:
            continue
        lengths = sorted({len(r) for rs in refs for r in rs})
        cases.append(Case(([list(h) for h in hyps], [[list(r) for r in rs] for rs in refs], max_n),
                          np.array(_corpus_bleu_reference(hyps, refs, max_n)),
                          f"{n_sent} sentences, {n_refs} reference(s) each, max_n={max_n}, "
                          f"reference lengths {lengths[0]}-{lengths[-1]}"))

    def compare(got, expected):
        return compare_arrays(got, expected, what="BLEU", rtol=1e-6, atol=1e-6)

    return run_checks("corpus_bleu", func, cases, compare, points, seed,
                      forbid=("nltk", "sacrebleu", "torchtext", "torchmetrics"))


# --------------------------------------------- doubly stochastic attention: the penalty's gradient
def _coverage_reference(scores: np.ndarray, lam: float):
    e = torch.tensor(scores, dtype=torch.float64, requires_grad=True)
    coverage = torch.softmax(e, dim=1).sum(0)
    penalty = lam * ((1 - coverage) ** 2).sum()
    penalty.backward()
    return np.array(penalty.item()), e.grad.numpy()


def check_coverage_penalty(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(scores (T, L), lam) -> (penalty, d_scores (T, L))` of lam sum_i (1 - sum_t a_ti)^2."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(6):
        T, L = int(rng.integers(1, 10)), int(rng.integers(2, 17))
        scores, lam = rng.normal(size=(T, L)) * 2, round(float(rng.uniform(0.1, 2.0)), 6)
        cases.append(Case((scores.copy(), lam), _coverage_reference(scores, lam),
                          f"T={T} steps, L={L} cells, lam={lam}"))

    def compare(got, expected):
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return f"expected a pair (penalty, d_scores), got {type(got).__name__}"
        for g, e, name in zip(got, expected, ("penalty", "d_scores")):
            problem = compare_arrays(g, e, what=name, rtol=1e-6, atol=1e-9)
            if problem:
                return problem
        return None

    return run_checks("coverage_penalty", func, cases, compare, points, seed,
                      forbid=("torch.autograd", "torch.func"))


# ---------------------------------------- experiment: what BLEU rewards on captions of scenes
_COLOUR_ORDER = ("red", "green", "blue", "yellow")
_OPPOSITE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}
BLIND_SPOT_KINDS = ("converse", "colour", "relation", "swap")


def _blind_spot_scores(objects, captions) -> dict:
    """{kind: (BLEU against the first captions, BLEU against both)} of each altered caption set."""
    import sacrebleu

    altered = {kind: [] for kind in BLIND_SPOT_KINDS}
    for ((c1, s1), (c2, s2), rel), caps in zip(objects, captions):
        altered["converse"].append(caps[1])
        nxt = _COLOUR_ORDER[(_COLOUR_ORDER.index(c1) + 1) % len(_COLOUR_ORDER)]
        altered["colour"].append(f"a {nxt} {s1} {rel} a {c2} {s2}")
        altered["relation"].append(f"a {c1} {s1} {_OPPOSITE[rel]} a {c2} {s2}")
        altered["swap"].append(f"a {c2} {s2} {rel} a {c1} {s1}")
    first, second = [c[0] for c in captions], [c[1] for c in captions]
    return {kind: (sacrebleu.corpus_bleu(hyps, [first], tokenize="none").score,
                   sacrebleu.corpus_bleu(hyps, [first, second], tokenize="none").score)
            for kind, hyps in altered.items()}


def check_bleu_blind_spots(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(objects, captions) -> {kind: (BLEU with one reference, with both)}` for the
    altered captions of fresh scenes, re-measured here with sacrebleu."""
    from .. import transduction

    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(3):
        n = int(rng.integers(8, 40))
        _, scenes = transduction.scenes(1, n, seed=int(rng.integers(2, 2**31)))
        objects = [((str(a[0]), str(a[1])), (str(b[0]), str(b[1])), str(r)) for a, b, r in scenes.objects]
        captions = [[str(c) for c in caps] for caps in scenes.captions]
        cases.append(Case((objects, captions), _blind_spot_scores(objects, captions),
                          f"{n} fresh scenes"))

    def compare(got, expected):
        if not isinstance(got, dict):
            return f"expected a dict {{kind: (one reference, both)}}, got {type(got).__name__}"
        for kind, pair in expected.items():
            if kind not in got:
                return f"the result has no entry {kind!r}"
            problem = compare_arrays(got[kind], np.array(pair), what=f"entry {kind!r}", rtol=1e-6, atol=1e-6)
            if problem:
                return problem
        return None

    return run_checks("bleu_blind_spots", func, cases, compare, points, seed,
                      forbid=("nltk", "torchtext", "torchmetrics"))
