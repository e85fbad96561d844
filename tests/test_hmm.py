"""Discrete HMMs: forward, posteriors, Viterbi and Baum–Welch against brute force and hmmlearn."""
import itertools
import warnings

import numpy as np
import pytest
from hmmlearn.hmm import CategoricalHMM
from scipy.special import logsumexp

from rnnbook.hmm import DiscreteHMM, backtrack, casino, maxplus_matmul, reduce, scan

RNG = np.random.default_rng()


def random_hmm(rng, K, M, zeros=False):
    def rows(shape):
        p = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
        if zeros:                                  # forbid some entries, keep one per row
            p = p * (rng.random(p.shape) > 0.3)
            p[np.arange(len(p)), rng.integers(0, shape[-1], len(p))] += 0.1
            p /= p.sum(axis=-1, keepdims=True)
        return p
    return DiscreteHMM(rows((1, K))[0], rows((K, K)), rows((K, M)))


def brute_force(hmm, obs):
    """Log joint of every path: (paths, log P(path, obs)) by enumeration."""
    K, T = hmm.n_states, len(obs)
    paths = np.array(list(itertools.product(range(K), repeat=T)))
    with np.errstate(divide="ignore"):
        lp = (np.log(hmm.startprob[paths[:, 0]]) + np.log(hmm.emissionprob[paths, obs]).sum(1)
              + np.log(hmm.transmat[paths[:, :-1], paths[:, 1:]]).sum(1))
    return paths, lp


def hmmlearn_copy(hmm):
    ref = CategoricalHMM(hmm.n_states, init_params="", params="ste", n_iter=1, tol=0.0)
    ref.n_features = hmm.n_symbols
    ref.startprob_, ref.transmat_, ref.emissionprob_ = hmm.startprob, hmm.transmat, hmm.emissionprob
    return ref


@pytest.mark.parametrize("trial", range(8))
def test_forward_viterbi_and_posterior_match_brute_force_on_small_hmms(trial):
    # HMMs with zeros can make a drawn sequence impossible (that case has its own test below):
    # draw again until the sequence has a positive probability
    for _ in range(1000):
        K, M, T = int(RNG.integers(2, 4)), int(RNG.integers(2, 5)), int(RNG.integers(1, 7))
        hmm = random_hmm(RNG, K, M, zeros=trial % 2 == 1)
        obs = RNG.integers(0, M, T)
        paths, lp = brute_force(hmm, obs)
        total = logsumexp(lp)
        if np.isfinite(total):
            break
    assert np.isfinite(total), "1,000 draws in a row gave impossible sequences"
    np.testing.assert_allclose(hmm.log_likelihood(obs), total, rtol=1e-8, atol=1e-10)
    path, log_prob = hmm.viterbi(obs)
    np.testing.assert_allclose(log_prob, lp.max(), rtol=1e-8, atol=1e-10)
    ours = np.flatnonzero((paths == path).all(axis=1))[0]
    np.testing.assert_allclose(lp[ours], lp.max(), rtol=1e-12)      # our path is optimal
    if np.sum(lp > lp.max() - 1e-9) == 1:                            # and THE optimum if unique
        np.testing.assert_array_equal(path, paths[np.argmax(lp)])
    w = np.exp(lp - total)
    expected = np.stack([np.bincount(paths[:, t], weights=w, minlength=K) for t in range(T)])
    np.testing.assert_allclose(hmm.posterior(obs), expected, rtol=1e-8, atol=1e-10)
    # log alpha_t(k) = log sum over paths ending in k at t, of P(prefix path, o_1..o_t)
    log_alpha = hmm.log_forward(obs)
    assert log_alpha.shape == (T, K)
    np.testing.assert_allclose(np.exp(log_alpha[-1]).sum(), np.exp(total), rtol=1e-8)


def log_joint(hmm, path, obs):
    return (np.log(hmm.startprob[path[0]]) + np.log(hmm.emissionprob[path, obs]).sum()
            + np.log(hmm.transmat[path[:-1], path[1:]]).sum())


@pytest.mark.parametrize("trial", range(3))
def test_viterbi_log_likelihood_and_posterior_match_hmmlearn_on_long_sequences(trial):
    """Viterbi paths can tie EXACTLY: in a run of one repeated symbol, a self-loop can move along
    a cycle of states (3,2,4,3,3 vs 3,3,2,4,3) without changing any factor of the product. The
    scan and hmmlearn's loop round differently, so they may pick different optimal paths; we
    require the same optimal value and our path to attain it (to 1e-10 relative, while a
    suboptimal path falls short by orders of magnitude more). The casino test below, where
    such ties do not arise on the optimal path, compares the paths position by position."""
    K, M = int(RNG.integers(2, 6)), int(RNG.integers(2, 8))
    hmm = random_hmm(RNG, K, M)
    _, obs = hmm.sample(int(RNG.integers(2_000, 20_000)), seed=int(RNG.integers(2**31)))
    ref = hmmlearn_copy(hmm)
    X = obs[:, None]
    np.testing.assert_allclose(hmm.log_likelihood(obs), ref.score(X), rtol=1e-8)
    ref_logprob, ref_path = ref.decode(X, algorithm="viterbi")
    path, log_prob = hmm.viterbi(obs)
    np.testing.assert_allclose(log_prob, ref_logprob, rtol=1e-8)
    np.testing.assert_allclose(log_joint(hmm, path, obs), log_joint(hmm, ref_path, obs), rtol=1e-10)
    np.testing.assert_allclose(hmm.posterior(obs), ref.predict_proba(X), rtol=1e-6, atol=1e-8)


def test_casino_at_100000_steps_matches_hmmlearn():
    hmm = casino()
    _, obs = hmm.sample(100_000, seed=int(RNG.integers(2**31)))
    ref, X = hmmlearn_copy(hmm), obs[:, None]
    np.testing.assert_allclose(hmm.log_likelihood(obs), ref.score(X), rtol=1e-8)
    np.testing.assert_array_equal(hmm.viterbi(obs)[0], ref.decode(X)[1])


def test_one_baum_welch_step_equals_hmmlearn_em_step():
    hmm = random_hmm(RNG, 3, 4)
    _, obs = hmm.sample(3000, seed=int(RNG.integers(2**31)))
    start = random_hmm(RNG, 3, 4)
    ours, history = start.fit(obs, n_iter=1, tol=-np.inf)
    ref = hmmlearn_copy(start).fit(obs[:, None])
    np.testing.assert_allclose(ours.startprob, ref.startprob_, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(ours.transmat, ref.transmat_, rtol=1e-8)
    np.testing.assert_allclose(ours.emissionprob, ref.emissionprob_, rtol=1e-8)
    assert len(history) == 2
    np.testing.assert_allclose(history[1], ours.log_likelihood(obs), rtol=1e-12)


@pytest.mark.parametrize("trial", range(3))
def test_baum_welch_never_decreases_the_log_likelihood(trial):
    true = random_hmm(RNG, 3, 5)
    _, obs = true.sample(2000, seed=int(RNG.integers(2**31)))
    fitted, history = random_hmm(RNG, 3, 5).fit(obs, n_iter=40, tol=0.0)
    assert np.all(np.diff(history) >= -1e-8 * np.abs(history[1:]))
    assert history[-1] > history[0]
    np.testing.assert_allclose(history[-1], fitted.log_likelihood(obs), rtol=1e-12)


def test_baum_welch_stops_when_the_gain_is_below_tol():
    true = casino()
    _, obs = true.sample(3000, seed=1)
    _, history = true.fit(obs, n_iter=500, tol=1e-2)
    assert len(history) < 501 and history[-1] - history[-2] < 1e-2


def test_impossible_transitions_give_minus_inf_never_nan():
    hmm = DiscreteHMM([1.0, 0.0], [[0.0, 1.0], [0.0, 1.0]], [[1.0, 0.0], [0.5, 0.5]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hmm.log_likelihood([0, 1, 1]) == pytest.approx(np.log(0.25))
        path, lp = hmm.viterbi([0, 1, 1])
        assert list(path) == [0, 1, 1] and lp == pytest.approx(np.log(0.25))
        assert hmm.log_likelihood([1, 0]) == -np.inf            # state 0 emits 0 only
        assert hmm.viterbi([1, 0])[1] == -np.inf
        la = hmm.log_forward([0, 1])
        assert la[0, 1] == -np.inf and not np.isnan(la).any()
    with pytest.raises(ValueError, match="probability zero"):
        hmm.posterior([1, 0])


def test_scan_computes_every_prefix_product_for_any_length():
    for n in range(1, 20):
        mats = RNG.normal(size=(2, 2, n))
        v0 = RNG.normal(size=(2, 1))
        mul = lambda a, b: (np.einsum("ikn,kjn->ijn", a[0], b[0]),)
        act = lambda v, m: (np.einsum("kn,kjn->jn", v[0], m[0]),)
        got = scan((v0,), (mats,), mul, act)[0]
        v = v0[:, 0]
        for t in range(n):
            v = v @ mats[:, :, t]
            np.testing.assert_allclose(got[:, t], v, rtol=1e-10, atol=1e-12)
        total = reduce((mats,), mul)[0][:, :, 0]
        np.testing.assert_allclose(v0[:, 0] @ total, v, rtol=1e-10, atol=1e-12)


def test_maxplus_matmul_is_the_tropical_product():
    A, B = RNG.normal(size=(4, 3)), RNG.normal(size=(3, 5))
    expected = np.array([[max(A[i, k] + B[k, j] for k in range(3)) for j in range(5)] for i in range(4)])
    np.testing.assert_allclose(maxplus_matmul(A, B), expected)
    A[0, :] = -np.inf
    assert np.all(maxplus_matmul(A, B)[0] == -np.inf)


def test_backtrack_follows_the_pointers_from_the_end():
    psi = np.array([[0, 0], [1, 0], [0, 0], [1, 1]])      # psi[t, j]: best state at t-1
    assert list(backtrack(psi, 0)) == [1, 0, 1, 0]   # s3=0, s2=psi[3,0], s1=psi[2,1], s0=psi[1,0]
    assert list(backtrack(psi[:1], 1)) == [1]


def test_sampling_is_reproducible_and_follows_the_model():
    hmm = casino()
    s1, o1 = hmm.sample(50_000, seed=5)
    s2, o2 = hmm.sample(50_000, seed=5)
    np.testing.assert_array_equal(o1, o2)
    sixes_loaded = np.mean(o1[s1 == 1] == 5)
    assert abs(sixes_loaded - 0.5) < 0.02
    stay_fair = np.mean(s1[1:][s1[:-1] == 0] == 0)
    assert abs(stay_fair - 0.95) < 0.01


@pytest.mark.parametrize("kwargs, match", [
    (dict(transmat=[[0.9, 0.2], [0.5, 0.5]]), "transmat row 0 sums to 1.1"),
    (dict(emissionprob=[[0.5, 0.5], [1.2, -0.2]]), "emissionprob row 1 has a negative"),
    (dict(startprob=[0.3, 0.3]), "startprob sums to 0.6"),
    (dict(transmat=[[1.0]]), r"transmat must have shape \(2, 2\)"),
])
def test_invalid_probabilities_raise_value_errors_naming_argument_and_row(kwargs, match):
    base = dict(startprob=[0.5, 0.5], transmat=[[0.9, 0.1], [0.2, 0.8]],
                emissionprob=[[0.5, 0.5], [0.1, 0.9]])
    base.update(kwargs)
    with pytest.raises(ValueError, match=match):
        DiscreteHMM(**base)


def test_symbols_out_of_range_are_refused_with_their_position():
    with pytest.raises(ValueError, match=r"obs\[2\] = 6 is not a symbol"):
        casino().log_likelihood([0, 5, 6])
    with pytest.raises(ValueError, match="integer"):
        casino().viterbi(np.array([0.5, 1.0]))


@pytest.mark.parametrize("trial", range(4))
def test_compiled_viterbi_and_the_scan_find_paths_of_the_same_probability(trial):
    K, M = int(RNG.integers(2, 6)), int(RNG.integers(2, 8))
    hmm = random_hmm(RNG, K, M, zeros=trial % 2 == 1)
    _, obs = hmm.sample(int(RNG.integers(1, 5_000)), seed=int(RNG.integers(2**31)))
    path, lp = hmm.viterbi(obs)
    scan_path, scan_lp = hmm.viterbi_scan(obs)
    np.testing.assert_allclose(lp, scan_lp, rtol=1e-10)
    np.testing.assert_allclose(log_joint(hmm, path, obs), lp, rtol=1e-10)
    np.testing.assert_allclose(log_joint(hmm, scan_path, obs), lp, rtol=1e-10)


def test_the_scan_viterbi_matches_hmmlearn_on_the_casino():
    hmm = casino()
    _, obs = hmm.sample(20_000, seed=int(RNG.integers(2**31)))
    np.testing.assert_array_equal(hmm.viterbi_scan(obs)[0], hmmlearn_copy(hmm).decode(obs[:, None])[1])
