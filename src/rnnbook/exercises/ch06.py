"""Checkers for chapter 6, Deeper and wider recurrence: bidirectional layers, highway layers, gating."""
from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np
import torch

from .. import cells as _cells
from .. import runtime as _runtime
from ._core import Case, Score, compare_arrays, fresh_seed, run_checks


def _direction(module: torch.nn.Module, suffix: str) -> _cells.Recurrent:
    """A one-direction rnnbook layer holding the weights of one direction of a torch layer."""
    single = type(module)(module.input_size, module.hidden_size, dtype=torch.float64)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(single, f"{name}_l0").copy_(getattr(module, f"{name}_l0{suffix}"))
    return _cells.Recurrent.from_torch(single)


def check_bidirectional(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(forward_layer, backward_layer, x) -> (T, B, 2H)` against torch's bidirectional layers."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    cases = []
    for kind in (torch.nn.GRU, torch.nn.LSTM, torch.nn.RNN, torch.nn.GRU):
        T, B, D, H = (int(v) for v in rng.integers(1, 8, size=4))
        T += 1
        module = kind(D, H, bidirectional=True, dtype=torch.float64)
        x = torch.randn(T, B, D, dtype=torch.float64)
        with torch.no_grad():
            expected = module(x)[0].numpy()
        cases.append(Case((_direction(module, ""), _direction(module, "_reverse"), x), expected,
                          f"a {kind.__name__} pair, T={T}, B={B}, D={D}, H={H}"))

    def compare(got, expected):
        return compare_arrays(got, expected, what="bidirectional output", rtol=1e-9, atol=1e-12)

    return run_checks("bidirectional", func, cases, compare, points, seed)


def _highway(x, W_h, b_h, W_t, b_t):
    transform = 1 / (1 + np.exp(-(x @ W_t.T + b_t)))
    return transform * np.maximum(x @ W_h.T + b_h, 0) + (1 - transform) * x


def check_highway_layer(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(x, W_h, b_h, W_t, b_t) -> (N, D)`: y = T * relu(x W_h^T + b_h) + (1 - T) * x."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    D = 3
    cases = [Case((rng.normal(size=(2, D)), rng.normal(size=(D, D)), rng.normal(size=D), np.zeros((D, D)),
                   np.full(D, -40.0)), None, "a transform gate shut (T = 0): the input must pass unchanged")]
    for _ in range(5):
        N, D = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        cases.append(Case((rng.normal(size=(N, D)), rng.normal(size=(D, D)), rng.normal(size=D),
                           rng.normal(size=(D, D)), rng.normal(size=D)), None, f"N={N}, D={D}"))
    for case in cases:
        case.expected = _highway(*case.args)
        case.args = tuple(a.copy() for a in case.args)

    def compare(got, expected):
        return compare_arrays(got, expected, what="highway output", rtol=1e-9, atol=1e-12)

    return run_checks("highway_layer", func, cases, compare, points, seed)


def _mixture(expert_outputs, gate_logits):
    z = gate_logits - gate_logits.max(axis=1, keepdims=True)
    gates = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return np.einsum("nk,nkd->nd", gates, expert_outputs)


def check_mixture_output(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(expert_outputs (N, K, D), gate_logits (N, K)) -> (N, D)`, the softmax-gated mixture."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((np.array([[[1.0], [3.0]]]), np.zeros((1, 2))), None, "two experts, equal gates: the mean")]
    for _ in range(4):
        N, K, D = (int(v) for v in rng.integers(1, 6, size=3))
        cases.append(Case((rng.normal(size=(N, K, D)), rng.normal(size=(N, K)) * 2), None, f"N={N}, K={K}, D={D}"))
    cases.append(Case((rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 4)) * 50 + 800), None,
                      "very large gate logits (a naive softmax overflows)"))
    for case in cases:
        case.expected = _mixture(*case.args)
        case.args = tuple(a.copy() for a in case.args)

    def compare(got, expected):
        return compare_arrays(got, expected, what="mixture output", rtol=1e-9, atol=1e-12)

    return run_checks("mixture_output", func, cases, compare, points, seed)


def _reverse_padded(x, lengths):
    out = x.copy()
    for b, n in enumerate(lengths):
        out[:n, b] = x[:n, b][::-1]
    return out


def check_reverse_padded(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(x (T, B, F), lengths (B,)) -> (T, B, F)`, each sequence reversed within its length."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((np.arange(6.0).reshape(3, 2, 1), np.array([3, 3])), None, "no padding: a plain time reversal")]
    for _ in range(4):
        T, B, F = int(rng.integers(2, 9)), int(rng.integers(1, 6)), int(rng.integers(1, 4))
        lengths = rng.integers(1, T + 1, size=B)
        cases.append(Case((rng.normal(size=(T, B, F)), lengths), None, f"T={T}, lengths {lengths.tolist()}"))
    cases.append(Case((rng.normal(size=(5, 3, 2)), np.array([1, 5, 2])), None, "a sequence of length 1"))
    for case in cases:
        case.expected = _reverse_padded(*case.args)
        case.args = tuple(a.copy() for a in case.args)

    def compare(got, expected):
        return compare_arrays(got, expected, what="reversed batch", rtol=1e-12, atol=0)

    return run_checks("reverse_padded", func, cases, compare, points, seed)


# ------------------------------------------------------------------ CTC (section "Reading without alignment")

# An answer that hands the work to the course's own CTC code learns nothing; the checkers refuse
# one that names it. (Code can always get round a check made in its own process; this one only
# stops the obvious shortcut, and the clean-room grader runs the same comparisons.)
_CTC_NAMES = {"ctc", "ctc_loss", "ctc_forward", "ctc_backward", "ctc_posteriors", "collapse",
              "greedy_decode", "prefix_beam_search", "ctc_strips", "min_input_length",
              "extend_with_blanks", "count_alignments", "ch06", "_count_alignments", "_collapse",
              "_forward_table"}


def _names_used(func: Callable) -> set[str]:
    """Global and attribute names a Python function's code (and its nested code) refers to."""
    code, seen, names = getattr(func, "__code__", None), [], set()
    if code is None:
        return names
    seen.append(code)
    while seen:
        c = seen.pop()
        names.update(c.co_names + c.co_freevars)
        seen.extend(k for k in c.co_consts if hasattr(k, "co_names"))
    return names


# torch's own CTC, which would compute the answer (rnnbook itself is refused by default)
_TORCH_CTC = ("torch.nn.functional.ctc_loss", "torch.ctc_loss")


def _refuse_course_ctc(func: Callable, own_name: str) -> Callable:
    """`func`, or a stand-in raising a clear message when the answer is, or names, rnnbook.ctc code."""
    import types

    def from_course(obj) -> bool:
        name = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", "")
        return isinstance(name, str) and name.startswith(("rnnbook.ctc", "rnnbook.exercises"))

    names = _names_used(func)
    bound = dict(getattr(func, "__globals__", {}))
    code = getattr(func, "__code__", None)
    for name, cell in zip(code.co_freevars if code else (), getattr(func, "__closure__", None) or ()):
        with contextlib.suppress(ValueError):  # an empty cell
            bound[name] = cell.cell_contents
    used = (names & _CTC_NAMES) - {own_name}
    calls_course = from_course(func) or any(from_course(bound[n]) for n in names & set(bound)
                                            if n in _CTC_NAMES or n == own_name)
    if not calls_course and not ("rnnbook" in names and used):
        return func

    def refused(*args, **kwargs):
        raise RuntimeError("the answer uses the course's CTC code (rnnbook.ctc); write it yourself "
                           "with plain Python or NumPy")
    return refused


def _count_alignments(labels, T):
    ext = [0]
    for v in labels:
        ext += [int(v), 0]
    S = len(ext)
    alpha = [1] + [1 if S > 1 else 0] + [0] * (S - 2) if S > 1 else [1]
    for _ in range(1, T):
        alpha = [alpha[s] + (alpha[s - 1] if s else 0)
                 + (alpha[s - 2] if s >= 2 and ext[s] != 0 and ext[s] != ext[s - 2] else 0)
                 for s in range(S)]
    return alpha[-1] + (alpha[-2] if S > 1 else 0)


def check_count_alignments(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(labels, T) -> int`: how many length-T CTC alignments collapse to `labels`."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case(([1, 1, 2], 5), None, "the labels a a b in T = 5 steps (the written part)"),
             Case(([3], 1), None, "one label in one step"),
             Case(([2, 2], 3), None, "a repeated label at its minimum length T = 3"),
             Case(([1, 2], 1), None, "two labels in one step: impossible"),
             Case(([], 4), None, "the empty labelling: only the all-blank path")]
    for _ in range(4):
        L = int(rng.integers(1, 5))
        labels = [int(v) for v in rng.integers(1, 3, size=L)]
        cases.append(Case((labels, int(rng.integers(L, L + 7))), None, f"labels {labels}"))
    for case in cases:
        case.expected = _count_alignments(*case.args)
        case.description += f", T = {case.args[1]}"
        case.args = (list(case.args[0]), case.args[1])

    def compare(got, expected):
        if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, np.integer)):
            return f"the count should be an integer, got {type(got).__name__} {got!r:.60}"
        return None if int(got) == expected else f"got {int(got)}, expected {expected}"

    return run_checks("count_alignments", _refuse_course_ctc(func, "count_alignments"), cases,
                      compare, points, seed, forbid=_TORCH_CTC)


def _collapse(path, blank):
    out, prev = [], None
    for p in path:
        if p != prev and p != blank:
            out.append(int(p))
        prev = p
    return out


def check_collapse(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(path, blank) -> list`: merge runs of equal classes, then drop the blanks."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case(([0, 1, 1, 0, 1, 2, 2, 0], 0), None, "a repeat kept apart by a blank"),
             Case(([3, 3, 3], 0), None, "one long run"),
             Case(([0, 0, 0], 0), None, "only blanks: the empty labelling"),
             Case(([2, 1, 1, 2, 0], 2), None, "blank = 2, not 0")]
    for _ in range(4):
        C, T = int(rng.integers(2, 5)), int(rng.integers(1, 15))
        blank = int(rng.integers(0, C))
        path = [int(v) for v in rng.integers(0, C, size=T)]
        cases.append(Case((path, blank), None, f"path {path}, blank {blank}"))
    for case in cases:
        case.expected = _collapse(*case.args)
        case.args = (list(case.args[0]), case.args[1])

    def compare(got, expected):
        try:
            got = [int(v) for v in got]
        except Exception:  # noqa: BLE001 - a reader may return anything
            return f"expected a list of class ids, got {type(got).__name__}"
        if got == expected:
            return None
        # only the first difference: the whole expected list would be the answer
        first = next((i for i, (g, e) in enumerate(zip(got, expected)) if g != e),
                     min(len(got), len(expected)))
        if first < min(len(got), len(expected)):
            return f"entry {first} is {got[first]}, expected {expected[first]}"
        return f"got {len(got)} labels, expected {len(expected)}"

    return run_checks("collapse", _refuse_course_ctc(func, "collapse"), cases, compare, points,
                      seed, forbid=_TORCH_CTC)


def _forward_table(probs, labels, blank):
    ext = [blank]
    for v in labels:
        ext += [int(v), blank]
    T, S = probs.shape[0], len(ext)
    alpha = np.zeros((T, S))
    alpha[0, 0] = probs[0, ext[0]]
    if S > 1:
        alpha[0, 1] = probs[0, ext[1]]
    for t in range(1, T):
        for s in range(S):
            a = alpha[t - 1, s] + (alpha[t - 1, s - 1] if s else 0.0)
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                a += alpha[t - 1, s - 2]
            alpha[t, s] = a * probs[t, ext[s]]
    return alpha


def check_ctc_forward(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(probs (T, C), labels, blank) -> alpha (T, 2L + 1)`, the CTC forward table."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)

    def probs(T, C):
        p = rng.random((T, C)) + 0.05
        return p / p.sum(axis=1, keepdims=True)

    cases = [Case((probs(4, 3), [1, 1], 0), None, "a repeated label (no skip between the two)"),
             Case((probs(3, 3), [], 0), None, "the empty labelling"),
             Case((probs(5, 4), [2, 1, 3], 0), None, "three different labels")]
    for _ in range(3):
        C = int(rng.integers(3, 6))
        blank = int(rng.integers(0, C))
        others = [k for k in range(C) if k != blank]
        L = int(rng.integers(1, 4))
        labels = [int(v) for v in rng.choice(others, size=L)]
        T = L + sum(a == b for a, b in zip(labels, labels[1:])) + int(rng.integers(0, 4))
        cases.append(Case((probs(T, C), labels, blank), None, f"T={T}, labels {labels}, blank {blank}"))
    for case in cases:
        case.expected = _forward_table(*case.args)
        case.args = (case.args[0].copy(), list(case.args[1]), case.args[2])

    def compare(got, expected):
        return compare_arrays(got, expected, what="forward table", rtol=1e-9, atol=1e-12)

    return run_checks("ctc_forward_table", _refuse_course_ctc(func, "ctc_forward_table"), cases,
                      compare, points, seed, forbid=_TORCH_CTC)


# --- issue 19: an experiment on what reading the future buys

_TAG_STEPS = 10  # the length of the sequences the experiment's taggers read
_DIRECTION_CASES = _runtime.budget(2, 1)  # experiments the checker runs (each trains two taggers)


def _past_or_future(bits: torch.Tensor, shift: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (N, T, 1) and targets (N, T - 1 - shift): y_t = x_{t-1} if x_t = 1 else x_{t+shift},
    for the steps t = 1 .. T - 1 - shift whose future bit lies inside the sequence."""
    t = torch.arange(1, bits.shape[1] - shift)
    target = torch.where(bits[:, t] > 0.5, bits[:, t - 1], bits[:, t + shift])
    return bits[:, :, None], target


def _tagger_accuracy(gru_state: dict, head_state: dict, bidirectional: bool, shift: int,
                     seed: int) -> float:
    """The checker's own measurement of a returned tagger, on 2000 fresh sequences."""
    gru = torch.nn.GRU(1, 8, batch_first=True, bidirectional=bidirectional, dtype=torch.float64)
    head = torch.nn.Linear(16 if bidirectional else 8, 1, dtype=torch.float64)
    gru.load_state_dict({k: torch.as_tensor(v, dtype=torch.float64) for k, v in gru_state.items()})
    head.load_state_dict({k: torch.as_tensor(v, dtype=torch.float64) for k, v in head_state.items()})
    gen = torch.Generator().manual_seed(seed)
    x, y = _past_or_future(torch.randint(0, 2, (2000, _TAG_STEPS), generator=gen).double(), shift)
    with torch.no_grad():
        scores = head(gru(x)[0]).squeeze(-1)[:, 1:_TAG_STEPS - shift]
    return float(((scores > 0) == (y > 0.5)).double().mean())


def check_future_tagging(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(shift, seed) -> {"uni": (gru_state, head_state, acc), "bi": (...)}`: the
    experiment's two GRU taggers, re-measured by the checker on fresh sequences."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(_DIRECTION_CASES):
        shift, run_seed, check_seed = int(rng.integers(1, 3)), int(rng.integers(0, 2**31)), \
            int(rng.integers(0, 2**31))
        cases.append(Case((shift, run_seed), (shift, check_seed), f"shift {shift}, seed {run_seed}"))

    def compare(got, expected):
        shift, check_seed = expected
        if not isinstance(got, dict) or set(got) != {"uni", "bi"}:
            return "expected a dict with the keys 'uni' and 'bi'"
        measured = {}
        for name, bidirectional in (("uni", False), ("bi", True)):
            entry = got[name]
            if not isinstance(entry, (tuple, list)) or len(entry) != 3:
                return f"got[{name!r}] should be (gru.state_dict(), head.state_dict(), accuracy)"
            try:
                reported = float(entry[2])
                measured[name] = _tagger_accuracy(entry[0], entry[1], bidirectional, shift, check_seed)
            except (TypeError, ValueError, RuntimeError, KeyError, AttributeError) as exc:
                return f"the {name} tagger could not be rebuilt as the task says ({type(exc).__name__})"
            if abs(reported - measured[name]) > 0.03:
                return (f"you report {reported:.3f} for the {name} tagger; on fresh sequences it "
                        f"scores {measured[name]:.3f}")
        if not 0.68 <= measured["uni"] <= 0.82:
            return (f"the one-directional tagger scores {measured['uni']:.3f} on fresh sequences: "
                    "has it learned all that the past can tell it (and no more)?")
        if measured["bi"] < 0.9:
            return f"the bidirectional tagger scores only {measured['bi']:.3f} on fresh sequences"
        return None

    return run_checks("future_tagging", func, cases, compare, points, seed,
                      allow=("torch.nn.GRU", "torch.gru"))
