"""Chapter 4's recall experiment: a vanilla RNN trained to recall a key `lag` steps back.

`train_recall` trains one network, written with `torch.nn.RNN` and autograd: the readable
reference. `train_recall_seeds` trains the same network from several seeds at once, as one
batched model: every weight gets a leading dimension of one entry per seed, the recurrence runs
as batched matrix products, and backpropagation through time is written out by hand so that the
gradient of W_hh is one batched product over all steps instead of one per step. Each seed keeps
its own initialisation, data, loss, clipping and optimiser state, so seed s of the batch follows
the run `train_recall(seed=s)` to float rounding (the tests check this).

Both trainers take the same stopping rule: with `stop_loss`, a run ends after the first step at
which its training loss averaged over the last `window` steps is below `stop_loss`, and is
scored with the weights of that step. A setting whose seeds all learn quickly then costs only
the steps they need; the seeds that do not learn run the full `steps`.

The data come from `rnnbook.data.recall_task`: seed s trains on the stream `seed=s + 1` and is
scored on `n_test` fresh sequences from the stream `seed=10_000 + s`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from . import data, gradients

OPTIMIZERS = {"sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam}
NONLINEARITIES = ("tanh", "relu")      # the two that torch.nn.RNN offers


class RecallRNN(torch.nn.Module):
    """A vanilla RNN over one-hot symbols; its last state is read out into one score per key."""

    def __init__(self, vocab: int, hidden_size: int, n_keys: int, nonlinearity: str = "tanh"):
        super().__init__()
        self.vocab = vocab
        self.rnn = torch.nn.RNN(vocab, hidden_size, nonlinearity=nonlinearity, batch_first=True)
        self.readout = torch.nn.Linear(hidden_size, n_keys)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Scores (B, n_keys) for tokens (B, lag + 1)."""
        x = torch.nn.functional.one_hot(tokens, self.vocab).to(self.readout.weight.dtype)
        states, _ = self.rnn(x)
        return self.readout(states[:, -1])


def init_recurrent(model: RecallRNN, how, seed: int = 0) -> None:
    """Set W_hh in place: 'default' (torch's), 'orthogonal', 'identity' (the IRNN) or a spectral radius."""
    W = model.rnn.weight_hh_l0
    H = W.shape[0]
    with torch.no_grad():
        if how == "orthogonal":
            W.copy_(torch.from_numpy(gradients.orthogonal(H, seed)))
        elif how == "identity":                    # Le et al. (2015): W_hh = I, biases 0
            W.copy_(torch.eye(H))
            model.rnn.bias_hh_l0.zero_()
            model.rnn.bias_ih_l0.zero_()
        elif isinstance(how, float):
            random = np.random.default_rng(seed).standard_normal((H, H))
            W.copy_(torch.from_numpy(gradients.scale_to_spectral_radius(random, how)))
        elif how != "default":
            raise ValueError(f"init must be 'default', 'orthogonal', 'identity' or a float "
                             f"spectral radius, got {how!r}")


def _check(lag, optimizer, nonlinearity, clip, steps, batch_size, n_test, stop_loss,
           window) -> None:
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu' (torch.nn.RNN's), got {nonlinearity!r}")
    if clip is not None and not clip > 0:
        raise ValueError(f"clip must be None or a positive gradient norm, got {clip!r}")
    if stop_loss is not None and not stop_loss > 0:
        raise ValueError(f"stop_loss must be None (train every step) or a positive loss in nats, "
                         f"got {stop_loss!r}")
    for name, value in (("lag", lag), ("steps", steps), ("batch_size", batch_size),
                        ("n_test", n_test), ("window", window)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _learned(losses: np.ndarray, step: int, stop_loss: float | None, window: int) -> bool:
    """The stopping rule: the mean training loss of the last `window` steps is below stop_loss."""
    if stop_loss is None or step + 1 < window:
        return False
    return bool(losses[step + 1 - window:step + 1].mean() < stop_loss)


def _initial_model(seed, hidden_size, init, nonlinearity, n_keys, n_noise, dtype) -> RecallRNN:
    torch.manual_seed(seed)
    model = RecallRNN(n_keys + n_noise + 1, hidden_size, n_keys, nonlinearity)
    init_recurrent(model, init, seed)
    return model.to(dtype)


def train_recall(lag: int, optimizer: str = "sgd", lr: float = 0.5, init="default",
                 nonlinearity: str = "tanh", clip: float | None = None, hidden_size: int = 32,
                 steps: int = 300, batch_size: int = 64, seed: int = 0, n_test: int = 1000,
                 n_keys: int = 4, n_noise: int = 4, stop_loss: float | None = None,
                 window: int = 10, device="cpu",
                 dtype: torch.dtype = torch.float32) -> tuple[float, np.ndarray, np.ndarray]:
    """Train one RecallRNN at this lag: (test accuracy, loss of every step, gradient norm before clipping).

    With `stop_loss`, training stops after the first step at which the mean loss of the last
    `window` steps is below it (the task is learned); the steps not taken are NaN.
    """
    _check(lag, optimizer, nonlinearity, clip, steps, batch_size, n_test, stop_loss, window)
    model = _initial_model(seed, hidden_size, init, nonlinearity, n_keys, n_noise, dtype).to(device)
    opt = OPTIMIZERS[optimizer](model.parameters(), lr=lr)
    x, y = (torch.from_numpy(a).to(device) for a in
            data.recall_task(steps * batch_size, lag, n_keys, n_noise, seed=seed + 1))
    losses, norms = np.full(steps, np.nan), np.full(steps, np.nan)
    params = list(model.parameters())
    for step in range(steps):
        batch = slice(step * batch_size, (step + 1) * batch_size)
        loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
        opt.zero_grad()
        loss.backward()
        norms[step] = gradients.global_norm([p.grad for p in params])
        if clip is not None:        # Pascanu et al.: rescale, keep the direction
            clipped, _ = gradients.clip_grad_norm([p.grad for p in params], clip)
            for p, g in zip(params, clipped):
                p.grad = g
        losses[step] = loss.item()
        opt.step()
        if _learned(losses, step, stop_loss, window):
            break
    x_test, y_test = (torch.from_numpy(a).to(device) for a in
                      data.recall_task(n_test, lag, n_keys, n_noise, seed=10_000 + seed))
    with torch.no_grad():
        accuracy = (model(x_test).argmax(-1) == y_test).float().mean().item()
    return accuracy, losses, norms


@dataclass(frozen=True)
class RecallRuns:
    """The runs of `train_recall_seeds`, one row per seed."""

    seeds: tuple[int, ...]
    accuracy: np.ndarray      # (S,) test accuracy
    losses: np.ndarray        # (S, steps) training loss of every step (NaN once a seed stopped)
    norms: np.ndarray         # (S, steps) global gradient norm of every step, before clipping
    steps_run: np.ndarray     # (S,) steps each seed trained before it stopped


class _StackedRNN:
    """The weights of S RecallRNNs stacked along a leading dimension, with a hand-written BPTT."""

    def __init__(self, models: Sequence[RecallRNN], nonlinearity: str, device):
        def stack(get):
            return torch.nn.Parameter(torch.stack([get(m).detach() for m in models]).to(device))
        self.W_ih = stack(lambda m: m.rnn.weight_ih_l0)          # (S, H, V)
        self.W_hh = stack(lambda m: m.rnn.weight_hh_l0)          # (S, H, H)
        self.b_ih = stack(lambda m: m.rnn.bias_ih_l0)            # (S, H)
        self.b_hh = stack(lambda m: m.rnn.bias_hh_l0)            # (S, H)
        self.W_out = stack(lambda m: m.readout.weight)           # (S, K, H)
        self.b_out = stack(lambda m: m.readout.bias)             # (S, K)
        self.params = [self.W_ih, self.W_hh, self.b_ih, self.b_hh, self.W_out, self.b_out]
        self.relu = nonlinearity == "relu"
        self.vocab = self.W_ih.shape[2]

    def _inputs(self, tokens):
        """Row indices (S, T, B) into the stacked input table, and the drive (S, T, B, H).

        A one-hot x_t picks one column of W_ih, so W_ih x_t + b_ih + b_hh is a row of the
        table (S, V, H) of every symbol's drive: a lookup, not a matrix product.
        """
        S, B, T = tokens.shape
        offsets = torch.arange(S, device=tokens.device)[:, None, None] * self.vocab
        rows = (tokens.transpose(1, 2) + offsets).reshape(-1)
        table = self.W_ih.transpose(1, 2) + (self.b_ih + self.b_hh)[:, None, :]
        drive = table.reshape(S * self.vocab, -1).index_select(0, rows)
        return rows, drive.view(S, T, B, -1)

    def _act(self, a, out=None):
        if self.relu:                             # torch.relu has no out= argument
            return torch.clamp(a, min=0.0, out=out) if out is not None else torch.relu(a)
        return torch.tanh(a, out=out)

    @torch.no_grad()
    def scores(self, tokens: torch.Tensor) -> torch.Tensor:
        """Scores (S, B, K) for tokens (S, B, T); the state is read after the last token."""
        _, drive = self._inputs(tokens)
        W_hh_t = self.W_hh.transpose(1, 2)
        h = self._act(drive[:, 0])                # h_0 = 0, so the first step has no W_hh term
        for t in range(1, drive.shape[1]):
            h = self._act(torch.baddbmm(drive[:, t], h, W_hh_t))
        return torch.baddbmm(self.b_out[:, None, :], h, self.W_out.transpose(1, 2))

    @torch.no_grad()
    def loss_and_grads(self, tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Every seed's mean cross-entropy (S,); each parameter's .grad set to its gradient."""
        rows, drive = self._inputs(tokens)
        S, T, B, H = drive.shape
        # states[:, t] is h_t, h_0 = 0; seeds first, so that a seed's steps are one matrix below.
        states = torch.empty((S, T + 1, B, H), dtype=drive.dtype, device=drive.device)
        states[:, 0] = 0.0
        W_hh_t = self.W_hh.transpose(1, 2)
        self._act(drive[:, 0], out=states[:, 1])
        for t in range(1, T):
            self._act(torch.baddbmm(drive[:, t], states[:, t], W_hh_t), out=states[:, t + 1])
        h_last = states[:, T]
        logits = torch.baddbmm(self.b_out[:, None, :], h_last, self.W_out.transpose(1, 2))
        log_p = torch.log_softmax(logits, dim=2)
        losses = -log_p.gather(2, targets[:, :, None]).squeeze(2).mean(dim=1)
        # Backward. d loss / d logits of the mean cross-entropy: (softmax - one-hot) / B.
        d_logits = log_p.exp_()
        d_logits.scatter_add_(2, targets[:, :, None],
                              torch.full_like(d_logits[:, :, :1], -1.0))
        d_logits /= B
        self.W_out.grad = torch.bmm(d_logits.transpose(1, 2), h_last)
        self.b_out.grad = d_logits.sum(dim=1)
        # g'(a_t) from the states themselves: 1 - h^2 for tanh, [h > 0] for ReLU.
        after = states[:, 1:]
        slope = (after > 0).to(states.dtype) if self.relu else torch.addcmul(
            torch.ones_like(after), after, after, value=-1.0)
        d_pre = torch.empty_like(drive)           # d loss / d a_t, for every step t
        d_h = torch.bmm(d_logits, self.W_out)
        for t in range(T - 1, -1, -1):
            torch.mul(d_h, slope[:, t], out=d_pre[:, t])
            if t > 0:
                d_h = torch.bmm(d_pre[:, t], self.W_hh)
        # The weight gradients are sums over all steps: one product each, not one per step.
        d_flat = d_pre.view(S, T * B, H).transpose(1, 2)                  # (S, H, T B)
        self.W_hh.grad = torch.bmm(d_flat, states[:, :-1].reshape(S, T * B, H))
        # The table's gradient: every step's d_pre added to the row of the symbol it read.
        d_table = torch.zeros((S * self.vocab, H), dtype=drive.dtype, device=drive.device)
        d_table.index_add_(0, rows, d_pre.view(S * T * B, H))
        d_table = d_table.view(S, self.vocab, H)
        self.W_ih.grad = d_table.transpose(1, 2).contiguous()
        self.b_ih.grad = d_table.sum(dim=1)
        self.b_hh.grad = self.b_ih.grad.clone()
        return losses

    def grad_norms(self) -> torch.Tensor:
        """Each seed's global gradient norm (S,), summed in float64 as gradients.global_norm does."""
        return torch.sqrt(sum((p.grad.double() ** 2).flatten(1).sum(1) for p in self.params))


def train_recall_seeds(lag: int, seeds: Sequence[int], optimizer: str = "sgd", lr: float = 0.5,
                       init="default", nonlinearity: str = "tanh", clip: float | None = None,
                       hidden_size: int = 32, steps: int = 300, batch_size: int = 64,
                       n_test: int = 1000, n_keys: int = 4, n_noise: int = 4,
                       stop_loss: float | None = None, window: int = 10, device="cpu",
                       dtype: torch.dtype = torch.float32) -> RecallRuns:
    """`train_recall` for every seed at once, as one batched model: the same runs, several times faster.

    A seed that meets the stopping rule is scored with its weights of that step (the batch
    keeps computing it, but nothing of it is used), and the loop ends when every seed has
    stopped, so a setting that learns quickly costs only the steps it needs.
    """
    _check(lag, optimizer, nonlinearity, clip, steps, batch_size, n_test, stop_loss, window)
    seeds = tuple(int(s) for s in seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a non-empty list of distinct integers, got {seeds}")
    models = [_initial_model(s, hidden_size, init, nonlinearity, n_keys, n_noise, dtype)
              for s in seeds]
    net = _StackedRNN(models, nonlinearity, device)
    # The optimisers are element-wise, so one optimiser over the stacked weights is S optimisers.
    opt = OPTIMIZERS[optimizer](net.params, lr=lr)
    streams = [data.recall_task(steps * batch_size, lag, n_keys, n_noise, seed=s + 1) for s in seeds]
    # uint8 keeps S streams of steps x batch sequences small; a batch is widened when it is used.
    x = torch.from_numpy(np.stack([tokens.astype(np.uint8) for tokens, _ in streams])).to(device)
    y = torch.from_numpy(np.stack([keys for _, keys in streams])).to(device)
    S = len(seeds)
    losses, norms = np.full((S, steps), np.nan), np.full((S, steps), np.nan)
    steps_run = np.full(S, steps)
    running = np.ones(S, dtype=bool)
    kept = [p.detach().clone() for p in net.params]     # each seed's weights when it stopped
    for step in range(steps):
        batch = slice(step * batch_size, (step + 1) * batch_size)
        loss = net.loss_and_grads(x[:, batch].long(), y[:, batch])
        norm = net.grad_norms()
        if clip is not None:        # each seed's own gradient rescaled, as clip_grad_norm does
            factor = torch.clamp(clip / (norm + 1e-6), max=1.0)
            for p in net.params:
                p.grad *= factor.to(p.dtype).view(-1, *[1] * (p.ndim - 1))
        losses[running, step] = loss.cpu().numpy()[running]
        norms[running, step] = norm.cpu().numpy()[running]
        opt.step()
        done = [i for i in np.flatnonzero(running)
                if _learned(losses[i], step, stop_loss, window)]
        if done:
            with torch.no_grad():
                for p, k in zip(net.params, kept):
                    k[done] = p[done]
            running[done] = False
            steps_run[done] = step + 1
            if not running.any():
                break
    with torch.no_grad():                   # score every seed with the weights it stopped with
        still = torch.from_numpy(running).to(device)
        for p, k in zip(net.params, kept):
            k[still] = p[still]
            p.copy_(k)
    tests = [data.recall_task(n_test, lag, n_keys, n_noise, seed=10_000 + s) for s in seeds]
    x_test = torch.from_numpy(np.stack([tokens for tokens, _ in tests])).to(device)
    y_test = torch.from_numpy(np.stack([keys for _, keys in tests])).to(device)
    accuracy = (net.scores(x_test).argmax(-1) == y_test).to(torch.float64).mean(dim=1)
    return RecallRuns(seeds, accuracy.cpu().numpy(), losses, norms, steps_run)
