"""rnnbook.recall: the batched multi-seed trainer against torch.nn.RNN, autograd and its own one-seed runs."""
import numpy as np
import pytest
import torch

from rnnbook import recall

SETTINGS = {
    "sgd": dict(optimizer="sgd", lr=0.5),
    "rmsprop": dict(optimizer="rmsprop", lr=3e-3),
    "adam-orthogonal": dict(optimizer="adam", lr=1e-2, init="orthogonal"),
    "irnn": dict(optimizer="adam", lr=1e-3, init="identity", nonlinearity="relu"),
    "exploding-clipped": dict(optimizer="sgd", lr=0.5, init=1.5, clip=1.0),
}


def test_hand_written_bptt_matches_autograd_through_torch_nn_rnn_on_fresh_random_inputs():
    # Fresh random weights (not the trainer's initialisation) and tokens, float64: the stacked
    # model's losses and gradients are each seed's torch.nn.RNN loss and autograd gradient.
    rng = np.random.default_rng()
    for nonlinearity in recall.NONLINEARITIES:
        S, B, T, H, V, K = 3, int(rng.integers(2, 9)), int(rng.integers(2, 12)), 6, 7, 3
        models = [recall.RecallRNN(V, H, K, nonlinearity).double() for _ in range(S)]
        with torch.no_grad():
            for m in models:
                for p in m.parameters():
                    p.copy_(torch.from_numpy(rng.normal(size=p.shape) * 0.7))
        net = recall._StackedRNN(models, nonlinearity, "cpu")
        tokens = torch.from_numpy(rng.integers(0, V, size=(S, B, T)))
        targets = torch.from_numpy(rng.integers(0, K, size=(S, B)))
        losses = net.loss_and_grads(tokens, targets)
        names = ["rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0",
                 "readout.weight", "readout.bias"]
        for s, m in enumerate(models):
            loss = torch.nn.functional.cross_entropy(m(tokens[s]), targets[s])
            loss.backward()
            assert losses[s].item() == pytest.approx(loss.item(), rel=1e-12)
            params = dict(m.named_parameters())
            for name, stacked in zip(names, net.params):
                torch.testing.assert_close(stacked.grad[s], params[name].grad, rtol=1e-10, atol=1e-13)
        with torch.no_grad():
            scores = net.scores(tokens)
            for s, m in enumerate(models):
                torch.testing.assert_close(scores[s], m(tokens[s]), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name", SETTINGS)
def test_each_seed_of_the_batch_follows_its_own_unbatched_run_in_float64(name):
    # Same seed, same data, same optimiser: in float64 the batched run and the one-seed run with
    # torch.nn.RNN and autograd differ only by rounding, 1e-9 relative after 30 steps.
    seeds = [0, 3, 7]
    common = dict(steps=30, batch_size=16, n_test=200, dtype=torch.float64, **SETTINGS[name])
    runs = recall.train_recall_seeds(6, seeds, **common)
    assert runs.seeds == tuple(seeds) and runs.losses.shape == runs.norms.shape == (3, 30)
    for i, seed in enumerate(seeds):
        accuracy, losses, norms = recall.train_recall(6, seed=seed, **common)
        np.testing.assert_allclose(runs.losses[i], losses, rtol=1e-9)
        np.testing.assert_allclose(runs.norms[i], norms, rtol=1e-9)
        assert runs.accuracy[i] == pytest.approx(accuracy, abs=1e-6)


def test_float32_batch_agrees_with_the_unbatched_runs_to_float_tolerance():
    # float32, the chapter's precision: summation orders differ, so agreement is to 1e-4 over a
    # short run (a long run of a chaotic optimiser, SGD at rate 0.5, may drift further apart).
    common = dict(steps=20, batch_size=32, n_test=300, optimizer="adam", lr=1e-2)
    runs = recall.train_recall_seeds(8, [1, 2], **common)
    for i, seed in enumerate([1, 2]):
        accuracy, losses, norms = recall.train_recall(8, seed=seed, **common)
        np.testing.assert_allclose(runs.losses[i], losses, rtol=1e-4)
        np.testing.assert_allclose(runs.norms[i], norms, rtol=1e-4)
        assert abs(runs.accuracy[i] - accuracy) <= 2 / 300


def test_each_seed_stops_where_its_own_run_stops_and_is_scored_with_those_weights():
    # The stopping rule in float64: seeds that learn at different steps stop at different steps,
    # each exactly where the one-seed run stops, with the same losses up to there (NaN after)
    # and the accuracy of the weights it stopped with, although the batch computed on.
    seeds = [0, 1, 2, 5]
    common = dict(steps=80, batch_size=16, n_test=200, dtype=torch.float64, optimizer="adam",
                  lr=1e-2, init="orthogonal", stop_loss=0.3, window=5)
    runs = recall.train_recall_seeds(5, seeds, **common)
    assert len(set(runs.steps_run.tolist())) > 1 and runs.steps_run.max() <= 80
    for i, seed in enumerate(seeds):
        accuracy, losses, norms = recall.train_recall(5, seed=seed, **common)
        n = int(runs.steps_run[i])
        assert np.isnan(losses[n:]).all() and not np.isnan(losses[:n]).any()
        np.testing.assert_allclose(runs.losses[i], losses, rtol=1e-9)   # NaN where NaN
        np.testing.assert_allclose(runs.norms[i], norms, rtol=1e-9)
        assert runs.accuracy[i] == pytest.approx(accuracy, abs=1e-6)
        if n < 80:            # stopped at the first step whose last-5 mean is below 0.3
            means = [losses[m - 5:m].mean() for m in range(5, n + 1)]
            assert means[-1] < 0.3 and all(m >= 0.3 for m in means[:-1])


def test_without_a_stopping_rule_every_step_is_trained():
    runs = recall.train_recall_seeds(5, [0, 1], steps=12, batch_size=8, n_test=10,
                                     optimizer="adam", lr=1e-2, init="orthogonal")
    assert (runs.steps_run == 12).all() and not np.isnan(runs.losses).any()


def test_clipping_caps_every_seeds_step_but_records_the_norm_before_it():
    runs = recall.train_recall_seeds(5, [0, 1], steps=10, batch_size=8, n_test=10,
                                     optimizer="sgd", lr=0.5, init=1.5, clip=1e-3)
    assert (runs.norms > 1e-3).all()           # recorded before clipping


def test_bad_arguments_are_refused_with_the_fix_in_the_message():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        recall.train_recall_seeds(5, [0], optimizer="adagrad")
    with pytest.raises(ValueError, match="tanh' or 'relu"):
        recall.train_recall(5, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="distinct"):
        recall.train_recall_seeds(5, [0, 0])
    with pytest.raises(ValueError, match="lag must be a positive integer"):
        recall.train_recall_seeds(0, [0])
    with pytest.raises(ValueError, match="clip must be"):
        recall.train_recall(5, clip=0.0)
    with pytest.raises(ValueError, match="stop_loss must be None"):
        recall.train_recall_seeds(5, [0], stop_loss=0.0)
    with pytest.raises(ValueError, match="window must be a positive integer"):
        recall.train_recall(5, stop_loss=0.1, window=0)
    with pytest.raises(ValueError, match="init must be"):
        recall.train_recall(5, init="xavier", steps=1, n_test=1)
