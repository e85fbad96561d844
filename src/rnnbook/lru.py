"""Linear recurrent layers that train in parallel: a stable diagonal recurrence and a selective one.

`DiagonalRecurrence` is h_t = a * h_{t-1} + sqrt(1 - a^2) * (B x_t), y_t = C h_t + D x_t with a
fixed diagonal a in (0, 1), parametrised as a = exp(-exp(nu)) so that every eigenvalue stays
inside the unit circle whatever gradient descent does to nu (the exponential parametrisation and
the sqrt(1 - a^2) input normalisation of the LRU, Orvieto et al. 2023, here with real
eigenvalues as in S4D-real). The recurrence is linear and time-invariant, so all states come
from `rnnbook.scan.linear_scan` in O(log T) depth; the non-linearity sits between layers.

`SelectiveRecurrence` makes a_t and b_t depend on the input (Gu & Dao 2023, "Mamba", simplified:
no convolution, no hardware-aware kernel): a step size dt_t = softplus(W x_t + c) per channel,
a_t = exp(-dt_t * exp(A_log)) for each of `state` entries per channel, b_t = dt_t * (B x_t) x_t,
and a read-out C x_t that also depends on the input. A large dt_t overwrites the state with the
current input, a small one keeps it: chapter 5's gates, but outside the recurrence, which stays
linear in h and can therefore still be scanned. An LSTM's gates multiply tanh(c_{t-1})-dependent
quantities, so its step is not an affine map of the state and no such scan exists.

`RecurrentLM` stacks either layer in pre-norm residual blocks with a gated read-out for language
modelling; `forward(ids, state)` runs a whole window in parallel or, with T = 1 and the state of
the previous call, one step at constant cost.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .scan import linear_scan

__all__ = ["DiagonalRecurrence", "RecurrentLM", "SelectiveRecurrence"]


def _check_input(x: torch.Tensor, dim: int) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != dim:
        raise ValueError(f"input must be a (batch, time, {dim}) tensor, got "
                         f"{tuple(getattr(x, 'shape', ())) or type(x).__name__}")


class DiagonalRecurrence(nn.Module):
    """h_t = a h_{t-1} + sqrt(1 - a^2) B x_t, y_t = C h_t + D x_t, with a = exp(-exp(nu)) in (0, 1)."""

    def __init__(self, dim: int, state: int, r_min: float = 0.5, r_max: float = 0.99) -> None:
        super().__init__()
        if not 0.0 < r_min < r_max < 1.0:
            raise ValueError(f"need 0 < r_min < r_max < 1 for stable eigenvalues, got "
                             f"{r_min}, {r_max}")
        self.dim, self.state = dim, state
        radius = r_min + (r_max - r_min) * torch.rand(state)  # eigenvalues spread over the ring
        self.nu_log = nn.Parameter(torch.log(-torch.log(radius)))
        self.B = nn.Linear(dim, state, bias=False)
        self.C = nn.Linear(state, dim, bias=False)
        self.D = nn.Parameter(torch.ones(dim))

    def eigenvalues(self) -> torch.Tensor:
        """The diagonal a = exp(-exp(nu)), always strictly between 0 and 1."""
        return torch.exp(-torch.exp(self.nu_log))

    def coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """a and b of the recurrence for input x (B, T, dim): both (T, B, state)."""
        a = self.eigenvalues()
        b = self.B(x) * torch.sqrt(1.0 - a * a)  # normalised so that |h| stays O(|Bx|)
        b = b.transpose(0, 1)
        return a.expand_as(b), b

    def read_out(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """y = C h + D x for states h (T, B, state) and inputs x (B, T, dim)."""
        return self.C(h.transpose(0, 1)) + self.D * x

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Outputs (B, T, dim) and the last state (B, state), all T steps by one scan."""
        _check_input(x, self.dim)
        a, b = self.coefficients(x)
        h = linear_scan(a, b, h0)
        return self.read_out(h, x), h[-1]


class SelectiveRecurrence(DiagonalRecurrence):
    """Input-dependent a_t = exp(-dt_t exp(A_log)), b_t = dt_t (B x_t) x_t, y_t = (C x_t) h_t + D x_t."""

    def __init__(self, dim: int, state: int = 8, dt_min: float = 1e-3, dt_max: float = 0.1
                 ) -> None:
        nn.Module.__init__(self)
        self.dim, self.state = dim, state
        # S4D-real start: channel c's n-th entry decays at rate n + 1
        self.A_log = nn.Parameter(torch.log(torch.arange(1, state + 1.0)).repeat(dim, 1))
        self.dt_proj = nn.Linear(dim, dim)
        dt = torch.exp(torch.rand(dim) * (math.log(dt_max) - math.log(dt_min))
                       + math.log(dt_min))
        with torch.no_grad():  # softplus(bias) = dt at the start: log-uniform step sizes
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.B = nn.Linear(dim, state, bias=False)
        self.C = nn.Linear(dim, state, bias=False)
        self.D = nn.Parameter(torch.ones(dim))

    def coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """a_t and b_t for input x (B, T, dim): both (T, B, dim, state)."""
        dt = F.softplus(self.dt_proj(x)).transpose(0, 1)[..., None]  # (T, B, dim, 1)
        a = torch.exp(-dt * torch.exp(self.A_log))  # in (0, 1): stable for any input
        b = dt * self.B(x).transpose(0, 1)[:, :, None, :] * x.transpose(0, 1)[..., None]
        return a, b

    def read_out(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """y_t = sum_n (C x_t)_n h_t[:, n] + D x_t: (B, T, dim)."""
        c = self.C(x).transpose(0, 1)[:, :, None, :]  # (T, B, 1, state)
        return (h * c).sum(-1).transpose(0, 1) + self.D * x

    def eigenvalues(self) -> torch.Tensor:  # pragma: no cover - input-dependent
        raise AttributeError("a selective recurrence has no fixed eigenvalues: a_t depends on "
                             "x_t (see coefficients)")


class _Block(nn.Module):
    """x + W_out(recurrence(W_in LN(x)) * silu(W_gate LN(x))): a pre-norm gated residual block."""

    def __init__(self, dim: int, kind: str, state: int, expand: int) -> None:
        super().__init__()
        inner = expand * dim
        self.norm = nn.LayerNorm(dim)
        self.in_proj = nn.Linear(dim, 2 * inner)
        self.rec = (SelectiveRecurrence(inner, state) if kind == "selective"
                    else DiagonalRecurrence(inner, state))
        self.out_proj = nn.Linear(inner, dim)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        u, gate = self.in_proj(self.norm(x)).chunk(2, dim=-1)
        y, h = self.rec(u, h0)
        return x + self.out_proj(y * F.silu(gate)), h


class RecurrentLM(nn.Module):
    """Embedding -> `layers` linear-recurrence blocks -> LayerNorm -> linear, on (B, T) ids."""

    KINDS = ("diagonal", "selective")

    def __init__(self, vocab: int, dim: int = 64, layers: int = 2, kind: str = "selective",
                 state: int = 8, expand: int = 2) -> None:
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f"kind must be one of {self.KINDS}, got {kind!r}")
        for name, v in (("vocab", vocab), ("dim", dim), ("layers", layers), ("state", state),
                        ("expand", expand)):
            if int(v) < 1:
                raise ValueError(f"{name} must be a positive integer, got {v}")
        self.kind = kind
        self._config = {"vocab": vocab, "dim": dim, "layers": layers, "kind": kind,
                        "state": state, "expand": expand}
        self.embed = nn.Embedding(vocab, dim)
        self.blocks = nn.ModuleList(_Block(dim, kind, state, expand) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)

    @property
    def config(self) -> dict:
        """The constructor's arguments (to rebuild the model from a saved file)."""
        return dict(self._config)

    def forward(self, ids: torch.Tensor, state: list[torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """ids (B, T) -> logits (B, T, vocab) and each block's last state (for the next call)."""
        if ids.dim() != 2 or ids.dtype != torch.long:
            raise ValueError(f"ids must be a (batch, time) int64 tensor, got {tuple(ids.shape)} "
                             f"{ids.dtype}")
        x = self.embed(ids)
        state = state if state is not None else [None] * len(self.blocks)
        if len(state) != len(self.blocks):
            raise ValueError(f"state holds {len(state)} entries for {len(self.blocks)} blocks")
        new_state = []
        for block, h0 in zip(self.blocks, state):
            x, h = block(x, h0)
            new_state.append(h)
        return self.head(self.norm(x)), new_state
