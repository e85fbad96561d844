"""rnnbook.ctc_strips: the variably spaced strips, the recogniser's size, training and its errors."""
import numpy as np
import pytest
import torch

from rnnbook import checkpoint, ctc, ctc_strips
from rnnbook.transduction import load_digit_images


def _strips(n=40, split="train", seed=0, **kw):
    return ctc_strips.spaced_strips(n, split, np.random.default_rng(seed), **kw)


def test_image_pools_are_disjoint_and_cover_every_digit_image():
    pools = ctc_strips.image_pools()
    sets = {k: set(v.tolist()) for k, v in pools.items()}
    assert not sets["train"] & sets["validation"]
    assert not sets["train"] & sets["test"]
    assert not sets["validation"] & sets["test"]
    n = len(load_digit_images()[1])
    assert sum(len(v) for v in pools.values()) == n
    assert set().union(*sets.values()) == set(range(n))


def test_each_strip_is_made_of_images_from_its_own_pool_only():
    images, labels = load_digit_images()
    pools = ctc_strips.image_pools()
    rng = np.random.default_rng(3)
    # with no jitter and width 8 (no resizing), every digit's columns are one pool image
    strips = ctc_strips.spaced_strips(30, "test", rng, widths=(8, 8))
    test_set = {i: images[i] for i in pools["test"]}
    for k in range(len(strips)):
        for (a, b), digit in zip(strips.spans[k], strips.labels[k]):
            block = strips.images[k, :, a:b]
            shifted = [np.roll(block, dy, axis=0) for dy in (-1, 0, 1)]
            match = [i for i, img in test_set.items()
                     if any(np.allclose(s[1:-1], img[1:-1]) for s in shifted)]
            assert match, f"strip {k}: the digit at columns {a}-{b} is no test image"
            assert digit in {int(labels[i]) for i in match}


def test_labels_and_spans_agree_with_the_strips():
    strips = _strips(200, seed=1)
    assert strips.images.shape[0] == len(strips) == len(strips.spans) == 200
    assert strips.images.shape[2] == strips.lengths.max()
    for k in range(len(strips)):
        n, spans, lab = strips.lengths[k], strips.spans[k], strips.labels[k]
        assert 1 <= len(lab) <= 5 and len(spans) == len(lab)
        assert all(0 <= d <= 9 for d in lab)
        assert spans[0][0] <= 3 and n - spans[-1][1] <= 3           # margins of 0-3 columns
        for (a, b), nxt in zip(spans, spans[1:] + [(n, n)]):
            assert 5 <= b - a <= 10 and 0 <= nxt[0] - b <= 3         # widths and gaps
            assert strips.images[k, :, a:b].sum() > 0                 # ink inside each digit
        ink = np.zeros(n, bool)
        for a, b in spans:
            ink[a:b] = True
        assert strips.images[k, :, :n][:, ~ink].sum() == 0            # none outside them
        assert strips.images[k, :, n:].sum() == 0                     # padding is empty


def test_strips_are_a_function_of_the_generator_seed():
    a, b = _strips(seed=7), _strips(seed=7)
    assert np.array_equal(a.images, b.images) and a.labels == b.labels and a.spans == b.spans
    assert _strips(seed=8).labels != a.labels


def test_batch_tensors_shift_digits_past_the_blank():
    strips = _strips(5, seed=2)
    x, lengths, targets, tgt_len = ctc_strips.batch_tensors(strips)
    assert x.shape == (strips.images.shape[2], 5, 8)
    for b, lab in enumerate(strips.labels):
        assert targets[b, : len(lab)].tolist() == [d + 1 for d in lab]
        assert int(tgt_len[b]) == len(lab) and int(lengths[b]) == strips.lengths[b]
        assert ctc.min_input_length(lab) <= strips.lengths[b]


@pytest.mark.parametrize("layers,bidirectional", ctc_strips.CONFIGS)
def test_parameter_count_formula_and_equal_budgets(layers, bidirectional):
    h = ctc_strips.hidden_for_budget(25_000, layers, bidirectional)
    model = ctc_strips.Recogniser(h, layers, bidirectional)
    assert ctc_strips.n_parameters(model) == ctc_strips.count_for(h, layers, bidirectional)
    assert abs(ctc_strips.n_parameters(model) - 25_000) <= 0.03 * 25_000


def test_open_forget_gates_sets_only_the_forget_slice():
    model = ctc_strips.Recogniser(6, layers=2, bidirectional=True)
    model.open_forget_gates(1.0)
    for name, p in model.rnn.named_parameters():
        if name.startswith("bias_ih"):
            assert torch.all(p[6:12] == 1.0) and not torch.all(p[:6] == 1.0)
        elif name.startswith("bias_hh"):
            assert torch.all(p[6:12] == 0.0)


def test_backward_direction_starts_at_each_strips_own_end():
    # a bidirectional model's outputs on a strip must not depend on the padding after it
    torch.manual_seed(0)
    model = ctc_strips.Recogniser(5, 2, True).eval()
    strips = _strips(6, seed=4)
    x, lengths, _, _ = ctc_strips.batch_tensors(strips)
    full = model(x, lengths)
    for b in range(6):
        n = int(lengths[b])
        alone = model(x[:n, b:b + 1], lengths[b:b + 1])
        torch.testing.assert_close(full[:n, b], alone[:, 0], rtol=0, atol=1e-6)


def test_label_error_rate_is_total_edits_over_total_reference_length():
    assert ctc_strips.edit_distance([1, 2, 3], [1, 3]) == 1
    assert ctc_strips.edit_distance([], [4, 4]) == 2
    assert ctc_strips.edit_distance([5, 6], [6, 5]) == 2
    assert ctc_strips.label_error_rate([[1, 2], [], [7]], [[1, 2], [3, 4], [7, 7]]) == 3 / 6


def test_a_stopped_and_resumed_run_takes_exactly_the_uninterrupted_runs_steps(tmp_path):
    cfg = ctc_strips.TrainConfig(layers=2, bidirectional=True, budget=1500, batch=4,
                                 eval_every=3, n_val=8, warmup=4)
    kw = dict(device="cpu", log=lambda s: None)
    a = ctc_strips.train(cfg, tmp_path / "a.pt", tmp_path / "a_out.pt", max_steps=7, **kw)
    ctc_strips.train(cfg, tmp_path / "b.pt", None, max_steps=4, **kw)
    b = ctc_strips.train(cfg, tmp_path / "b.pt", tmp_path / "b_out.pt", max_steps=7,
                         resume=True, **kw)
    sa = torch.load(tmp_path / "a.pt", weights_only=False)
    sb = torch.load(tmp_path / "b.pt", weights_only=False)
    assert sa["step"] == sb["step"] == 7
    for k in sa["model"]:
        assert torch.equal(sa["model"][k], sb["model"][k]), k
    assert [v["val_ler"] for v in a["val_log"]] == [v["val_ler"] for v in b["val_log"]]
    assert len(a["val_log"]) == 2 and a["best"]["step"] == b["best"]["step"]
    shipped = ctc_strips.model_from_file(ctc_strips.Recogniser, tmp_path / "a_out.pt", "cpu")
    assert shipped.in_std.min() > 0                     # the input statistics ship with it
    assert next(shipped.parameters()).dtype == torch.float32


def test_training_refuses_to_overwrite_or_resume_the_wrong_state(tmp_path):
    cfg = ctc_strips.TrainConfig(budget=1500, batch=2, eval_every=100, n_val=4)
    with pytest.raises(ValueError, match="minutes or max_steps"):
        ctc_strips.train(cfg, tmp_path / "s.pt", device="cpu")
    with pytest.raises(FileNotFoundError, match="no state"):
        ctc_strips.train(cfg, tmp_path / "s.pt", max_steps=1, resume=True, device="cpu")
    ctc_strips.train(cfg, tmp_path / "s.pt", max_steps=1, device="cpu", log=lambda s: None)
    with pytest.raises(FileExistsError, match="--resume"):
        ctc_strips.train(cfg, tmp_path / "s.pt", max_steps=1, device="cpu")


@pytest.mark.parametrize("call,match", [
    (lambda: _strips(0), "positive integer"),
    (lambda: _strips(3, split="tests"), "split must be one of"),
    (lambda: _strips(3, min_digits=3, max_digits=2), "min_digits"),
    (lambda: _strips(3, widths=(1, 4)), "widths"),
    (lambda: ctc_strips.image_pools(val_fraction=0.5, test_fraction=0.6), "fractions"),
    (lambda: ctc_strips.Recogniser(0), "hidden must be a positive integer"),
    (lambda: ctc_strips.Recogniser(4, layers=1.5), "layers must be a positive integer"),
    (lambda: ctc_strips.hidden_for_budget(10, 2, True), "below the smallest"),
    (lambda: ctc_strips.label_error_rate([[1]], [[1], [2]]), "as many predictions"),
])
def test_bad_inputs_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_a_missing_shipped_model_says_how_to_train_it(monkeypatch, tmp_path):
    monkeypatch.setattr(ctc_strips, "DATA_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="python -m rnnbook.ctc_strips train"):
        ctc_strips.load_shipped(2, True)


def test_train_all_keeps_the_six_at_equal_steps_and_stops_after_a_whole_round(tmp_path):
    cfg = ctc_strips.TrainConfig(budget=1500, batch=2, eval_every=100, n_val=4)
    stop = tmp_path / "STOP"
    stop.touch()                                    # present from the start: one round only
    done = ctc_strips.train_all(cfg, 4, tmp_path / "out", tmp_path / "states", round_steps=2,
                                stop_file=stop, device="cpu", log=lambda s: None)
    assert done == 2
    stop.unlink()
    assert ctc_strips.train_all(cfg, 4, tmp_path / "out", tmp_path / "states", round_steps=2,
                                device="cpu", log=lambda s: None) == 4
    for layers, bi in ctc_strips.CONFIGS:
        name = ctc_strips.shipped_path(layers, bi).name
        meta = checkpoint.load_model_file(tmp_path / "out" / name)[2]
        assert meta["step"] == 4 and meta["config"]["layers"] == layers
        assert meta["config"]["bidirectional"] == bi


def test_layer_spread_of_a_one_layer_model_is_the_std_of_its_lstm_outputs():
    torch.manual_seed(1)
    model = ctc_strips.Recogniser(7, 1, True)
    strips = _strips(8, seed=6)
    x, lengths, _, _ = ctc_strips.batch_tensors(strips)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
    out, _ = model.rnn(packed)
    cols = torch.cat([out.data])                       # every real column, no padding
    expected = cols.std(dim=0, unbiased=False).mean().item()
    (got,) = ctc_strips.layer_spread(model, strips)
    assert got == pytest.approx(expected, rel=1e-5)
    assert len(ctc_strips.layer_spread(ctc_strips.Recogniser(4, 3, False), strips)) == 3
