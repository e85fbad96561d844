"""A vanilla RNN written from scratch in NumPy (float64): forward pass, BPTT by hand, sampling.

Everything a character-level recurrent language model needs and nothing more, so that a
reader can hold the whole file in their head. The maths follows `book/notation.md`:

    a_t = W_xh x_t + W_hh h_{t-1} + b_h,   h_t = tanh(a_t),   o_t = W_hy h_t + b_y,
    L = sum_t -log softmax(o_t)[y_t].
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PARAM_NAMES = ("W_xh", "W_hh", "b_h", "W_hy", "b_y")


def _indices(values, name: str, vocab_size: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name} must be a one-dimensional sequence of integer token indices, "
                         f"got dtype {arr.dtype} and shape {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() >= vocab_size):
        raise ValueError(f"{name} holds an index outside 0..{vocab_size - 1}; "
                         "encode the text with the same vocabulary as the model")
    return arr.astype(np.int64)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by the maximum so that large logits cannot overflow."""
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log-softmax over the last axis, computed stably (log-sum-exp with the maximum factored out)."""
    z = np.asarray(logits, dtype=np.float64)
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def rnn_step(x: np.ndarray, h_prev: np.ndarray, W_xh: np.ndarray, W_hh: np.ndarray,
             b_h: np.ndarray) -> np.ndarray:
    """One vanilla step h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h) for a dense input vector x_t."""
    return np.tanh(W_xh @ x + W_hh @ h_prev + b_h)


def rnn_forward(xs: np.ndarray, h0: np.ndarray, W_xh: np.ndarray, W_hh: np.ndarray,
                b_h: np.ndarray) -> np.ndarray:
    """Unroll `rnn_step` over the rows of xs (T, D) from h0; return the states h_1..h_T as (T, H)."""
    h, states = np.asarray(h0, dtype=np.float64), []
    for x in np.asarray(xs, dtype=np.float64):
        h = rnn_step(x, h, W_xh, W_hh, b_h)
        states.append(h)
    return np.array(states).reshape(len(states), len(h))


def cross_entropy_per_step(logits: np.ndarray, targets) -> np.ndarray:
    """The loss -log softmax(o_t)[y_t] at every step: logits (T, V), targets (T,) -> (T,)."""
    logp = log_softmax(logits)
    targets = _indices(targets, "targets", logp.shape[-1])
    return -logp[np.arange(len(targets)), targets]


def perplexity(logits: np.ndarray, targets) -> float:
    """exp of the mean per-step cross-entropy: the model is as unsure as a uniform choice among this many."""
    return float(np.exp(cross_entropy_per_step(logits, targets).mean()))


def hidden_delta(dlogits_t: np.ndarray, delta_next: np.ndarray, h_t: np.ndarray,
                 W_hy: np.ndarray, W_hh: np.ndarray) -> np.ndarray:
    """The BPTT step delta_t = dL/da_t = (1 - h_t^2) * (W_hy^T dL/do_t + W_hh^T delta_{t+1})."""
    return (1.0 - h_t ** 2) * (W_hy.T @ dlogits_t + W_hh.T @ delta_next)


def greedy_generate(params: dict[str, np.ndarray], h0: np.ndarray, first_index: int,
                    n_steps: int) -> np.ndarray:
    """One-to-many: feed `first_index`, then feed back the most likely token, n_steps times."""
    h, index, out = np.asarray(h0, dtype=np.float64), int(first_index), []
    for _ in range(n_steps):
        h = np.tanh(params["W_xh"][:, index] + params["W_hh"] @ h + params["b_h"])
        index = int(np.argmax(params["W_hy"] @ h + params["b_y"]))
        out.append(index)
    return np.array(out, dtype=np.int64)


def tbptt_windows(n_steps: int, k: int) -> list[tuple[int, int]]:
    """The (start, stop) windows of truncated BPTT: consecutive, k steps long, the last one shorter."""
    if k < 1:
        raise ValueError(f"the window length k must be at least 1, got {k}")
    if n_steps < 0:
        raise ValueError(f"n_steps must be non-negative, got {n_steps}")
    return [(s, min(s + k, n_steps)) for s in range(0, n_steps, k)]


class VanillaRNN:
    """A one-layer tanh RNN over one-hot tokens with a softmax output, trained by hand-written BPTT."""

    def __init__(self, vocab_size: int, hidden_size: int, seed: int = 0) -> None:
        if vocab_size < 2 or hidden_size < 1:
            raise ValueError(f"need vocab_size >= 2 and hidden_size >= 1, got {vocab_size}, {hidden_size}")
        rng = np.random.default_rng(seed)
        V, H = vocab_size, hidden_size
        self.vocab_size, self.hidden_size = V, H
        # Small weights keep tanh in its linear range and the first loss close to ln V.
        self.params: dict[str, np.ndarray] = {
            "W_xh": rng.normal(0.0, 0.3, size=(H, V)),
            "W_hh": rng.normal(0.0, 1.0 / np.sqrt(H), size=(H, H)) * 0.5,
            "b_h": np.zeros(H),
            "W_hy": rng.normal(0.0, 0.1 / np.sqrt(H), size=(V, H)),
            "b_y": np.zeros(V),
        }

    def initial_state(self) -> np.ndarray:
        """The zero state h_0."""
        return np.zeros(self.hidden_size)

    def forward(self, inputs, h0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (logits (T, V), states (T + 1, H)) where states[0] is h0 and states[t] is h_t."""
        p = self.params
        inputs = _indices(inputs, "inputs", self.vocab_size)
        h0 = np.asarray(h0, dtype=np.float64)
        if h0.shape != (self.hidden_size,):
            raise ValueError(f"h0 must have shape ({self.hidden_size},), got {h0.shape}")
        hs = np.empty((len(inputs) + 1, self.hidden_size))
        hs[0] = h0
        # W_xh x_t for a one-hot x_t is just column inputs[t]: gather them all at once.
        xw = p["W_xh"][:, inputs].T + p["b_h"]
        W_hh = p["W_hh"]
        for t in range(len(inputs)):
            hs[t + 1] = np.tanh(xw[t] + W_hh @ hs[t])
        logits = hs[1:] @ p["W_hy"].T + p["b_y"]
        return logits, hs

    def loss(self, inputs, targets, h0: np.ndarray) -> float:
        """The summed cross-entropy of the targets given the inputs, from state h0."""
        logits, _ = self.forward(inputs, h0)
        return float(cross_entropy_per_step(logits, targets).sum())

    def loss_and_grads(self, inputs, targets, h0: np.ndarray
                       ) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
        """Forward, then backpropagation through time: (loss, grads keyed like params, h_T)."""
        inputs = _indices(inputs, "inputs", self.vocab_size)
        targets = _indices(targets, "targets", self.vocab_size)
        if len(inputs) != len(targets) or len(inputs) == 0:
            raise ValueError(f"inputs and targets must be non-empty and of equal length, "
                             f"got {len(inputs)} and {len(targets)}")
        p = self.params
        logits, hs = self.forward(inputs, h0)
        T = len(inputs)
        probs = softmax(logits)
        loss = float(-np.log(probs[np.arange(T), targets]).sum())
        # Output signal: dL/do_t = softmax(o_t) - onehot(y_t), for every step at once.
        d_out = probs
        d_out[np.arange(T), targets] -= 1.0
        dh_from_output = d_out @ p["W_hy"]                  # (T, H): W_hy^T dL/do_t, every t
        deltas = np.empty((T, self.hidden_size))
        delta_next = np.zeros(self.hidden_size)            # nothing flows back from after step T
        W_hh_T = p["W_hh"].T
        for t in range(T - 1, -1, -1):
            delta_next = (1.0 - hs[t + 1] ** 2) * (dh_from_output[t] + W_hh_T @ delta_next)
            deltas[t] = delta_next
        # Shared weights: the gradient is the sum over the time steps of each replica's gradient.
        dW_xh = np.zeros_like(p["W_xh"])
        np.add.at(dW_xh.T, inputs, deltas)
        grads = {
            "W_xh": dW_xh,
            "W_hh": deltas.T @ hs[:-1],
            "b_h": deltas.sum(axis=0),
            "W_hy": d_out.T @ hs[1:],
            "b_y": d_out.sum(axis=0),
        }
        return loss, grads, hs[-1].copy()

    def sample(self, h: np.ndarray, first_index: int, n: int, rng: np.random.Generator,
               temperature: float = 1.0) -> np.ndarray:
        """Draw n tokens one at a time, each fed back as the next input (temperature < 1 sharpens)."""
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        p = self.params
        h, index, out = np.asarray(h, dtype=np.float64).copy(), int(first_index), []
        for _ in range(n):
            h = np.tanh(p["W_xh"][:, index] + p["W_hh"] @ h + p["b_h"])
            probs = softmax((p["W_hy"] @ h + p["b_y"]) / temperature)
            index = int(rng.choice(self.vocab_size, p=probs))
            out.append(index)
        return np.array(out, dtype=np.int64)


class Adam:
    """The Adam update rule for a dict of NumPy arrays, updated in place."""

    def __init__(self, params: dict[str, np.ndarray], lr: float = 1e-2, betas=(0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.params, self.lr, self.betas, self.eps, self.t = params, lr, betas, eps, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, grads: dict[str, np.ndarray]) -> None:
        """Move every parameter against its gradient, scaled by running moment estimates."""
        b1, b2 = self.betas
        self.t += 1
        for k, g in grads.items():
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
            m_hat = self.m[k] / (1 - b1 ** self.t)
            v_hat = self.v[k] / (1 - b2 ** self.t)
            self.params[k] -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


def clip_by_global_norm(grads: dict[str, np.ndarray], max_norm: float) -> float:
    """Scale all gradients together so that their joint norm is at most max_norm; return the old norm."""
    norm = float(np.sqrt(sum(float((g * g).sum()) for g in grads.values())))
    if norm > max_norm:
        for g in grads.values():
            g *= max_norm / norm
    return norm


def train_tbptt(model: VanillaRNN, inputs: Sequence[int], targets: Sequence[int], k: int,
                epochs: int = 1, lr: float = 1e-2, max_norm: float = 5.0) -> np.ndarray:
    """Truncated BPTT over one long stream: run forward through it, and after every k steps
    backpropagate through those k steps only, update, and carry the hidden state on.

    For a language model, `inputs` is the text and `targets` the same text shifted by one.
    Returns the mean per-step loss of every window, in the order they were trained.
    """
    inputs = _indices(inputs, "inputs", model.vocab_size)
    targets = _indices(targets, "targets", model.vocab_size)
    if len(inputs) != len(targets) or len(inputs) == 0:
        raise ValueError(f"inputs and targets must be non-empty and of equal length, "
                         f"got {len(inputs)} and {len(targets)}")
    optimizer = Adam(model.params, lr=lr)
    losses = []
    for _ in range(epochs):
        h = model.initial_state()
        for start, stop in tbptt_windows(len(inputs), k):
            # h arrives from the previous window as a constant: no gradient flows back into it.
            loss, grads, h = model.loss_and_grads(inputs[start:stop], targets[start:stop], h)
            clip_by_global_norm(grads, max_norm)
            optimizer.step(grads)
            losses.append(loss / (stop - start))
    return np.array(losses)
