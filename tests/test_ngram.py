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
