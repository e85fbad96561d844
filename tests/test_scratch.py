"""The from-scratch NumPy RNN: its BPTT gradients against finite differences and torch.autograd."""
import hashlib
import os

import numpy as np
import pytest
import torch

from rnnbook import gradcheck, scratch


def random_problem(seed):
    """A model with random (not initial) weights, and a random sequence, of random sizes.

    The weight scale 0.3 and H >= 2 keep the dynamics tame: with large weights the unrolled map
    turns chaotic and the finite differences (not BPTT) lose digits. Over 1000 draws the worst
    relative error against central differences was 2.5e-9, 40 times below the 1e-7 threshold.
    """
    rng = np.random.default_rng(seed)
    V, H, T = int(rng.integers(2, 10)), int(rng.integers(2, 9)), int(rng.integers(1, 15))
    model = scratch.VanillaRNN(V, H, seed=seed)
    for name in model.params:
        model.params[name] = rng.normal(0, 0.3, model.params[name].shape)
    inputs, targets = rng.integers(0, V, T), rng.integers(0, V, T)
    return model, inputs, targets, rng.normal(0, 0.5, H)


def torch_loss_and_grads(params, inputs, targets, h0):
    """The same model written with torch operations, differentiated by autograd (float64)."""
    p = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    h, loss = torch.tensor(h0, dtype=torch.float64), torch.zeros((), dtype=torch.float64)
    x = torch.nn.functional.one_hot(torch.as_tensor(inputs), len(params["b_y"])).double()
    for t in range(len(inputs)):
        h = torch.tanh(p["W_xh"] @ x[t] + p["W_hh"] @ h + p["b_h"])
        logits = p["W_hy"] @ h + p["b_y"]
        loss = loss + torch.nn.functional.cross_entropy(logits[None], torch.tensor([int(targets[t])]))
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in p.items()}, h.detach().numpy()


# new sizes every run; the xdist workers of one run must collect the same ones, so they draw them
# from the run's id (each run has a fresh one)
_RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID")
_ENTROPY = int(hashlib.sha256(_RUN_ID.encode()).hexdigest(), 16) if _RUN_ID else None
FRESH = [int(s) for s in np.random.SeedSequence(_ENTROPY).generate_state(6)]


@pytest.mark.parametrize("seed", FRESH)
def test_bptt_gradients_match_central_differences_to_1e7(seed):
    model, inputs, targets, h0 = random_problem(seed)
    loss, grads, _ = model.loss_and_grads(inputs, targets, h0)
    errors = gradcheck.gradient_errors(lambda: model.loss(inputs, targets, h0), model.params, grads)
    assert max(errors.values()) < 1e-7, (seed, errors)


@pytest.mark.parametrize("seed", FRESH)
def test_bptt_matches_torch_autograd_with_the_same_weights(seed):
    model, inputs, targets, h0 = random_problem(seed)
    loss, grads, h_last = model.loss_and_grads(inputs, targets, h0)
    t_loss, t_grads, t_h = torch_loss_and_grads(model.params, inputs, targets, h0)
    assert loss == pytest.approx(t_loss, rel=1e-12)
    np.testing.assert_allclose(h_last, t_h, rtol=1e-12, atol=1e-14)
    for name in scratch.PARAM_NAMES:
        assert gradcheck.relative_error(grads[name], t_grads[name]) < 1e-7, name


def test_forward_matches_torch_nn_rnn_on_fresh_sizes():
    rng = np.random.default_rng()
    V, H, T = int(rng.integers(2, 12)), int(rng.integers(1, 10)), int(rng.integers(1, 20))
    model = scratch.VanillaRNN(V, H, seed=int(rng.integers(1000)))
    inputs, h0 = rng.integers(0, V, T), rng.normal(0, 0.5, H)
    rnn = torch.nn.RNN(V, H, nonlinearity="tanh").double()
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(model.params["W_xh"]))
        rnn.weight_hh_l0.copy_(torch.from_numpy(model.params["W_hh"]))
        rnn.bias_ih_l0.copy_(torch.from_numpy(model.params["b_h"]))
        rnn.bias_hh_l0.zero_()
        x = torch.nn.functional.one_hot(torch.as_tensor(inputs), V).double()[:, None]
        out, _ = rnn(x, torch.from_numpy(h0)[None, None])
    _, hs = model.forward(inputs, h0)
    np.testing.assert_allclose(hs[1:], out[:, 0].numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(hs[0], h0)


def test_a_tiny_case_gives_hand_computed_numbers():
    model = scratch.VanillaRNN(2, 1)
    model.params.update(W_xh=np.array([[1.0, -1.0]]), W_hh=np.array([[0.5]]), b_h=np.array([0.0]),
                        W_hy=np.array([[1.0], [-1.0]]), b_y=np.array([0.0, 0.0]))
    logits, hs = model.forward([0, 1], np.zeros(1))
    h1 = np.tanh(1.0)
    h2 = np.tanh(-1.0 + 0.5 * h1)
    np.testing.assert_allclose(hs[:, 0], [0.0, h1, h2], rtol=1e-15)
    loss = model.loss([0, 1], [0, 0], np.zeros(1))
    assert loss == pytest.approx(np.log1p(np.exp(-2 * h1)) + np.log1p(np.exp(-2 * h2)), rel=1e-14)


def test_loss_at_initialisation_is_close_to_T_ln_V():
    V, T = 30, 50
    model = scratch.VanillaRNN(V, 32, seed=3)
    rng = np.random.default_rng(0)
    loss = model.loss(rng.integers(0, V, T), rng.integers(0, V, T), model.initial_state())
    assert loss / T == pytest.approx(np.log(V), rel=0.02)


def test_training_can_overfit_a_tiny_sequence():
    model = scratch.VanillaRNN(5, 16, seed=0)
    inputs, targets = np.array([0, 1, 2, 3, 4, 0, 2, 4]), np.array([1, 2, 3, 4, 0, 2, 4, 1])
    opt = scratch.Adam(model.params, lr=0.05)
    for _ in range(300):
        loss, grads, _ = model.loss_and_grads(inputs, targets, model.initial_state())
        opt.step(grads)
    assert loss / len(inputs) < 0.01


def test_softmax_and_perplexity_are_stable_for_large_logits():
    logits = np.array([[1000.0, 1000.0], [0.0, -1000.0]])
    np.testing.assert_allclose(scratch.softmax(logits), [[0.5, 0.5], [1.0, 0.0]])
    assert scratch.perplexity(np.zeros((4, 7)), [1, 2, 3, 4]) == pytest.approx(7.0)
    assert np.isfinite(scratch.perplexity(logits, [0, 1]))


def test_greedy_generation_matches_a_step_by_step_forward_pass():
    model = scratch.VanillaRNN(6, 5, seed=2)
    for name in model.params:
        model.params[name] = np.random.default_rng(4).normal(0, 1, model.params[name].shape)
    out = scratch.greedy_generate(model.params, np.zeros(5), 3, 8)
    inputs = np.concatenate([[3], out[:-1]])
    logits, _ = model.forward(inputs, np.zeros(5))
    np.testing.assert_array_equal(out, logits.argmax(axis=1))


def test_tbptt_windows_cover_the_stream_once_in_order():
    for n, k in [(10, 3), (9, 3), (1, 5), (0, 2), (100, 7)]:
        windows = scratch.tbptt_windows(n, k)
        covered = [t for a, b in windows for t in range(a, b)]
        assert covered == list(range(n)) and all(0 < b - a <= k for a, b in windows)
    with pytest.raises(ValueError, match="k must be at least 1"):
        scratch.tbptt_windows(5, 0)


def test_bptt_differs_from_the_sum_of_one_step_gradients_that_ignore_time():
    """Summing per-step gradients with the recurrence cut (k = 1) misses W_hh^T delta_{t+1}."""
    model, inputs, targets, h0 = random_problem(11)
    while len(inputs) < 4:
        inputs, targets = np.concatenate([inputs, inputs]), np.concatenate([targets, targets])
    _, full, _ = model.loss_and_grads(inputs, targets, h0)
    _, hs = model.forward(inputs, h0)
    cut = {k: np.zeros_like(v) for k, v in model.params.items()}
    for t in range(len(inputs)):
        _, g, _ = model.loss_and_grads(inputs[t:t + 1], targets[t:t + 1], hs[t])
        for k in cut:
            cut[k] += g[k]
    assert gradcheck.relative_error(full["W_hh"], cut["W_hh"]) > 0.01
    # The output weights see no recurrence, so they agree exactly.
    assert gradcheck.relative_error(full["W_hy"], cut["W_hy"]) < 1e-12


def test_train_tbptt_lowers_the_loss_on_a_repetitive_stream():
    stream = np.tile(np.array([0, 1, 2, 3, 2, 1]), 60)
    model = scratch.VanillaRNN(4, 12, seed=0)
    losses = scratch.train_tbptt(model, stream[:-1], stream[1:], k=6, epochs=4, lr=0.05)
    assert losses[0] > 1.3 and losses[-10:].mean() < 0.1


def test_inputs_are_validated_with_clear_messages():
    model = scratch.VanillaRNN(3, 2)
    with pytest.raises(ValueError, match="outside 0..2"):
        model.loss_and_grads([0, 3], [1, 1], np.zeros(2))
    with pytest.raises(ValueError, match="equal length"):
        model.loss_and_grads([0, 1], [1], np.zeros(2))
    with pytest.raises(ValueError, match="h0 must have shape"):
        model.forward([0, 1], np.zeros(3))
    with pytest.raises(ValueError, match="integer token indices"):
        model.forward([0.5, 1.0], np.zeros(2))
