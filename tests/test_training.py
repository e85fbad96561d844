"""rnnbook.training: every training script stops on a signal, saves, and resumes to the same run.

One parametrised test over every script that trains a shipped (or shippable) model: a tiny
configuration is trained uninterrupted for N steps; a second run is stopped by a real SIGTERM
(sent to this process after step K) and resumed with --resume; both must end at step N with
identical parameters and the same validation log. The guard is pinned too: a fresh start over
an existing state is refused.
"""
import os
import signal

import numpy as np
import pytest
import torch

from rnnbook import (charlm, condlm, ctc_strips, g2p, glove, newcomers, sentiment, training,
                     word2vec, wordlm)

N, K = 6, 2  # steps of the whole run, step after which the signal arrives
quiet = lambda s: None  # noqa: E731


def _text(seed, n):
    rng = np.random.default_rng(seed)
    return "".join(rng.choice(list("abcdefgh \n"), n))


def run_charlm(tmp, name, steps, resume, **_):
    cfg = charlm.TrainConfig(hidden=8, embed=4, batch=3, seq_len=7, eval_every=2, patience=1)
    charlm.train(cfg, _text(0, 300), _text(1, 60), tmp / f"{name}.pt", tmp / f"{name}_out.pt",
                 max_steps=steps, resume=resume, device="cpu", log=quiet)
    return tmp / f"{name}.pt"


def run_condlm(tmp, name, steps, resume, **_):
    rng = np.random.default_rng(2)
    texts = ["".join(rng.choice(list("abc de"), 12)) for _ in range(40)]
    labels = rng.integers(0, 2, 40)
    cfg = condlm.TrainConfig(hidden=8, embed=4, cond_embed=2, batch=8, eval_every=2)
    condlm.train(cfg, texts[:32], labels[:32], texts[32:], labels[32:], tmp / f"{name}.pt",
                 tmp / f"{name}_out.pt", max_steps=steps, resume=resume, device="cpu", log=quiet)
    return tmp / f"{name}.pt"


def run_sentiment(tmp, name, steps, resume, **_):
    rng = np.random.default_rng(3)

    def part(n):
        toks = [[f"w{k}" for k in rng.integers(0, 12, 10)] for _ in range(n)]
        return sentiment.Reviews([" ".join(t) for t in toks], toks, rng.integers(0, 2, n))

    data = {"train": part(48), "validation": part(10), "test": part(10)}
    cfg = sentiment.TrainConfig(vocab_size=20, embed=4, hidden=3, batch=8, eval_every=2)
    sentiment.train(cfg, data, tmp / f"{name}.pt", tmp / f"{name}_out.pt", max_steps=steps,
                    resume=resume, device="cpu", log=quiet)
    return tmp / f"{name}.pt"


def run_newcomers(tmp, name, steps, resume, **_):
    cfg = newcomers.TrainConfig(model="selective", dim=8, layers=1, state=2, expand=1, batch=2,
                                seq_len=8, eval_every=2, eval_windows=2, lr=1e-2)
    ids = torch.randint(0, 8, (300,), generator=torch.Generator().manual_seed(4))
    newcomers.train(cfg, ids[:240], ids[240:], "abcdefgh", tmp / f"{name}.pt",
                    tmp / f"{name}_out.pt", max_steps=steps, resume=resume, device="cpu",
                    log=quiet)
    return tmp / f"{name}.pt"


def run_ctc_strips(tmp, name, steps, resume, **_):
    cfg = ctc_strips.TrainConfig(budget=800, batch=2, eval_every=2, n_val=4, warmup=3)
    ctc_strips.train(cfg, tmp / f"{name}.pt", tmp / f"{name}_out.pt", max_steps=steps,
                     resume=resume, device="cpu", log=quiet)
    return tmp / f"{name}.pt"


def run_g2p(tmp, name, steps, resume, monkeypatch):
    full = g2p.load_split
    monkeypatch.setattr(g2p, "load_split", lambda split: {
        w: v for w, v in sorted(full(split).items())[:40 if split == "train" else 8]})
    # 40 words in batches of 16: 3 batches an epoch, so the 6 steps cross an epoch's end
    g2p.train(tmp / f"{name}_out.pt", tmp / f"{name}.pt", resume=resume, epochs=2,
              batch_size=16, config={"emb_size": 4, "hidden_size": 6}, eval_every=2,
              max_steps=steps, device="cpu", log=quiet)
    return tmp / f"{name}.pt"


def run_wordlm(tmp, name, steps, resume, **_):
    # --train-tokens 1500: 4 batches an epoch, so the 6 steps cross an epoch's end
    wordlm._main(["train", "--out", str(tmp / f"{name}_out.pt"), "--state", str(tmp / f"{name}.pt"),
                  "--train-tokens", "1500", "--log-every", "1000", "--epochs", "2",
                  "--max-steps", str(steps)] + (["--resume"] if resume else []))
    return tmp / f"{name}.pt"


SCRIPTS = {"charlm": run_charlm, "condlm": run_condlm, "sentiment": run_sentiment,
           "newcomers": run_newcomers, "ctc_strips": run_ctc_strips,
           "g2p": pytest.param(run_g2p, marks=pytest.mark.slow),
           "wordlm": pytest.param(run_wordlm, marks=pytest.mark.slow)}


def signal_after(monkeypatch, k):
    """Make the next run send this process a real SIGTERM right after its step `k`."""
    steps = training.Run.steps

    def steps_then_signal(self):
        for step in steps(self):
            yield step
            if step == k:
                os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(training.Run, "steps", steps_then_signal)


@pytest.mark.parametrize("run", SCRIPTS.values(), ids=SCRIPTS.keys())
def test_a_run_stopped_by_a_signal_and_resumed_takes_exactly_the_uninterrupted_runs_steps(
        run, tmp_path, monkeypatch):
    handler = signal.getsignal(signal.SIGTERM)
    whole = torch.load(run(tmp_path, "whole", N, False, monkeypatch=monkeypatch),
                       weights_only=False)
    with monkeypatch.context() as m:
        signal_after(m, K)
        cut = torch.load(run(tmp_path, "cut", N, False, monkeypatch=monkeypatch),
                         weights_only=False)
    assert cut["step"] == K  # the signal stopped it after step K, and it saved
    assert signal.getsignal(signal.SIGTERM) == handler  # the run's handler was given back
    resumed = torch.load(run(tmp_path, "cut", N, True, monkeypatch=monkeypatch),
                         weights_only=False)
    assert whole["step"] == resumed["step"] == N
    for name, tensor in whole["model"].items():
        assert torch.equal(tensor, resumed["model"][name]), name
    for key in ("val_log", "valid_ppl", "history"):  # each script's validation record
        if key in whole["extra"]:
            strip = lambda log: [{k: v for k, v in e.items() if "_s" not in k}  # noqa: E731
                                 if isinstance(e, dict) else e for e in log]
            assert strip(whole["extra"][key]) == strip(resumed["extra"][key])
    with pytest.raises(FileExistsError, match="--resume"):
        run(tmp_path, "whole", N + 1, False, monkeypatch=monkeypatch)
    with pytest.raises(FileNotFoundError, match="--resume"):
        run(tmp_path, "absent", N, True, monkeypatch=monkeypatch)


def test_a_time_budget_stops_a_call_only_after_one_step(tmp_path):
    cfg = charlm.TrainConfig(hidden=8, embed=4, batch=3, seq_len=7, eval_every=100)
    for k in (1, 2):
        charlm.train(cfg, _text(0, 300), _text(1, 60), tmp_path / "t.pt", minutes=0,
                     resume=k > 1, device="cpu", log=quiet)
        assert torch.load(tmp_path / "t.pt", weights_only=False)["step"] == k
    with pytest.raises(ValueError, match="minutes or max_steps"):
        training.Run(tmp_path / "u.pt")


@pytest.mark.parametrize("module", [charlm, condlm, sentiment, newcomers, ctc_strips, g2p, wordlm,
                                    word2vec, glove])
def test_every_training_script_takes_the_common_flags(module, capsys):
    with pytest.raises(SystemExit) as stop:
        module._main(["train", "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    flags = ["--resume", "--minutes", "--out", "--state", "--seed"]
    if module not in (word2vec, glove):  # NumPy trainers, whose step is an epoch
        flags += ["--max-steps", "--device", "--threads", "--save-every"]
    for flag in flags:
        assert flag in out, (module.__name__, flag)


@pytest.mark.parametrize("name", ["word2vec", "glove"])
def test_a_numpy_trainer_stopped_by_a_signal_after_an_epoch_resumes_to_the_uninterrupted_vectors(
        name, tmp_path, monkeypatch):
    # word2vec's and GloVe's step is an epoch (a numba kernel over the whole corpus): the signal
    # stops them after the epoch under way; their .npz state is saved after every epoch
    from types import SimpleNamespace

    from rnnbook import corpora
    rng = np.random.default_rng(5)
    sents = [[f"w{k}" for k in rng.zipf(1.5, 12) % 30] for _ in range(200)]
    words, counts = np.unique([w for s in sents for w in s], return_counts=True)
    order = np.argsort(-counts, kind="stable")
    corpus = SimpleNamespace(words=[str(w) for w in words[order]], counts=counts[order],
                             sentences=lambda: sents)
    monkeypatch.setattr(corpora, "load_corpus", lambda: corpus)
    module = {"word2vec": word2vec, "glove": glove}[name]
    extra = ["--min-count", "1"] if name == "word2vec" else []

    def run(run_name, resume=False):
        module._main(["train", "--out", str(tmp_path / f"{run_name}.npz"), "--state",
                      str(tmp_path / f"{run_name}_state.npz"), "--epochs", "3",
                      "--vector-size", "8"] + extra + (["--resume"] if resume else []))
        return np.load(tmp_path / f"{run_name}_state.npz")

    whole = run("whole")
    if name == "word2vec":
        train_arrays = word2vec.train_arrays

        def then_signal(*args, **kw):
            st = train_arrays(*args, **kw)
            if st.epochs_done == 1:
                os.kill(os.getpid(), signal.SIGTERM)
            return st
        target = (word2vec, "train_arrays", then_signal)
    else:
        kernels = glove._kernels()

        def epoch_then_signal(*args):
            loss = kernels["epoch"](*args)
            os.kill(os.getpid(), signal.SIGTERM)
            return loss
        target = (glove, "_kernels", lambda: {**kernels, "epoch": epoch_then_signal})
    with monkeypatch.context() as m:
        m.setattr(*target)
        assert int(run("cut")["epochs_done"]) == 1
    resumed = run("cut", resume=True)
    assert int(whole["epochs_done"]) == int(resumed["epochs_done"]) == 3
    for key in ("W_in", "W_out") if name == "word2vec" else ("W", "V", "b", "c", "gW", "gV"):
        assert np.array_equal(whole[key], resumed[key]), key
    with pytest.raises(FileExistsError, match="--resume"):
        run("whole")
