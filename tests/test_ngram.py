"""Kneser–Ney n-grams: the NumPy model against a plain dictionary implementation of the equations."""
import math
import secrets
from collections import Counter, defaultdict

import numpy as np
import pytest

from rnnbook.ngram import UNKNOWN, KneserNey, kn_discounts


def fresh_rng():
    seed = secrets.randbits(32)
    print(f"seed {seed}")  # shown on failure, to reproduce
    return np.random.default_rng(seed)


# ------------------------------------------------------------------ independent reference

def ref_discounts(values, modified):
    """Chen & Goodman's discounts from count-of-counts, with the module's documented fallback."""
    n = Counter(int(v) for v in values)
    n1, n2, n3, n4 = n[1], n[2], n[3], n[4]
    if (modified and 0 in (n1, n2, n3, n4)) or (not modified and 0 in (n1, n2)):
        d = [0.5, 0.5, 0.5]
    else:
        y = n1 / (n1 + 2 * n2)
        d = [1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3] if modified else [y] * 3
    return [min(max(x, 0.1), hi) for x, hi in zip(d, (1.0, 2.0, 3.0))]


class RefKN:
    """Interpolated (modified) Kneser–Ney written straight from the equations with dicts of tuples."""

    def __init__(self, tokens, order, modified=True, unk_mass=1e-6):
        toks = list(tokens)
        self.order, self.u = order, unk_mass
        self.vocab = set(toks)
        self.use = {}
        for k in range(1, order + 1):
            grams = [tuple(toks[i - k + 1:i + 1]) for i in range(k - 1, len(toks))]
            if k == order:
                self.use[k] = dict(Counter(grams))
            else:
                lefts = defaultdict(set)
                for i in range(k - 1, len(toks)):
                    left = toks[i - k] if i - k >= 0 else "<text start>"
                    lefts[tuple(toks[i - k + 1:i + 1])].add(left)
                self.use[k] = {g: len(s) for g, s in lefts.items()}
        self.tot, self.gam, self.d = {}, {}, {}
        for k in range(1, order + 1):
            d = ref_discounts(self.use[k].values(), modified) if k > 1 else [0.0, 0.0, 0.0]
            self.d[k] = d
            tot, gam = defaultdict(float), defaultdict(float)
            for g, c in self.use[k].items():
                tot[g[:-1]] += c
                gam[g[:-1]] += d[min(c, 3) - 1]
            self.tot[k], self.gam[k] = tot, gam
        self.n1 = sum(self.use[1].values())

    def prob(self, context, w):
        ctx = tuple(context)[max(0, len(context) - (self.order - 1)):] if self.order > 1 else ()
        p = (1 - self.u) * self.use[1][(w,)] / self.n1 if w in self.vocab else self.u
        for k in range(2, len(ctx) + 2):
            h = ctx[len(ctx) - (k - 1):]
            t = self.tot[k].get(h, 0.0)
            if t > 0:
                c = self.use[k].get(h + (w,), 0)
                disc = self.d[k][min(c, 3) - 1] if c else 0.0
                p = (max(c - disc, 0.0) + self.gam[k][h] * p) / t
        return p


def skewed_text(rng, n, alphabet):
    """Random text with a skewed, context-dependent distribution, so that n-grams repeat."""
    a = list(alphabet)
    trans = rng.dirichlet(np.full(len(a), 0.3), size=len(a))
    out = [int(rng.integers(len(a)))]
    for _ in range(n - 1):
        out.append(int(rng.choice(len(a), p=trans[out[-1]])))
    return [a[i] for i in out]


# ------------------------------------------------------------------ tests

@pytest.mark.parametrize("modified", [True, False])
def test_log_probs_equal_a_dictionary_reference_on_fresh_character_corpora(modified):
    rng = fresh_rng()
    for _ in range(4):
        train = "".join(skewed_text(rng, int(rng.integers(50, 400)), "abcdef"[: rng.integers(2, 7)]))
        test = "".join(skewed_text(rng, 120, "abcdefgh"))  # g, h never seen in training
        for order in range(1, 7):
            m = KneserNey(order, modified=modified).fit(train)
            ref = RefKN(train, order, modified)
            want = np.log([ref.prob(test[:i], test[i]) for i in range(1, len(test))])
            np.testing.assert_allclose(m.token_log_probs(test), want, rtol=0, atol=1e-10)
            for i in rng.integers(0, len(test), size=10):
                ctx, tok = test[:i], test[i]
                assert abs(m.log_prob(ctx, tok) - math.log(ref.prob(ctx, tok))) < 1e-10
            for k, d in enumerate(m.discounts, start=2):
                np.testing.assert_allclose(d, ref.d[k], atol=1e-12)


def test_texts_shorter_than_the_order_still_give_a_normalised_model():
    rng = fresh_rng()
    for n in range(2, 9):
        train = "".join(rng.choice(list("abc"), size=n))
        test = "".join(rng.choice(list("abcd"), size=12))
        for order in range(1, 10):
            m = KneserNey(order).fit(train)
            ref = RefKN(train, order)
            want = np.log([ref.prob(test[:i], test[i]) for i in range(1, len(test))])
            np.testing.assert_allclose(m.token_log_probs(test), want, rtol=0, atol=1e-10)
            assert abs(m.next_distribution(test[:5]).sum() - 1) < 1e-12


def test_log_probs_equal_a_dictionary_reference_on_fresh_word_corpora():
    rng = fresh_rng()
    words = [f"w{i}" for i in range(12)] + ["<unk>", "<eos>"]
    for _ in range(3):
        train = skewed_text(rng, 600, words)
        test = skewed_text(rng, 200, words + ["never-seen"])
        for order in (1, 2, 3, 5):
            m = KneserNey(order).fit(train)
            ref = RefKN(train, order)
            want = np.log([ref.prob(test[:i], test[i]) for i in range(1, len(test))])
            np.testing.assert_allclose(m.token_log_probs(test), want, rtol=0, atol=1e-10)
            assert abs(m.nll(test) + want.mean()) < 1e-10


@pytest.mark.parametrize("modified", [True, False])
def test_next_token_distribution_sums_to_one_for_seen_and_unseen_contexts(modified):
    rng = fresh_rng()
    train = "".join(skewed_text(rng, 3000, "abcdefghij"))
    m = KneserNey(5, modified=modified).fit(train)
    contexts = [train[i:i + int(rng.integers(0, 6))] for i in rng.integers(0, 2990, size=20)]
    contexts += ["".join(rng.choice(list("abcdefghijXY"), size=int(rng.integers(1, 7))))
                 for _ in range(20)]  # mostly unseen, some with unknown characters
    for ctx in contexts:
        p = m.next_distribution(ctx)
        assert p.shape == (len(m.vocab) + 1,)
        assert np.all(p > 0)
        assert abs(p.sum() - 1) < 1e-12, ctx
        # the same numbers as log_prob, entry by entry
        lp = [m.log_prob(ctx, w) for w in m.vocab] + [m.log_prob(ctx, "Z")]
        np.testing.assert_allclose(np.log(p), lp, rtol=0, atol=1e-12)


def test_order_one_is_the_unigram_maximum_likelihood_estimate():
    rng = fresh_rng()
    train = "".join(skewed_text(rng, 2000, "abcdefg"))
    counts = Counter(train)
    test = "".join(skewed_text(rng, 500, "abcdefg"))
    m0 = KneserNey(1, unk_mass=0).fit(train)
    mle = np.mean([-math.log(counts[c] / len(train)) for c in test[1:]])
    assert abs(m0.nll(test) - mle) < 1e-12
    u = 1e-3
    m = KneserNey(1, unk_mass=u).fit(train)
    assert abs(m.log_prob("", "a") - math.log((1 - u) * counts["a"] / len(train))) < 1e-12
    assert abs(m.log_prob("xyz", "Q") - math.log(u)) < 1e-12  # the reserved unknown mass


def test_unseen_token_raises_when_no_unknown_mass_is_reserved():
    m = KneserNey(3, unk_mass=0).fit("abcabcabd")
    with pytest.raises(ValueError, match="never seen in training"):
        m.nll("abz")
    assert np.isfinite(KneserNey(3).fit("abcabcabd").nll("abz"))
    assert UNKNOWN not in KneserNey(2).fit("abab").vocab


def test_training_perplexity_falls_with_the_order():
    rng = fresh_rng()
    train = "".join(skewed_text(rng, 20_000, "abcdefghijklmnop"))
    nlls = [KneserNey(k).fit(train).nll(train) for k in range(1, 9)]
    assert all(b < a for a, b in zip(nlls, nlls[1:])), nlls


def test_discounts_follow_chen_and_goodman_on_known_count_of_counts():
    counts = np.array([1] * 10 + [2] * 5 + [3] * 3 + [4] * 2 + [9])
    y = 10 / (10 + 2 * 5)
    np.testing.assert_allclose(kn_discounts(counts), [1 - 2 * y * 5 / 10, 2 - 3 * y * 3 / 5,
                                                      3 - 4 * y * 2 / 3])
    np.testing.assert_allclose(kn_discounts(counts, modified=False), [y, y, y])
    np.testing.assert_allclose(kn_discounts(np.array([1, 1, 2])), [0.5, 0.5, 0.5])  # no n3, n4


def test_words_and_characters_are_not_mixed_and_inputs_are_checked():
    m = KneserNey(2).fit("hello world")
    with pytest.raises(TypeError, match="fitted on a str"):
        m.nll(["hello", "world"])
    with pytest.raises(ValueError, match="order"):
        KneserNey(0)
    with pytest.raises(ValueError, match="unk_mass"):
        KneserNey(2, unk_mass=1.0)
    with pytest.raises(RuntimeError, match="fit"):
        KneserNey(2).nll("ab")
    with pytest.raises(ValueError, match="at least 2"):
        m.nll("h")
    with pytest.raises(TypeError):
        KneserNey(2).fit([1, 2, 3])


def test_sampling_is_reproducible_and_uses_the_training_vocabulary():
    rng = fresh_rng()
    train = "".join(skewed_text(rng, 5000, "abcdefgh"))
    m = KneserNey(4).fit(train)
    s = m.sample("abc", 200, seed=3)
    assert s == m.sample("abc", 200, seed=3) and len(s) == 200 and set(s) <= set(train)
    w = KneserNey(3).fit(list(train)).sample(["a"], 20, seed=1)
    assert isinstance(w, list) and len(w) == 20


def test_penn_treebank_5gram_reproduces_the_published_perplexity():
    from rnnbook.wordlm import load_ptb

    d = load_ptb()
    m = KneserNey(5).fit(d["train"])
    # Mikolov et al. (2011) report 141.2 for a modified KN 5-gram (SRILM) on this test set.
    assert abs(m.perplexity(d["test"]) - 141.07) < 0.01
    assert abs(m.perplexity(d["valid"]) - 148.12) < 0.01


# ------------------------------------------------------------------ an outside implementation

@pytest.fixture
def no_downloads(monkeypatch):
    """NLTK must never fetch data: its downloader and every socket connection raise."""
    import socket

    import nltk

    def refuse(*args, **kwargs):
        raise AssertionError("the NLTK comparison must run offline (no nltk.download, no network)")

    monkeypatch.setattr(nltk, "download", refuse)
    monkeypatch.setattr(nltk.downloader.Downloader, "download", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return nltk


def nltk_kn(tokens, order, discount):
    """NLTK's KneserNeyInterpolated fitted on `tokens` with one start symbol and no padding."""
    from nltk.lm import KneserNeyInterpolated
    from nltk.util import everygrams

    seq = ["<s>"] + list(tokens)
    lm = KneserNeyInterpolated(order, discount=discount)
    lm.fit([list(everygrams(seq, max_len=order))], vocabulary_text=seq)
    return lm


@pytest.mark.parametrize("chars", [False, True], ids=["words", "characters"])
def test_fixed_discount_model_equals_nltk_kneser_ney_interpolated(no_downloads, chars):
    """`KneserNey(order, discount=D, unk_mass=0)` gives NLTK 3.10.4's probabilities (~1e-15).

    NLTK's `nltk.lm.KneserNeyInterpolated` is an independent implementation (dictionaries of
    n-gram counts, continuation counts recounted on every query). It computes the same
    interpolated recursion, alpha = max(c - D, 0) / c(h) plus gamma = D N1+(h .) / c(h) times
    the lower order, raw counts at the top order and continuation counts below it, backing off
    entirely from a context never seen. What differs, and how the comparison matches it:

    - NLTK has one discount D for every order and count; here that is `discount=D` (the default
      estimates three discounts per order from the count-of-counts, which NLTK does not do).
    - Here the start of the training text counts as one more left neighbour in the continuation
      counts; NLTK knows no text start. NLTK is given the training text with one start symbol
      `<s>` in front, which adds exactly that neighbour. `<s>` gets NLTK probability 0 (nothing
      precedes it) and never appears in a scored context. (It also makes NLTK's gamma, which
      counts the words after h in the raw counts even at the lower orders, equal to this
      model's, which counts the words with a positive continuation count: with `<s>` every
      occurrence has a left neighbour.) No other padding: NLTK's `padded_everygram_pipeline`
      would add n-1 `<s>` and a `</s>`, a different model.
    - Unknown tokens are not compared: NLTK scores them as `<UNK>`, whose continuation count is
      0, so p = 0; this model reserves `unk_mass` for them (here 0, so that the known tokens'
      probabilities are the same, and only training tokens are scored).
    - Order 1 is not compared: NLTK's unigram is always the continuation-count distribution (an
      order-1 NLTK model counts no bigrams and divides by zero); here order 1 is the
      maximum-likelihood unigram model, and the continuation unigram is order 2's lowest level.
    - NLTK's `logscore` is base 2; the test takes the natural log of `score`.
    """
    rng = fresh_rng()
    alphabet = "abcdef" if chars else [f"w{i}" for i in range(7)]
    worst, unseen = 0.0, 0
    for order in (2, 3, 4):
        for discount in (float(rng.uniform(0.05, 1.0)), 1.0):
            train = skewed_text(rng, int(rng.integers(60, 300)), alphabet)
            train = "".join(train) if chars else train
            ref = nltk_kn(list(train), order, discount)
            m = KneserNey(order, unk_mass=0, discount=discount).fit(train)
            # scored text: training tokens in random order, so many contexts were never seen
            test = list(rng.choice(sorted(set(train)), size=80))
            test = "".join(test) if chars else test
            want = np.log([ref.score(test[i], tuple(test[max(0, i - order + 1):i]))
                           for i in range(1, len(test))])
            got = m.token_log_probs(test)
            worst = max(worst, float(np.abs(got - want).max()))
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
            ctxs = [tuple(test[i - order + 1:i]) for i in range(order - 1, len(test))]
            unseen += sum(not ref.counts[c] for c in ctxs)
            # whole next-token distributions, after a seen and an unseen context
            mid = len(train) // 2
            for ctx in (list(train[mid:mid + order - 1]),
                        list(rng.choice(sorted(set(train)), size=order - 1))):
                ctx = "".join(ctx) if chars else ctx
                p = m.next_distribution(ctx)
                q = [ref.score(w, tuple(ctx)) for w in m.vocab]
                np.testing.assert_allclose(p[:-1], q, rtol=0, atol=1e-12)
                assert p[-1] == 0.0 and abs(sum(q) - 1) < 1e-12
    assert unseen > 0  # the backing off from never-seen contexts was exercised
    print(f"largest |log p - log p_nltk| {worst:.2e}; {unseen} never-seen full contexts")


def test_the_default_discounts_are_not_the_fixed_one():
    """The option leaves the default model (chapter 7's) as it was: estimated discounts."""
    rng = fresh_rng()
    train = "".join(skewed_text(rng, 400, "abcdef"))
    default, fixed = KneserNey(3).fit(train), KneserNey(3, discount=0.75).fit(train)
    for k, d in enumerate(default.discounts, start=2):
        np.testing.assert_allclose(d, RefKN(train, 3).d[k], atol=1e-12)
    assert all(np.all(d == 0.75) for d in fixed.discounts)
    assert "discount=0.75" in repr(fixed) and "modified=True" in repr(default)
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="discount"):
            KneserNey(3, discount=bad)
