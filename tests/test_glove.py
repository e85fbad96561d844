"""GloVe: the loss gradient, the co-occurrence counts, and a fit whose answer is known."""
import secrets

import numpy as np
import pytest
import scipy.sparse as sp

from rnnbook import glove


def fresh_rng():
    seed = secrets.randbits(32)
    print(f"seed {seed}")
    return np.random.default_rng(seed)


def test_weighting_function_values():
    x = np.array([0.5, 10.0, 100.0, 250.0])
    np.testing.assert_allclose(glove.weighting(x, 100, 0.75), [(0.005) ** 0.75, 0.1**0.75, 1, 1])
    assert glove.weighting(np.array([50.0]), 100, 1.0)[0] == pytest.approx(0.5)


def test_glove_gradient_matches_central_finite_differences_on_fresh_inputs():
    rng = fresh_rng()
    n, D, m = 6, 4, 15
    W, V = rng.normal(size=(n, D)), rng.normal(size=(n, D))
    b, c = rng.normal(size=n), rng.normal(size=n)
    rows, cols = rng.integers(n, size=m), rng.integers(n, size=m)  # repeats on purpose
    x = rng.uniform(0.2, 200, size=m)  # both sides of x_max
    _, *grads = glove.loss_and_grads(W, V, b, c, rows, cols, x, x_max=50)
    eps = 1e-6
    for p, g in zip((W, V, b, c), grads):
        num = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + eps
            lp = glove.loss_and_grads(W, V, b, c, rows, cols, x, x_max=50)[0]
            p[i] = old - eps
            lm = glove.loss_and_grads(W, V, b, c, rows, cols, x, x_max=50)[0]
            p[i] = old
            num[i] = (lp - lm) / (2 * eps)
        np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-6)


def test_cooccurrence_of_a_three_word_sentence_by_hand():
    X = glove.cooccurrence(np.array([0, 1, 2], np.int32), np.array([0, 3]), 3, window=2).toarray()
    expected = np.array([[0, 1, 0.5], [1, 0, 1], [0.5, 1, 0]])
    np.testing.assert_allclose(X, expected)


def test_cooccurrence_matches_the_plain_python_counts_on_fresh_sentences():
    rng = fresh_rng()
    sents = [list(rng.integers(0, 12, size=int(rng.integers(1, 30)))) for _ in range(50)]
    ids = np.concatenate(sents).astype(np.int32)
    bounds = np.concatenate([[0], np.cumsum([len(s) for s in sents])])
    for window in (1, 3, 10):
        X = glove.cooccurrence(ids, bounds, 12, window=window, chunk=5000).toarray()
        ref = np.zeros((12, 12))
        for (i, j), v in glove.cooccurrence_pairs(sents, window).items():
            ref[i, j] = v
        np.testing.assert_allclose(X, ref, rtol=1e-12)
        np.testing.assert_allclose(X, X.T)


def test_fit_recovers_log_counts_that_are_exactly_low_rank():
    # X_ij = exp(w_i.v_j + b_i + c_j) with rank 3: a perfect fit exists, loss must reach ~0
    rng = np.random.default_rng(0)
    n, D = 30, 3
    logX = rng.normal(size=(n, D)) @ rng.normal(size=(D, n)) * 0.5 + rng.normal(size=(n, 1)) + 2
    m = glove.fit(sp.csr_matrix(np.exp(logX)), vector_size=D, epochs=400, lr=0.1, x_max=1e-9, seed=1)
    fitted = m.W @ m.V.T + m.b[:, None] + m.c[None, :]
    assert m.losses[-1] < 1e-3 * m.losses[0]
    np.testing.assert_allclose(fitted, logX, atol=0.05)


def test_glove_vectors_separate_planted_topics():
    rng = np.random.default_rng(0)
    a, b = [f"a{i}" for i in range(8)], [f"b{i}" for i in range(8)]
    sents = [list(rng.choice(a if k % 2 else b, size=15)) for k in range(300)]
    emb = glove.train(sents, vector_size=10, window=4, min_count=1, epochs=50, x_max=10)
    within = np.mean([emb.similarity("a0", w) for w in a[1:]])
    across = np.mean([emb.similarity("a0", w) for w in b])
    # GloVe never sees the absent cross-topic pairs, so it separates the topics less than
    # skip-gram with negatives does; neighbours must still come from the same topic
    assert within > 0.9 and within - across > 0.25
    assert all(w.startswith("a") for w, _ in emb.most_similar("a0", topn=7))


def test_published_glove_6b_vectors_load_with_checksums():
    g = glove.load_glove_6b(n_words=50_000)
    assert len(g) == 50_000 and g.vectors.shape == (50_000, 50) and g.words[0] == "the"
    np.testing.assert_allclose(g["the"][:3], [0.418, 0.24968, -0.41242], rtol=1e-6)
    assert g.analogy("king", "man", "woman") == "queen"


def test_numba_kernel_takes_adagrad_steps_along_loss_and_grads():
    """The fast kernel's update of each pair is one AdaGrad step with `loss_and_grads`' gradient.

    For the pair (i, j, x) with gradients g from `loss_and_grads` on that pair alone, the kernel
    does p -= lr g / sqrt(G) with the accumulator G *before* this step (the reference C code's
    order; the accumulators start at 1 in `fit`), then G += g^2, for W_i, V_j, b_i, c_j, using
    the old W_i in V_j's gradient and the old V_j in W_i's. Checked on one pair from random
    accumulators, then on an epoch of pairs with repeats replayed in order, x on both sides of
    x_max; float64 replay against the float32 kernel.
    """
    rng = fresh_rng()
    epoch = glove._kernels()["epoch"]
    worst_p, worst_g = 0.0, 0.0
    for m in (1, 1, 20, 20):
        n, D = int(rng.integers(2, 9)), int(rng.integers(1, 9))
        params = [rng.normal(scale=0.5, size=(n, D)), rng.normal(scale=0.5, size=(n, D)),
                  rng.normal(size=n), rng.normal(size=n)]
        accum = [rng.uniform(1, 5, size=p.shape) for p in params]
        start = [a.astype(np.float32) for a in params + accum]
        rows, cols = (rng.integers(n, size=m).astype(np.int32) for _ in range(2))  # repeats
        x = rng.uniform(0.2, 200, size=m)
        x_max, alpha, lr = 50.0, float(rng.uniform(0.5, 1)), float(rng.uniform(0.01, 0.2))
        got = [a.copy() for a in start]
        loss = epoch(rows, cols, np.log(x).astype(np.float32),
                     glove.weighting(x, x_max, alpha).astype(np.float32), *got, lr)
        ref = [a.astype(np.float64) for a in start]
        P, G = ref[:4], ref[4:]
        lr32, want_loss = float(np.float32(lr)), 0.0  # the kernel's rate is a float32
        for t in range(m):
            l, *grads = glove.loss_and_grads(*P, rows[t:t + 1], cols[t:t + 1], x[t:t + 1],
                                             x_max, alpha)
            want_loss += l
            for p, acc, g in zip(P, G, grads):
                p -= lr32 * g / np.sqrt(acc)
                acc += g**2
        assert max(np.abs(g - s).max() for g, s in zip(got[:4], start[:4])) > 1e-4  # it moved
        for k, (g, r) in enumerate(zip(got, ref)):
            if k < 4:  # parameters, of order 1
                np.testing.assert_allclose(g, r, rtol=0, atol=2e-6)
                worst_p = max(worst_p, float(np.abs(g - r).max()))
            else:  # accumulators grow to ~100: float32 keeps ~7 digits
                np.testing.assert_allclose(g, r, rtol=2e-6)
                worst_g = max(worst_g, float((np.abs(g - r) / r).max()))
        # the loss sums f diff^2 / 2 with diff summed in float32 from terms up to log 200 = 5.3
        assert loss == pytest.approx(want_loss, rel=1e-5, abs=1e-6), (loss, want_loss)
    print(f"largest |kernel - AdaGrad step| {worst_p:.1e} (parameters), "
          f"{worst_g:.1e} relative (accumulators)")
