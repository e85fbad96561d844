"""Gaussian HMMs: likelihood, posteriors, Viterbi and Baum–Welch against brute force and hmmlearn.

Tolerances: log-likelihoods and posteriors agree with hmmlearn to 1e-8 (absolute on posteriors,
relative 1e-10 + absolute 1e-8 on log-likelihoods), one EM step's parameters to 1e-6, and
everything agrees with enumeration of all K^T state paths to 1e-9.
"""
import itertools
import warnings

import numpy as np
import pytest
from hmmlearn.hmm import GaussianHMM as ReferenceHMM
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from rnnbook import hmm
from rnnbook.gaussian_hmm import (GaussianHMM, diag_log_density, fit_classifier, full_log_density,
                                  initial_model)

RNG = np.random.default_rng()


def random_model(rng, K, D, covariance_type="diag", left_right=False):
    start = rng.dirichlet(np.ones(K))
    trans = rng.dirichlet(np.ones(K), size=K)
    if left_right:
        start = np.eye(K)[0]
        trans = np.triu(trans)
        trans /= trans.sum(axis=1, keepdims=True)
    means = rng.normal(0, 2, (K, D))
    if covariance_type == "diag":
        covars = rng.uniform(0.3, 2.0, (K, D))
    else:
        A = rng.normal(size=(K, D, D))
        covars = A @ A.transpose(0, 2, 1) / D + 0.3 * np.eye(D)
    return GaussianHMM(start, trans, means, covars, covariance_type)


def reference_copy(model, params="stmc"):
    ref = ReferenceHMM(model.n_states, covariance_type=model.covariance_type, init_params="",
                       params=params, n_iter=1, tol=0.0, covars_prior=0.0, min_covar=0.0,
                       implementation="log")
    ref.startprob_, ref.transmat_, ref.means_ = model.startprob, model.transmat, model.means
    ref.covars_ = model.covars
    return ref


def brute_force(model, x):
    """(paths, log p(path, x)) for every one of the K^T state paths."""
    K, T = model.n_states, len(x)
    paths = np.array(list(itertools.product(range(K), repeat=T)))
    logb = model.log_emission(x)
    with np.errstate(divide="ignore"):
        lp = (np.log(model.startprob[paths[:, 0]]) + logb[np.arange(T), paths].sum(1)
              + np.log(model.transmat[paths[:, :-1], paths[:, 1:]]).sum(1))
    return paths, lp


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_log_densities_match_scipy_multivariate_normal(covariance_type):
    rng = np.random.default_rng(RNG.integers(2**32))
    model = random_model(rng, 3, 4, covariance_type)
    x = rng.normal(0, 2, (7, 4))
    expected = np.stack([multivariate_normal(m, np.diag(c) if c.ndim == 1 else c).logpdf(x)
                         for m, c in zip(model.means, model.covars)], axis=1)
    np.testing.assert_allclose(model.log_emission(x), expected, rtol=1e-12, atol=1e-10)


def test_diag_density_keeps_its_digits_when_the_mean_is_far_from_zero():
    x = np.array([[1e4 + 1.0]])
    got = diag_log_density(x, np.array([[1e4]]), np.array([[1e-4]]))
    assert got[0, 0] == pytest.approx(-0.5 * (1.0 / 1e-4 + np.log(2 * np.pi * 1e-4)), rel=1e-12)
    assert full_log_density(x, np.array([[1e4]]), np.array([[[1e-4]]]))[0, 0] == pytest.approx(
        got[0, 0], rel=1e-9)


@pytest.mark.parametrize("trial", range(6))
def test_likelihood_posterior_and_viterbi_match_brute_force_on_tiny_models(trial):
    rng = np.random.default_rng(RNG.integers(2**32))
    K, T, D = int(rng.integers(1, 4)), int(rng.integers(1, 6)), int(rng.integers(1, 4))
    model = random_model(rng, K, D, ["diag", "full"][trial % 2], left_right=trial >= 4)
    _, x = model.sample(T, seed=int(rng.integers(2**31)))
    paths, lp = brute_force(model, x)
    p = model.forward_backward(x)
    assert p.loglik == pytest.approx(logsumexp(lp), rel=1e-12, abs=1e-9)
    weights = np.exp(lp - logsumexp(lp))
    gamma = np.stack([np.bincount(paths[:, t], weights, minlength=K) for t in range(T)])
    np.testing.assert_allclose(p.gamma, gamma, atol=1e-9)
    prefixes = [logsumexp(brute_force(model, x[:t + 1])[1]) for t in range(T)]
    np.testing.assert_allclose(p.log_prefix, prefixes, rtol=1e-12, atol=1e-9)
    if T > 1:
        xi = np.zeros((K, K))
        for t in range(T - 1):
            np.add.at(xi, (paths[:, t], paths[:, t + 1]), weights)
        np.testing.assert_allclose(p.xi_sum, xi, atol=1e-9)
    path, best = model.viterbi(x)
    assert best == pytest.approx(lp.max(), rel=1e-12, abs=1e-9)
    path_lp = lp[np.flatnonzero((paths == path).all(axis=1))[0]]
    assert path_lp == pytest.approx(lp.max(), abs=1e-9)


@pytest.mark.parametrize("trial", range(4))
def test_likelihood_posteriors_and_viterbi_match_hmmlearn(trial):
    rng = np.random.default_rng(RNG.integers(2**32))
    K, D = int(rng.integers(2, 6)), int(rng.integers(1, 6))
    model = random_model(rng, K, D, ["diag", "full"][trial % 2], left_right=trial == 2)
    xs = [model.sample(int(rng.integers(1, 60)), seed=int(rng.integers(2**31)))[1]
          for _ in range(int(rng.integers(1, 5)))]
    ref, X, lengths = reference_copy(model), np.concatenate(xs), [len(x) for x in xs]
    many = model.forward_backward_many(xs)
    assert many.loglik == pytest.approx(ref.score(X, lengths), rel=1e-10, abs=1e-8)
    np.testing.assert_allclose(many.gamma, ref.predict_proba(X, lengths), atol=1e-8)
    for x, ll in zip(xs, many.logliks):
        assert ll == pytest.approx(ref.score(x), rel=1e-10, abs=1e-8)
        assert model.log_likelihood(x) == pytest.approx(ll, rel=1e-10, abs=1e-8)
        np.testing.assert_allclose(model.posterior(x), ref.predict_proba(x), atol=1e-8)
        ref_lp, ref_path = ref.decode(x, algorithm="viterbi")
        path, lp = model.viterbi(x)
        assert lp == pytest.approx(ref_lp, rel=1e-10, abs=1e-8)
        # both paths are optimal; with continuous frames ties have probability zero
        np.testing.assert_array_equal(path, ref_path)


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_one_baum_welch_step_equals_hmmlearn_em_step(covariance_type):
    rng = np.random.default_rng(RNG.integers(2**32))
    K, D = int(rng.integers(2, 5)), int(rng.integers(1, 5))
    truth = random_model(rng, K, D, covariance_type)
    xs = [truth.sample(int(rng.integers(30, 80)), seed=int(rng.integers(2**31)))[1]
          for _ in range(3)]
    start = random_model(rng, K, D, covariance_type)
    ours = start.fit(xs, n_iter=1, tol=-np.inf, min_covar=0.0).model
    ref = reference_copy(start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.fit(np.concatenate(xs), [len(x) for x in xs])
    for name, got, want in [("startprob", ours.startprob, ref.startprob_),
                            ("transmat", ours.transmat, ref.transmat_),
                            ("means", ours.means, ref.means_),
                            ("covars", ours.covars, ref._covars_)]:
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_baum_welch_never_decreases_the_log_likelihood(covariance_type):
    rng = np.random.default_rng(RNG.integers(2**32))
    truth = random_model(rng, 3, 2, covariance_type)
    xs = [truth.sample(40, seed=int(rng.integers(2**31)))[1] for _ in range(4)]
    result = initial_model(xs, 3, "ergodic", covariance_type).fit(xs, n_iter=25, tol=-np.inf)
    assert len(result.history) == 26
    assert np.all(np.diff(result.history) > -1e-8 * np.abs(result.history[1:]))
    assert result.model.log_likelihoods(xs).sum() == pytest.approx(result.history[-1], rel=1e-12)


def test_variance_floor_stops_a_state_from_collapsing_onto_one_point():
    x = np.array([[0.0], [0.0], [0.0], [5.0], [5.0], [5.0]])     # zero variance within halves
    model = initial_model([x], 2, "left-right", min_covar=0.25)
    fitted = model.fit([x], n_iter=5, min_covar=0.25).model
    assert np.all(fitted.covars >= 0.25) and np.isfinite(fitted.log_likelihood(x))
    full = initial_model([np.hstack([x, x])], 2, "left-right", "full", min_covar=0.25)
    fitted = full.fit([np.hstack([x, x])], n_iter=5, min_covar=0.25).model
    assert np.linalg.eigvalsh(fitted.covars).min() >= 0.25 - 1e-12


def test_left_to_right_models_stay_left_to_right():
    rng = np.random.default_rng(RNG.integers(2**32))
    truth = random_model(rng, 3, 2, left_right=True)
    xs = [truth.sample(30, seed=int(rng.integers(2**31)))[1] for _ in range(3)]
    fitted = initial_model(xs, 3, "left-right").fit(xs, n_iter=10).model
    assert np.all(np.tril(fitted.transmat, -1) == 0) and np.all(fitted.startprob[1:] == 0)


def test_sequences_run_together_equal_sequences_run_alone():
    rng = np.random.default_rng(RNG.integers(2**32))
    model = random_model(rng, 3, 2, left_right=True)
    xs = [model.sample(int(n), seed=int(rng.integers(2**31)))[1] for n in rng.integers(1, 9, 6)]
    many = model.forward_backward_many(xs)
    alone = [model.forward_backward(x) for x in xs]
    np.testing.assert_allclose(many.logliks, [p.loglik for p in alone], rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(many.gamma, np.concatenate([p.gamma for p in alone]), atol=1e-12)
    np.testing.assert_allclose(many.xi_sum, sum(p.xi_sum for p in alone), atol=1e-12)


def test_classifier_recovers_which_model_made_each_sequence():
    rng = np.random.default_rng(RNG.integers(2**32))
    truths = [random_model(rng, 2, 3, left_right=True) for _ in range(3)]
    xs, ys = [], []
    for c, m in enumerate(truths):
        for _ in range(15):
            xs.append(m.sample(20, seed=int(rng.integers(2**31)))[1])
            ys.append(c)
    clf = fit_classifier(xs, ys, 2, "left-right", n_iter=10)
    assert (clf.predict(xs) == np.array(ys)).mean() > 0.9


def test_forward_backward_takes_log_emissions_of_any_model():
    """Discrete emissions written as a (T, K) matrix give DiscreteHMM's answers."""
    rng = np.random.default_rng(RNG.integers(2**32))
    K, M = 3, 4
    d = hmm.DiscreteHMM(rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K), size=K),
                        rng.dirichlet(np.ones(M), size=K))
    _, obs = d.sample(50, seed=int(rng.integers(2**31)))
    logb = np.log(d.emissionprob[:, obs].T)
    p = hmm.forward_backward(d.startprob, d.transmat, logb)
    assert p.loglik == pytest.approx(d.log_likelihood(obs), rel=1e-12)
    np.testing.assert_allclose(p.gamma, d.posterior(obs), atol=1e-12)
    assert hmm.viterbi_from_log_emissions(d.startprob, d.transmat, logb)[1] == pytest.approx(
        d.viterbi(obs)[1], rel=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    ({"means": np.zeros((3, 2))}, "means must be"),
    ({"covars": -np.ones((2, 2))}, "positive"),
    ({"covars": np.ones((2, 3))}, "covars must have shape"),
    ({"covariance_type": "tied"}, "covariance_type"),
    ({"startprob": [0.5, 0.6]}, "startprob sums to"),
])
def test_bad_parameters_raise_value_errors_naming_the_argument(kwargs, match):
    args = {"startprob": [0.5, 0.5], "transmat": [[0.9, 0.1], [0.2, 0.8]],
            "means": np.zeros((2, 2)), "covars": np.ones((2, 2))} | kwargs
    with pytest.raises(ValueError, match=match):
        GaussianHMM(**args)


def test_bad_frames_and_lengths_are_refused_clearly():
    model = GaussianHMM([1.0], [[1.0]], np.zeros((1, 2)), np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"\(T, 2\)"):
        model.log_likelihood(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="NaN"):
        model.log_likelihood(np.full((4, 2), np.nan))
    with pytest.raises(ValueError, match="list of"):
        model.fit(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="lengths sum"):
        hmm.forward_backward([1.0], [[1.0]], np.zeros((4, 1)), lengths=[2, 3])
    with pytest.raises(ValueError, match="fewer than"):
        initial_model([np.zeros((2, 2))], 3)
    with pytest.raises(ValueError, match="topology"):
        initial_model([np.zeros((5, 2))], 2, "circular")


def test_impossible_sequences_and_silent_steps_raise_instead_of_returning_nan():
    # state 1 cannot start and state 0 cannot emit the first frame: probability zero
    with pytest.raises(ValueError, match="probability zero"):
        hmm.forward_backward([1.0, 0.0], [[0.5, 0.5], [0.5, 0.5]], [[-np.inf, 0.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="row 1 is -inf for every state"):
        hmm.forward_backward([0.5, 0.5], [[0.5, 0.5], [0.5, 0.5]], [[0.0, 0.0], [-np.inf, -np.inf]])
    with pytest.raises(ValueError, match="NaN"):
        hmm.forward_backward([1.0], [[1.0]], [[np.nan]])
