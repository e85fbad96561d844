"""Chapter 7's checkers: full marks for a correct answer, 0 when not attempted, feedback otherwise.

The checkers' references (`rnnbook.exercises.ch07`) are themselves checked here against
independent implementations: the package's Kneser-Ney model, torch's softmax and top-k, and a
stream batched by hand.
"""
import numpy as np
import pytest
import torch

from rnnbook.exercises import ch07
from rnnbook.ngram import KneserNey

from checker_contract import checker_contract


# ---------------------------------------------------------------- typical wrong answers

def mean_of_means(losses, sizes):
    nats = float(np.mean(losses))
    return nats, nats / np.log(2), float(np.exp(nats))


def perplexity_base_two(losses, sizes):
    nats, bits, _ = ch07.loss_summary(losses, sizes)
    return nats, bits, 2.0 ** nats


def bits_with_log10(losses, sizes):
    nats, _, ppl = ch07.loss_summary(losses, sizes)
    return nats, nats / np.log(10), ppl


def kn_raw_unigram(text, d):
    """Interpolates with the plain unigram distribution instead of continuation counts."""
    chars = sorted(set(text))
    ids = np.array([chars.index(c) for c in text])
    V = len(chars)
    counts = np.zeros((V, V))
    np.add.at(counts, (ids[:-1], ids[1:]), 1)
    uni = np.bincount(ids, minlength=V) / len(ids)
    tot = counts.sum(1, keepdims=True)
    kn = (np.maximum(counts - d, 0) + d * (counts > 0).sum(1, keepdims=True) * uni) / \
        np.maximum(tot, 1)
    return np.where(tot > 0, kn, uni)


def kn_forgets_text_start(text, d):
    P = ch07.kn_bigram_matrix(text, d)
    # recompute the lower order without the start-of-text neighbour
    chars = sorted(set(text))
    ids = np.array([chars.index(c) for c in text])
    V = len(chars)
    counts = np.zeros((V, V))
    np.add.at(counts, (ids[:-1], ids[1:]), 1)
    cont = (counts > 0).sum(0).astype(float)
    cont = cont / cont.sum()
    tot = counts.sum(1, keepdims=True)
    kn = (np.maximum(counts - d, 0) + d * (counts > 0).sum(1, keepdims=True) * cont) / \
        np.maximum(tot, 1)
    return np.where(tot > 0, kn, cont) if np.isfinite(kn).all() else P * 0


def kn_no_backoff_mass(text, d):
    """Discounts the counts but never gives the removed mass to the lower order."""
    chars = sorted(set(text))
    ids = np.array([chars.index(c) for c in text])
    V = len(chars)
    counts = np.zeros((V, V))
    np.add.at(counts, (ids[:-1], ids[1:]), 1)
    return np.maximum(counts - d, 0) / np.maximum(counts.sum(1, keepdims=True), 1)


def times_temperature(logits, t, k):
    return ch07.sampling_distribution(np.asarray(logits) * t * t, t, k)


def top_k_ignored(logits, t, k):
    return ch07.sampling_distribution(logits, t, None)


def top_k_smallest(logits, t, k):
    z = np.asarray(logits, dtype=float) / t
    if k is not None:
        z = np.where(z <= np.sort(z)[k - 1], z, -np.inf)
    p = np.exp(z - z.max())
    return p / p.sum()


def no_max_subtraction(logits, t, k):
    z = np.asarray(logits, dtype=float) / t
    if k is not None:
        z = np.where(z >= np.sort(z)[-k], z, -np.inf)
    p = np.exp(z)
    return p / p.sum()


def row_major(ids, b, t):
    L = len(ids) // b
    cols = np.asarray(ids)[: L * b].reshape(L, b)
    return [(cols[s:s + min(t, L - 1 - s)], cols[s + 1:s + 1 + min(t, L - 1 - s)])
            for s in range(0, L - 1, t)]


def targets_not_shifted(ids, b, t):
    return [(x, x) for x, _ in ch07.stream_batches(ids, b, t)]


def drops_short_last_window(ids, b, t):
    return [(x, y) for x, y in ch07.stream_batches(ids, b, t) if len(x) == t]


def kn_raw_lower_orders(text, order, d, contexts):
    """Every order from raw counts: no continuation counts below the top."""
    alphabet = sorted(set(text))
    out = []
    for context in contexts:
        p = np.array([text.count(w) for w in alphabet], dtype=float)
        p /= p.sum()
        for k in range(2, order + 1):
            h = context[len(context) - (k - 1):]
            c = np.array([sum(text.startswith(h + w, i) for i in range(len(text)))
                          for w in alphabet], dtype=float)
            if c.sum():
                p = (np.maximum(c - d, 0) + d * (c > 0).sum() * p) / c.sum()
        out.append(p)
    return np.array(out)


def kn_uniform_floor(text, order, d, contexts):
    """Mixes in the uniform distribution: still sums to one, but is not Kneser-Ney."""
    return 0.5 * ch07._kn_distributions(text, order, d, contexts) + 0.5 / len(set(text))


def kn_backoff_only(text, order, d, contexts):
    """Uses the highest order seen, without interpolating the lower ones in."""
    tables = ch07._kn_tables(text, order)
    alphabet = sorted(set(text))
    out = []
    for context in contexts:
        p = None
        for k in range(order, 0, -1):
            h = context[len(context) - (k - 1):] if k > 1 else ""
            c = np.array([tables[k - 1].get(h + w, 0) for w in alphabet], dtype=float)
            if c.sum():
                p = c / c.sum()
                break
        out.append(p)
    return np.array(out)


def kn_top_context_only_first_chars(text, order, d, contexts):
    """Reads the context's first order-1 characters instead of its last."""
    return ch07._kn_distributions(text, order, d, [c[::-1] for c in contexts])


def lower_from_raw_unigrams(counts, d):
    c = np.asarray(counts, dtype=float).sum(0)
    return c / c.sum()


def lower_from_row_types(counts, d):
    """Distinct successors of each character (the wrong side of the bigram)."""
    seen = np.asarray(counts) > 0
    return seen.sum(1) / seen.sum()


def lower_uniform(counts, d):
    V = len(counts)
    return np.full(V, 1.0 / V)


def sweep_first_seed_only(sample, temps, seeds, n, threshold):
    return ch07._repetition_sweep(sample, temps, seeds[:1], n, threshold)


def sweep_counts_distinct(sample, temps, seeds, n, threshold):
    """The number of distinct n-grams, not their share."""
    rows = sample(list(temps), list(seeds))
    ratios = np.mean([[len({x[i:i + n] for i in range(len(x) - n + 1)}) for x in r] for r in rows], 0)
    return ratios, None


def sweep_last_temperature(sample, temps, seeds, n, threshold):
    ratios, _ = ch07._repetition_sweep(sample, temps, seeds, n, threshold)
    return ratios, float(temps[-1]) if ratios[-1] >= threshold else None


def sweep_bigrams(sample, temps, seeds, n, threshold):
    return ch07._repetition_sweep(sample, temps, seeds, 2, threshold)


CHECKERS = {
    "loss_summary": (ch07.check_loss_summary, ch07.loss_summary, {
        "mean of batch means": mean_of_means,
        "perplexity as 2 ** nats": perplexity_base_two,
        "bits with log 10": bits_with_log10,
        "None": lambda losses, sizes: None,
        "raises": lambda losses, sizes: 1 / 0,
    }),
    "kn_bigram": (ch07.check_kn_bigram, ch07.kn_bigram_matrix, {
        "plain unigram as the lower order": kn_raw_unigram,
        "start of text not counted": kn_forgets_text_start,
        "no back-off mass": kn_no_backoff_mass,
        "wrong shape": lambda text, d: np.zeros((2, 2)),
        "NaN": lambda text, d: ch07.kn_bigram_matrix(text, d) * np.nan,
    }),
    "sampling_distribution": (ch07.check_sampling_distribution, ch07.sampling_distribution, {
        "multiplies by the temperature": times_temperature,
        "ignores top_k": top_k_ignored,
        "keeps the smallest k": top_k_smallest,
        "overflows": no_max_subtraction,
        "returns logits": lambda logits, t, k: logits,
    }),
    "stream_batches": (ch07.check_stream_batches, ch07.stream_batches, {
        "row-major reshape": row_major,
        "targets not shifted": targets_not_shifted,
        "short last window dropped": drops_short_last_window,
        "a generator of garbage": lambda ids, b, t: iter([1, 2]),
        "None": lambda ids, b, t: None,
    }),
    "kn_distribution": (ch07.check_kn_distribution, ch07._kn_distributions, {
        "raw counts at every order": kn_raw_lower_orders,
        "half uniform": kn_uniform_floor,
        "back-off without interpolation": kn_backoff_only,
        "context read backwards": kn_top_context_only_first_chars,
        "rows do not sum to one": lambda *a: ch07._kn_distributions(*a) * 1.01,
        "wrong shape": lambda *a: ch07._kn_distributions(*a)[0],
    }),
    "kn_lower_order": (ch07.check_kn_lower_order, ch07._kn_lower_order, {
        "raw unigram counts": lower_from_raw_unigrams,
        "distinct successors": lower_from_row_types,
        "uniform": lower_uniform,
        "not normalised": lambda c, d: (np.asarray(c) > 0).sum(0),
        "None": lambda c, d: None,
    }),
    "repetition_sweep": (ch07.check_repetition_sweep, ch07._repetition_sweep, {
        "one seed only": sweep_first_seed_only,
        "counts instead of shares": sweep_counts_distinct,
        "last temperature": sweep_last_temperature,
        "bigrams whatever n": sweep_bigrams,
        "returns one number": lambda *a: 0.5,
    }),
}

(test_the_reference_earns_full_marks_on_fresh_inputs,
 test_an_unattempted_exercise_scores_zero_and_says_so,
 test_typical_wrong_answers_earn_less_and_get_feedback) = checker_contract(CHECKERS)


# ---------------------------------------------------------------- the references themselves

@pytest.mark.parametrize("seed", range(8))
def test_kn_bigram_reference_matches_the_package_model_with_one_discount(seed):
    rng = np.random.default_rng(seed)
    text = ch07._random_text(rng)
    model = KneserNey(2, modified=False, unk_mass=0.0).fit(text)
    d = float(model.discounts[0][0])
    P = ch07.kn_bigram_matrix(text, d)
    assert P.shape == (len(model.vocab),) * 2
    for a, ch in enumerate(model.vocab):
        expected = model.next_distribution(ch)[:-1]      # drop the (empty) unknown outcome
        np.testing.assert_allclose(P[a], expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(P.sum(1), 1.0, rtol=1e-12)


def test_kn_bigram_reference_on_abracadabra_by_hand():
    # continuation counts: a <- {start, r, c, d}: 4; b <- {a}: 1; r <- {b}: 1; c, d <- {a}: 1
    P = ch07.kn_bigram_matrix("abracadabra", 0.75)
    chars = sorted(set("abracadabra"))       # a b c d r
    p_cont = np.array([4, 1, 1, 1, 1]) / 8
    # after "a": b twice, c once, d once (the final a has no successor): c(a.) = 4, 3 types
    expected_a = (np.maximum(np.array([0, 2, 1, 1, 0]) - 0.75, 0) + 0.75 * 3 * p_cont) / 4
    np.testing.assert_allclose(P[chars.index("a")], expected_a, rtol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_sampling_distribution_matches_torch_softmax_and_topk(seed):
    rng = np.random.default_rng(seed)
    V = int(rng.integers(3, 50))
    logits = rng.normal(0, 4, V)
    t = float(rng.uniform(0.1, 3))
    k = int(rng.integers(1, V + 1))
    z = torch.tensor(logits, dtype=torch.float64) / t
    top = torch.topk(z, k)
    masked = torch.full_like(z, -float("inf")).scatter(0, top.indices, top.values)
    np.testing.assert_allclose(ch07.sampling_distribution(logits, t, k),
                               torch.softmax(masked, 0).numpy(), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(ch07.sampling_distribution(logits, t, None),
                               torch.softmax(z, 0).numpy(), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("seed", range(5))
def test_stream_batches_reference_reads_each_column_as_one_contiguous_text(seed):
    rng = np.random.default_rng(seed)
    n, b, t = int(rng.integers(30, 400)), int(rng.integers(1, 9)), int(rng.integers(1, 50))
    windows = ch07.stream_batches(np.arange(n), b, t)
    L = n // b
    x = np.concatenate([w[0] for w in windows])
    y = np.concatenate([w[1] for w in windows])
    for col in range(b):   # column col is tokens col*L .. (col+1)*L - 1, targets one ahead
        np.testing.assert_array_equal(x[:, col], np.arange(col * L, (col + 1) * L - 1))
        np.testing.assert_array_equal(y[:, col], np.arange(col * L + 1, (col + 1) * L))
    assert all(len(w[0]) == t for w in windows[:-1]) and 1 <= len(windows[-1][0]) <= t


def test_loss_summary_weights_batches_by_their_token_counts():
    nats, bits, ppl = ch07.loss_summary([1.0, 3.0], [90, 10])
    assert nats == pytest.approx(1.2, rel=1e-12)
    assert bits == pytest.approx(1.2 / np.log(2), rel=1e-12)
    assert ppl == pytest.approx(np.exp(1.2), rel=1e-12)


def test_partial_credit_when_only_the_fixed_cases_pass(capsys):
    def fixed_only(text, d):
        if text in ("abracadabra", "aab", "abab"):
            return ch07.kn_bigram_matrix(text, d)
        return np.zeros((1, 1))
    score = ch07.check_kn_bigram(fixed_only, points=6)
    assert score == pytest.approx(3.0)


@pytest.mark.parametrize("seed", range(20))
def test_kn_distribution_reference_matches_the_package_model_with_one_discount(seed):
    rng = np.random.default_rng(seed)
    text, order, d, contexts = ch07._kn_case(rng)
    model = KneserNey(order, discount=d, unk_mass=0.0).fit(text)
    P = ch07._kn_distributions(text, order, d, contexts)
    for row, context in zip(P, contexts):
        np.testing.assert_allclose(row, model.next_distribution(context)[:-1], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(P.sum(1), 1.0, rtol=1e-12)


def test_kn_distribution_of_order_two_is_the_bigram_exercise():
    text = "abracadabra"
    P = ch07._kn_distributions(text, 2, 0.75, sorted(set(text)))
    np.testing.assert_allclose(P, ch07.kn_bigram_matrix(text, 0.75), rtol=1e-12)


def test_nltk_is_no_answer_to_the_kneser_ney_exercise(capsys):
    def with_nltk(text, order, d, contexts):
        from nltk.lm import KneserNeyInterpolated

        KneserNeyInterpolated(order, discount=d)
        return ch07._kn_distributions(text, order, d, contexts)

    from rnnbook.exercises import _guard

    depth, _guard._trust_depth = _guard._trust_depth, 0  # the watch on, as in a notebook
    try:
        assert ch07.check_kn_distribution(with_nltk) == 0.0
    finally:
        _guard._trust_depth = depth
    assert "calling nltk" in capsys.readouterr().out


@pytest.mark.parametrize("seed", range(10))
def test_kn_lower_order_keeps_the_observed_counts_for_discounts_up_to_one(seed):
    # Kneser and Ney's derivation: with the continuation distribution as the lower order, the
    # interpolated bigram predicts each character as often as it was seen (here by brute force)
    rng = np.random.default_rng(seed)
    V = int(rng.integers(3, 9))
    counts = rng.poisson(1.5, size=(V, V))
    counts[0, 0] += 1
    d = float(rng.uniform(0.05, 1.0))
    p = ch07._kn_lower_order(counts, d)
    model = 0.0
    for a in range(V):
        total = counts[a].sum()
        if total:
            cond = (np.maximum(counts[a] - d, 0) + d * (counts[a] > 0).sum() * p) / total
            model = model + total * cond
    np.testing.assert_allclose(model, counts.sum(0), rtol=1e-12, atol=1e-12)


def test_shipped_samples_do_not_depend_on_how_they_are_grouped():
    a = ch07.shipped_samples([0.5, 1.0], [3, 4], length=12)
    b = ch07.shipped_samples([1.0], [4], length=12)
    ch07._SAMPLES.clear()
    c = ch07.shipped_samples([0.5], [3], length=12)
    assert a[1][1] == b[0][0] and a[0][0] == c[0][0] and len(a[0][0]) == 12
    assert a[0][0] != a[0][1]


def test_low_temperature_samples_repeat_more_than_high_temperature_ones():
    rows = ch07.shipped_samples([0.1, 1.0], list(range(4)), length=150)
    low = np.mean([ch07._distinct_ratio(r[0], 8) for r in rows])
    high = np.mean([ch07._distinct_ratio(r[1], 8) for r in rows])
    assert low < high
