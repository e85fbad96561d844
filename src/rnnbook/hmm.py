"""Discrete hidden Markov models: sampling, forward–backward, Viterbi and Baum–Welch.

Every recursion over time is written as a product of small matrices in a semiring — ordinary
(+, ×) with rescaling for the forward and backward passes, (max, +) for Viterbi, function
composition for Viterbi's back-tracking — and evaluated by a log-depth scan (`scan`), so that
a sequence of 100,000 steps costs about 17 rounds of vectorised NumPy work instead of 100,000
Python iterations. Viterbi's (max, +) scan streams more memory than it computes, so on a CPU
`viterbi` runs the textbook loop compiled by numba (when numba is installed) and
`viterbi_scan` keeps the scan; the two are tested to agree.

`forward_backward` and `viterbi_from_log_emissions` run the same passes for any emission model,
from a (T, K) matrix of log emission densities (chapter 12's Gaussian HMMs use them).

The semiring algebra and the scan are `rnnbook.semiring` (their old names stay importable from
here); this module holds the model, its passes and its fitting, and must not grow a second copy
of the algebra.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

try:  # numba compiles the sequential Viterbi loop; without it `viterbi` falls back to the scan
    from numba import njit as _njit
except ImportError:  # pragma: no cover - numba is in requirements.txt
    _njit = None

from .semiring import Elem, maxplus_matmul, reduce, scan  # noqa: F401
from .semiring import apply_map as _apply
from .semiring import compose as _compose
from .semiring import maxplus_act as _mp_act
from .semiring import maxplus_mul as _mp_mul
from .semiring import safe_log as _safe_log
from .semiring import sumprod_act as _sp_act
from .semiring import sumprod_matrices as _sp_matrices
from .semiring import sumprod_mul as _sp_mul
from .semiring import sumprod_vector as _sp_vector

_ROW_TOL = 1e-8


def _viterbi_loop(log_start: np.ndarray, log_A: np.ndarray, log_B: np.ndarray,
                  obs: np.ndarray) -> tuple[np.ndarray, float]:
    # The textbook recursion, one step at a time; ties go to the lowest state, as argmax does.
    T, K = obs.shape[0], log_start.shape[0]
    delta = log_start + log_B[:, obs[0]]
    psi = np.zeros((T, K), dtype=np.int64)
    new = np.empty(K)
    for t in range(1, T):
        o = obs[t]
        for j in range(K):
            best, arg = delta[0] + log_A[0, j], 0
            for i in range(1, K):
                cand = delta[i] + log_A[i, j]
                if cand > best:
                    best, arg = cand, i
            new[j] = best + log_B[j, o]
            psi[t, j] = arg
        delta[:] = new
    last = 0
    for j in range(1, K):
        if delta[j] > delta[last]:
            last = j
    path = np.empty(T, dtype=np.int64)
    path[T - 1] = last
    for t in range(T - 1, 0, -1):
        path[t - 1] = psi[t, path[t]]
    return path, delta[last]


_viterbi_compiled = _njit(cache=True, nogil=True)(_viterbi_loop) if _njit is not None else None


def backtrack(backpointers: np.ndarray, last_state: int) -> np.ndarray:
    """Viterbi path from back-pointers psi (T, K), psi[t, j] = best state at t-1 given j at t."""
    psi = np.asarray(backpointers, dtype=np.int64)
    return _backtrack(np.ascontiguousarray(psi[1:].T), int(last_state))


def _backtrack(psi: np.ndarray, last_state: int) -> np.ndarray:
    # psi: (K, T-1), column t-1 maps the state at t to the best state at t-1.
    T = psi.shape[1] + 1
    path = np.empty(T, dtype=np.int64)
    path[-1] = last_state
    if T > 1:
        # s_{t-1} = psi[s_t, t-1]: apply the maps from the last one back, by a composition scan.
        start = (np.array([last_state], dtype=np.int64),)
        path[:-1] = scan(start, (psi[:, ::-1],), _compose, _apply)[0][::-1]
    return path


# --- validation ---------------------------------------------------------------------------------

def _stochastic(name: str, value, ndim: int) -> np.ndarray:
    arr = np.array(value, dtype=np.float64)
    if arr.ndim != ndim:
        what = "a vector" if ndim == 1 else "a matrix"
        raise ValueError(f"{name} must be {what} of probabilities, got an array of shape {arr.shape}")
    rows = arr.reshape(-1, arr.shape[-1])
    for i, row in enumerate(rows):
        where = name if ndim == 1 else f"{name} row {i}"
        if not np.all(np.isfinite(row)) or np.any(row < 0):
            raise ValueError(f"{where} has a negative or non-finite entry ({row.tolist()}); "
                             "probabilities must be non-negative numbers")
        if abs(row.sum() - 1.0) > _ROW_TOL:
            raise ValueError(f"{where} sums to {row.sum():.12g}; it must sum to 1 (within "
                             f"{_ROW_TOL:g}) — divide it by its sum")
    return arr


def _symbols(obs, n_symbols: int) -> np.ndarray:
    arr = np.asarray(obs)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"obs must be a non-empty 1-D array of symbol indices, got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"obs must hold integer symbol indices, got dtype {arr.dtype}")
    bad = np.flatnonzero((arr < 0) | (arr >= n_symbols))
    if bad.size:
        raise ValueError(f"obs[{bad[0]}] = {arr[bad[0]]} is not a symbol of this HMM; "
                         f"symbols are 0..{n_symbols - 1}")
    return arr.astype(np.int64)


# --- the model ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Passes:
    log_alpha: np.ndarray       # (T, K) log P(o_1..o_t, s_t = k)
    alpha: np.ndarray           # (T, K) the same, normalised to sum 1 per step
    beta: np.ndarray            # (T, K) backward messages, normalised to sum 1 per step
    loglik: float


class DiscreteHMM:
    """A hidden Markov model with K hidden states and M discrete output symbols."""

    def __init__(self, startprob, transmat, emissionprob):
        self.startprob = _stochastic("startprob", startprob, 1)
        self.transmat = _stochastic("transmat", transmat, 2)
        self.emissionprob = _stochastic("emissionprob", emissionprob, 2)
        K = len(self.startprob)
        if self.transmat.shape != (K, K):
            raise ValueError(f"transmat must have shape ({K}, {K}) to match startprob, "
                             f"got {self.transmat.shape}")
        if self.emissionprob.shape[0] != K:
            raise ValueError(f"emissionprob must have {K} rows (one per state), "
                             f"got shape {self.emissionprob.shape}")
        self.n_states, self.n_symbols = K, self.emissionprob.shape[1]
        self.log_startprob = _safe_log(self.startprob)
        self.log_transmat = _safe_log(self.transmat)
        self.log_emissionprob = _safe_log(self.emissionprob)

    def __repr__(self) -> str:
        return f"DiscreteHMM(n_states={self.n_states}, n_symbols={self.n_symbols})"

    def sample(self, T: int, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Draw (states, obs), two integer arrays of length T."""
        if int(T) < 1:
            raise ValueError(f"T must be a positive number of steps, got {T}")
        rng = np.random.default_rng(seed)
        u = rng.random((int(T), 2))
        cum_A, cum_B = np.cumsum(self.transmat, 1), np.cumsum(self.emissionprob, 1)
        states = np.empty(int(T), dtype=np.int64)
        s = min(int(np.searchsorted(np.cumsum(self.startprob), u[0, 0], side="right")),
                self.n_states - 1)
        for t in range(int(T)):     # sampling is sequential by nature; T is modest in practice
            if t:
                s = min(int(np.searchsorted(cum_A[s], u[t, 0], side="right")), self.n_states - 1)
            states[t] = s
        obs = (u[:, 1, None] > cum_B[states]).sum(1)
        return states, np.minimum(obs, self.n_symbols - 1)

    def _matrices(self, obs: np.ndarray) -> np.ndarray:
        # M[i, j, t-2] = P(s_t = j | s_{t-1} = i) P(o_t | s_t = j) for t = 2..T: shape (K, K, T-1).
        # M_t depends on t only through o_t: gather from the K x K x M table of the M symbols.
        table = self.transmat[:, :, None] * self.emissionprob[None, :, :]
        return np.take(table, obs[1:], axis=2)          # C-ordered, unlike table[:, :, obs]

    def _passes(self, obs: np.ndarray) -> _Passes:
        obs = _symbols(obs, self.n_symbols)
        v0 = _sp_vector(self.startprob * self.emissionprob[:, obs[0]])
        alpha, log_c = v0
        if len(obs) > 1:
            M = self._matrices(obs)
            rest = scan(v0, _sp_matrices(M), _sp_mul, _sp_act)
            alpha = np.concatenate([alpha, rest[0]], axis=1)
            log_c = np.concatenate([log_c, rest[1]])
            # backward: beta_t = M_{t+1} ... M_T 1, a prefix scan over the reversed transposes
            ones = _sp_vector(np.ones(self.n_states))
            back = scan(ones, _sp_matrices(M[:, :, ::-1].transpose(1, 0, 2)), _sp_mul, _sp_act)[0]
            beta = np.concatenate([back[:, ::-1], ones[0]], axis=1)
        else:
            beta = np.full((self.n_states, 1), 1.0 / self.n_states)
        alpha, beta = alpha.T, beta.T
        with np.errstate(divide="ignore"):
            log_alpha = np.log(alpha) + log_c[:, None]
        return _Passes(log_alpha, alpha, beta, float(log_c[-1]))

    def log_forward(self, obs) -> np.ndarray:
        """log alpha (T, K): log P(o_1..o_t, s_t = k), -inf where impossible."""
        return self._passes(obs).log_alpha

    def log_likelihood(self, obs) -> float:
        """log P(obs), by the forward recursion evaluated as a tree of matrix products."""
        obs = _symbols(obs, self.n_symbols)
        v = _sp_vector(self.startprob * self.emissionprob[:, obs[0]])
        if len(obs) > 1:
            v = _sp_act(v, reduce(_sp_matrices(self._matrices(obs)), _sp_mul))
        return float(v[1][0])

    def posterior(self, obs) -> np.ndarray:
        """P(s_t = k | obs) as a (T, K) array whose rows sum to 1."""
        p = self._passes(obs)
        if not np.isfinite(p.loglik):
            raise ValueError("obs has probability zero under this HMM, so its posterior is undefined")
        g = p.alpha * p.beta
        return g / g.sum(axis=1, keepdims=True)

    def viterbi(self, obs) -> tuple[np.ndarray, float]:
        """Most probable state path and its log joint probability log P(path, obs)."""
        if _viterbi_compiled is None:
            return self.viterbi_scan(obs)
        obs = _symbols(obs, self.n_symbols)
        path, log_prob = _viterbi_compiled(self.log_startprob, np.ascontiguousarray(self.log_transmat),
                                           np.ascontiguousarray(self.log_emissionprob), obs)
        return path, float(log_prob)

    def viterbi_scan(self, obs) -> tuple[np.ndarray, float]:
        """`viterbi` computed as a (max, +) parallel prefix scan (log-depth), then back-tracked."""
        obs = _symbols(obs, self.n_symbols)
        delta0 = (self.log_startprob + self.log_emissionprob[:, obs[0]])[:, None]
        if len(obs) == 1:
            return np.array([int(np.argmax(delta0[:, 0]))]), float(delta0.max())
        M = np.take(self.log_transmat[:, :, None] + self.log_emissionprob[None], obs[1:], axis=2)
        delta = np.concatenate([delta0, scan((delta0,), (M,), _mp_mul, _mp_act)[0]], axis=1)
        # psi[j, t-1] = argmax_i delta[i, t-1] + log A[i, j], all t at once (first i wins ties)
        prev = delta[:, :-1]
        best = prev[0][None, :] + self.log_transmat[0][:, None]          # (K, T-1)
        psi = np.zeros(best.shape, dtype=np.int64)
        for i in range(1, self.n_states):
            cand = prev[i][None, :] + self.log_transmat[i][:, None]
            better = cand > best
            np.copyto(best, cand, where=better)
            psi[better] = i
        last = int(np.argmax(delta[:, -1]))
        return _backtrack(psi, last), float(delta[last, -1])

    def fit(self, obs, n_iter: int = 100, tol: float = 1e-6) -> tuple["DiscreteHMM", np.ndarray]:
        """Baum–Welch (EM) from this model's parameters; returns the fitted model and the history.

        history[k] is the log-likelihood after k updates, so history[-1] is the returned model's;
        it stops when an update gains less than `tol`.
        """
        obs = _symbols(obs, self.n_symbols)
        if len(obs) < 2:
            raise ValueError("obs must have at least 2 steps to estimate transitions")
        model, history = self, []
        for it in range(int(n_iter) + 1):
            p = model._passes(obs)
            history.append(p.loglik)
            if not np.isfinite(p.loglik):
                raise ValueError("obs has probability zero under the starting model; "
                                 "start from parameters without zeros")
            if it == n_iter or (it > 0 and history[-1] - history[-2] < tol):
                break
            model = model._m_step(obs, p)
        return model, np.array(history)

    def _m_step(self, obs: np.ndarray, p: _Passes) -> "DiscreteHMM":
        gamma = p.alpha * p.beta
        gamma /= gamma.sum(axis=1, keepdims=True)
        b = self.emissionprob[:, obs[1:]].T
        xi = p.alpha[:-1, :, None] * self.transmat[None] * (b * p.beta[1:])[:, None, :]
        xi /= xi.sum(axis=(1, 2), keepdims=True)
        counts = xi.sum(axis=0)
        emit = np.stack([np.bincount(obs, weights=gamma[:, k], minlength=self.n_symbols)
                         for k in range(self.n_states)])
        # A state that is never visited keeps its old row rather than dividing by zero.
        trans = np.where(counts.sum(1, keepdims=True) > 0,
                         counts / np.maximum(counts.sum(1, keepdims=True), 1e-300), self.transmat)
        emis = np.where(emit.sum(1, keepdims=True) > 0,
                        emit / np.maximum(emit.sum(1, keepdims=True), 1e-300), self.emissionprob)
        start = gamma[0]
        return DiscreteHMM(start / start.sum(), trans / trans.sum(1, keepdims=True),
                           emis / emis.sum(1, keepdims=True))


def casino() -> DiscreteHMM:
    """The dishonest casino: a fair die and a loaded die (six with probability 1/2)."""
    fair, loaded = np.full(6, 1 / 6), np.array([0.1] * 5 + [0.5])
    return DiscreteHMM(np.array([0.5, 0.5]), np.array([[0.95, 0.05], [0.10, 0.90]]),
                       np.stack([fair, loaded]))


# --- any emission model: the same passes from a (T, K) matrix of log emission densities --------

@dataclass(frozen=True)
class Posteriors:
    """What forward–backward returns for one or several sequences, whatever the emission model."""

    loglik: float               # log p(x) summed over the sequences
    logliks: np.ndarray         # (N,) log p(x) of each sequence
    log_prefix: np.ndarray      # (T,) log p(x_1..x_t) within each sequence: every prefix's score
    gamma: np.ndarray           # (T, K) P(s_t = k | x), rows summing to 1
    xi_sum: np.ndarray          # (K, K) expected transition counts, sum_t P(s_t = i, s_t+1 = j | x)


def _log_emission_matrix(log_emission, n_states: int) -> np.ndarray:
    arr = np.asarray(log_emission, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] != n_states:
        raise ValueError(f"log_emission must have shape (T, {n_states}) with T >= 1 (one row per "
                         f"step, one column per state), got {arr.shape}")
    if np.isnan(arr).any() or np.isposinf(arr).any():
        raise ValueError("log_emission holds NaN or +inf; it must hold log densities "
                         "(finite, or -inf where a state cannot emit)")
    return arr


def _lengths(lengths, T: int) -> np.ndarray:
    if lengths is None:
        return np.array([T])
    arr = np.asarray(lengths)
    if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iu" or (arr < 1).any():
        raise ValueError(f"lengths must be a 1-D array of positive integers, got {lengths!r}")
    if arr.sum() != T:
        raise ValueError(f"lengths sum to {arr.sum()} but log_emission has {T} rows; they must match")
    return arr.astype(np.int64)


def forward_backward(startprob, transmat, log_emission, lengths=None) -> Posteriors:
    """Forward–backward from log emission densities (T, K), by the scans of `DiscreteHMM`.

    With `lengths` (as in hmmlearn) the rows are several sequences one after the other. They run
    as ONE scan: the matrix that carries the last step of a sequence to the first of the next is
    the rank-one 1 (startprob * e)^T, which forgets the past, so each sequence starts afresh.
    """
    startprob = _stochastic("startprob", startprob, 1)
    transmat = _stochastic("transmat", transmat, 2)
    K = len(startprob)
    if transmat.shape != (K, K):
        raise ValueError(f"transmat must have shape ({K}, {K}) to match startprob, got {transmat.shape}")
    log_emission = _log_emission_matrix(log_emission, K)
    T = log_emission.shape[0]
    lengths = _lengths(lengths, T)
    ends = np.cumsum(lengths) - 1                                    # last row of each sequence
    # Densities can be far from 1 (a 12-d Gaussian easily gives e^-40): divide step t by its
    # largest entry, to keep the (+, x) scan in range, and add that log back at the end.
    shift = log_emission.max(axis=1)
    if np.isneginf(shift).any():
        t = int(np.flatnonzero(np.isneginf(shift))[0])
        raise ValueError(f"log_emission row {t} is -inf for every state: no state can emit step {t}")
    E = np.exp(log_emission - shift[:, None]).T                      # (K, T)
    v0 = _sp_vector(startprob * E[:, 0])
    alpha, log_c = v0
    if T > 1:
        M = transmat[:, :, None] * E[None, :, 1:]                    # (K, K, T-1)
        M[:, :, ends[:-1]] = (startprob[:, None] * E[:, ends[:-1] + 1])[None]
        rest = scan(v0, _sp_matrices(M), _sp_mul, _sp_act)
        alpha = np.concatenate([alpha, rest[0]], axis=1)
        log_c = np.concatenate([log_c, rest[1]])
        ones = _sp_vector(np.ones(K))
        back = scan(ones, _sp_matrices(M[:, :, ::-1].transpose(1, 0, 2)), _sp_mul, _sp_act)[0]
        beta = np.concatenate([back[:, ::-1], ones[0]], axis=1)
    else:
        beta = np.full((K, 1), 1.0 / K)
    alpha, beta = alpha.T, beta.T                                    # (T, K), each row sums to 1
    cumulative = log_c + np.cumsum(shift)
    before = np.concatenate([[0.0], cumulative[ends[:-1]]])          # log p of earlier sequences
    log_prefix = cumulative - np.repeat(before, lengths)
    logliks = log_prefix[ends]
    if not np.isfinite(logliks).all():
        n = int(np.flatnonzero(~np.isfinite(logliks))[0])
        raise ValueError(f"sequence {n} has probability zero under this model (an impossible "
                         "start or transition); its posterior is undefined")
    gamma = alpha * beta
    gamma /= gamma.sum(axis=1, keepdims=True)
    if T > 1:
        xi = alpha[:-1, :, None] * transmat[None] * (E[:, 1:].T * beta[1:])[:, None, :]
        xi[ends[:-1]] = 0.0                                          # no transition between sequences
        total = xi.sum(axis=(1, 2), keepdims=True)
        total[ends[:-1]] = 1.0
        xi_sum = (xi / total).sum(axis=0)
    else:
        xi_sum = np.zeros((K, K))
    return Posteriors(float(logliks.sum()), logliks, log_prefix, gamma, xi_sum)


def viterbi_from_log_emissions(startprob, transmat, log_emission) -> tuple[np.ndarray, float]:
    """Most probable path and log p(path, x) from log emission densities (T, K)."""
    startprob = _stochastic("startprob", startprob, 1)
    transmat = _stochastic("transmat", transmat, 2)
    K = len(startprob)
    if transmat.shape != (K, K):
        raise ValueError(f"transmat must have shape ({K}, {K}) to match startprob, got {transmat.shape}")
    log_B = np.ascontiguousarray(_log_emission_matrix(log_emission, K).T)
    # The discrete loop reads column obs[t] of a (K, M) table: with the (K, T) matrix of
    # densities as the table and obs = 0, 1, ..., T-1 it is Viterbi for any emission model.
    steps = np.arange(log_B.shape[1], dtype=np.int64)
    loop = _viterbi_compiled if _viterbi_compiled is not None else _viterbi_loop
    path, log_prob = loop(_safe_log(startprob), np.ascontiguousarray(_safe_log(transmat)),
                          log_B, steps)
    return path, float(log_prob)
