"""Chapter 1's checkers: full marks for the reference, feedback (never a crash) for wrong answers."""
import numpy as np
import pytest
from scipy.special import logsumexp

from rnnbook import ar, exercises, hmm, kalman


def not_attempted(*args, **kwargs):
    raise NotImplementedError()


def forward_reference(startprob, transmat, emissionprob, obs):
    return hmm.DiscreteHMM(startprob, transmat, emissionprob).log_forward(obs)


def forward_unscaled(startprob, transmat, emissionprob, obs):
    """Right recursion in probabilities: underflows on long sequences."""
    alpha = startprob * emissionprob[:, obs[0]]
    out = [alpha]
    for o in obs[1:]:
        alpha = (alpha @ transmat) * emissionprob[:, o]
        out.append(alpha)
    with np.errstate(divide="ignore"):
        return np.log(np.array(out))


def forward_logspace(startprob, transmat, emissionprob, obs):
    """A clean from-scratch log-space answer, written independently of the package."""
    with np.errstate(divide="ignore"):
        lA, lB, la = np.log(transmat), np.log(emissionprob), np.log(startprob) + np.log(emissionprob[:, obs[0]])
    out = [la]
    for o in obs[1:]:
        la = logsumexp(la[:, None] + lA, axis=0) + lB[:, o]
        out.append(la)
    return np.array(out)


def backtrack_loop(psi, last_state):
    path = [last_state]
    for t in range(len(psi) - 1, 0, -1):
        path.append(psi[t, path[-1]])
    return np.array(path[::-1])


def maxplus_loop(A, B):
    return np.array([[np.max(A[i] + B[:, j]) for j in range(B.shape[1])] for i in range(A.shape[0])])


def kalman_textbook(m, P, y, H, R):
    S = H @ P @ H.T + R
    K = P @ H.T @ np.linalg.inv(S)
    return m + K @ (y - H @ m), (np.eye(len(m)) - K @ H) @ P


REFERENCES = [
    (exercises.check_ar_design, ar.ar_design),
    (exercises.check_kalman_update, kalman.kalman_update),
    (exercises.check_kalman_update, kalman_textbook),
    (exercises.check_forward, forward_reference),
    (exercises.check_forward, forward_logspace),
    (exercises.check_backtrack, hmm.backtrack),
    (exercises.check_backtrack, backtrack_loop),
    (exercises.check_maxplus_matmul, hmm.maxplus_matmul),
    (exercises.check_maxplus_matmul, maxplus_loop),
]
CHECKERS = [exercises.check_ar_design, exercises.check_kalman_update, exercises.check_forward,
            exercises.check_backtrack, exercises.check_maxplus_matmul]


@pytest.mark.parametrize("checker, reference", REFERENCES,
                         ids=[f"{c.__name__}-{r.__name__}" for c, r in REFERENCES])
def test_reference_and_independent_correct_answers_earn_full_marks(checker, reference, capsys):
    with np.errstate(divide="ignore"):
        for _ in range(5):
            score = checker(reference, points=2)
            assert score == 2.0 and score.passed == score.total
    assert "all correct" in capsys.readouterr().out


@pytest.mark.parametrize("checker", CHECKERS, ids=[c.__name__ for c in CHECKERS])
def test_an_unattempted_exercise_scores_zero_and_says_so(checker, capsys):
    assert checker(not_attempted) == 0.0
    assert "not attempted yet" in capsys.readouterr().out


WRONG = [
    (exercises.check_ar_design, "no intercept column", lambda y, p: ar.ar_design(y, p, intercept=False)),
    (exercises.check_ar_design, "lags in reverse order",
     lambda y, p: (np.hstack([ar.ar_design(y, p)[0][:, :1], ar.ar_design(y, p)[0][:, :0:-1]]), ar.ar_design(y, p)[1])),
    (exercises.check_ar_design, "returns only X", lambda y, p: ar.ar_design(y, p)[0]),
    (exercises.check_kalman_update, "forgets R", lambda m, P, y, H, R: kalman.kalman_update(m, P, y, H, 0 * R + 1e-12 * np.eye(len(R)))),
    (exercises.check_kalman_update, "covariance not updated", lambda m, P, y, H, R: (kalman.kalman_update(m, P, y, H, R)[0], P)),
    (exercises.check_kalman_update, "NaN", lambda m, P, y, H, R: (m * np.nan, P)),
    (exercises.check_forward, "unscaled probabilities", forward_unscaled),
    (exercises.check_forward, "forgets the emission", lambda s, A, B, o: forward_reference(s, A, np.ones_like(B) / B.shape[1], o)),
    (exercises.check_forward, "transposed", lambda s, A, B, o: forward_reference(s, A, B, o).T),
    (exercises.check_backtrack, "forward instead of back", lambda psi, last: np.array([last] + [psi[t, last] for t in range(1, len(psi))])),
    (exercises.check_backtrack, "float path", lambda psi, last: hmm.backtrack(psi, last).astype(float)),
    (exercises.check_backtrack, "exception", lambda psi, last: {}["boom"]),
    (exercises.check_maxplus_matmul, "ordinary matmul", lambda A, B: A @ B),
    (exercises.check_maxplus_matmul, "min instead of max", lambda A, B: (A[:, :, None] + B[None]).min(1)),
    (exercises.check_maxplus_matmul, "returns None", lambda A, B: None),
]


@pytest.mark.parametrize("checker, name, wrong", WRONG, ids=[w[1] for w in WRONG])
def test_typical_wrong_answers_earn_less_and_get_feedback_not_a_crash(checker, name, wrong, capsys):
    with np.errstate(all="ignore"):
        score = checker(wrong, points=1)
    assert 0.0 <= score < 1.0
    out = capsys.readouterr().out
    assert "not yet" in out and "check" in out


def test_checkers_never_print_the_reference_source(capsys):
    exercises.check_forward(forward_unscaled, seed=1)
    out = capsys.readouterr().out
    assert "def " not in out and "scan(" not in out


# Issue 19: the written exercise's numeric check and the experiment, through the shared contract.
from checker_contract import checker_contract  # noqa: E402


def underflow_reference(startprob, transmat, emissionprob, obs):
    alpha = startprob * emissionprob[:, obs[0]]
    for t in range(len(obs)):
        if t:
            alpha = emissionprob[:, obs[t]] * (transmat.T @ alpha)   # another order of the products
        if np.all(alpha == 0):
            return t
    return -1


def underflow_of_the_sum(startprob, transmat, emissionprob, obs):
    """Stops when the likelihood, not every alpha, drops below the smallest normal float."""
    alpha = startprob * emissionprob[:, obs[0]]
    for t in range(len(obs)):
        if t:
            alpha = (alpha @ transmat) * emissionprob[:, obs[t]]
        if alpha.sum() < np.finfo(float).tiny:
            return t
    return -1


def ar_order_reference(y, max_p, n_train):
    train, held = [], []
    targets = np.arange(max_p, n_train)
    for p in range(1, max_p + 1):
        X, target = ar.ar_design(y, p)
        X_train, y_train = X[targets - p], target[targets - p]
        X_test, y_test = X[n_train - p:], target[n_train - p:]
        w = np.linalg.solve(X_train.T @ X_train, X_train.T @ y_train)
        train.append(np.sqrt(np.mean((X_train @ w - y_train) ** 2)))
        held.append(np.sqrt(np.mean((X_test @ w - y_test) ** 2)))
    return np.array(train), np.array(held), int(np.argmin(held)) + 1


def ar_order_own_targets(y, max_p, n_train):
    """Each p fitted on its own longest training range: the curves no longer compare like with like."""
    train, held = [], []
    for p in range(1, max_p + 1):
        X, target = ar.ar_design(y, p)
        w = np.linalg.lstsq(X[:n_train - p], target[:n_train - p], rcond=None)[0]
        train.append(np.sqrt(np.mean((X[:n_train - p] @ w - target[:n_train - p]) ** 2)))
        held.append(np.sqrt(np.mean((X[n_train - p:] @ w - target[n_train - p:]) ** 2)))
    return np.array(train), np.array(held), int(np.argmin(held)) + 1


NEW_CHECKERS = {
    "underflow_step": (exercises.check_underflow_step, underflow_reference, {
        "the sum below the smallest normal": underflow_of_the_sum,
        "one step late": lambda s, A, B, o: underflow_reference(s, A, B, o) + 3,
        "never": lambda s, A, B, o: -1,
        "a float array": lambda s, A, B, o: np.array([1.5]),
    }),
    "ar_order": (exercises.check_ar_order, ar_order_reference, {
        "each p on its own range": ar_order_own_targets,
        "best by training error": lambda y, m, n: (*ar_order_reference(y, m, n)[:2],
                                                   int(np.argmin(ar_order_reference(y, m, n)[0])) + 1),
        "p_best counted from 0": lambda y, m, n: (*ar_order_reference(y, m, n)[:2],
                                                  ar_order_reference(y, m, n)[2] - 1),
        "mean squared, not root": lambda y, m, n: (ar_order_reference(y, m, n)[0] ** 2,
                                                   ar_order_reference(y, m, n)[1] ** 2,
                                                   ar_order_reference(y, m, n)[2]),
    }),
}

(test_new_references_earn_full_marks_on_fresh_inputs,
 test_new_unattempted_exercises_score_zero_and_say_so,
 test_new_typical_wrong_answers_earn_less_and_get_feedback) = checker_contract(NEW_CHECKERS)


def test_the_training_error_of_nested_ar_fits_never_rises():
    rng = np.random.default_rng(0)
    y = np.cumsum(rng.normal(size=400)) * 0.1 + rng.normal(size=400)
    train, _ = exercises.ch01._ar_curves(y, 8, 250)
    assert np.all(np.diff(train) <= 1e-12)


def baum_welch_logspace(startprob, transmat, emissionprob, obs):
    """An independent answer: forward and backward in logs, posteriors by exponentiating."""
    with np.errstate(divide="ignore"):
        lA, lB, ls = np.log(transmat), np.log(emissionprob), np.log(startprob)
    T, K = len(obs), len(startprob)
    la, lb = np.zeros((T, K)), np.zeros((T, K))
    la[0] = ls + lB[:, obs[0]]
    for t in range(1, T):
        la[t] = logsumexp(la[t - 1][:, None] + lA, axis=0) + lB[:, obs[t]]
    for t in range(T - 2, -1, -1):
        lb[t] = logsumexp(lA + lB[:, obs[t + 1]] + lb[t + 1], axis=1)
    ll = logsumexp(la[-1])
    gamma = np.exp(la + lb - ll)
    xi = np.zeros((K, K))
    for t in range(T - 1):
        xi += np.exp(la[t][:, None] + lA + lB[:, obs[t + 1]] + lb[t + 1] - ll)
    emit = np.stack([gamma[obs == m].sum(0) for m in range(emissionprob.shape[1])], axis=1)
    return gamma[0], xi / xi.sum(1, keepdims=True), emit / emit.sum(1, keepdims=True), ll


def baum_welch_unscaled(startprob, transmat, emissionprob, obs):
    """The right update in plain probabilities: NaN once the sequence is long."""
    T, K = len(obs), len(startprob)
    a, b = np.zeros((T, K)), np.ones((T, K))
    a[0] = startprob * emissionprob[:, obs[0]]
    for t in range(1, T):
        a[t] = (a[t - 1] @ transmat) * emissionprob[:, obs[t]]
    for t in range(T - 2, -1, -1):
        b[t] = transmat @ (emissionprob[:, obs[t + 1]] * b[t + 1])
    p = a[-1].sum()
    gamma = a * b / p
    xi = sum(np.outer(a[t], emissionprob[:, obs[t + 1]] * b[t + 1]) * transmat for t in range(T - 1)) / p
    emit = np.stack([gamma[obs == m].sum(0) for m in range(emissionprob.shape[1])], axis=1)
    return gamma[0], xi / xi.sum(1, keepdims=True), emit / emit.sum(1, keepdims=True), np.log(p)


def bw_with(**change):
    def answer(s, A, B, o):
        out = list(baum_welch_logspace(s, A, B, o))
        for i, f in change.items():
            out[int(i[1:])] = f(out, s, A, B, o)
        return tuple(out)
    return answer


BW_CHECKERS = {
    "baum_welch_step": (exercises.check_baum_welch_step, baum_welch_logspace, {
        "unscaled probabilities": baum_welch_unscaled,
        "transitions normalised over the wrong axis": bw_with(
            _1=lambda out, s, A, B, o: out[1] * out[1].sum(1, keepdims=True) / out[1].sum(0, keepdims=True)),
        "log-likelihood of the new parameters": bw_with(
            _3=lambda out, s, A, B, o: baum_welch_logspace(*out[:3], o)[3]),
        "start left unchanged": bw_with(_0=lambda out, s, A, B, o: s),
    }),
}

(test_baum_welch_reference_earns_full_marks,
 test_baum_welch_unattempted_scores_zero,
 test_baum_welch_wrong_answers_earn_less) = checker_contract(BW_CHECKERS)
