"""Checkers for chapter 7, Language models.

The references are written here, in a few lines each, rather than taken from the modules that
train the chapter's models; `tests/test_exercises_ch07.py` checks each one against the package
(`rnnbook.ngram.KneserNey`, `rnnbook.charlm.CharLM.sample`'s arithmetic, `rnnbook.data`).
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from .. import data as _data
from .. import runtime as _runtime
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


# ---------------------------------------------------------------- Kneser-Ney of order n

def _kn_tables(text: str, order: int) -> list[dict[str, int]]:
    """tables[k - 1][g] for every k-gram g of `text`: raw counts at the top order, continuation
    counts below it (distinct characters seen just before g, plus one if g starts the text)."""
    tables = []
    for k in range(1, order + 1):
        grams = [text[i:i + k] for i in range(len(text) - k + 1)]
        if k == order:
            table: dict[str, int] = {}
            for g in grams:
                table[g] = table.get(g, 0) + 1
        else:
            left: dict[str, set] = {g: set() for g in grams}
            for i in range(1, len(grams)):
                left[grams[i]].add(text[i - 1])
            table = {g: len(s) + (g == grams[0]) for g, s in left.items()}
        tables.append(table)
    return tables


def _kn_distributions(text: str, order: int, discount: float, contexts) -> np.ndarray:
    """(len(contexts), V) next-character distributions of interpolated Kneser-Ney of `order`."""
    alphabet = sorted(set(text))
    tables = _kn_tables(text, order)
    out = np.zeros((len(contexts), len(alphabet)))
    for row, context in enumerate(contexts):
        unigram = tables[0]
        p = np.array([unigram.get(w, 0) for w in alphabet], dtype=np.float64)
        p /= p.sum()
        for k in range(2, order + 1):
            h = context[len(context) - (k - 1):]
            c = np.array([tables[k - 1].get(h + w, 0) for w in alphabet], dtype=np.float64)
            if c.sum() == 0:  # a context never followed by anything: keep the lower order
                continue
            p = (np.maximum(c - discount, 0) + discount * (c > 0).sum() * p) / c.sum()
        out[row] = p
    return out


def _kn_case(rng: np.random.Generator) -> tuple:
    """A random text with an order, a discount and contexts (seen, unseen, the text's end)."""
    text = _random_text(rng)
    while len(text) < 12:
        text = _random_text(rng)
    order = int(rng.integers(1, 6))
    d = float(np.round(rng.uniform(0.1, 1.0), 3))
    alphabet = sorted(set(text))
    contexts = [text[len(text) - (order - 1):] if order > 1 else ""]   # never followed at the top
    for _ in range(3):
        i = int(rng.integers(0, len(text) - order + 2))
        contexts.append(text[i:i + order - 1])                          # a context seen in training
    for _ in range(2):
        contexts.append("".join(rng.choice(alphabet, order - 1)))      # often never seen
    return text, order, d, contexts


def _distribution_rows(got, expected, what: str) -> str | None:
    if got is None:
        return f"the {what} is None: did the function forget to `return` it?"
    try:
        arr = np.asarray(got.detach().cpu().numpy() if hasattr(got, "detach") else got,
                         dtype=np.float64)
    except Exception:  # noqa: BLE001 - a reader may return anything
        return f"the {what} could not be read as an array of numbers"
    if arr.shape == expected.shape and np.isfinite(arr).all():
        sums = arr.sum(axis=-1).reshape(-1)
        bad = np.flatnonzero(~np.isclose(sums, 1.0, rtol=0, atol=1e-9))
        if bad.size:
            where = f"row {int(bad[0])}" if arr.ndim > 1 else "it"
            return f"{where} sums to {sums[bad[0]]!r}: a distribution must sum to one"
    return None


def check_kn_distribution(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(text, order, discount, contexts) -> (len(contexts), V)` next-character
    distributions of interpolated Kneser-Ney of any order with one discount."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    fixed = [("abracadabra", 3, 0.75, ["ab", "ra", "ba", "ra"]),
             ("abracadabra", 1, 0.5, ["", ""]),
             ("aabab", 2, 1.0, ["b", "a"])]
    cases = [Case((t, n, d, list(c)), _kn_distributions(t, n, d, c),
                  f"{t!r}, order {n}, D = {d}, contexts {c}") for t, n, d, c in fixed]
    for _ in range(5):
        text, order, d, contexts = _kn_case(rng)
        cases.append(Case((text, order, d, list(contexts)), _kn_distributions(text, order, d, contexts),
                          f"{text!r}, order {order}, D = {d}, contexts {contexts}"))

    def compare(got, expected):
        what = "matrix of distributions (one row per context)"
        return (_distribution_rows(got, expected, what)
                or compare_arrays(got, expected, what=what, rtol=1e-9, atol=1e-12))

    return run_checks("kn_distribution", func, cases, compare, points, seed,
                      forbid=("nltk",))


# ---------------------------------------------------------------- the lower order, derived

def _kn_lower_order(counts, discount: float) -> np.ndarray:
    """The lower-order distribution that keeps every character's observed count (KN's choice)."""
    seen = np.asarray(counts) > 0
    return seen.sum(0) / seen.sum()


def _expected_counts(counts: np.ndarray, discount: float, lower: np.ndarray) -> np.ndarray:
    """sum_a c(a.) p(b | a) of the interpolated bigram built on `lower`: the model's count of b."""
    totals = counts.sum(1)
    types = (counts > 0).sum(1)
    used = totals > 0
    return (np.maximum(counts[used] - discount, 0).sum(0)
            + discount * types[used].sum() * lower)


def check_kn_lower_order(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(counts, discount) -> p (V,)`: with p as the lower order of an interpolated
    bigram, every character's expected count equals its observed count (and p sums to one)."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((np.array([[0, 2, 1], [1, 0, 0], [3, 1, 0]]), 0.75), None,
                  "counts [[0, 2, 1], [1, 0, 0], [3, 1, 0]], D = 0.75")]
    for k in range(5):
        V = int(rng.integers(3, 12))
        counts = rng.poisson(rng.uniform(0.3, 3.0), size=(V, V)) * (rng.random((V, V)) < 0.6)
        if k % 2 == 0:  # a context never followed, and a character never seen after anything
            counts[int(rng.integers(V))] = 0
            counts[:, int(rng.integers(V))] = 0
        counts[0, 0] += 1
        cases.append(Case((counts, float(np.round(rng.uniform(0.1, 1.0), 3))), None,
                          f"random {V} x {V} bigram counts"))
    for case in cases:
        case.expected = case.args[0].sum(0).astype(np.float64)
        case.args = (case.args[0].copy(), case.args[1])
    inputs = {id(case.expected): case.args for case in cases}

    def compare(got, observed):
        counts, d = inputs[id(observed)]
        problem = _distribution_rows(got, observed, "distribution p")
        if problem:
            return problem
        try:
            p = np.asarray(got, dtype=np.float64)
        except Exception:  # noqa: BLE001
            return "the distribution could not be read as an array of numbers"
        if p.shape != observed.shape:
            return f"the distribution has shape {p.shape}, expected shape {observed.shape}"
        if not np.isfinite(p).all() or (p < 0).any():
            return "the distribution has a negative or non-finite entry"
        model = _expected_counts(np.asarray(counts, dtype=np.float64), d, p)
        return compare_arrays(model, observed, rtol=1e-9, atol=1e-9,
                              what="model's expected count of each next character "
                                   "(sum over a of c(a.) p(b | a)), compared with the observed count")

    return run_checks("kn_lower_order", func, cases, compare, points, seed, forbid=("nltk",))


# ---------------------------------------------------------------- experiment: temperature

SAMPLE_PROMPT = "HAMLET\n"
_SWEEP_LENGTH = _runtime.budget(100, 40)  # characters a sample in the checker's sweeps
_SHIPPED: list = []
_SAMPLES: dict = {}


def _shipped_model():
    """The shipped character LSTM, on the CPU in float64 (so that every process draws alike)."""
    if not _SHIPPED:
        from .. import charlm

        _SHIPPED.append(charlm.load_pretrained("cpu").double().eval())
    return _SHIPPED[0]


def shipped_samples(temperatures, seeds, length: int = 100,
                     prompt: str = SAMPLE_PROMPT) -> list[list[str]]:
    """samples[i][j]: `length` characters of the shipped LSTM after `prompt`, drawn with seed
    seeds[i] at temperature temperatures[j].

    A sample depends only on its (seed, temperature): each draws its uniforms from its own
    generator, seeded by both; the LSTM runs all the samples asked for side by side as one
    batch. Samples are kept, so asking twice costs nothing.
    """
    import torch

    temps = [float(t) for t in temperatures]
    if any(not t > 0 for t in temps):
        raise ValueError(f"temperatures must be positive, got {temps}")
    keys = [[(round(t * 1e6), int(s), int(length), prompt) for t in temps] for s in seeds]
    todo = sorted({k for row in keys for k in row if k not in _SAMPLES})
    if todo:
        model = _shipped_model()
        tau = np.array([k[0] / 1e6 for k in todo])[:, None]
        rngs = [np.random.default_rng([k[1] % 2**32, k[0]]) for k in todo]
        out = np.zeros((length, len(todo)), dtype=np.int64)
        was = torch.backends.mkldnn.enabled
        torch.backends.mkldnn.enabled = False  # as CharLM.sample: one step at a time is faster
        try:
            with torch.no_grad():
                logits, state = model(model.encode(prompt)[:, None].expand(-1, len(todo)))
                for t in range(length):
                    z = logits[-1].numpy() / tau
                    p = np.exp(z - z.max(1, keepdims=True))
                    cdf = np.cumsum(p / p.sum(1, keepdims=True), 1)
                    u = np.array([r.random() for r in rngs])
                    out[t] = np.minimum((cdf < u[:, None]).sum(1), cdf.shape[1] - 1)
                    logits, state = model(torch.from_numpy(out[t])[None], state)
        finally:
            torch.backends.mkldnn.enabled = was
        for j, k in enumerate(todo):
            _SAMPLES[k] = model.decode(out[:, j])
    return [[_SAMPLES[k] for k in row] for row in keys]


def _distinct_ratio(s: str, n: int) -> float:
    grams = [s[i:i + n] for i in range(len(s) - n + 1)]
    return len(set(grams)) / len(grams)


def _repetition_sweep(sample: Callable, temperatures, seeds, n: int, threshold: float):
    """(mean distinct n-gram ratio per temperature over the seeds, the first temperature whose
    ratio reaches `threshold`, or None)."""
    samples = sample(list(temperatures), list(seeds))
    ratios = np.mean([[_distinct_ratio(x, n) for x in row] for row in samples], axis=0)
    reached = [t for t, r in zip(temperatures, ratios) if r >= threshold]
    return ratios, (float(reached[0]) if reached else None)


def check_repetition_sweep(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(sample, temperatures, seeds, n, threshold) -> (ratios, tau)` on the shipped LSTM:
    the checker draws the same samples again and measures the distinct n-gram ratios itself."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    sample = functools.partial(shipped_samples, length=_SWEEP_LENGTH)
    cases = []
    for _ in range(2):
        temps = [float(t) for t in np.round(np.sort(rng.uniform(0.05, 1.3, 4)), 3)]
        seeds = [int(s) for s in rng.integers(0, 2**31, 2)]
        n, threshold = int(rng.integers(3, 11)), float(np.round(rng.uniform(0.6, 0.95), 3))
        cases.append(Case((sample, temps, seeds, n, threshold), None,
                          f"temperatures {temps}, seeds {seeds}, n = {n}, threshold {threshold}"))
    for case in cases:
        case.expected = case.args[1:]  # measured in `compare`, after the answer has run

    def compare(got, params):
        temps, seeds, n, threshold = params
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return f"expected a pair (ratios, tau), got {type(got).__name__}"
        ratios, tau = _repetition_sweep(sample, temps, seeds, n, threshold)
        problem = compare_arrays(got[0], ratios, what="mean distinct n-gram ratios", rtol=1e-9)
        if problem:
            return problem
        if tau is None or got[1] is None:
            return None if got[1] is tau else (
                f"tau is {got[1]!r}, but the measured ratios "
                + ("never reach the threshold (expected None)" if tau is None else "do reach it"))
        try:
            claimed = float(got[1])
        except (TypeError, ValueError):
            return f"tau is not a number (got {type(got[1]).__name__})"
        return None if claimed == tau else (
            f"tau = {claimed!r} is not the first temperature of the grid whose mean ratio reaches "
            f"the threshold")

    return run_checks("repetition_sweep", func, cases, compare, points, seed)
