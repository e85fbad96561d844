"""The character LSTM: losses with state carried, sampling, stateful batching, exact resumption."""
import numpy as np
import pytest
import torch
from torch import nn

from rnnbook import charlm
from rnnbook.data import batchify, bptt_batches

CHARS = "\n !',.:;?ABCabcdeh"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def fresh_rng() -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence().entropy)


def random_text(rng, n: int) -> str:
    return "".join(rng.choice(list(CHARS), size=n))


def tiny_model(rng, hidden=12, layers=1) -> charlm.CharLM:
    torch.manual_seed(int(rng.integers(2**31)))
    return charlm.CharLM(CHARS, hidden=hidden, layers=layers, embed=5).eval()


def step_by_step_losses(model, text):
    ids = model.encode(text)
    state, out = None, []
    with torch.no_grad():
        for t in range(len(ids) - 1):
            logits, state = model(ids[t: t + 1].view(1, 1), state)
            out.append(-torch.log_softmax(logits[0, 0].double(), 0)[ids[t + 1]].item())
    return np.array(out)


@pytest.mark.parametrize("layers", [1, 2])
def test_nll_equals_step_by_step_loss_with_state_carried(layers):
    rng = fresh_rng()
    model = tiny_model(rng, layers=layers)
    text = random_text(rng, int(rng.integers(150, 300)))
    ref = step_by_step_losses(model, text)
    for chunk in (1, 7, 64, 10_000):
        np.testing.assert_allclose(model.char_losses(text, chunk=chunk), ref, atol=1e-5, rtol=0)
        assert abs(model.nll(text, chunk=chunk) - ref.mean()) < 1e-5
    assert ref.mean() > 0.5  # an untrained model is far from certain; not a vacuous comparison


def test_nll_differs_when_the_state_is_reset_between_chunks():
    # guards against a version that forgets the state at chunk boundaries
    rng = fresh_rng()
    model = tiny_model(rng)
    with torch.no_grad():
        model.lstm.weight_hh_l0.mul_(8.0)  # a long memory makes the reset visible
    text = random_text(rng, 200)
    reset = np.concatenate([model.char_losses(text[i: i + 21]) for i in range(0, 180, 20)])
    carried = model.char_losses(text)[: len(reset)]
    assert np.abs(reset - carried).max() > 1e-4


def test_unknown_characters_and_bad_arguments_raise_clear_errors():
    model = tiny_model(fresh_rng())
    with pytest.raises(ValueError, match=r"outside the model's vocabulary: \['Z', 'é'\]"):
        model.nll("abcZé")
    with pytest.raises(ValueError, match="at least 2 characters"):
        model.nll("a")
    with pytest.raises(ValueError, match="temperature must be > 0"):
        model.sample("a", 5, temperature=0)
    with pytest.raises(ValueError, match="top_k must be"):
        model.sample("a", 5, top_k=0)
    with pytest.raises(ValueError, match="prompt must be a non-empty string"):
        model.sample("", 5)
    with pytest.raises(ValueError, match="outside the model's vocabulary"):
        model.sample("Zebra", 5)


def greedy(model, prompt, length):
    ids = model.encode(prompt)
    with torch.no_grad():
        logits, state = model(ids.view(-1, 1))
        out = []
        for _ in range(length):
            nxt = int(torch.argmax(logits[-1, 0]))
            out.append(nxt)
            logits, state = model(torch.tensor([[nxt]]), state)
    return model.decode(out)


def test_sampling_is_deterministic_per_seed_and_top_k_1_is_greedy():
    rng = fresh_rng()
    model = tiny_model(rng)
    prompt = random_text(rng, 5)
    a = model.sample(prompt, 80, seed=3)
    assert a == model.sample(prompt, 80, seed=3) and len(a) == 80 and set(a) <= set(CHARS)
    assert a != model.sample(prompt, 80, seed=4)  # near-uniform model: 80 equal draws is impossible
    assert model.sample(prompt, 60, top_k=1, seed=1) == greedy(model, prompt, 60)
    assert model.sample(prompt, 60, top_k=1, temperature=5.0, seed=2) == greedy(model, prompt, 60)
    assert model.sample(prompt, 0) == ""


def test_sampling_uses_torchs_own_lstm_kernel_and_restores_the_onednn_setting():
    # sampling runs the LSTM once per character, where oneDNN's per-call weight layout
    # dominates; the sample must still be the greedy path of the model as it scores text
    rng = fresh_rng()
    model = tiny_model(rng)
    prompt = random_text(rng, 5)
    seen = []
    model.lstm.register_forward_hook(
        lambda *_: seen.append(torch.backends.mkldnn.enabled))
    for enabled in (True, False):
        torch.backends.mkldnn.enabled = enabled
        try:
            assert model.sample(prompt, 30, top_k=1) == greedy(model, prompt, 30)
            assert torch.backends.mkldnn.enabled is enabled
        finally:
            torch.backends.mkldnn.enabled = True
    assert seen and not any(seen[:31])


def test_low_temperature_tends_to_greedy_and_top_k_restricts_choices():
    rng = fresh_rng()
    model = tiny_model(rng)
    with torch.no_grad():
        model.out.weight.mul_(50.0)  # well-separated logits: the limit is reached at T = 1e-6
    prompt = random_text(rng, 4)
    assert model.sample(prompt, 60, temperature=1e-6, seed=5) == greedy(model, prompt, 60)
    # with top_k=3 every sampled character is among the 3 most likely at its step
    text = model.sample(prompt, 40, top_k=3, temperature=3.0, seed=6)
    ids = model.encode(prompt + text)
    with torch.no_grad():
        logits, _ = model(ids.view(-1, 1))
    for t in range(len(prompt) - 1, len(ids) - 1):
        top3 = torch.topk(logits[t, 0], 3).indices.tolist()
        assert int(ids[t + 1]) in top3


def test_stateful_batches_continue_each_stream_contiguously():
    rng = fresh_rng()
    n, batch, seq = int(rng.integers(500, 800)), int(rng.integers(2, 6)), int(rng.integers(3, 17))
    stream = rng.integers(0, len(CHARS), size=n)
    data = batchify(stream, batch)
    length = n // batch
    windows = list(bptt_batches(data, seq))
    xs = np.concatenate([x for x, _ in windows])
    ys = np.concatenate([y for _, y in windows])
    for b in range(batch):
        column = stream[b * length: (b + 1) * length]
        np.testing.assert_array_equal(xs[:, b], column[:-1])
        np.testing.assert_array_equal(ys[:, b], column[1:])
    # the hidden state carried window to window equals one pass over each whole column
    model = tiny_model(rng)
    with torch.no_grad():
        state, pieces = None, []
        for x, _ in windows:
            logits, state = model(torch.as_tensor(x), state)
            pieces.append(logits)
        whole, _ = model(torch.as_tensor(data[:-1]))
    torch.testing.assert_close(torch.cat(pieces), whole, atol=1e-5, rtol=0)


def test_each_epoch_shifts_the_window_boundaries():
    cfg = charlm.TrainConfig(batch=3, seq_len=10)
    ids = np.arange(1000)
    assert charlm._epoch_data(ids, cfg, 0)[0, 0] == 0
    assert charlm._epoch_data(ids, cfg, 1)[0, 0] == 37 % 10


def _train_tiny(tmp_path, name, max_steps, resume=False, text=None):
    cfg = charlm.TrainConfig(hidden=10, layers=2, embed=4, dropout=0.2, batch=3, seq_len=7,
                             eval_every=4, patience=1, lr=0.01, seed=11)
    return charlm.train(cfg, text["train"], text["val"], tmp_path / f"{name}.pt",
                        tmp_path / f"{name}_model.pt", max_steps=max_steps, resume=resume,
                        device="cpu", log=lambda s: None)


def test_resuming_gives_the_same_parameters_as_an_uninterrupted_run(tmp_path):
    rng = fresh_rng()
    # short enough that the 15 steps cross an epoch boundary (fresh state, new offset)
    text = {"train": random_text(rng, 200) + CHARS, "val": random_text(rng, 60)}
    full = _train_tiny(tmp_path, "full", 15, text=text)
    _train_tiny(tmp_path, "part", 6, text=text)
    part = _train_tiny(tmp_path, "part", 15, resume=True, text=text)
    assert full["epoch"] >= 1 and len(full["val_log"]) == 3
    a = torch.load(tmp_path / "full.pt", weights_only=False)
    b = torch.load(tmp_path / "part.pt", weights_only=False)
    assert a["step"] == b["step"] == 15
    with pytest.raises(FileExistsError, match="pass --resume"):
        _train_tiny(tmp_path, "full", 20, text=text)
    with pytest.raises(FileNotFoundError, match="no state at"):
        _train_tiny(tmp_path, "absent", 20, resume=True, text=text)
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert [(v["step"], v["val"], v["lr"]) for v in full["val_log"]] == \
        [(v["step"], v["val"], v["lr"]) for v in part["val_log"]]
    assert a["optimizer"]["param_groups"][0]["lr"] == b["optimizer"]["param_groups"][0]["lr"]
    # the shipped file holds the weights of the best validation loss (in half precision)
    best = min(full["val_log"], key=lambda v: v["val"])
    assert a["extra"]["best"]["step"] == best["step"]
    model = charlm.from_file(tmp_path / "full_model.pt", "cpu")
    ref = charlm.CharLM(**model.config)
    ref.load_state_dict(a["extra"]["best"]["weights"])
    assert abs(model.nll(text["val"]) - ref.eval().nll(text["val"])) < 1e-2


def test_activations_recompute_torch_lstm_and_gates_are_in_range():
    rng = fresh_rng()
    model = tiny_model(rng, layers=2)
    text = random_text(rng, 50)
    with torch.no_grad():
        h_all, (h_n, c_n) = model.lstm(model.embed(model.encode(text)).unsqueeze(1))
    for layer in (0, 1, -1):
        act = model.activations(text, layer=layer)
        assert set(act) == set("hcifgo") and all(v.shape == (50, 12) for v in act.values())
        k = layer % 2
        np.testing.assert_allclose(act["c"][-1], c_n[k, 0].numpy(), atol=1e-5)
        np.testing.assert_allclose(act["h"][-1], h_n[k, 0].numpy(), atol=1e-5)
        for g in "ifo":
            assert ((act[g] > 0) & (act[g] < 1)).all()
        assert (np.abs(act["g"]) < 1).all()
    np.testing.assert_allclose(model.activations(text)["h"], h_all[:, 0].numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="layer must be in"):
        model.activations(text, layer=2)


def test_shipped_model_loads_and_predicts_shakespeare():
    if not charlm.PRETRAINED.exists():
        pytest.skip(f"{charlm.PRETRAINED} not trained yet (python -m rnnbook.charlm train ...)")
    model = charlm.load_pretrained("cpu")
    from rnnbook.text import shakespeare_plays
    excerpt = shakespeare_plays()["As You Like It"][:3000]
    assert model.nll(excerpt) < 2.2  # unigram entropy is about 3.3 nats/char
    sample = model.sample("\n\nROMEO\n", 200, temperature=0.8, seed=0)
    assert sample == model.sample("\n\nROMEO\n", 200, temperature=0.8, seed=0)
