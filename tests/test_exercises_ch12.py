"""Chapter 12 checkers: full marks for the reference and for independent answers, feedback (never a
crash) for wrong ones."""
import numpy as np
from scipy.special import logsumexp
from scipy.stats import norm

from checker_contract import checker_contract
from rnnbook import exercises


def ref_logpdf(X, means, variances):
    """Independent: scipy's 1-d normal, summed over coefficients."""
    return norm.logpdf(X[:, None, :], means[None], np.sqrt(variances)[None]).sum(axis=2)


def ref_forward_step(log_alpha, log_transmat, log_b):
    return logsumexp(log_alpha[:, None] + log_transmat, axis=0) + log_b


def ref_classify(log_likelihoods, log_prior):
    return np.argmax(log_likelihoods + log_prior, axis=1)


def ref_masked_mean(x, lengths):
    return np.stack([x[i, :n].mean(axis=0) for i, n in enumerate(lengths)])


def forward_step_in_probabilities(log_alpha, log_transmat, log_b):
    return np.log(np.exp(log_alpha) @ np.exp(log_transmat)) + log_b


CHECKERS = {
    "diag_gaussian_logpdf": (exercises.check_diag_gaussian_logpdf, ref_logpdf, {
        "standard deviation where the variance goes": lambda X, m, v: ref_logpdf(X, m, v ** 2),
        "forgets the normalising constant": lambda X, m, v: -0.5 * (
            ((X[:, None] - m[None]) ** 2) / v[None]).sum(axis=2),
        "transposed (K, T)": lambda X, m, v: ref_logpdf(X, m, v).T,
        "density, not log density": lambda X, m, v: np.exp(ref_logpdf(X, m, v)),
        "NaN": lambda X, m, v: np.full((len(X), len(m)), np.nan),
    }),
    "gaussian_forward_step": (exercises.check_gaussian_forward_step, ref_forward_step, {
        "in probabilities (underflows)": forward_step_in_probabilities,
        "max instead of log-sum-exp (Viterbi's step)": lambda a, A, b: (a[:, None] + A).max(0) + b,
        "sums over the wrong axis": lambda a, A, b: logsumexp(a[None, :] + A, axis=1) + b,
        "forgets the emission": lambda a, A, b: logsumexp(a[:, None] + A, axis=0),
        "returns None": lambda a, A, b: None,
    }),
    "classify_by_likelihood": (exercises.check_classify_by_likelihood, ref_classify, {
        "ignores the prior": lambda L, p: L.argmax(axis=1),
        "multiplies probabilities (underflow)": lambda L, p: np.argmax(np.exp(L) * np.exp(p), axis=1),
        "argmin": lambda L, p: np.argmin(L + p, axis=1),
        "floats": lambda L, p: np.argmax(L + p, axis=1).astype(float),
        "raises": lambda L, p: 1 / 0,
    }),
    "masked_mean": (exercises.check_masked_mean, ref_masked_mean, {
        "averages the padding too": lambda x, n: x.mean(axis=1),
        "sums over real frames but divides by T": lambda x, n: np.stack(
            [x[i, :k].sum(0) for i, k in enumerate(n)]) / x.shape[1],
        "off by one frame": lambda x, n: np.stack([x[i, :max(k - 1, 1)].mean(0) for i, k in enumerate(n)]),
        "wrong shape": lambda x, n: x.mean(axis=2),
    }),
}

(test_the_reference_earns_full_marks_on_fresh_inputs,
 test_an_unattempted_exercise_scores_zero_and_says_so,
 test_typical_wrong_answers_earn_less_and_get_feedback) = checker_contract(CHECKERS, repeats=5)


def test_checkers_are_exported_from_the_exercises_package():
    for name in ["check_diag_gaussian_logpdf", "check_gaussian_forward_step",
                 "check_classify_by_likelihood", "check_masked_mean"]:
        assert name in exercises.__all__
