"""Recurrent cells written from scratch (vanilla RNN, GRU, LSTM) and a layer that runs one over time.

The parameters carry torch's names and layouts (`weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`,
gates stacked as r|z|n for the GRU and i|f|g|o for the LSTM), so `Recurrent.from_torch` can copy
a `torch.nn.RNN`, `GRU` or `LSTM` and reproduce its outputs and gradients.
"""
from __future__ import annotations

import math
from typing import Optional, Union

import torch
from torch import Tensor, nn

State = Union[Tensor, tuple[Tensor, Tensor]]

__all__ = ["RNNCell", "GRUCell", "LSTMCell", "Recurrent"]


# The time loops. The LSTM, the layer the course trains most, runs its loop without recording
# an autograd graph and has a hand-written backward pass (backpropagation through time, as in
# chapter 3): the interpreter overhead of a graph of small operations per step, and a separate
# weight-gradient product at every step, are what make a naive scratch LSTM several times slower
# than torch.nn.LSTM on a CPU. In all three cells the input projection of every time step is
# computed before the loop, in one matrix product.

def _rnn_scan(xp: Tensor, h: Tensor, w_hh: Tensor, relu: bool) -> tuple[Tensor, Tensor]:
    w = w_hh.t()
    act = torch.relu if relu else torch.tanh
    outputs = []
    for x_t in xp:
        h = act(torch.addmm(x_t, h, w))
        outputs.append(h)
    return torch.stack(outputs), h


def _gru_scan(xp: Tensor, h: Tensor, w_hh: Tensor, b_hh: Optional[Tensor]) -> tuple[Tensor, Tensor]:
    w = w_hh.t()
    size = h.size(1)
    outputs = []
    for x_t in xp:
        hp = torch.mm(h, w) if b_hh is None else torch.addmm(b_hh, h, w)
        rz = torch.sigmoid(x_t[:, : 2 * size] + hp[:, : 2 * size])
        r, z = rz[:, :size], rz[:, size:]
        n = torch.tanh(x_t[:, 2 * size:] + r * hp[:, 2 * size:])
        h = n + z * (h - n)                      # = (1 - z) * n + z * h
        outputs.append(h)
    return torch.stack(outputs), h


class _LSTMScan(torch.autograd.Function):
    """The LSTM recurrence over pre-projected inputs, with backpropagation through time by hand."""

    @staticmethod
    def forward(ctx, xp: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor):
        steps, batch, four_h = xp.shape
        size = four_h // 4
        w = w_hh.t()
        acts = torch.empty_like(xp)                        # i, f, g, o after their nonlinearity
        hs = xp.new_empty(steps + 1, batch, size)          # h_0 ... h_T
        cs = xp.new_empty(steps + 1, batch, size)          # c_0 ... c_T
        hs[0], cs[0] = h0, c0
        for t in range(steps):
            a = acts[t]
            torch.addmm(xp[t], hs[t], w, out=a)
            a[:, : 2 * size].sigmoid_()
            a[:, 2 * size: 3 * size].tanh_()
            a[:, 3 * size:].sigmoid_()
            i, f, g, o = a[:, :size], a[:, size: 2 * size], a[:, 2 * size: 3 * size], a[:, 3 * size:]
            c = cs[t + 1]
            torch.mul(f, cs[t], out=c)
            c.addcmul_(i, g)
            torch.mul(o, torch.tanh(c), out=hs[t + 1])
        ctx.save_for_backward(acts, hs, cs, w_hh)
        outputs = hs[1:]
        return outputs, outputs[-1], cs[-1]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_out: Optional[Tensor], d_hT: Optional[Tensor], d_cT: Optional[Tensor]):
        acts, hs, cs, w_hh = ctx.saved_tensors
        steps, batch, four_h = acts.shape
        size = four_h // 4
        dh = torch.zeros_like(hs[0]) if d_hT is None else d_hT.clone()
        dc = torch.zeros_like(cs[0]) if d_cT is None else d_cT.clone()
        d_gates = torch.empty_like(acts)                  # gradient of the pre-activations
        for t in range(steps - 1, -1, -1):
            if d_out is not None:
                dh += d_out[t]
            a = acts[t]
            i, f, g, o = a[:, :size], a[:, size: 2 * size], a[:, 2 * size: 3 * size], a[:, 3 * size:]
            tc = torch.tanh(cs[t + 1])
            dc += dh * o * (1 - tc * tc)                  # through h_t = o * tanh(c_t)
            d = d_gates[t]
            di, df, dg, do = d[:, :size], d[:, size: 2 * size], d[:, 2 * size: 3 * size], d[:, 3 * size:]
            torch.mul(dc * g, i * (1 - i), out=di)
            torch.mul(dc * cs[t], f * (1 - f), out=df)
            torch.mul(dc * i, 1 - g * g, out=dg)
            torch.mul(dh * tc, o * (1 - o), out=do)
            dc = dc * f                                   # the additive path c_{t-1} -> c_t
            dh = torch.mm(d, w_hh)
        # One product for the weight gradient of all steps, instead of one per step.
        d_w = torch.mm(d_gates.reshape(-1, four_h).t(), hs[:-1].reshape(-1, size))
        return d_gates, dh, dc, d_w


def _lstm_scan(xp: Tensor, h: Tensor, c: Tensor, w_hh: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    return _LSTMScan.apply(xp, h, c, w_hh)


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


class _Cell(nn.Module):
    """Shared parameters and checks of the three cells; subclasses define the update."""

    n_gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.input_size = _check_positive_int(input_size, "input_size")
        self.hidden_size = _check_positive_int(hidden_size, "hidden_size")
        self.bias = bool(bias)
        rows = self.n_gates * hidden_size
        kw = {"device": device, "dtype": dtype}
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size, **kw))
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size, **kw))
        if self.bias:
            self.bias_ih = nn.Parameter(torch.empty(rows, **kw))
            self.bias_hh = nn.Parameter(torch.empty(rows, **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform in ±1/√H, torch's default for its recurrent layers."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"

    # -- pieces used by Recurrent -------------------------------------------------------------
    def input_bias(self) -> Optional[Tensor]:
        """The bias added to the input projection (both biases where they can be merged)."""
        if not self.bias:
            return None
        return self.bias_ih + self.bias_hh

    def project_inputs(self, x: Tensor) -> Tensor:
        """W_ih x_t (+ bias) for every time step at once: one matrix product instead of T."""
        flat = x.reshape(-1, x.size(-1))
        b = self.input_bias()
        out = torch.mm(flat, self.weight_ih.t()) if b is None else torch.addmm(b, flat, self.weight_ih.t())
        return out.reshape(*x.shape[:-1], out.size(-1))

    def zero_state(self, batch: int, like: Tensor) -> State:
        """The all-zero initial state for a batch of `batch` sequences."""
        return like.new_zeros(batch, self.hidden_size)

    def output(self, state: State) -> Tensor:
        """The hidden vector h_t that the cell outputs from its state."""
        return state

    def _check_step_input(self, x: Tensor) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 2 or x.size(1) != self.input_size:
            raise ValueError(f"x must have shape (batch, {self.input_size}) for one step, "
                             f"got {tuple(x.shape)}")
        _check_dtype_device(x, self.weight_ih, "x")

    def _check_state(self, h: Tensor, batch: int, name: str) -> None:
        if not isinstance(h, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(h).__name__}")
        if tuple(h.shape) != (batch, self.hidden_size):
            raise ValueError(f"{name} must have shape ({batch}, {self.hidden_size}), got {tuple(h.shape)}")
        _check_dtype_device(h, self.weight_ih, name)


def _check_dtype_device(x: Tensor, param: Tensor, name: str) -> None:
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}; "
                        "one-hot encode or embed integer tokens first")
    if x.dtype != param.dtype:
        raise TypeError(f"{name} has dtype {x.dtype} but the parameters are {param.dtype}; "
                        f"convert one of them (e.g. `{name}.to({param.dtype})` or `layer.to({x.dtype})`)")
    if x.device != param.device:
        raise ValueError(f"{name} is on {x.device} but the parameters are on {param.device}; "
                         "move them to the same device")


class RNNCell(_Cell):
    """One step of a vanilla (Elman) RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, device, dtype)

    def forward(self, x: Tensor, h: Optional[Tensor] = None) -> Tensor:
        """Return h_t from x_t of shape (B, input_size) and h_{t-1} (zeros when None)."""
        self._check_step_input(x)
        h = self.zero_state(x.size(0), x) if h is None else h
        self._check_state(h, x.size(0), "h")
        pre = x @ self.weight_ih.t() + h @ self.weight_hh.t()
        if self.bias:
            pre = pre + self.bias_ih + self.bias_hh
        return torch.relu(pre) if self.nonlinearity == "relu" else torch.tanh(pre)

    def scan(self, xp: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """Run the recurrence over projected inputs xp (T, B, H); return (outputs, last state)."""
        return _rnn_scan(xp, state, self.weight_hh, self.nonlinearity == "relu")


class GRUCell(_Cell):
    """One step of a gated recurrent unit (Cho et al. 2014), in torch's convention.

    r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz),
    n = tanh(W_in x + b_in + r ∘ (W_hn h + b_hn)),  h' = (1 − z) ∘ n + z ∘ h.
    """

    n_gates = 3

    def input_bias(self) -> Optional[Tensor]:
        # b_hn sits inside r ∘ (...), so only the r and z parts of b_hh can be merged.
        return self.bias_ih if self.bias else None

    def forward(self, x: Tensor, h: Optional[Tensor] = None) -> Tensor:
        """Return h_t from x_t of shape (B, input_size) and h_{t-1} (zeros when None)."""
        self._check_step_input(x)
        h = self.zero_state(x.size(0), x) if h is None else h
        self._check_state(h, x.size(0), "h")
        xp = x @ self.weight_ih.t()
        hp = h @ self.weight_hh.t()
        if self.bias:
            xp, hp = xp + self.bias_ih, hp + self.bias_hh
        x_r, x_z, x_n = xp.chunk(3, dim=1)
        h_r, h_z, h_n = hp.chunk(3, dim=1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        return (1 - z) * n + z * h

    def scan(self, xp: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """Run the recurrence over projected inputs xp (T, B, 3H); return (outputs, last state)."""
        return _gru_scan(xp, state, self.weight_hh, self.bias_hh)


class LSTMCell(_Cell):
    """One step of a long short-term memory cell (Hochreiter & Schmidhuber 1997, with forget gate).

    i, f, o = σ(·), g = tanh(·) of W_i* x + b_i* + W_h* h + b_h*;
    c' = f ∘ c + i ∘ g,  h' = o ∘ tanh(c').  The state is the pair (h, c).
    """

    n_gates = 4

    def zero_state(self, batch: int, like: Tensor) -> tuple[Tensor, Tensor]:
        zeros = like.new_zeros(batch, self.hidden_size)
        return zeros, zeros

    def output(self, state: tuple[Tensor, Tensor]) -> Tensor:
        return state[0]

    def forward(self, x: Tensor, state: Optional[tuple[Tensor, Tensor]] = None
                ) -> tuple[Tensor, Tensor]:
        """Return (h_t, c_t) from x_t of shape (B, input_size) and (h_{t-1}, c_{t-1})."""
        self._check_step_input(x)
        if state is None:
            state = self.zero_state(x.size(0), x)
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise TypeError("the LSTM state must be a pair (h, c) of tensors")
        h, c = state
        self._check_state(h, x.size(0), "h")
        self._check_state(c, x.size(0), "c")
        gates = x @ self.weight_ih.t() + h @ self.weight_hh.t()
        if self.bias:
            gates = gates + self.bias_ih + self.bias_hh
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c

    def scan(self, xp: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Run the recurrence over projected inputs xp (T, B, 4H); return (outputs, (h, c))."""
        outputs, h, c = _lstm_scan(xp, state[0], state[1], self.weight_hh)
        return outputs, (h, c)


class Recurrent(nn.Module):
    """Run a cell over a sequence: `(outputs, final_state) = layer(x, state)`, like torch.nn.LSTM.

    x has shape (T, B, input_size), or (B, T, input_size) with batch_first=True. The state, given
    and returned, has torch's layout: h of shape (1, B, H), or the pair (h, c) for an LSTM cell.
    """

    def __init__(self, cell: _Cell, batch_first: bool = False) -> None:
        super().__init__()
        if not isinstance(cell, _Cell):
            raise TypeError(f"cell must be an rnnbook.cells RNNCell, GRUCell or LSTMCell, "
                            f"got {type(cell).__name__}")
        self.cell = cell
        self.batch_first = bool(batch_first)

    @property
    def input_size(self) -> int:
        return self.cell.input_size

    @property
    def hidden_size(self) -> int:
        return self.cell.hidden_size

    def extra_repr(self) -> str:
        return f"batch_first={self.batch_first}"

    def forward(self, x: Tensor, state: Optional[State] = None) -> tuple[Tensor, State]:
        """Return the hidden vector at every step and the final state (torch.nn layout)."""
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        layout = "(B, T, input_size)" if self.batch_first else "(T, B, input_size)"
        if x.dim() != 3:
            raise ValueError(f"x must be 3-D with shape {layout}, got shape {tuple(x.shape)}; "
                             "for a single sequence add a batch axis with x.unsqueeze(1) "
                             "(or unsqueeze(0) when batch_first=True)")
        if x.size(-1) != self.input_size:
            raise ValueError(f"x has {x.size(-1)} features in its last axis, but the cell expects "
                             f"input_size={self.input_size}")
        _check_dtype_device(x, self.cell.weight_ih, "x")
        if self.batch_first:
            x = x.transpose(0, 1)
        if x.size(0) == 0:
            raise ValueError("x has no time steps (T = 0)")
        batch = x.size(1)
        lstm = isinstance(self.cell, LSTMCell)
        if state is None:
            start = self.cell.zero_state(batch, x)
        elif lstm:
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                raise TypeError("the initial state of an LSTM layer must be a pair (h_0, c_0)")
            start = (self._unpack(state[0], batch, "h_0"), self._unpack(state[1], batch, "c_0"))
        else:
            start = self._unpack(state, batch, "h_0")
        outputs, final = self.cell.scan(self.cell.project_inputs(x), start)
        if self.batch_first:
            outputs = outputs.transpose(0, 1)
        if lstm:
            return outputs, (final[0].unsqueeze(0), final[1].unsqueeze(0))
        return outputs, final.unsqueeze(0)

    def _unpack(self, h: Tensor, batch: int, name: str) -> Tensor:
        expected = (1, batch, self.hidden_size)
        if not isinstance(h, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(h).__name__}")
        if tuple(h.shape) != expected:
            raise ValueError(f"{name} must have shape {expected} (layers, batch, hidden_size), "
                             f"got {tuple(h.shape)}")
        _check_dtype_device(h, self.cell.weight_ih, name)
        return h[0]

    @classmethod
    def from_torch(cls, module: nn.Module) -> "Recurrent":
        """A scratch layer with the weights of a one-layer, one-direction torch.nn.RNN/GRU/LSTM."""
        if not isinstance(module, (nn.RNN, nn.GRU, nn.LSTM)):
            raise TypeError(f"module must be a torch.nn.RNN, GRU or LSTM layer, got {type(module).__name__}")
        name = type(module).__name__
        if module.num_layers != 1:
            raise ValueError(f"the {name} has num_layers={module.num_layers}; from_torch copies one layer. "
                             "Build a stack of Recurrent layers for a deep network (chapter 6)")
        if module.bidirectional:
            raise ValueError(f"the {name} is bidirectional; from_torch copies one direction only. "
                             "Run a second Recurrent layer on the time-reversed input instead")
        if getattr(module, "proj_size", 0):
            raise ValueError(f"the LSTM has proj_size={module.proj_size}; projections are not supported")
        ref = module.weight_ih_l0
        kw = {"device": ref.device, "dtype": ref.dtype}
        if isinstance(module, nn.LSTM):
            cell: _Cell = LSTMCell(module.input_size, module.hidden_size, module.bias, **kw)
        elif isinstance(module, nn.GRU):
            cell = GRUCell(module.input_size, module.hidden_size, module.bias, **kw)
        else:
            cell = RNNCell(module.input_size, module.hidden_size, module.bias,
                           nonlinearity=module.nonlinearity, **kw)
        with torch.no_grad():
            cell.weight_ih.copy_(module.weight_ih_l0)
            cell.weight_hh.copy_(module.weight_hh_l0)
            if module.bias:
                cell.bias_ih.copy_(module.bias_ih_l0)
                cell.bias_hh.copy_(module.bias_hh_l0)
        return cls(cell, batch_first=module.batch_first)
