"""Chapter 6's checkers: full marks for a correct answer, 0 when not attempted, feedback otherwise."""
import math

import numpy as np
import torch

from rnnbook.exercises import ch06

from checker_contract import checker_contract


def bidirectional(forward_layer, backward_layer, x):
    out_f, _ = forward_layer(x)
    out_b, _ = backward_layer(torch.flip(x, dims=[0]))
    return torch.cat([out_f, torch.flip(out_b, dims=[0])], dim=2)


def highway_layer(x, W_h, b_h, W_t, b_t):
    t = 1 / (1 + np.exp(-(x @ W_t.T + b_t)))
    return t * np.maximum(x @ W_h.T + b_h, 0) + (1 - t) * x


def mixture_output(expert_outputs, gate_logits):
    z = gate_logits - gate_logits.max(axis=1, keepdims=True)
    g = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return (g[:, :, None] * expert_outputs).sum(axis=1)


def reverse_padded(x, lengths):
    out = x.copy()
    for b, n in enumerate(lengths):
        out[:n, b] = x[n - 1::-1, b]
    return out


def naive_mixture(expert_outputs, gate_logits):
    g = np.exp(gate_logits) / np.exp(gate_logits).sum(axis=1, keepdims=True)
    return (g[:, :, None] * expert_outputs).sum(axis=1)


CHECKERS = {
    "bidirectional": (ch06.check_bidirectional, bidirectional, {
        "backward outputs not re-reversed": lambda f, b, x: torch.cat(
            [f(x)[0], b(torch.flip(x, dims=[0]))[0]], dim=2),
        "backward layer reads forwards": lambda f, b, x: torch.cat([f(x)[0], b(x)[0]], dim=2),
        "only the forward half": lambda f, b, x: f(x)[0],
    }),
    "highway_layer": (ch06.check_highway_layer, highway_layer, {
        "gates swapped": lambda x, Wh, bh, Wt, bt: highway_layer(x, Wh, bh, Wt, bt) * 0 + (
            (1 - 1 / (1 + np.exp(-(x @ Wt.T + bt)))) * np.maximum(x @ Wh.T + bh, 0)
            + 1 / (1 + np.exp(-(x @ Wt.T + bt))) * x),
        "residual instead": lambda x, Wh, bh, Wt, bt: np.maximum(x @ Wh.T + bh, 0) + x,
        "no carry": lambda x, Wh, bh, Wt, bt: 1 / (1 + np.exp(-(x @ Wt.T + bt))) * np.maximum(x @ Wh.T + bh, 0),
    }),
    "mixture_output": (ch06.check_mixture_output, mixture_output, {
        "naive softmax": naive_mixture,
        "average of experts": lambda e, g: e.mean(axis=1),
        "best expert only": lambda e, g: e[np.arange(len(g)), g.argmax(axis=1)],
    }),
    "reverse_padded": (ch06.check_reverse_padded, reverse_padded, {
        "flips the padding too": lambda x, lengths: x[::-1].copy(),
        "unchanged": lambda x, lengths: x.copy(),
        "wrong shape": lambda x, lengths: reverse_padded(x, lengths)[:, :, 0],
    }),
}


(test_the_reference_earns_full_marks_on_fresh_inputs,
 test_an_unattempted_exercise_scores_zero_and_says_so,
 test_typical_wrong_answers_earn_less_and_get_feedback) = checker_contract(CHECKERS)


def test_a_naive_softmax_loses_only_the_overflow_case(capsys):
    with np.errstate(all="ignore"):
        score = ch06.check_mixture_output(naive_mixture, seed=7)
    assert 0 < score < 1 and "very large gate logits" in capsys.readouterr().out


# ------------------------------------------------------------------------------------ CTC
def count_alignments(labels, T):
    ext = [0]
    for v in labels:
        ext += [v, 0]
    alpha = [1] + [0] * (len(ext) - 1)
    if len(ext) > 1:
        alpha[1] = 1
    for _ in range(T - 1):
        alpha = [alpha[s] + (alpha[s - 1] if s else 0)
                 + (alpha[s - 2] if s > 1 and ext[s] != 0 and ext[s] != ext[s - 2] else 0)
                 for s in range(len(ext))]
    return alpha[-1] + (alpha[-2] if len(ext) > 1 else 0)


def collapse(path, blank):
    out = []
    for i, p in enumerate(path):
        if p != blank and (i == 0 or p != path[i - 1]):
            out.append(p)
    return out


def ctc_forward_table(probs, labels, blank):
    ext = [blank]
    for v in labels:
        ext += [v, blank]
    T, S = len(probs), len(ext)
    alpha = np.zeros((T, S))
    alpha[0, :2] = probs[0, ext[:2]]
    for t in range(1, T):
        for s in range(S):
            skip = s > 1 and ext[s] != blank and ext[s] != ext[s - 2]
            alpha[t, s] = probs[t, ext[s]] * alpha[t - 1, max(s - (2 if skip else 1), 0):s + 1].sum()
    return alpha


def _no_skip_rule(probs, labels, blank):
    ext = [blank]
    for v in labels:
        ext += [v, blank]
    alpha = np.zeros((len(probs), len(ext)))
    alpha[0, :2] = probs[0, ext[:2]]
    for t in range(1, len(probs)):
        for s in range(len(ext)):
            lo = s - 2 if s > 1 and ext[s] != blank else max(s - 1, 0)  # skips even between repeats
            alpha[t, s] = probs[t, ext[s]] * alpha[t - 1, lo:s + 1].sum()
    return alpha


def _brute_count(labels, T):
    import itertools
    return sum(collapse(list(p), 0) == list(labels) for p in itertools.product(range(3), repeat=T))


CTC_CHECKERS = {
    "count_alignments": (ch06.check_count_alignments, count_alignments, {
        "ignores repeats": lambda labels, T: math.comb(T + len(labels), 2 * len(labels)),
        "a float": lambda labels, T: float(count_alignments(labels, T)),
        "off by one step": lambda labels, T: count_alignments(labels, T + 1),
    }),
    "collapse": (ch06.check_collapse, collapse, {
        "drops blanks only": lambda path, blank: [p for p in path if p != blank],
        "merges only": lambda path, blank: [p for i, p in enumerate(path) if i == 0 or p != path[i - 1]],
        "drops blanks before merging": lambda path, blank: collapse([p for p in path if p != blank], -1),
        "blank fixed at 0": lambda path, blank: collapse(path, 0),
    }),
    "ctc_forward_table": (ch06.check_ctc_forward, ctc_forward_table, {
        "skips between repeats": _no_skip_rule,
        "never skips": lambda p, labels, blank: _no_skip_rule(p, labels, -1) * 0 + ctc_forward_table(
            p, [labels[0]] * len(labels) if labels else labels, blank),
        "transposed": lambda p, labels, blank: ctc_forward_table(p, labels, blank).T,
    }),
}

(test_ctc_reference_earns_full_marks_on_fresh_inputs,
 test_ctc_unattempted_exercise_scores_zero_and_says_so,
 test_ctc_typical_wrong_answers_earn_less_and_get_feedback) = checker_contract(CTC_CHECKERS)


def test_the_count_checkers_reference_matches_enumerating_every_path():
    for labels in ([], [1], [1, 1], [1, 2], [2, 2, 1]):
        for T in range(1, 7):
            assert ch06._count_alignments(labels, T) == _brute_count(labels, T)


def test_an_answer_that_calls_the_course_ctc_code_earns_nothing(capsys):
    from rnnbook import ctc

    def by_the_course(labels, T):
        return ctc.count_alignments(labels, T)

    assert ch06.check_count_alignments(by_the_course) == 0.0
    assert "rnnbook.ctc" in capsys.readouterr().out
    assert ch06.check_count_alignments(ctc.count_alignments) == 0.0
    assert ch06.check_collapse(lambda path, blank: ctc.collapse(path, blank)) == 0.0
    assert ch06.check_collapse(ctc.collapse) == 0.0
    assert ch06.check_count_alignments(lambda labels, T: ch06._count_alignments(labels, T)) == 0.0
    capsys.readouterr()


def test_the_written_parts_count_is_the_first_check(capsys):
    assert ch06._count_alignments([1, 1, 2], 5) == 7 and ch06._count_alignments([1, 2], 1) == 0


def test_the_chapters_answer_key_lists_exactly_the_alignments_of_a_a_b_in_five_steps():
    import itertools
    import json
    import re
    from pathlib import Path

    nb = json.loads((Path(__file__).resolve().parents[1] / "notebooks"
                     / "06_deep_bidirectional.ipynb").read_text())
    (key,) = ["".join(c["source"]) for c in nb["cells"]
              if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "ex-ctc-moves-answer"]
    listed = set(re.findall(r"(?<![∅ab])[∅ab]{5}(?![∅ab])", key))
    truth = {"".join("∅ab"[k] for k in p) for p in itertools.product(range(3), repeat=5)
             if collapse(list(p), 0) == [1, 1, 2]}
    assert listed == truth
    assert f"the count is {len(truth)}" in key
    assert re.search(r"a∅ab \(4 steps\)", key) and ch06._count_alignments([1, 1, 2], 4) == 1


# --- issue 19: the experiment on what reading the future buys
def compare_directions(shift, seed, *, steps=(60, 60), boost=0.0, T=10):
    gen, results = torch.Generator().manual_seed(seed), {}

    def sample(n):
        bits = torch.randint(0, 2, (n, T), generator=gen).double()
        t = torch.arange(1, T - shift)
        return bits[:, :, None], torch.where(bits[:, t] > 0.5, bits[:, t - 1], bits[:, t + shift])

    for (name, bi), n_steps in zip((("uni", False), ("bi", True)), steps):
        torch.manual_seed(seed)
        gru = torch.nn.GRU(1, 8, batch_first=True, bidirectional=bi, dtype=torch.float64)
        head = torch.nn.Linear(16 if bi else 8, 1, dtype=torch.float64)
        opt = torch.optim.Adam(list(gru.parameters()) + list(head.parameters()), lr=0.03)
        for _ in range(n_steps):
            x, y = sample(32)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                head(gru(x)[0]).squeeze(-1)[:, 1:T - shift], y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        x, y = sample(1000)
        with torch.no_grad():
            acc = float(((head(gru(x)[0]).squeeze(-1)[:, 1:T - shift] > 0) == (y > 0.5)).double().mean())
        results[name] = (gru.state_dict(), head.state_dict(), acc + boost)
    return results


EXPERIMENTS = {
    "future_tagging": (ch06.check_future_tagging, compare_directions, {
        "the one-directional tagger left untrained": lambda s, seed: compare_directions(s, seed, steps=(0, 60)),
        "the bidirectional tagger left untrained": lambda s, seed: compare_directions(s, seed, steps=(60, 0)),
        "accuracies inflated": lambda s, seed: compare_directions(s, seed, boost=0.1),
        "two one-directional taggers": lambda s, seed: {
            name: compare_directions(s, seed, steps=(60, 0))["uni"] for name in ("uni", "bi")},
        "a list instead of a dict": lambda s, seed: list(compare_directions(s, seed).values()),
    }),
}

(test_experiment_reference_earns_full_marks_on_fresh_inputs,
 test_experiment_unattempted_scores_zero_and_says_so,
 test_experiment_typical_wrong_answers_earn_less_and_get_feedback) = checker_contract(EXPERIMENTS, repeats=1)
