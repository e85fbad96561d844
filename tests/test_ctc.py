"""rnnbook.ctc against torch.nn.functional.ctc_loss (float64, fresh random cases) and brute force."""
import itertools
import math

import numpy as np
import pytest
import torch

from rnnbook import ctc


def _random_case(rng, T, B, C, S, min_len=False, repeats=False, empty=False):
    """Logits (T, B, C), padded targets, input and target lengths satisfying CTC's constraint."""
    logits = torch.tensor(rng.normal(size=(T, B, C)) * 2, dtype=torch.float64, requires_grad=True)
    targets = torch.zeros(B, S, dtype=torch.long)
    in_len, tgt_len = [], []
    for b in range(B):
        L = 0 if (empty and b == 0) else int(rng.integers(0, S + 1))
        lab = rng.integers(1, C, size=L)
        if repeats and L >= 2:
            lab[1] = lab[0]                                   # a repeated label
        while ctc.min_input_length(lab) > T:                  # keep it feasible
            lab = lab[:-1]
        L = len(lab)
        targets[b, :L] = torch.from_numpy(lab)
        need = ctc.min_input_length(lab)
        in_len.append(max(need, 1) if min_len and b % 2 == 0 else int(rng.integers(max(need, 1), T + 1)))
        tgt_len.append(L)
    return logits, targets, torch.tensor(in_len), torch.tensor(tgt_len)


def _both(logits, targets, in_len, tgt_len):
    lp = logits.log_softmax(2)
    ours = ctc.ctc_loss(lp, targets, in_len, tgt_len)
    (g_ours,) = torch.autograd.grad(ours.sum(), logits, retain_graph=True)
    theirs = torch.nn.functional.ctc_loss(lp, targets, in_len, tgt_len, reduction="none",
                                          zero_infinity=False)
    (g_theirs,) = torch.autograd.grad(theirs.sum(), logits)
    return ours.detach(), theirs.detach(), g_ours, g_theirs


@pytest.mark.parametrize("kind", ["plain", "repeats", "empty", "min_len", "mixed"])
def test_loss_and_gradient_equal_torch_to_1e_8_on_fresh_random_cases(kind):
    rng = np.random.default_rng()
    for _ in range(4):
        T, B, C, S = int(rng.integers(1, 15)), int(rng.integers(1, 6)), int(rng.integers(2, 7)), \
            int(rng.integers(1, 6))
        case = _random_case(rng, T, B, C, S, min_len=kind in ("min_len", "mixed"),
                            repeats=kind in ("repeats", "mixed"), empty=kind in ("empty", "mixed"))
        ours, theirs, g_ours, g_theirs = _both(*case)
        assert torch.isfinite(ours).all()
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-8)
        torch.testing.assert_close(g_ours, g_theirs, rtol=0, atol=1e-8)


def test_an_input_of_exactly_the_minimum_length_has_one_alignment():
    # "1 1 2" needs four steps: 1, blank, 1, 2 is its only alignment
    lp = torch.log_softmax(torch.randn(4, 1, 3, dtype=torch.float64), dim=2)
    nll = ctc.ctc_loss(lp, torch.tensor([[1, 1, 2]]), torch.tensor([4]), torch.tensor([3]))
    path = [1, 0, 1, 2]
    expected = -sum(lp[t, 0, k] for t, k in enumerate(path))
    assert abs(float(nll) - float(expected)) < 1e-12


def test_an_empty_target_costs_the_all_blank_path():
    lp = torch.log_softmax(torch.randn(5, 1, 4, dtype=torch.float64), dim=2)
    nll = ctc.ctc_loss(lp, torch.zeros(1, 2, dtype=torch.long), torch.tensor([5]), torch.tensor([0]))
    assert abs(float(nll) + float(lp[:, 0, 0].sum())) < 1e-12


def test_gradient_with_respect_to_log_probs_is_minus_the_posteriors():
    rng = np.random.default_rng(3)
    logits, targets, in_len, tgt_len = _random_case(rng, 9, 3, 5, 3, repeats=True)
    lp = logits.detach().log_softmax(2).requires_grad_()
    nll = ctc.ctc_loss(lp, targets, in_len, tgt_len)
    (g,) = torch.autograd.grad(nll.sum(), lp)
    post = ctc.ctc_posteriors(lp.detach(), targets, in_len, tgt_len)
    torch.testing.assert_close(g, -post, rtol=0, atol=1e-12)
    # every valid step is somewhere with probability one; padded steps nowhere
    steps = post.sum(2)
    valid = torch.arange(9)[:, None] < in_len[None, :]
    torch.testing.assert_close(steps[valid], torch.ones_like(steps[valid]), rtol=0, atol=1e-10)
    assert steps[~valid].abs().max() == 0 if (~valid).any() else True


def test_alpha_beta_give_the_same_likelihood_at_every_step():
    rng = np.random.default_rng(4)
    logits, targets, in_len, tgt_len = _random_case(rng, 8, 2, 4, 3)
    lp = logits.detach().log_softmax(2)
    ext = ctc.extend_with_blanks(targets)
    alpha = ctc.ctc_forward(lp, ext, in_len)
    beta = ctc.ctc_backward(lp, ext, in_len, tgt_len)
    nll = ctc.ctc_loss(lp, targets, in_len, tgt_len)
    for b in range(2):
        for t in range(int(in_len[b])):
            total = torch.logsumexp(alpha[t, b] + beta[t, b], dim=0)
            assert abs(float(total) + float(nll[b])) < 1e-10


def _brute_force(lp, blank=0):
    """log P(labelling) for every labelling, summing over all C^T alignments."""
    T, C = lp.shape
    scores = {}
    for path in itertools.product(range(C), repeat=T):
        key = tuple(ctc.collapse(path, blank))
        scores[key] = np.logaddexp(scores.get(key, -math.inf), sum(lp[t, k] for t, k in enumerate(path)))
    return scores


def test_loss_equals_brute_force_over_all_alignments():
    rng = np.random.default_rng()
    for labels in ([1], [1, 1], [2, 1], [1, 2, 2]):
        T, C = 5, 3
        lp = torch.log_softmax(torch.tensor(rng.normal(size=(T, 1, C))), dim=2)
        nll = ctc.ctc_loss(lp, torch.tensor([labels]), torch.tensor([T]), torch.tensor([len(labels)]))
        assert abs(float(nll) + _brute_force(lp[:, 0].numpy())[tuple(labels)]) < 1e-10


@pytest.mark.parametrize("blank", [0, 2])
def test_wide_prefix_beam_search_gives_the_exact_probability_of_every_labelling(blank):
    rng = np.random.default_rng()
    for _ in range(3):
        T, C = int(rng.integers(1, 6)), 3
        lp = torch.log_softmax(torch.tensor(rng.normal(size=(T, C)) * 2), dim=1).numpy()
        exact = _brute_force(lp, blank)
        beams = ctc.prefix_beam_search(lp, width=10_000, blank=blank)
        assert len(beams) == len(exact)
        for labels, score in beams:
            assert abs(score - exact[tuple(labels)]) < 1e-10
        best = max(exact, key=exact.get)
        assert tuple(beams[0][0]) == best
        assert [s for _, s in beams] == sorted((s for _, s in beams), reverse=True)


def test_narrow_prefix_beam_search_returns_at_most_width_exactly_scored_labellings():
    rng = np.random.default_rng(5)
    lp = torch.log_softmax(torch.tensor(rng.normal(size=(6, 3)) * 3), dim=1).numpy()
    exact = _brute_force(lp)
    beams = ctc.prefix_beam_search(lp, width=2)
    assert len(beams) <= 2
    for labels, score in beams:
        assert score <= exact[tuple(labels)] + 1e-12     # pruned alignments only lower a score


def test_beam_search_can_beat_the_best_path():
    # the best single path decodes to "" (blank, blank), but "1" has more probability in total
    p = np.array([[0.4, 0.3, 0.3], [0.4, 0.3, 0.3]])
    lp = np.log(p)
    assert ctc.greedy_decode(lp) == []
    exact = _brute_force(lp)
    assert exact[(1,)] > exact[()]
    assert ctc.prefix_beam_search(lp, width=3)[0][0] in ([1], [2])


def test_greedy_decode_collapses_repeats_and_drops_blanks_for_both_layouts():
    path = [0, 1, 1, 0, 1, 2, 2, 0]
    lp = np.full((len(path), 3), -5.0)
    lp[np.arange(len(path)), path] = 0.0
    assert ctc.greedy_decode(lp) == [1, 1, 2]
    assert ctc.greedy_decode(torch.tensor(lp)[:, None, :]) == [1, 1, 2]
    assert ctc.collapse(path) == [1, 1, 2]


def test_count_alignments_matches_enumeration():
    for labels in ([], [1], [1, 1], [1, 2], [2, 2, 1]):
        for T in range(1, 7):
            brute = sum(ctc.collapse(p) == labels for p in itertools.product(range(3), repeat=T))
            assert ctc.count_alignments(labels, T) == brute


def test_clear_errors_for_bad_inputs():
    lp = torch.log_softmax(torch.randn(3, 1, 4, dtype=torch.float64), dim=2)
    with pytest.raises(ValueError, match="needs at least 4 input steps"):
        ctc.ctc_loss(lp, torch.tensor([[1, 1, 2]]), torch.tensor([3]), torch.tensor([3]))
    with pytest.raises(ValueError, match="contains the blank"):
        ctc.ctc_loss(lp, torch.tensor([[1, 0]]), torch.tensor([3]), torch.tensor([2]))
    with pytest.raises(ValueError, match="B=1 lengths"):
        ctc.ctc_loss(lp, torch.tensor([[1]]), torch.tensor([3, 3]), torch.tensor([1]))
    with pytest.raises(ValueError, match="input_lengths must lie in"):
        ctc.ctc_loss(lp, torch.tensor([[1]]), torch.tensor([4]), torch.tensor([1]))
    with pytest.raises(ValueError, match="target_lengths must lie in"):
        ctc.ctc_loss(lp, torch.tensor([[1]]), torch.tensor([3]), torch.tensor([2]))
    with pytest.raises(ValueError, match="padded to shape"):
        ctc.ctc_loss(lp, torch.tensor([1, 2]), torch.tensor([3]), torch.tensor([2]))
    with pytest.raises(ValueError, match="outside 0..3"):
        ctc.ctc_loss(lp, torch.tensor([[7]]), torch.tensor([3]), torch.tensor([1]))
    with pytest.raises(ValueError, match=r"\(T, B, C\)"):
        ctc.ctc_loss(lp[:, 0], torch.tensor([[1]]), torch.tensor([3]), torch.tensor([1]))
    with pytest.raises(ValueError, match="ONE sequence"):
        ctc.greedy_decode(np.zeros((3, 2, 4)))
    with pytest.raises(ValueError, match="width must be a positive integer"):
        ctc.prefix_beam_search(np.zeros((3, 4)), width=0)


def test_float32_strips_as_long_as_chapter_6s_match_torch_and_stay_finite():
    # the chapter trains on float32 strips of up to ~70 columns with up to 5 digits
    rng = np.random.default_rng()
    T, B, C = 72, 8, 11
    logits = torch.tensor(rng.normal(size=(T, B, C)) * 4, dtype=torch.float32, requires_grad=True)
    lengths = torch.tensor(rng.integers(20, T + 1, size=B))
    labels = [rng.integers(1, C, size=int(rng.integers(1, 6))) for _ in range(B)]
    targets = torch.zeros(B, 5, dtype=torch.long)
    for b, lab in enumerate(labels):
        targets[b, : len(lab)] = torch.from_numpy(lab)
    tgt_len = torch.tensor([len(lab) for lab in labels])
    ours, theirs, g_ours, g_theirs = _both(logits, targets, lengths, tgt_len)
    assert torch.isfinite(ours).all() and torch.isfinite(g_ours).all()
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(g_ours, g_theirs, rtol=0, atol=2e-4)  # float32 rounding over T
