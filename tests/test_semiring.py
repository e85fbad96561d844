"""rnnbook.semiring: the log-depth scan and the three algebras that rnnbook.hmm runs on."""
import numpy as np
import pytest

from rnnbook import hmm, semiring


@pytest.mark.parametrize("n", [1, 2, 7, 64])
def test_maxplus_scan_gives_every_prefix_of_the_sequential_products(n):
    rng = np.random.default_rng()
    K = 3
    v0, M = rng.normal(size=(K, 1)), rng.normal(size=(K, K, n))
    got = semiring.scan((v0,), (M,), semiring.maxplus_mul, semiring.maxplus_act)[0]
    v = v0[:, 0]
    for t in range(n):  # one (max, +) vector-matrix product at a time
        v = (v[:, None] + M[:, :, t]).max(axis=0)
        np.testing.assert_allclose(got[:, t], v, rtol=1e-12)
    whole = semiring.reduce((M,), semiring.maxplus_mul)[0][:, :, 0]
    seq = M[:, :, 0]
    for t in range(1, n):
        seq = semiring.maxplus_matmul(seq, M[:, :, t])
    np.testing.assert_allclose(whole, seq, rtol=1e-12)


def test_rescaled_sum_product_keeps_the_log_scale_of_products_that_would_underflow():
    rng = np.random.default_rng()
    K, n = 4, 300
    M = rng.random((K, K, n)) * 1e-3          # the plain product underflows to 0
    v0 = rng.random(K)
    got = semiring.scan(semiring.sumprod_vector(v0), semiring.sumprod_matrices(M),
                        semiring.sumprod_mul, semiring.sumprod_act)
    log_total, v = np.log(v0.sum()), v0 / v0.sum()
    for t in range(n):  # the same product in log space, normalising every step
        v = v @ M[:, :, t]
        log_total += np.log(v.sum())
        v = v / v.sum()
    np.testing.assert_allclose(got[0][:, -1], v, rtol=1e-10)
    assert got[1][-1] == pytest.approx(log_total, rel=1e-12)


def test_composition_scan_applies_the_maps_in_order_and_hmm_keeps_the_old_names():
    rng = np.random.default_rng()
    K, n = 5, 33
    maps = rng.integers(0, K, size=(K, n))
    got = semiring.scan((np.array([2]),), (maps,), semiring.compose, semiring.apply_map)[0]
    s = 2
    for t in range(n):
        s = maps[s, t]
        assert got[t] == s
    assert hmm.scan is semiring.scan and hmm.reduce is semiring.reduce
    assert hmm.maxplus_matmul is semiring.maxplus_matmul
