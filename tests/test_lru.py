"""rnnbook.lru: the scanned layers equal their recurrences written as loops, and stay stable."""
import pytest
import torch
import torch.nn.functional as F

from rnnbook.lru import DiagonalRecurrence, RecurrentLM, SelectiveRecurrence

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                 reason="needs a CUDA GPU"))]


def loop_diagonal(layer, x, h0):
    """The layer's recurrence one step at a time, from its weights."""
    a = torch.exp(-torch.exp(layer.nu_log))
    h, ys = h0, []
    for t in range(x.shape[1]):
        h = a * h + torch.sqrt(1 - a ** 2) * (x[:, t] @ layer.B.weight.T)
        ys.append(h @ layer.C.weight.T + layer.D * x[:, t])
    return torch.stack(ys, 1), h


def loop_selective(layer, x, h0):
    h, ys = h0, []
    for t in range(x.shape[1]):
        xt = x[:, t]
        dt = F.softplus(xt @ layer.dt_proj.weight.T + layer.dt_proj.bias)      # (B, dim)
        a = torch.exp(-dt[:, :, None] * torch.exp(layer.A_log))                 # (B, dim, N)
        h = a * h + dt[:, :, None] * (xt @ layer.B.weight.T)[:, None, :] * xt[:, :, None]
        ys.append((h * (xt @ layer.C.weight.T)[:, None, :]).sum(-1) + layer.D * xt)
    return torch.stack(ys, 1), h


@pytest.mark.parametrize("device", DEVICES)
def test_diagonal_layer_equals_its_loop_in_float64(device):
    torch.manual_seed(0)
    layer = DiagonalRecurrence(5, 7).double().to(device)
    x = torch.randn(3, 19, 5, dtype=torch.float64, device=device)
    h0 = torch.randn(3, 7, dtype=torch.float64, device=device)
    y, h = layer(x, h0)
    y_ref, h_ref = loop_diagonal(layer, x, h0)
    assert torch.allclose(y, y_ref, atol=1e-10) and torch.allclose(h, h_ref, atol=1e-10)


@pytest.mark.parametrize("device", DEVICES)
def test_selective_layer_equals_its_loop_in_float64(device):
    torch.manual_seed(1)
    layer = SelectiveRecurrence(6, 4).double().to(device)
    x = torch.randn(2, 23, 6, dtype=torch.float64, device=device)
    h0 = torch.randn(2, 6, 4, dtype=torch.float64, device=device)
    y, h = layer(x, h0)
    y_ref, h_ref = loop_selective(layer, x, h0)
    assert torch.allclose(y, y_ref, atol=1e-10) and torch.allclose(h, h_ref, atol=1e-10)


@pytest.mark.parametrize("cls", [DiagonalRecurrence, SelectiveRecurrence])
def test_layer_gradients_pass_torch_gradcheck(cls):
    torch.manual_seed(2)
    layer = cls(3, 2).double()
    x = torch.randn(2, 6, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp: layer(inp)[0], (x,))


def test_eigenvalues_stay_inside_the_unit_interval_whatever_the_parameters():
    layer = DiagonalRecurrence(4, 1000).double()
    with torch.no_grad():
        layer.nu_log.copy_(torch.linspace(-15, 3, 1000))
    a = layer.eigenvalues()
    assert bool(((a > 0) & (a < 1)).all())
    sel = SelectiveRecurrence(4, 3)
    with torch.no_grad():
        sel.A_log.normal_(0, 5)
    a, _ = sel.coefficients(torch.randn(2, 9, 4) * 100)
    assert bool(((a >= 0) & (a <= 1)).all())


def test_the_selective_decay_depends_on_the_input_and_the_diagonal_does_not():
    torch.manual_seed(3)
    x1, x2 = torch.randn(1, 5, 4), torch.randn(1, 5, 4)
    sel, diag = SelectiveRecurrence(4, 2), DiagonalRecurrence(4, 2)
    assert not torch.allclose(sel.coefficients(x1)[0], sel.coefficients(x2)[0])
    assert torch.equal(diag.coefficients(x1)[0], diag.coefficients(x2)[0])


@pytest.mark.parametrize("kind", RecurrentLM.KINDS)
def test_language_model_one_step_at_a_time_equals_the_parallel_run(kind):
    torch.manual_seed(4)
    model = RecurrentLM(11, dim=8, layers=2, kind=kind, state=3).double()
    ids = torch.randint(0, 11, (3, 17))
    full, _ = model(ids)
    state, steps = None, []
    for t in range(17):
        logits, state = model(ids[:, t:t + 1], state)
        steps.append(logits)
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-10)
    # and a window split in two pieces, the state carried between them
    first, state = model(ids[:, :9])
    second, _ = model(ids[:, 9:], state)
    assert torch.allclose(torch.cat([first, second], 1), full, atol=1e-10)


def test_bad_arguments_raise_a_clear_error():
    with pytest.raises(ValueError, match="kind must be one of"):
        RecurrentLM(5, kind="lstm")
    with pytest.raises(ValueError, match="stable eigenvalues"):
        DiagonalRecurrence(3, 2, r_min=0.5, r_max=1.2)
    with pytest.raises(ValueError, match=r"\(batch, time, 3\)"):
        DiagonalRecurrence(3, 2)(torch.randn(4, 3))
    with pytest.raises(ValueError, match="int64"):
        RecurrentLM(5)(torch.zeros(2, 3))
