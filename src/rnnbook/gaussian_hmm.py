"""Hidden Markov models with Gaussian emissions: likelihood, posteriors, Viterbi, Baum–Welch.

Only the emission model is new here. A sequence of frames x_1..x_T (each a D-vector) becomes a
(T, K) matrix of log densities log N(x_t; mu_k, Sigma_k), and chapter 1's algorithms
(`rnnbook.hmm.forward_backward`, `rnnbook.hmm.viterbi_from_log_emissions`) do the rest, exactly as
they do for a table of discrete emission probabilities. Covariances are diagonal (D variances per
state) or full (a D x D matrix per state). Baum–Welch runs over several sequences at once, and a
variance floor keeps a state that sees few frames from collapsing onto them.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import hmm as _hmm

COVARIANCE_TYPES = ("diag", "full")
_LOG_2PI = float(np.log(2.0 * np.pi))


def diag_log_density(X: np.ndarray, means: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """log N(x_t; mu_k, diag(var_k)) for frames X (T, D), means and variances (K, D): (T, K)."""
    X, means, variances = (np.asarray(a, dtype=np.float64) for a in (X, means, variances))
    # The direct (T, K, D) difference, not the expanded x^2 - 2 x mu + mu^2: the expansion
    # loses digits when a mean is large compared with its standard deviation.
    quad = (((X[:, None, :] - means[None]) ** 2) / variances[None]).sum(axis=2)
    const = X.shape[1] * _LOG_2PI + np.log(variances).sum(axis=1)
    return -0.5 * (quad + const)


def full_log_density(X: np.ndarray, means: np.ndarray, covars: np.ndarray) -> np.ndarray:
    """log N(x_t; mu_k, Sigma_k) for frames X (T, D), means (K, D), covariances (K, D, D): (T, K)."""
    X = np.asarray(X, dtype=np.float64)
    out = np.empty((X.shape[0], len(means)))
    for k, (mu, cov) in enumerate(zip(means, covars)):
        L = np.linalg.cholesky(cov)
        z = np.linalg.solve(L, (X - mu).T)                # whitened frames, (D, T)
        log_det = 2.0 * np.log(np.diag(L)).sum()
        out[:, k] = -0.5 * ((z ** 2).sum(axis=0) + X.shape[1] * _LOG_2PI + log_det)
    return out


def _frames(x, n_features: int, what: str = "x") -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] != n_features:
        raise ValueError(f"{what} must be a (T, {n_features}) array of frames with T >= 1, "
                         f"got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{what} holds NaN or inf; every frame must be finite")
    return arr


def _sequences(xs, n_features: int) -> list[np.ndarray]:
    if isinstance(xs, np.ndarray) and xs.ndim == 2:
        raise ValueError("fit takes a list of (T_i, D) sequences; wrap a single sequence as [x]")
    seqs = [_frames(x, n_features, f"sequence {i}") for i, x in enumerate(xs)]
    if not seqs:
        raise ValueError("fit needs at least one sequence")
    return seqs


def log_forward_step(log_alpha: np.ndarray, log_transmat: np.ndarray,
                     log_emission_t: np.ndarray) -> np.ndarray:
    """One forward step in logs: log alpha_t(j) = logsumexp_i(log alpha_{t-1}(i) + log A_ij) + log b_j."""
    log_alpha, log_transmat, log_emission_t = (np.asarray(a, dtype=np.float64) for a in
                                               (log_alpha, log_transmat, log_emission_t))
    scores = log_alpha[:, None] + log_transmat                       # (K, K): from i to j
    top = scores.max(axis=0)
    safe = np.where(np.isfinite(top), top, 0.0)                      # a column of -inf stays -inf
    with np.errstate(divide="ignore"):
        return safe + np.log(np.exp(scores - safe).sum(axis=0)) + log_emission_t


def classify(log_likelihoods: np.ndarray, log_prior: np.ndarray | None = None) -> np.ndarray:
    """Bayes' rule in logs: argmax_c log p(x_i | c) + log P(c) for an (N, C) array; (N,) labels."""
    scores = np.asarray(log_likelihoods, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"log_likelihoods must be an (N, C) array, got shape {scores.shape}")
    if log_prior is not None:
        scores = scores + np.asarray(log_prior, dtype=np.float64)[None, :]
    return scores.argmax(axis=1)


@dataclass(frozen=True)
class FitResult:
    """A fitted model and its training log-likelihood (summed over sequences) after each update."""

    model: "GaussianHMM"
    history: np.ndarray


class GaussianHMM:
    """K hidden states, each emitting D-dimensional frames from its own Gaussian."""

    def __init__(self, startprob, transmat, means, covars, covariance_type: str = "diag"):
        if covariance_type not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}")
        self.startprob = _hmm._stochastic("startprob", startprob, 1)
        self.transmat = _hmm._stochastic("transmat", transmat, 2)
        K = len(self.startprob)
        if self.transmat.shape != (K, K):
            raise ValueError(f"transmat must have shape ({K}, {K}) to match startprob, "
                             f"got {self.transmat.shape}")
        self.means = np.array(means, dtype=np.float64)
        if self.means.ndim != 2 or self.means.shape[0] != K or not np.isfinite(self.means).all():
            raise ValueError(f"means must be a finite ({K}, D) array, one row per state, "
                             f"got shape {self.means.shape}")
        D = self.means.shape[1]
        self.covars = np.array(covars, dtype=np.float64)
        want = (K, D) if covariance_type == "diag" else (K, D, D)
        if self.covars.shape != want:
            raise ValueError(f"covars must have shape {want} for covariance_type={covariance_type!r}, "
                             f"got {self.covars.shape}")
        if covariance_type == "diag":
            if not (np.isfinite(self.covars).all() and (self.covars > 0).all()):
                raise ValueError("covars (variances) must be finite and positive; "
                                 "floor them with a small value such as 1e-3")
        else:
            for k, c in enumerate(self.covars):
                if not np.allclose(c, c.T) or np.linalg.eigvalsh(c)[0] <= 0:
                    raise ValueError(f"covars[{k}] must be symmetric positive definite")
        self.covariance_type = covariance_type
        self.n_states, self.n_features = K, D

    def __repr__(self) -> str:
        return (f"GaussianHMM(n_states={self.n_states}, n_features={self.n_features}, "
                f"covariance_type={self.covariance_type!r})")

    # --- the emission model; everything else is chapter 1's -----------------------------------

    def log_emission(self, x) -> np.ndarray:
        """log N(x_t; mu_k, Sigma_k) as a (T, K) array."""
        x = _frames(x, self.n_features)
        if self.covariance_type == "diag":
            return diag_log_density(x, self.means, self.covars)
        return full_log_density(x, self.means, self.covars)

    def forward_backward(self, x) -> _hmm.Posteriors:
        """Log-likelihood, prefix log-likelihoods, state posteriors and transition counts."""
        return _hmm.forward_backward(self.startprob, self.transmat, self.log_emission(x))

    def forward_backward_many(self, xs: Sequence[np.ndarray]) -> _hmm.Posteriors:
        """`forward_backward` of several sequences in one scan; rows of gamma follow xs in order."""
        seqs = _sequences(xs, self.n_features)
        return _hmm.forward_backward(self.startprob, self.transmat,
                                     self.log_emission(np.concatenate(seqs)),
                                     lengths=np.array([len(x) for x in seqs]))

    def log_likelihoods(self, xs: Sequence[np.ndarray]) -> np.ndarray:
        """log p(x_i) of every sequence in xs, as an (N,) array."""
        return self.forward_backward_many(xs).logliks

    def log_likelihood(self, x) -> float:
        """log p(x_1..x_T) under the model."""
        return self.forward_backward(x).loglik

    def posterior(self, x) -> np.ndarray:
        """P(s_t = k | x) as a (T, K) array whose rows sum to 1."""
        return self.forward_backward(x).gamma

    def viterbi(self, x) -> tuple[np.ndarray, float]:
        """Most probable state path and log p(path, x)."""
        return _hmm.viterbi_from_log_emissions(self.startprob, self.transmat, self.log_emission(x))

    def sample(self, T: int, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Draw (states (T,), frames (T, D))."""
        if int(T) < 1:
            raise ValueError(f"T must be a positive number of steps, got {T}")
        rng = np.random.default_rng(seed)
        states = np.empty(int(T), dtype=np.int64)
        states[0] = rng.choice(self.n_states, p=self.startprob)
        for t in range(1, int(T)):
            states[t] = rng.choice(self.n_states, p=self.transmat[states[t - 1]])
        noise = rng.standard_normal((int(T), self.n_features))
        if self.covariance_type == "diag":
            frames = self.means[states] + noise * np.sqrt(self.covars[states])
        else:
            L = np.linalg.cholesky(self.covars)
            frames = self.means[states] + np.einsum("tij,tj->ti", L[states], noise)
        return states, frames

    # --- Baum–Welch -----------------------------------------------------------------------------

    def fit(self, xs: Sequence[np.ndarray], n_iter: int = 50, tol: float = 1e-4,
            min_covar: float = 1e-3) -> FitResult:
        """Baum–Welch over several sequences, starting from this model's parameters.

        history[i] is the summed log-likelihood after i updates (history[-1] is the returned
        model's); it stops after `n_iter` updates or when one gains less than `tol`. No
        variance (no eigenvalue, for full covariances) is allowed below `min_covar`.
        Transitions and start states that are zero stay zero: a left-to-right model stays one.
        """
        if not min_covar >= 0:
            raise ValueError(f"min_covar must be >= 0, got {min_covar}")
        seqs = _sequences(xs, self.n_features)
        model, history = self, []
        for it in range(int(n_iter) + 1):
            stats = model._e_step(seqs)
            history.append(stats["loglik"])
            if it == n_iter or (it > 0 and history[-1] - history[-2] < tol):
                break
            model = model._m_step(stats, min_covar)
        return FitResult(model, np.array(history))

    def _e_step(self, seqs: list[np.ndarray]) -> dict:
        X = np.concatenate(seqs)
        p = _hmm.forward_backward(self.startprob, self.transmat, self.log_emission(X),
                                  lengths=np.array([len(x) for x in seqs]))
        firsts = np.cumsum([0] + [len(x) for x in seqs[:-1]])
        stats = {"loglik": p.loglik, "start": p.gamma[firsts].sum(axis=0), "trans": p.xi_sum,
                 "post": p.gamma.sum(axis=0), "obs": p.gamma.T @ X}
        if self.covariance_type == "diag":
            stats["obs2"] = p.gamma.T @ (X ** 2)
        else:
            stats["obs2"] = np.einsum("tk,ti,tj->kij", p.gamma, X, X)
        return stats

    def _m_step(self, stats: dict, min_covar: float) -> "GaussianHMM":
        start = stats["start"] / stats["start"].sum()
        rows = stats["trans"].sum(axis=1, keepdims=True)
        # A state never left (or never visited) keeps its old row rather than dividing by zero.
        trans = np.where(rows > 0, stats["trans"] / np.maximum(rows, 1e-300), self.transmat)
        trans /= trans.sum(axis=1, keepdims=True)
        post = stats["post"]
        seen = post > 1e-10
        w = np.maximum(post, 1e-300)[:, None]
        means = np.where(seen[:, None], stats["obs"] / w, self.means)
        if self.covariance_type == "diag":
            var = stats["obs2"] / w - means ** 2
            covars = np.where(seen[:, None], np.maximum(var, min_covar), self.covars)
        else:
            cov = stats["obs2"] / w[:, :, None] - np.einsum("ki,kj->kij", means, means)
            cov = 0.5 * (cov + cov.transpose(0, 2, 1))
            lam, V = np.linalg.eigh(cov)
            cov = np.einsum("kij,kj,klj->kil", V, np.maximum(lam, min_covar), V)
            covars = np.where(seen[:, None, None], cov, self.covars)
        return GaussianHMM(start, trans, means, covars, self.covariance_type)


def initial_model(xs: Sequence[np.ndarray], n_states: int, topology: str = "left-right",
                  covariance_type: str = "diag", stay: float = 0.7,
                  min_covar: float = 1e-3) -> GaussianHMM:
    """A starting point for Baum–Welch: cut every sequence into n_states equal segments.

    State k starts with the mean and variance of the k-th segments of all sequences, so the
    states start in temporal order. "left-right" allows only staying or moving to the next
    state (and starts in state 0); "ergodic" allows every transition and start.
    """
    if topology not in ("left-right", "ergodic"):
        raise ValueError(f"topology must be 'left-right' or 'ergodic', got {topology!r}")
    K = int(n_states)
    if K < 1:
        raise ValueError(f"n_states must be at least 1, got {n_states}")
    if not 0 < stay < 1:
        raise ValueError(f"stay (the self-transition probability) must be in (0, 1), got {stay}")
    xs = [np.asarray(x, dtype=np.float64) for x in xs]
    if not xs:
        raise ValueError("initial_model needs at least one sequence")
    D = xs[0].shape[1]
    seqs = _sequences(xs, D)
    short = [i for i, x in enumerate(seqs) if len(x) < K]
    if short:
        raise ValueError(f"sequence {short[0]} has {len(seqs[short[0]])} frames, fewer than "
                         f"n_states={K}; use fewer states")
    segments = [[] for _ in range(K)]
    for x in seqs:
        for k, part in enumerate(np.array_split(x, K)):
            segments[k].append(part)
    parts = [np.concatenate(s) for s in segments]
    means = np.stack([p.mean(axis=0) for p in parts])
    if covariance_type == "diag":
        covars = np.stack([np.maximum(p.var(axis=0), min_covar) for p in parts])
    else:
        covars = np.stack([np.cov(p.T, bias=True) + min_covar * np.eye(D) for p in parts])
    if topology == "left-right":
        start = np.eye(K)[0]
        trans = np.diag(np.full(K, stay)) + np.diag(np.full(K - 1, 1 - stay), 1)
        trans[-1, -1] = 1.0
    else:
        start = np.full(K, 1.0 / K)
        trans = np.full((K, K), (1 - stay) / max(K - 1, 1))
        np.fill_diagonal(trans, stay if K > 1 else 1.0)
    return GaussianHMM(start, trans, means, covars, covariance_type)


@dataclass(frozen=True)
class HMMClassifier:
    """One Gaussian HMM per class; a sequence goes to the class whose model scores it highest."""

    models: tuple[GaussianHMM, ...]
    histories: tuple[np.ndarray, ...]

    def scores(self, xs: Sequence[np.ndarray]) -> np.ndarray:
        """log p(x_i | class c) as an (N, C) array."""
        return np.stack([m.log_likelihoods(xs) for m in self.models], axis=1)

    def predict(self, xs: Sequence[np.ndarray]) -> np.ndarray:
        """The class of highest log-likelihood for each sequence (equal priors)."""
        return classify(self.scores(xs))


def fit_classifier(xs: Sequence[np.ndarray], labels, n_states: int, topology: str = "left-right",
                   covariance_type: str = "diag", n_iter: int = 20, tol: float = 1e-4,
                   min_covar: float = 1e-3) -> HMMClassifier:
    """Fit one HMM per class 0..C-1 to that class's sequences by Baum–Welch."""
    labels = np.asarray(labels)
    if len(labels) != len(xs):
        raise ValueError(f"labels has {len(labels)} entries for {len(xs)} sequences")
    classes = np.unique(labels)
    if not np.array_equal(classes, np.arange(len(classes))):
        raise ValueError(f"labels must be 0..C-1 with every class present, got {classes.tolist()}")
    models, histories = [], []
    for c in classes:
        mine = [x for x, y in zip(xs, labels) if y == c]
        start = initial_model(mine, n_states, topology, covariance_type, min_covar=min_covar)
        result = start.fit(mine, n_iter=n_iter, tol=tol, min_covar=min_covar)
        models.append(result.model)
        histories.append(result.history)
    return HMMClassifier(tuple(models), tuple(histories))
