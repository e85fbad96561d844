"""rnnbook.cells against torch.nn: the same outputs and gradients, on fresh random sizes.

Tolerance: max |scratch - torch| <= tol * max(1, max |torch|) for every output and every gradient
(inputs, initial states, all four parameter tensors), with tol = 1e-6 in float32 and 1e-12 in
float64. The scale factor matters only for weight gradients, which are sums over T * B terms.
One exception, measured: in float32 the LSTM's gradients (rounding accumulated backwards over up to
40 steps) are held to 5e-6. torch's own two CPU paths for nn.LSTM (oneDNN and the native one) differ
from each other by up to 1.6e-6 on these inputs, and from a float64 computation by 1.0e-6; ours
differs from float64 by up to 2e-6. Outputs and final states of every cell, and all gradients of
the RNN and GRU, meet 1e-6.
"""
import secrets

import numpy as np
import pytest
import torch

from rnnbook.cells import GRUCell, LSTMCell, Recurrent, RNNCell

TOL = {torch.float32: 1e-6, torch.float64: 1e-12}
LSTM_FLOAT32_GRAD_TOL = 5e-6
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                  reason="no CUDA GPU here"))]
KINDS = ["rnn_tanh", "rnn_relu", "gru", "lstm"]


def make_torch(kind, input_size, hidden, bias, batch_first, dtype, device):
    kw = dict(bias=bias, batch_first=batch_first, dtype=dtype, device=device)
    if kind == "lstm":
        return torch.nn.LSTM(input_size, hidden, **kw)
    if kind == "gru":
        return torch.nn.GRU(input_size, hidden, **kw)
    return torch.nn.RNN(input_size, hidden, nonlinearity=kind[4:], **kw)


def assert_close(got, expected, tol, what, seed):
    scale = max(1.0, expected.abs().max().item())
    err = (got - expected).abs().max().item()
    assert got.shape == expected.shape, f"{what}: shape {tuple(got.shape)} != {tuple(expected.shape)}"
    assert err <= tol * scale, f"{what}: max error {err:.3g} > {tol:g} * {scale:.3g} (seed {seed})"


def run(layer, x, state, weights):
    """Outputs, final state, and gradients of a loss that touches every output."""
    out, final = layer(x, state)
    finals = list(final) if isinstance(final, tuple) else [final]
    loss = (out.sin() * torch.linspace(0.5, 1.5, out.shape[-1], dtype=out.dtype, device=out.device)).sum()
    loss = loss + sum((f ** 2).sum() for f in finals)
    leaves = [x] + (list(state) if isinstance(state, tuple) else [state]) + weights
    return [out] + finals + list(torch.autograd.grad(loss, leaves))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("kind", KINDS)
def test_from_torch_matches_outputs_and_gradients_of_torch_nn(kind, dtype, device):
    seed = secrets.randbits(32)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    for trial in range(3):
        steps, batch = int(rng.integers(1, 40)), int(rng.integers(1, 9))
        input_size, hidden = int(rng.integers(1, 20)), int(rng.integers(1, 33))
        bias, batch_first = bool(rng.integers(0, 2)) or trial == 0, bool(rng.integers(0, 2))
        ref = make_torch(kind, input_size, hidden, bias, batch_first, dtype, device)
        if bias:   # torch initialises biases small; larger ones exercise every bias path
            with torch.no_grad():
                ref.bias_ih_l0.normal_()
                ref.bias_hh_l0.normal_()
        ours = Recurrent.from_torch(ref)
        assert ours.batch_first == batch_first
        shape = (batch, steps, input_size) if batch_first else (steps, batch, input_size)
        x = torch.randn(shape, dtype=dtype, device=device, requires_grad=True)
        h0 = torch.randn(1, batch, hidden, dtype=dtype, device=device, requires_grad=True)
        state = h0
        if kind == "lstm":
            state = (h0, torch.randn(1, batch, hidden, dtype=dtype, device=device, requires_grad=True))
        names = ["output", "h_n"] + (["c_n"] if kind == "lstm" else []) + ["grad x", "grad h_0"]
        names += (["grad c_0"] if kind == "lstm" else [])
        names += [f"grad {n}" for n, _ in ref.named_parameters()]
        expected = run(ref, x, state, list(ref.parameters()))
        got = run(ours, x, state, list(ours.parameters()))
        assert len(got) == len(expected) == len(names)
        for g, e, name in zip(got, expected, names):
            tol = TOL[dtype]
            if kind == "lstm" and dtype == torch.float32 and name.startswith("grad"):
                tol = LSTM_FLOAT32_GRAD_TOL
            assert_close(g, e, tol, f"{kind} {name} (T={steps}, B={batch}, "
                         f"I={input_size}, H={hidden}, bias={bias}, batch_first={batch_first})", seed)


@pytest.mark.parametrize("kind", KINDS)
def test_default_initial_state_is_zero_like_torch(kind):
    torch.manual_seed(secrets.randbits(32))
    ref = make_torch(kind, 3, 5, True, False, torch.float64, "cpu")
    ours = Recurrent.from_torch(ref)
    x = torch.randn(7, 2, 3, dtype=torch.float64)
    (o1, s1), (o2, s2) = ref(x), ours(x)
    assert torch.allclose(o1, o2, atol=1e-12, rtol=0)
    for a, b in zip(s1 if kind == "lstm" else [s1], s2 if kind == "lstm" else [s2]):
        assert torch.allclose(a, b, atol=1e-12, rtol=0)
    assert o1.abs().max() > 0.05      # not an all-zero agreement


@pytest.mark.parametrize("ours_cls, torch_cls", [(RNNCell, torch.nn.RNNCell), (GRUCell, torch.nn.GRUCell),
                                                 (LSTMCell, torch.nn.LSTMCell)])
def test_one_step_cells_match_torch_nn_cells(ours_cls, torch_cls):
    seed = secrets.randbits(32)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    batch, input_size, hidden = (int(v) for v in rng.integers(1, 12, size=3))
    ref = torch_cls(input_size, hidden, dtype=torch.float64)
    ours = ours_cls(input_size, hidden, dtype=torch.float64)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ref, name).normal_()
            getattr(ours, name).copy_(getattr(ref, name))
    x = torch.randn(batch, input_size, dtype=torch.float64)
    h = torch.randn(batch, hidden, dtype=torch.float64)
    if ours_cls is LSTMCell:
        c = torch.randn(batch, hidden, dtype=torch.float64)
        for a, b in zip(ours(x, (h, c)), ref(x, (h, c))):
            assert torch.allclose(a, b, atol=1e-12, rtol=0), f"seed {seed}"
    else:
        assert torch.allclose(ours(x, h), ref(x, h), atol=1e-12, rtol=0), f"seed {seed}"


def test_cell_step_and_layer_agree():
    torch.manual_seed(secrets.randbits(32))
    for cell in (RNNCell(4, 6, dtype=torch.float64), GRUCell(4, 6, dtype=torch.float64),
                 LSTMCell(4, 6, dtype=torch.float64)):
        x = torch.randn(9, 3, 4, dtype=torch.float64)
        out, _ = Recurrent(cell)(x)
        state = None
        for t in range(9):
            state = cell(x[t], state)
            h = state[0] if isinstance(cell, LSTMCell) else state
            assert torch.allclose(out[t], h, atol=1e-12, rtol=0)


@pytest.mark.parametrize("module, message", [
    (torch.nn.LSTM(3, 4, num_layers=2), "num_layers=2"),
    (torch.nn.GRU(3, 4, bidirectional=True), "bidirectional"),
    (torch.nn.LSTM(3, 4, proj_size=2), "proj_size=2"),
    (torch.nn.Linear(3, 4), "torch.nn.RNN, GRU or LSTM"),
])
def test_from_torch_rejects_unsupported_modules_clearly(module, message):
    with pytest.raises((ValueError, TypeError), match=message):
        Recurrent.from_torch(module)


def test_layer_rejects_wrong_inputs_with_clear_messages():
    layer = Recurrent(LSTMCell(3, 4))
    with pytest.raises(ValueError, match="3-D"):
        layer(torch.randn(5, 3))
    with pytest.raises(ValueError, match="input_size=3"):
        layer(torch.randn(5, 2, 7))
    with pytest.raises(TypeError, match="float64.*float32"):
        layer(torch.randn(5, 2, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="floating-point"):
        layer(torch.zeros(5, 2, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="pair"):
        layer(torch.randn(5, 2, 3), torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match=r"\(1, 2, 4\)"):
        layer(torch.randn(5, 2, 3), (torch.zeros(2, 4), torch.zeros(1, 2, 4)))
    with pytest.raises(TypeError, match="cell must be"):
        Recurrent(torch.nn.LSTMCell(3, 4))
    with pytest.raises(ValueError, match="hidden_size"):
        GRUCell(3, 0)
    with pytest.raises(ValueError, match="nonlinearity"):
        RNNCell(3, 4, nonlinearity="sigmoid")
