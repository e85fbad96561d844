"""rnnbook.gradients against torch: hidden-state Jacobians, the norm bound, clipping, initialisations."""
import numpy as np
import pytest
import torch

from rnnbook import gradients

TORCH_G = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu, "linear": lambda a: a}


@pytest.fixture
def rng():
    return np.random.default_rng()


def torch_final_state(W, u, nonlinearity):
    """h0 -> h_T of the same recurrence, written with torch ops (float64)."""
    W_t, u_t, g = torch.from_numpy(W), torch.from_numpy(u), TORCH_G[nonlinearity]

    def f(h0):
        h = h0
        for step in u_t:
            h = g(W_t @ h + step)
        return h
    return f


@pytest.mark.parametrize("nonlinearity", gradients.NONLINEARITIES)
def test_hidden_jacobian_matches_torch_autograd_on_fresh_random_rnns(rng, nonlinearity):
    # float64 on both sides: agreement to 1e-10 relative (the product is the same maths, only the
    # order of floating-point operations differs).
    for _ in range(3):
        H, T = int(rng.integers(2, 9)), int(rng.integers(1, 13))
        W = rng.normal(size=(H, H)) * rng.uniform(0.3, 1.5) / np.sqrt(H)
        u, h0 = rng.normal(size=(T, H)), rng.normal(size=H)
        ours = gradients.hidden_jacobians(W, u, h0, nonlinearity)
        assert ours.shape == (T + 1, H, H)
        np.testing.assert_array_equal(ours[0], np.eye(H))
        for t in (1, T):
            ref = torch.autograd.functional.jacobian(torch_final_state(W, u[:t], nonlinearity),
                                                     torch.from_numpy(h0)).numpy()
            np.testing.assert_allclose(ours[t], ref, rtol=1e-10, atol=1e-13)
        norms = gradients.jacobian_norms(W, u, h0, nonlinearity)
        np.testing.assert_allclose(norms, [np.linalg.norm(J, 2) for J in ours], rtol=1e-12)


def test_run_hidden_matches_torch_nn_rnn(rng):
    H, T = 5, 7
    W, u, h0 = rng.normal(size=(H, H)) / 2, rng.normal(size=(T, H)), rng.normal(size=H)
    states, pre = gradients.run_hidden(W, u, h0, "tanh")
    rnn = torch.nn.RNN(H, H, bias=False).double()
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.eye(H))       # the input drive u_t enters unchanged
        rnn.weight_hh_l0.copy_(torch.from_numpy(W))
        out, _ = rnn(torch.from_numpy(u)[:, None], torch.from_numpy(h0)[None, None])
    np.testing.assert_allclose(states[1:], out[:, 0].numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.tanh(pre), states[1:], rtol=1e-12)
    np.testing.assert_array_equal(states[0], h0)


@pytest.mark.parametrize("nonlinearity", gradients.NONLINEARITIES)
def test_jacobian_norms_never_exceed_the_bound(rng, nonlinearity):
    for _ in range(5):
        H, T = int(rng.integers(2, 12)), 30
        W = rng.normal(size=(H, H)) * rng.uniform(0.2, 2.0) / np.sqrt(H)
        norms = gradients.jacobian_norms(W, rng.normal(size=(T, H)), rng.normal(size=H), nonlinearity)
        bound = gradients.jacobian_bound(W, T, nonlinearity)
        assert np.all(norms <= bound * (1 + 1e-9))


def test_linear_jacobian_norms_follow_the_spectral_radius(rng):
    # For a normal (here symmetric) matrix ||W^t||_2 = rho^t exactly.
    A = rng.normal(size=(6, 6))
    W = gradients.scale_to_spectral_radius(A + A.T, 0.8)
    norms = gradients.jacobian_norms(W, np.zeros((20, 6)), nonlinearity="linear")
    np.testing.assert_allclose(norms, 0.8 ** np.arange(21), rtol=1e-9)


def test_sigmoid_derivative_bound_is_a_quarter_and_tanh_is_one():
    assert gradients.activation_derivative_bound("sigmoid") == 0.25
    assert gradients.activation_derivative_bound("tanh") == 1.0
    a = np.linspace(-10, 10, 20001)
    _, dg, _ = gradients._nonlinearity("sigmoid")
    assert abs(dg(a).max() - 0.25) < 1e-8
    s = 1 / (1 + np.exp(-a))
    np.testing.assert_allclose(dg(a), s * (1 - s), rtol=1e-9, atol=1e-15)


def test_spectral_radius_and_rescaling_match_numpy_eigenvalues(rng):
    for _ in range(5):
        n = int(rng.integers(1, 10))
        A = rng.normal(size=(n, n))
        assert gradients.spectral_radius(A) == pytest.approx(np.abs(np.linalg.eigvals(A)).max(), rel=1e-12)
        r = rng.uniform(0.1, 3)
        assert gradients.spectral_radius(gradients.scale_to_spectral_radius(A, r)) == pytest.approx(r, rel=1e-9)
    # a rotation by 90 degrees: eigenvalues +-i, radius 1, although no eigenvalue is real
    assert gradients.spectral_radius([[0.0, -2.0], [2.0, 0.0]]) == pytest.approx(2.0)


def test_orthogonal_is_orthogonal_deterministic_and_agrees_with_qr(rng):
    Q = gradients.orthogonal(7, seed=3)
    np.testing.assert_allclose(Q.T @ Q, np.eye(7), atol=1e-12)
    np.testing.assert_array_equal(Q, gradients.orthogonal(7, seed=3))
    assert not np.allclose(Q, gradients.orthogonal(7, seed=4))
    A = rng.normal(size=(5, 5))
    Q = gradients.orthogonal_from(A)
    R = Q.T @ A                                   # upper triangular with a positive diagonal
    np.testing.assert_allclose(np.tril(R, -1), 0, atol=1e-12)
    assert np.all(np.diag(R) > 0)
    np.testing.assert_allclose(Q @ R, A, atol=1e-12)
    assert gradients.spectral_radius(Q) == pytest.approx(1.0)


def test_clip_grad_norm_matches_torch_clip_grad_norm_on_tensors(rng):
    for max_norm in (0.1, 1.0, 1e3):               # clipped hard, clipped a little, untouched
        shapes = [tuple(rng.integers(1, 6, size=int(rng.integers(1, 3)))) for _ in range(4)]
        params = [torch.nn.Parameter(torch.zeros(s, dtype=torch.float64)) for s in shapes]
        for p in params:
            p.grad = torch.from_numpy(rng.normal(size=p.shape) * 3)
        grads = [p.grad.clone() for p in params]
        originals = [g.clone() for g in grads]
        ours, norm = gradients.clip_grad_norm(grads, max_norm)
        assert all(torch.equal(g, o) for g, o in zip(grads, originals)), "inputs modified in place"
        ref_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        assert norm == pytest.approx(ref_norm.item(), rel=1e-12)
        for got, p in zip(ours, params):
            assert isinstance(got, torch.Tensor)
            torch.testing.assert_close(got, p.grad, rtol=1e-12, atol=1e-15)
        clipped_norm = gradients.global_norm(ours)
        assert clipped_norm <= max_norm * (1 + 1e-9) and (max_norm < norm or clipped_norm == norm)


def test_clip_grad_norm_on_a_numpy_dict_keeps_direction_and_caps_the_norm(rng):
    grads = {"W_hh": rng.normal(size=(4, 4)), "b_h": rng.normal(size=4)}
    total = np.sqrt(sum((g ** 2).sum() for g in grads.values()))
    clipped, norm = gradients.clip_grad_norm(grads, total / 10)
    assert norm == pytest.approx(total, rel=1e-12)
    assert gradients.global_norm(clipped) == pytest.approx(total / 10, rel=1e-6)
    for k in grads:
        np.testing.assert_allclose(clipped[k] * total / gradients.global_norm(clipped), grads[k], rtol=1e-9)
    same, _ = gradients.clip_grad_norm(grads, total * 2)
    for k in grads:
        np.testing.assert_array_equal(same[k], grads[k])


def test_helpers_reject_bad_arguments_with_clear_errors():
    with pytest.raises(ValueError, match="max_norm"):
        gradients.clip_grad_norm([np.ones(3)], 0.0)
    with pytest.raises(TypeError, match="grads"):
        gradients.clip_grad_norm(np.ones(3), 1.0)
    with pytest.raises(ValueError, match="square"):
        gradients.spectral_radius(np.ones((2, 3)))
    with pytest.raises(ValueError, match="nonlinearity"):
        gradients.jacobian_norms(np.eye(2), np.zeros((3, 2)), nonlinearity="softsign")
    with pytest.raises(ValueError, match="inputs"):
        gradients.jacobian_norms(np.eye(2), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="nilpotent"):
        gradients.scale_to_spectral_radius([[0.0, 1.0], [0.0, 0.0]], 1.0)
