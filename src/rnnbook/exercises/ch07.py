"""Checkers for chapter 7, Language models.

The references are written here, in a few lines each, rather than taken from the modules that
train the chapter's models; `tests/test_exercises_ch07.py` checks each one against the package
(`rnnbook.ngram.KneserNey`, `rnnbook.charlm.CharLM.sample`'s arithmetic, `rnnbook.data`).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import data as _data
from ._guard import SOFTMAX_FUNCTIONS
from ._core import Case, Score, compare_arrays, fresh_seed, run_checks


# ---------------------------------------------------------------- references

def loss_summary(batch_losses, batch_sizes) -> tuple[float, float, float]:
    """(nats per token, bits per token, perplexity) of batches given their mean losses and sizes."""
    losses = np.asarray(batch_losses, dtype=np.float64)
    sizes = np.asarray(batch_sizes, dtype=np.float64)
    nats = float((losses * sizes).sum() / sizes.sum())
    return nats, nats / np.log(2), float(np.exp(nats))


def kn_bigram_matrix(text: str, discount: float) -> np.ndarray:
    """P[a, b] = p(b | a) of the interpolated Kneser-Ney bigram model of `text`, one discount."""
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = np.array([index[c] for c in text])
    V = len(chars)
    counts = np.zeros((V, V))
    np.add.at(counts, (ids[:-1], ids[1:]), 1)
    # continuation count of b: distinct characters seen just before it, the text start counting
    continuation = (counts > 0).sum(0).astype(float)
    continuation[ids[0]] += 1
    p_cont = continuation / continuation.sum()
    totals = counts.sum(1, keepdims=True)
    types = (counts > 0).sum(1, keepdims=True)
    safe = np.where(totals > 0, totals, 1.0)
    kn = (np.maximum(counts - discount, 0) + discount * types * p_cont[None, :]) / safe
    return np.where(totals > 0, kn, p_cont[None, :])


def sampling_distribution(logits, temperature: float, top_k: int | None) -> np.ndarray:
    """Probabilities of the next token after dividing logits by `temperature` and keeping the top k."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    if top_k is not None and top_k < z.size:
        threshold = np.sort(z)[-top_k]
        z = np.where(z >= threshold, z, -np.inf)
    p = np.exp(z - z.max())
    return p / p.sum()


def stream_batches(ids, batch: int, seq_len: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (inputs, targets) windows of a long stream: `data.batchify` then `data.bptt_batches`."""
    return list(_data.bptt_batches(_data.batchify(np.asarray(ids), batch), seq_len))


# ---------------------------------------------------------------- checkers

def _number_triple(got, expected):
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        return f"expected a tuple (nats, bits, perplexity), got {type(got).__name__}"
    for value, want, what in zip(got, expected, ("nats per token", "bits per token",
                                                 "perplexity")):
        try:
            value = float(np.asarray(value, dtype=np.float64).reshape(()))
        except Exception:  # noqa: BLE001 - a reader may return anything
            return f"the {what} is not one number (got {type(value).__name__})"
        problem = compare_arrays(np.array(value), np.array(want), what=what, rtol=1e-9)
        if problem:
            return problem
    return None


def check_loss_summary(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(batch_losses, batch_sizes) -> (nats, bits, perplexity)` over a whole corpus."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((np.array([np.log(4.0)] * 3), np.array([10, 10, 10])), None,
                  "every batch at log 4 nats (a uniform guess among 4 tokens)"),
             Case((np.array([1.0, 3.0]), np.array([90, 10])), None,
                  "two batches of 90 and 10 tokens with mean losses 1 and 3")]
    for _ in range(4):
        n = int(rng.integers(2, 12))
        losses = rng.uniform(0.5, 6.0, n)
        sizes = rng.integers(1, 500, n)
        cases.append(Case((losses, sizes), None, f"{n} batches of random sizes"))
    for case in cases:
        case.expected = loss_summary(*case.args)
        case.args = tuple(a.copy() for a in case.args)
    return run_checks("loss_summary", func, cases, _number_triple, points, seed)


def _random_text(rng: np.random.Generator) -> str:
    """A short text from a random Markov chain over a few letters, so that bigrams repeat."""
    V = int(rng.integers(3, 7))
    letters = "abcdefg"[:V]
    trans = rng.dirichlet(np.full(V, 0.4), size=V)
    n = int(rng.integers(12, 80))
    s = [int(rng.integers(V))]
    for _ in range(n - 1):
        s.append(int(rng.choice(V, p=trans[s[-1]])))
    return "".join(letters[i] for i in s)


def check_kn_bigram(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(text, discount) -> P` (V, V), the interpolated Kneser-Ney bigram of a toy text."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    fixed = [("abracadabra", 0.75, "'abracadabra', D = 0.75"),
             ("aab", 0.5, "'aab', D = 0.5 ('b' is never followed by anything)"),
             ("abab", 1.0, "'abab', D = 1")]
    cases = [Case((t, d), kn_bigram_matrix(t, d), what) for t, d, what in fixed]
    for _ in range(3):
        text, d = _random_text(rng), float(rng.uniform(0.1, 1.0))
        cases.append(Case((text, d), kn_bigram_matrix(text, d),
                          f"{text!r}, D = {d:.3f}"))

    def compare(got, expected):
        return compare_arrays(got, expected, what="matrix P[a, b] = p(b | a)", rtol=1e-9,
                              atol=1e-12)

    return run_checks("kn_bigram", func, cases, compare, points, seed)


def check_sampling_distribution(func: Callable, points: float = 1.0,
                                seed: int | None = None) -> Score:
    """Check `func(logits, temperature, top_k) -> p` (V,): temperature, then top-k, then softmax."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((np.array([2.0, 1.0, 0.0, -1.0]), 1.0, None), None,
                  "logits [2, 1, 0, -1], temperature 1, no top-k"),
             Case((np.array([2.0, 1.0, 0.0, -1.0]), 0.5, 2), None,
                  "logits [2, 1, 0, -1], temperature 0.5, top_k = 2")]
    for temperature, top_k in [(float(rng.uniform(0.2, 0.9)), None),
                               (float(rng.uniform(1.1, 3.0)), None),
                               (float(rng.uniform(0.3, 2.0)), int(rng.integers(1, 5)))]:
        V = int(rng.integers(5, 40))
        logits = rng.normal(0, 3, V)
        cases.append(Case((logits, temperature, top_k), None,
                          f"{V} random logits, temperature {temperature:.2f}, top_k {top_k}"))
    V = int(rng.integers(5, 20))
    cases.append(Case((rng.normal(0, 1, V) + 900.0, 0.5, None), None,
                      f"{V} logits around 900 (exp overflows unless the maximum is subtracted)"))
    for case in cases:
        case.expected = sampling_distribution(*case.args)
        case.args = (case.args[0].copy(),) + case.args[1:]

    def compare(got, expected):
        return compare_arrays(got, expected, what="probability vector", rtol=1e-7, atol=1e-12)

    return run_checks("sampling_distribution", func, cases, compare, points, seed,
                      forbid=SOFTMAX_FUNCTIONS)


def check_stream_batches(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(ids, batch, seq_len) -> [(x, y), ...]`, windows (T, B) of a stream for stateful BPTT."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    sizes = [(np.arange(12), 2, 3, "ids 0..11, batch 2, seq_len 3"),
             (np.arange(23), 3, 4, "ids 0..22, batch 3, seq_len 4 (a tail is dropped)")]
    for _ in range(4):
        n, b, t = int(rng.integers(20, 300)), int(rng.integers(1, 8)), int(rng.integers(2, 40))
        n = max(n, 3 * b)
        sizes.append((rng.integers(0, 50, n), b, t, f"{n} random ids, batch {b}, seq_len {t}"))
    cases = [Case((ids.copy(), b, t), stream_batches(ids, b, t), what)
             for ids, b, t, what in sizes]

    def compare(got, expected):
        try:
            got = list(got)
        except Exception:  # noqa: BLE001
            return f"expected a list of (x, y) pairs, got {type(got).__name__}"
        if len(got) != len(expected):
            return f"got {len(got)} windows, expected {len(expected)}"
        for i, (pair, (x, y)) in enumerate(zip(got, expected)):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                return f"window {i} is not an (x, y) pair"
            problem = (compare_arrays(pair[0], x, what=f"inputs x of window {i}")
                       or compare_arrays(pair[1], y, what=f"targets y of window {i}"))
            if problem:
                return problem
        return None

    return run_checks("stream_batches", func, cases, compare, points, seed)
