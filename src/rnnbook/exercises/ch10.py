"""Checkers for chapter 10, Attention over images: digit strips and captions."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .. import seq2seq as _s2s

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
    for case in cases:
        case.expected = _s2s.add_coordinates(torch.from_numpy(case.args[0])).numpy()

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
