"""word2vec: the SGNS gradient, the fast kernel against the readable trainer, the Embeddings API."""
import secrets
from collections import Counter

import numpy as np
import pytest
import torch

from rnnbook import word2vec as w2v


def fresh_rng():
    seed = secrets.randbits(32)
    print(f"seed {seed}")  # shown on failure, to reproduce
    return np.random.default_rng(seed)


def random_sentences(rng, n_words=40, n_sent=80):
    words = [f"w{i}" for i in range(n_words)]
    p = 1 / np.arange(1, n_words + 1)  # Zipf-like, so that subsampling has work to do
    p /= p.sum()
    return [list(rng.choice(words, size=int(rng.integers(2, 50)), p=p)) for _ in range(n_sent)]


def test_sgns_gradient_matches_central_finite_differences_on_fresh_inputs():
    rng = fresh_rng()
    for _ in range(5):
        D, K = int(rng.integers(2, 12)), int(rng.integers(1, 7))
        v, u, U = rng.normal(size=D), rng.normal(size=D), rng.normal(size=(K, D))
        _, dv, du, dU = w2v.sgns_loss_and_grads(v, u, U)
        eps = 1e-6
        for x, g in ((v, dv), (u, du), (U, dU)):
            num = np.zeros_like(x)
            for i in np.ndindex(x.shape):
                old = x[i]
                x[i] = old + eps
                lp = w2v.sgns_loss_and_grads(v, u, U)[0]
                x[i] = old - eps
                lm = w2v.sgns_loss_and_grads(v, u, U)[0]
                x[i] = old
                num[i] = (lp - lm) / (2 * eps)
            # float64 central differences: truncation error ~eps^2, rounding ~1e-16/eps
            np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)


def test_sgns_loss_and_gradient_match_torch_autograd():
    rng = fresh_rng()
    D, K = 7, 5
    v, u, U = rng.normal(size=D), rng.normal(size=D), rng.normal(size=(K, D))
    loss, dv, du, dU = w2v.sgns_loss_and_grads(v, u, U)
    tv, tu, tU = (torch.tensor(a, requires_grad=True) for a in (v, u, U))
    tl = -torch.nn.functional.logsigmoid(tu @ tv) - torch.nn.functional.logsigmoid(-(tU @ tv)).sum()
    tl.backward()
    assert loss == pytest.approx(tl.item(), rel=1e-12)
    for ours, t in ((dv, tv), (du, tu), (dU, tU)):
        np.testing.assert_allclose(ours, t.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("sg", [True, False], ids=["skip-gram", "cbow"])
def test_fast_kernel_computes_the_same_updates_as_the_readable_trainer(sg):
    rng = fresh_rng()
    sents = random_sentences(rng)
    seed = int(rng.integers(1000))
    vocab = w2v.build_vocabulary(Counter(t for s in sents for t in s), min_count=2, sample=1e-2)
    W_in, W_out = w2v.train_readable(sents, vocab, vector_size=16, window=3, negative=4,
                                     epochs=2, seed=seed, sg=sg)
    ids, bounds = w2v.encode(sents, vocab)
    st = w2v.train_arrays(ids, bounds, vocab, vector_size=16, window=3, negative=4, epochs=2,
                          seed=seed, sg=sg)
    assert np.abs(W_out).max() > 0.05  # training moved the weights away from their start
    # same draws, same order; only float32 rounding (fastmath reductions) may differ
    np.testing.assert_allclose(st.W_in, W_in, atol=1e-5, rtol=0)
    np.testing.assert_allclose(st.W_out, W_out, atol=1e-5, rtol=0)


def test_training_epoch_by_epoch_or_resumed_from_disk_gives_identical_vectors(tmp_path):
    rng = fresh_rng()
    sents = random_sentences(rng)
    vocab = w2v.build_vocabulary(Counter(t for s in sents for t in s), min_count=1)
    ids, bounds = w2v.encode(sents, vocab)
    whole = w2v.train_arrays(ids, bounds, vocab, vector_size=8, epochs=3, seed=4)
    st = w2v.train_arrays(ids, bounds, vocab, vector_size=8, epochs=3, seed=4, stop_after=1)
    st.save(tmp_path / "state.npz")
    st = w2v.train_arrays(ids, bounds, vocab, vector_size=8, epochs=3, seed=4,
                          state=w2v.Word2VecState.load(tmp_path / "state.npz"))
    assert np.array_equal(whole.W_in, st.W_in) and np.array_equal(whole.W_out, st.W_out)


def test_keep_probabilities_follow_the_word2vec_formula():
    counts = np.array([1000, 100, 10, 1])
    t = 1e-2 * counts.sum()
    expected = np.minimum((np.sqrt(counts / t) + 1) * t / counts, 1)
    np.testing.assert_allclose(w2v.keep_probabilities(counts, 1e-2), expected)
    assert w2v.keep_probabilities(counts, 1e-2)[-1] == 1.0
    assert np.all(w2v.keep_probabilities(counts, 0) == 1)


def test_negative_samples_follow_unigram_to_the_three_quarters():
    counts = np.array([500, 200, 100, 50, 20, 5])
    table = w2v.noise_table(counts)
    rng = w2v.LCG(7)
    n = 60_000
    draws = np.bincount([w2v._draw_negative(table, rng.next()) for _ in range(n)], minlength=6)
    p = counts**0.75 / (counts**0.75).sum()
    # binomial standard errors: 5 sigma
    assert np.all(np.abs(draws / n - p) < 5 * np.sqrt(p * (1 - p) / n))


def test_skip_gram_learns_planted_topics():
    # two topics whose words never share a sentence: their vectors must separate
    rng = np.random.default_rng(0)
    a, b = [f"a{i}" for i in range(10)], [f"b{i}" for i in range(10)]
    sents = [list(rng.choice(a if k % 2 else b, size=20)) for k in range(400)]
    emb = w2v.train(sents, vector_size=16, window=3, min_count=1, sample=0, epochs=5, seed=1)
    within = np.mean([emb.similarity("a0", w) for w in a[1:]] + [emb.similarity("b0", w) for w in b[1:]])
    across = np.mean([emb.similarity("a0", w) for w in b] + [emb.similarity("b0", w) for w in a])
    assert within > 0.5 and within - across > 0.5
    assert all(w.startswith("a") for w, _ in emb.most_similar("a3", topn=5))


def test_train_is_deterministic_and_applies_min_count():
    rng = fresh_rng()
    sents = random_sentences(rng)
    e1 = w2v.train(sents, vector_size=8, min_count=3, epochs=1, seed=5)
    e2 = w2v.train(sents, vector_size=8, min_count=3, epochs=1, seed=5)
    counts = Counter(t for s in sents for t in s)
    assert set(e1.words) == {w for w, c in counts.items() if c >= 3}
    assert np.array_equal(e1.vectors, e2.vectors)
    with pytest.raises(ValueError, match="min_count"):
        w2v.train(sents, min_count=10**6)


def planted_embeddings():
    rng = np.random.default_rng(3)
    base = {k: rng.normal(size=20) for k in ("male", "female", "royal", "person", "x", "y")}
    vecs = {"man": base["male"] + base["person"], "woman": base["female"] + base["person"],
            "king": base["male"] + base["royal"], "queen": base["female"] + base["royal"],
            "apple": base["x"], "pear": base["y"]}
    return w2v.Embeddings(list(vecs), np.array(list(vecs.values())))


def test_analogies_and_neighbours_on_planted_vectors():
    emb = planted_embeddings()
    assert emb.analogy("king", "man", "woman") == "queen"
    assert emb.analogy("king", "man", "woman", method="mul") == "queen"
    sims = emb.most_similar("king", topn=3)
    assert "king" not in [w for w, _ in sims] and sims[0][1] >= sims[1][1] >= sims[2][1]
    v = emb.vectors
    cos = v[2] @ v[3] / np.linalg.norm(v[2]) / np.linalg.norm(v[3])
    assert emb.similarity("king", "queen") == pytest.approx(cos, rel=1e-6)
    with pytest.raises(ValueError, match="method"):
        emb.analogy("king", "man", "woman", method="sub")


def test_unknown_words_raise_keyerror_naming_the_word():
    emb = planted_embeddings()
    for call in (lambda: emb["prince"], lambda: emb.most_similar("prince"),
                 lambda: emb.similarity("king", "prince"), lambda: emb.analogy("king", "prince", "man")):
        with pytest.raises(KeyError, match="prince"):
            call()


def test_export_to_gensim_agrees_with_our_neighbours(tmp_path):
    emb = planted_embeddings()
    kv = emb.to_gensim()
    assert list(kv.index_to_key) == emb.words
    ours = emb.most_similar("queen", topn=3)
    theirs = kv.most_similar("queen", topn=3)
    assert [w for w, _ in ours] == [w for w, _ in theirs]
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], rtol=1e-5)
    assert kv.most_similar(positive=["king", "woman"], negative=["man"], topn=1)[0][0] == "queen"
    emb.save(tmp_path / "e.npz")
    back = w2v.Embeddings.load(tmp_path / "e.npz")
    assert back.words == emb.words
    np.testing.assert_allclose(back.vectors, emb.vectors, rtol=1e-3, atol=1e-3)  # float16 on disk


def test_batched_analogy_accuracy_agrees_with_gensims_evaluation():
    emb = w2v.load_pretrained()
    ours = w2v.analogy_accuracy(emb, restrict_vocab=1500)
    acc, sections = emb.to_gensim().evaluate_word_analogies(w2v.gensim_test_file("questions-words.txt"),
                                                            restrict_vocab=1500)
    total = sections[-1]
    assert ours["answered"] == len(total["correct"]) + len(total["incorrect"]) > 100
    assert ours["accuracy"] == pytest.approx(acc, abs=1.5 / ours["answered"])  # at most one tie apart


def test_shipped_vectors_answer_the_classic_analogy():
    emb = w2v.load_pretrained()
    assert len(emb) == 40_000 and emb.vectors.shape == (40_000, 100)
    assert emb.analogy("king", "man", "woman") == "queen"
    assert w2v.analogy_accuracy(emb, max_questions=2000)["accuracy"] > 0.15


def kernel_negatives(state, cum_table, pairs_per_centre, negative):
    """The negatives the numba kernel draws, replayed with the readable LCG.

    Per kept centre word the kernel draws once for the window, then `negative` noise words for
    each of its updates (no subsampling draws when every keep probability is 1).
    """
    rng = w2v.LCG(state)
    drawn = []
    for n_updates in pairs_per_centre:
        rng.next()  # the window shrink b (always 0 for window=1)
        for _ in range(n_updates):
            drawn.append([w2v._draw_negative(cum_table, rng.next()) for _ in range(negative)])
    return drawn


@pytest.mark.parametrize("sg", [True, False], ids=["skip-gram", "cbow"])
def test_numba_kernel_steps_by_minus_the_rate_times_the_sgns_gradient(sg):
    """Each update of the fast kernel is W -= lr * grad, with the gradient of `sgns_loss_and_grads`.

    A sentence of 2 words (skip-gram) or 3 (CBOW), window 1, keep probabilities 1 and
    alpha = min_alpha, so the rate is constant and the updates are determined: skip-gram
    predicts word 0 from word 1, then word 1 from word 0; CBOW predicts each word from the mean
    of its neighbours. The kernel's conventions, replayed here: the negatives of each update
    come from its own LCG stream (replayed with `LCG` and `_draw_negative`); a negative equal
    to the target is skipped; the input vector's step is accumulated over the positive and all
    negatives at the output vectors' old values and applied after them (in CBOW the whole step
    goes to every context word, as in word2vec). The starting LCG state is chosen so that no
    noise word is drawn twice within one update (the kernel would then update that row twice,
    a second-order difference from the gradient step). float64 replay against float32 kernel.
    """
    rng = fresh_rng()
    worst = 0.0
    for _ in range(6):
        V, D, K = int(rng.integers(5, 15)), int(rng.integers(2, 12)), int(rng.integers(1, 5))
        counts = np.sort(rng.integers(5, 500, size=V))[::-1].astype(np.int64)
        vocab = w2v.Vocabulary([f"w{i}" for i in range(V)], counts, np.ones(V),
                               w2v.noise_table(counts))
        sent = [int(w) for w in rng.choice(V, size=2 if sg else 3, replace=False)]
        if sg:  # (input words, target) in the kernel's order
            updates = [([sent[1]], sent[0]), ([sent[0]], sent[1])]
        else:
            updates = [([sent[1]], sent[0]), ([sent[0], sent[2]], sent[1]), ([sent[1]], sent[2])]
        while True:
            state = int(rng.integers(1, 2**48))
            drawn = kernel_negatives(state, vocab.cum_table, [1] * len(sent), K)
            negs = [[w for w in d if w != t] for d, (_, t) in zip(drawn, updates)]
            if all(len(set(n)) == len(n) for n in negs):
                break
        W_in = rng.normal(scale=0.5, size=(V, D)).astype(np.float32)
        W_out = rng.normal(scale=0.5, size=(V, D)).astype(np.float32)
        alpha = float(rng.uniform(0.01, 0.1))
        st = w2v.train_arrays(np.array(sent, dtype=np.int32), np.array([0, len(sent)]), vocab,
                              vector_size=D, window=1, negative=K, epochs=1, alpha=alpha,
                              min_alpha=alpha, sg=sg,
                              state=w2v.Word2VecState(vocab, W_in.copy(), W_out.copy(), state,
                                                   0, 0, []))
        lr = float(np.float32(alpha))  # the kernel's rate is a float32
        Wi, Wo = W_in.astype(np.float64), W_out.astype(np.float64)
        losses = []
        for (inputs, target), n in zip(updates, negs):
            loss, d_v, d_pos, d_neg = w2v.sgns_loss_and_grads(Wi[inputs].mean(axis=0),
                                                              Wo[target], Wo[n])
            losses.append(loss)
            Wo[target] -= lr * d_pos
            Wo[n] -= lr * d_neg
            Wi[inputs] -= lr * d_v
        assert np.abs(Wi - W_in).max() > 1e-3  # the step moved the vectors
        err = max(np.abs(st.W_in - Wi).max(), np.abs(st.W_out - Wo).max())
        worst = max(worst, float(err))
        np.testing.assert_allclose(st.W_in, Wi, rtol=0, atol=1e-6)
        np.testing.assert_allclose(st.W_out, Wo, rtol=0, atol=1e-6)
        assert st.losses[-1] == pytest.approx(np.mean(losses), rel=1e-5)  # mean loss per update
    print(f"largest |kernel - gradient step| {worst:.1e}")
