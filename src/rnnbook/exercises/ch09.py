"""Checkers for chapter 9, Encoder–decoder models and attention."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .. import seq2seq as _s2s
from ._core import Case, Score, compare_arrays, fresh_seed, run_checks


def _pair(got, expected, names, rtol=1e-6, dtype_kinds=(None, None)):
    if not isinstance(got, (tuple, list)) or len(got) != len(expected):
        return f"expected a tuple of {len(expected)} ({', '.join(names)}), got {type(got).__name__}"
    for g, e, name, kind in zip(got, expected, names, dtype_kinds):
        problem = compare_arrays(g, e, what=name, rtol=rtol, atol=1e-9, dtype_kind=kind)
        if problem:
            return problem
    return None


def check_additive_attention(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(q, M, W_q, W_k, v, mask) -> (weights (S,), context (H,))` (Bahdanau attention)."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(6):
        S, H, A = int(rng.integers(2, 12)), int(rng.integers(2, 9)), int(rng.integers(2, 7))
        q, M = rng.normal(size=H), rng.normal(size=(S, H))
        W_q, W_k, v = rng.normal(size=(A, H)), rng.normal(size=(A, H)), rng.normal(size=A)
        mask = np.ones(S, dtype=bool)
        if k >= 2:  # padding at the end, as in a batch of unequal lengths
            mask[int(rng.integers(1, S)):] = False
        # the checker's own reference: scores, then a softmax over the real positions only
        scores = np.tanh(W_q @ q + M @ W_k.T) @ v
        weights = np.where(mask, np.exp(scores - scores[mask].max()), 0.0)
        weights /= weights.sum()
        desc = f"S={S}, H={H}, A={A}, {int(mask.sum())} real positions"
        cases.append(Case((q, M, W_q, W_k, v, mask), (weights, weights @ M), desc))
    for case in cases:
        case.args = tuple(np.copy(a) for a in case.args)

    def compare(got, expected):
        return _pair(got, expected, ("attention weights", "context vector"))

    return run_checks("additive_attention", func, cases, compare, points, seed,
                      forbid=("torch.nn.functional.scaled_dot_product_attention",
                               "torch.nn.MultiheadAttention"))


def check_beam_step(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(scores (K,), log_probs (K, V), width) -> (parents, tokens, totals)`, best first."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(6):
        K, V = int(rng.integers(1, 5)), int(rng.integers(3, 9))
        width = int(rng.integers(1, min(K * V, 6) + 1))
        scores = -rng.exponential(2.0, size=K)
        logits = rng.normal(size=(K, V)) * 2
        log_probs = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        total = (scores[:, None] + log_probs).ravel()
        order = np.argsort(-total, kind="stable")[:width]  # the checker's own ranking
        cases.append(Case((scores.copy(), log_probs.copy(), width),
                          (order // V, order % V, total[order]), f"K={K} hypotheses, V={V}, width={width}"))

    def compare(got, expected):
        return _pair(got, expected, ("parent indices", "tokens", "total scores"), dtype_kinds=("iu", "iu", "f"))

    return run_checks("beam_step", func, cases, compare, points, seed)


def _random_decoder(rng, V, H):
    """A small numpy RNN decoder: step(token, h) -> (logits (V,), new h)."""
    E, W, U = rng.normal(size=(V, H)), rng.normal(size=(H, H)) / np.sqrt(H), rng.normal(size=(V, H)) * 2

    def step(token, h):
        h = np.tanh(E[int(token)] + W @ h)
        return U @ h, h

    return step


def _decode_loop(step, h, bos, targets, teacher_forcing):
    preds, prev = [], bos
    for y in targets:
        logits, h = step(prev, h)
        preds.append(int(np.argmax(logits)))
        prev = int(y) if teacher_forcing else preds[-1]
    return np.array(preds, dtype=np.int64)


def check_decode_loop(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(step, h0, bos, targets, teacher_forcing) -> argmax predictions (len(targets),)`."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(6):
        V, H, T = int(rng.integers(4, 9)), int(rng.integers(3, 7)), int(rng.integers(3, 9))
        step = _random_decoder(rng, V, H)
        h0, targets = rng.normal(size=H), rng.integers(1, V, size=T)
        tf = k % 2 == 0
        expected = _decode_loop(step, h0.copy(), 0, targets, tf)
        if not tf:  # free running must not peek at the targets: make them differ from the predictions
            targets = (expected + 1) % V
        cases.append(Case((step, h0.copy(), 0, targets.copy(), tf), expected,
                          f"V={V}, T={T}, teacher_forcing={tf}"))

    def compare(got, expected):
        return compare_arrays(got, expected, what="predictions", dtype_kind="iu")

    return run_checks("decode_loop", func, cases, compare, points, seed)


# ------------------------------------------------------------------ full beam search (issue 19)
def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max()
    return x - np.log(np.exp(x).sum())


def _random_lm(rng: np.random.Generator, V: int, H: int, eos: int, eos_bias: float):
    """A small numpy RNN language model: next_log_probs(prefix) -> (V,) log-probabilities."""
    E, W = rng.normal(size=(V, H)), rng.normal(size=(H, H)) / np.sqrt(H)
    U, h0 = rng.normal(size=(V, H)) * 1.5, rng.normal(size=H)
    bias = np.zeros(V)
    bias[eos] = eos_bias  # how keen the model is to stop

    def next_log_probs(prefix):
        h = np.tanh(h0)
        for tok in prefix:
            h = np.tanh(E[int(tok)] + W @ h)
        return _log_softmax(U @ h + bias)

    return next_log_probs


def _normalised(total: float, length: int, alpha: float) -> float:
    return total / length ** alpha


def _beam(next_log_probs, eos, width, max_len, alpha):
    """The checker's own beam search (the rules the exercise states)."""
    live, finished = [((), 0.0)], []
    for t in range(max_len):
        cands = [(prefix + (y,), s + float(lp)) for prefix, s in live
                 for y, lp in enumerate(next_log_probs(prefix))]
        cands.sort(key=lambda c: -c[1])
        live = []
        for seq, s in cands[: width - len(finished)]:
            if seq[-1] == eos or t == max_len - 1:
                finished.append((list(seq), _normalised(s, len(seq), alpha)))
            else:
                live.append((seq, s))
        if not live:
            break
    finished.sort(key=lambda pair: -pair[1])
    return finished[:width]


def _exhaustive(next_log_probs, eos, max_len, alpha):
    """Every output (ended by eos, or cut at max_len) with its normalised score, best first."""
    out, stack = [], [((), 0.0)]
    while stack:
        prefix, s = stack.pop()
        for y, lp in enumerate(next_log_probs(prefix)):
            seq, total = prefix + (y,), s + float(lp)
            if y == eos or len(seq) == max_len:
                out.append((list(seq), _normalised(total, len(seq), alpha)))
            else:
                stack.append((seq, total))
    out.sort(key=lambda pair: -pair[1])
    return out


def _compare_nbest(got, expected) -> str | None:
    if not isinstance(got, (list, tuple)):
        return f"expected a list of (tokens, score) pairs, got {type(got).__name__}"
    if len(got) != len(expected):
        return f"the list has {len(got)} hypotheses, expected {len(expected)}"
    for rank, (item, (tokens, score)) in enumerate(zip(got, expected)):
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            return f"hypothesis {rank} is not a (tokens, score) pair"
        try:
            toks = [int(t) for t in np.asarray(item[0]).reshape(-1)]
            value = float(item[1])
        except (TypeError, ValueError) as exc:
            return f"hypothesis {rank} could not be read ({exc})"
        if toks != tokens:
            return f"hypothesis {rank} (best first) has tokens {toks}, expected {tokens}"
        if not np.isclose(value, score, rtol=1e-6, atol=1e-9):
            return f"hypothesis {rank} ({toks}) has score {value!r}, expected {score!r}"
    return None


def check_beam_search(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(next_log_probs, eos, width, max_len, alpha) -> [(tokens, score)]`, best first."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(8):
        V, max_len = int(rng.integers(3, 6)), int(rng.integers(2, 6))
        eos, alpha = int(rng.integers(V)), float(rng.choice([0.0, 0.6, 1.0]))
        lm = _random_lm(rng, V, int(rng.integers(3, 6)), eos, float(rng.uniform(-1.0, 1.5)))
        if k < 2:  # width as large as the number of outputs: the search is exact
            V, max_len = 3, 3
            lm = _random_lm(rng, V, 4, eos % V, 0.5)
            eos = eos % V
            expected = _exhaustive(lm, eos, max_len, alpha)
            width = len(expected)
            desc = f"V={V}, max_len={max_len}, width={width} (every output fits: exact search)"
        else:
            width = int(rng.integers(1, 5))
            expected = _beam(lm, eos, width, max_len, alpha)
            desc = f"V={V}, eos={eos}, width={width}, max_len={max_len}, alpha={alpha}"
        cases.append(Case((lm, eos, width, max_len, alpha), expected, desc))
    return run_checks("beam_search", func, cases, _compare_nbest, points, seed)


# ------------------------------------------------------- attention forward and backward by hand
def _attention_grads(q, M, W_q, W_k, v, mask, d_context):
    """Gradients of d_context . context with respect to (q, M, W_q, W_k, v), by torch autograd."""
    leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (q, M, W_q, W_k, v)]
    tq, tM, tWq, tWk, tv = leaves
    e = torch.tanh(tq @ tWq.T + tM @ tWk.T) @ tv
    a = torch.softmax(e.masked_fill(~torch.from_numpy(mask), float("-inf")), dim=0)
    context = a @ tM
    (context * torch.from_numpy(d_context)).sum().backward()
    return tuple(x.grad.numpy() for x in leaves)


def check_attention_backward(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(q, M, W_q, W_k, v, mask, d_context) -> (d_q, d_M, d_W_q, d_W_k, d_v)`."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(6):
        S, H, A = int(rng.integers(1, 9)), int(rng.integers(2, 7)), int(rng.integers(2, 6))
        q, M = rng.normal(size=H), rng.normal(size=(S, H))
        W_q, W_k, v = rng.normal(size=(A, H)), rng.normal(size=(A, H)), rng.normal(size=A)
        mask = np.ones(S, dtype=bool)
        if k >= 2 and S > 1:  # padding at the end
            mask[int(rng.integers(1, S)):] = False
        d_context = rng.normal(size=H)
        args = (q, M, W_q, W_k, v, mask, d_context)
        cases.append(Case(tuple(np.copy(a) for a in args), _attention_grads(*args),
                          f"S={S} ({int(mask.sum())} real), H={H}, A={A}"))

    def compare(got, expected):
        return _pair(got, expected, ("d_q", "d_M", "d_W_q", "d_W_k", "d_v"), rtol=1e-6,
                     dtype_kinds=(None,) * 5)

    return run_checks("attention_backward", func, cases, compare, points, seed,
                      forbid=("torch.autograd", "torch.func"))


# --------------------------------------------------------------- greedy decoding: how far off?
def _greedy_on_joint(P: np.ndarray) -> float:
    """The probability of the sequence greedy decoding picks from a joint table (ties: lowest)."""
    prefix_mass, sub = 1.0, P
    for _ in range(P.ndim):
        marginal = sub.reshape(sub.shape[0], -1).sum(1)
        y = int(np.argmax(marginal))
        prefix_mass = float(marginal[y])
        sub = sub[y]
    return prefix_mass


def check_greedy_trap(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(V, T, eps) -> P (V,)*T`, a joint distribution on which greedy decoding is
    nearly as bad as it can be: p(best) / p(greedy) >= (1 - eps) times the largest ratio possible."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(5):
        V, T = int(rng.integers(2, 6)), int(rng.integers(2, 4))
        eps = round(float(rng.uniform(0.01, 0.2)), 6)
        cases.append(Case((V, T, eps), (V, T, eps), f"V={V}, T={T}, eps={eps}"))

    def compare(got, expected):
        V, T, eps = expected
        if got is None:
            return "the result is None: did the function forget to `return` it?"
        try:
            P = np.asarray(got.detach().cpu().numpy() if hasattr(got, "detach") else got, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            return f"the result could not be read as an array ({exc})"
        if P.shape != (V,) * T:
            return f"the table has shape {P.shape}, expected {(V,) * T} (one axis per position)"
        if not np.all(np.isfinite(P)) or (P < 0).any():
            return "the table has negative or non-finite entries: it is not a distribution"
        if not np.isclose(P.sum(), 1.0, atol=1e-9):
            return f"the table sums to {P.sum()!r}, not 1"
        greedy, best = _greedy_on_joint(P), float(P.max())
        if greedy <= 0:
            return "greedy decoding ends on a sequence of probability 0; make every step's choice well defined"
        ratio = best / greedy
        if ratio < (1 - eps) * V ** (T - 1) * (1 - 1e-9):
            return (f"greedy finds a sequence of probability {greedy:.4g} and the best has {best:.4g}: "
                    f"a ratio of {ratio:.4g}, smaller than what is asked for these V, T and eps")
        return None

    return run_checks("greedy_trap", func, cases, compare, points, seed)


# ------------------------------------------------ experiment: search errors or model errors?
def _g2p_tools():
    """The shipped pronunciation model on the CPU, as `pronounce` and `score` callables."""
    from .. import g2p

    model = g2p.load_pretrained("cpu")
    # Memoised, so that the checker's own measurement reuses the answer's decodes in the
    # notebook; the clean room hands the answer a copy, and measures afresh in its own process.
    decoded: dict = {}
    scored: dict = {}

    def pronounce(word, width):
        key = (str(word), int(width))
        if key not in decoded:
            decoded[key] = tuple(model.pronunciations(key[0], beam=key[1])[0][0])
        return list(decoded[key])

    def score(word, phonemes):
        key = (str(word), tuple(str(p) for p in phonemes))
        if key not in scored:
            with torch.no_grad():
                src, lengths = model._batch([key[0]])
                tgt_in, tgt_out = _s2s.make_targets([g2p.encode_pronunciation(list(key[1]))],
                                                    pad=g2p.TGT_PAD, bos=g2p.TGT_BOS, eos=g2p.TGT_EOS)
                logp = torch.log_softmax(model(src, lengths, tgt_in).double(), -1)
                scored[key] = float(logp[0].gather(1, tgt_out[0][:, None]).sum())
        return scored[key]

    return g2p, pronounce, score


# Test words on which a beam of width 1 misses a correct pronunciation that the shipped model
# prefers (found by decoding the whole test split once): search errors are rare with this
# model, so every case mixes a few of these into its fresh random words.
_SEARCH_ERROR_WORDS = (
    "alyssa", "angolan", "archived", "archly", "astronomy", "bhattacharjy", "camillo", "canchola",
    "caucuses", "ciesla", "coaxial", "corissa", "dudack", "facet's", "fasten", "fatiguing",
    "fierman", "fortes", "frontiers", "geodesic", "janitors", "kabart", "kamir", "ladybug",
    "lilacs", "magnesite", "mccallie", "mctigue", "mlotok", "navarette", "omniscient", "perera",
    "proclivity", "reissue", "reprisal", "resented", "rzasa", "safir", "scholastic", "sexuality",
    "shih", "should've", "sunglass", "tassone", "there're", "titleholder", "vancura", "yachting's")


def check_search_errors(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(pronounce, score, words, references, widths) -> {width: [label per word]}`,
    each label 'correct', 'search' or 'model', re-measured on the shipped pronunciation model."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    g2p, pronounce, score = _g2p_tools()
    test = g2p.load_split("test")
    pool = sorted(test)
    cases = []
    n_words = 12
    hard = [w for w in _SEARCH_ERROR_WORDS if w in test]
    for _ in range(2):
        words = [str(w) for w in rng.choice(hard, size=3, replace=False)]
        words += [pool[i] for i in rng.choice(len(pool), size=n_words, replace=False) if pool[i] not in words]
        words = [words[i] for i in rng.permutation(len(words))][:n_words]
        refs = {w: [list(p) for p in test[w]] for w in words}
        widths = [1, int(rng.choice([2, 3, 4, 6]))]
        # the expected labels are measured when compared (so the probe pass decodes nothing)
        cases.append(Case((pronounce, score, list(words), refs, list(widths)),
                          (list(words), refs, list(widths)), f"{n_words} test words, widths {widths}"))

    def measure(words, refs, widths):
        expected = {}
        for width in widths:
            labels = []
            for w in words:
                out = pronounce(w, width)
                if out in refs[w]:
                    labels.append("correct")
                else:
                    best_ref = max(score(w, r) for r in refs[w])
                    labels.append("search" if best_ref > score(w, out) else "model")
            expected[width] = labels
        return expected

    def compare(got, expected):
        if not isinstance(got, dict):
            return f"expected a dict {{width: labels}}, got {type(got).__name__}"
        for width, labels in measure(*expected).items():
            mine = got.get(width, got.get(str(width)))
            if not isinstance(mine, (list, tuple)) or len(mine) != len(labels):
                return f"width {width}: expected a list of {len(labels)} labels, got {type(mine).__name__}"
            for i, (g, e) in enumerate(zip(mine, labels)):
                if g not in ("correct", "search", "model"):
                    return f"width {width}, word {i}: {g!r} is not 'correct', 'search' or 'model'"
                if g != e:
                    return f"width {width}, word {i}: labelled {g!r}, but re-decoding says {e!r}"
        return None

    return run_checks("search_errors", func, cases, compare, points, seed)
