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


def linear_rule(means, variances):
    return means / variances, -0.5 * (means ** 2 / variances).sum(axis=1)


def prefix_accuracy(X, labels, log_start, log_transmat, means, variances, prefixes):
    C = len(log_start)
    scores = np.empty((X.shape[0], C, X.shape[1]))
    for c in range(C):
        log_b = norm.logpdf(X[:, :, None, :], means[c], np.sqrt(variances[c])).sum(axis=-1)
        alpha = log_start[c] + log_b[:, 0]
        scores[:, c, 0] = logsumexp(alpha, axis=1)
        for t in range(1, X.shape[1]):
            alpha = logsumexp(alpha[:, :, None] + log_transmat[c], axis=1) + log_b[:, t]
            scores[:, c, t] = logsumexp(alpha, axis=1)
    acc = (scores.argmax(axis=1)[:, np.asarray(prefixes) - 1] == labels[:, None]).mean(axis=0)
    reached = [int(t) for t, a in zip(prefixes, acc) if a >= 0.9]
    return {"accuracy": acc, "earliest": reached[0] if reached else None}


CHECKERS["linear_rule"] = (exercises.check_linear_rule, linear_rule, {
    "forgets the variance": lambda m, v: linear_rule(m, np.ones_like(v)),
    "no length term": lambda m, v: (linear_rule(m, v)[0], 0 * linear_rule(m, v)[1]),
    "sign of beta": lambda m, v: (linear_rule(m, v)[0], -linear_rule(m, v)[1]),
    "standard deviation for variance": lambda m, v: linear_rule(m, np.sqrt(v)),
})
CHECKERS["prefix_accuracy"] = (exercises.check_prefix_accuracy, prefix_accuracy, {
    "emissions only (no transitions)": lambda X, y, s, A, m, v, p: prefix_accuracy(
        X, y, s, np.log(np.full_like(A, 1.0 / A.shape[-1])), m, v, p),
    "off by one frame": lambda X, y, s, A, m, v, p: prefix_accuracy(X, y, s, A, m, v, np.maximum(np.asarray(p) - 1, 1)),
    "earliest is the first above 0.8": lambda *a: dict(prefix_accuracy(*a), earliest=next(
        (int(t) for t, q in zip(a[-1], prefix_accuracy(*a)["accuracy"]) if q >= 0.8), None)),
    "whole utterances only": lambda *a: dict(prefix_accuracy(*a), accuracy=np.full(
        len(a[-1]), prefix_accuracy(*a)["accuracy"][-1])),
})


(test_the_reference_earns_full_marks_on_fresh_inputs,
 test_an_unattempted_exercise_scores_zero_and_says_so,
 test_typical_wrong_answers_earn_less_and_get_feedback) = checker_contract(CHECKERS, repeats=5)


def test_checkers_are_exported_from_the_exercises_package():
    for name in ["check_diag_gaussian_logpdf", "check_gaussian_forward_step",
                 "check_classify_by_likelihood", "check_masked_mean"]:
        assert name in exercises.__all__


def m_step(X, gamma, xi, floor, centred=True, use_floor=True):
    start = sum(g[0] for g in gamma) / len(gamma)
    counts = sum(x.sum(axis=0) for x in xi)
    transmat = counts / counts.sum(axis=1, keepdims=True)
    K = gamma[0].shape[1]
    means, variances = [], []
    for k in range(K):
        w = np.concatenate([g[:, k] for g in gamma])
        x = np.concatenate(X)
        mu = (w[:, None] * x).sum(0) / w.sum()
        var = (w[:, None] * (x - (mu if centred else 0)) ** 2).sum(0) / w.sum()
        means.append(mu)
        variances.append(np.maximum(var, floor) if use_floor else var)
    return start, transmat, np.array(means), np.array(variances)


M_STEP = {"gaussian_m_step": (exercises.check_gaussian_m_step, m_step, {
    "no variance floor": lambda *a: m_step(*a, use_floor=False),
    "second moment, not variance": lambda *a: m_step(*a, centred=False),
    "transitions normalised by column": lambda X, g, xi, f: (
        m_step(X, g, xi, f)[0], (lambda c: c / c.sum(0, keepdims=True))(sum(x.sum(0) for x in xi)),
        *m_step(X, g, xi, f)[2:]),
    "start from the first sequence only": lambda X, g, xi, f: (g[0][0], *m_step(X, g, xi, f)[1:]),
    "unweighted means": lambda X, g, xi, f: (*m_step(X, g, xi, f)[:2],
                                            np.tile(np.concatenate(X).mean(0), (g[0].shape[1], 1)),
                                            m_step(X, g, xi, f)[3]),
})}

(test_m_step_reference_earns_full_marks,
 test_m_step_not_attempted_scores_zero,
 test_m_step_wrong_answers_lose_credit) = checker_contract(M_STEP)
