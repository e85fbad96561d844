"""rnnbook.scan: the parallel prefix scan equals the step-by-step loop, values and gradients."""
import pytest
import torch

from rnnbook.scan import combine, linear_loop, linear_scan

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                 reason="needs a CUDA GPU"))]


def random_case(steps, shape, device, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = (torch.rand(steps, *shape, generator=g, dtype=torch.float64) * 2 - 1).to(dtype)
    b = torch.randn(steps, *shape, generator=g, dtype=torch.float64).to(dtype)
    h0 = torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype)
    return a.to(device), b.to(device), h0.to(device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("steps", [1, 2, 3, 7, 16, 33, 250, 1024])
def test_scan_equals_the_loop_to_1e_10_in_float64(steps, device):
    a, b, h0 = random_case(steps, (3, 5), device, seed=steps)
    for init in (None, h0):
        assert torch.allclose(linear_scan(a, b, init), linear_loop(a, b, init), rtol=0, atol=1e-10)


@pytest.mark.parametrize("device", DEVICES)
def test_scan_gradients_equal_the_loops(device):
    a, b, h0 = random_case(77, (4,), device, seed=1)
    weights = torch.randn(77, 4, dtype=torch.float64, device=device)
    grads = []
    for fn in (linear_scan, linear_loop):
        leaves = [t.clone().requires_grad_() for t in (a, b, h0)]
        (fn(*leaves) * weights).sum().backward()
        grads.append([t.grad for t in leaves])
    for g_scan, g_loop in zip(*grads):
        assert torch.allclose(g_scan, g_loop, rtol=0, atol=1e-10)


def test_scan_gradient_passes_torch_gradcheck():
    a, b, h0 = random_case(9, (2,), "cpu", seed=2)
    leaves = tuple(t.requires_grad_() for t in (a, b, h0))
    assert torch.autograd.gradcheck(linear_scan, leaves)


def test_scan_handles_complex_coefficients():
    g = torch.Generator().manual_seed(3)
    a = torch.polar(torch.rand(40, 3, generator=g, dtype=torch.float64),
                    torch.rand(40, 3, generator=g, dtype=torch.float64) * 6.3)
    b = torch.randn(40, 3, generator=g, dtype=torch.complex128)
    assert torch.allclose(linear_scan(a, b), linear_loop(a, b), rtol=0, atol=1e-10)


def test_a_zero_length_sequence_gives_no_states():
    a = torch.zeros(0, 3)
    assert linear_scan(a, a).shape == (0, 3) and linear_loop(a, a).shape == (0, 3)


def test_the_combine_operator_is_associative_and_composes_steps():
    g = torch.Generator().manual_seed(4)
    p, q, r = [(torch.randn(6, generator=g, dtype=torch.float64),
                torch.randn(6, generator=g, dtype=torch.float64)) for _ in range(3)]
    left, right = combine(combine(p, q), r), combine(p, combine(q, r))
    assert all(torch.allclose(x, y, atol=1e-12) for x, y in zip(left, right))
    h = torch.randn(6, generator=g, dtype=torch.float64)
    a, b = combine(p, q)
    assert torch.allclose(a * h + b, q[0] * (p[0] * h + p[1]) + q[1], atol=1e-12)


@pytest.mark.parametrize("bad, message", [
    (lambda a: (a, a[:, :2]), "same shape"),
    (lambda a: (a.long(), a.long()), "floating"),
    (lambda a: (a, a.float()), "dtype"),
    (lambda a: (a[0, 0], a[0, 0]), "time axis"),
    (lambda a: (a.numpy(), a), "torch.Tensor"),
])
def test_bad_inputs_raise_a_clear_error(bad, message):
    a = torch.rand(5, 3, dtype=torch.float64)
    x, y = bad(a)
    for fn in (linear_scan, linear_loop):
        with pytest.raises((TypeError, ValueError), match=message):
            fn(x, y)


def test_an_initial_state_of_the_wrong_shape_is_refused():
    a = torch.rand(5, 3)
    with pytest.raises(ValueError, match=r"shape of one state, \(3,\)"):
        linear_scan(a, a, torch.zeros(5, 3))
    with pytest.raises(TypeError, match="h0 must share"):
        linear_scan(a, a, torch.zeros(3, dtype=torch.float64))
