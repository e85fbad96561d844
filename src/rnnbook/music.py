"""Melodies as tokens: Bach chorale soprano lines and Essen folk songs, split by tune, and an LSTM
over them.

Tokens. The token format (pitch "P60", rest "R", duration "D1/2", bar line "|", "END") and the
music21 parsing that writes the shipped token files are `rnnbook.scores`; this module reads those
files (`load_melodies`, `load_essen`, sha256 checked by `rnnbook.packaged.verify`), turns tokens
into `Note`s and back, and splits the pieces about 80/10/10 into train/validation/test by tune
(`split_pieces`): pieces sharing a run of ten notes stay together, so no test melody is a
variant of a training one.

Models. `MelodyLSTM` (embedding -> LSTM -> linear) is trained by stateful truncated BPTT on the
train pieces joined into one stream (`train_melody`). The baseline is `rnnbook.ngram.KneserNey` on
the same token strings. Both are scored on the same test stream, each token predicted from
everything before it (`stream_nll`).

Sound (synthesis, WAV, music21 streams, piano rolls) is `rnnbook.sound`; its names are
re-exported here, as are those of `rnnbook.scores`. This module must not grow parsing or sound
code again: it holds the token data and the model.
"""
from __future__ import annotations

import argparse
import json
import sys
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from .data import Vocab, batchify, bptt_batches
from .device import get_device, seed_everything
from .training import Run
from .packaged import verify
from .scores import (BAR, END, ESSEN_FILE, ESSEN_FILES, REST, TOKENS_FILE,  # noqa: F401
                     build, build_essen, duration_token, essen_songs, essen_tokens,
                     melody_tokens, soprano_part, transposition)
from .sound import (HARMONICS, Note, midi_to_hz, piano_roll, synthesize, to_stream,  # noqa: F401
                    write_wav)

__all__ = ["Note", "TOKENS_FILE", "TOKENS_SHA256", "melody_tokens", "transposition",
           "soprano_part", "load_melodies", "split_pieces", "tune_groups", "join_pieces",
           "tokens_to_notes", "bar_lines", "notes_to_tokens", "midi_to_hz", "transpose_tokens",
           "temperature_softmax", "synthesize", "write_wav", "to_stream", "piano_roll", "Vocabulary",
           "MelodyLSTM", "train_melody", "stream_losses", "stream_nll", "sample_tokens",
           "ESSEN_FILE", "ESSEN_FILES", "essen_tokens", "essen_songs", "load_essen"]

TOKENS_SHA256 = "9d7a1d4857f5e9e201d84d6ce3e9021d8ba02f1b08425e6b6cbbd9a3a897ecee"
SPLIT_SEED = 1685  # Bach's birth year
ESSEN_SHA256 = "c7fe7a6d6e2050d7cafb89c7ee4be7ccdae5febbbd8b55d5020bdebde6d8c061"
ESSEN_SPLIT_SEED = 1995  # the year the Essen collection was published


# ---------------------------------------------------------------------------- tokens


def tokens_to_notes(tokens: Sequence[str]) -> list[Note]:
    """Notes and rests of a token sequence; a pitch/rest without a duration (or vice versa) is skipped."""
    notes, t, pending = [], Fraction(0), None  # pending: (pitch or None,) awaiting a duration
    for tok in tokens:
        if tok.startswith("P") or tok == REST:
            pending = (None if tok == REST else int(tok[1:]),)
        elif tok.startswith("D"):
            if pending is not None:
                d = Fraction(tok[1:])
                notes.append(Note(pending[0], float(t), float(d)))
                t += d
            pending = None
        elif tok == END:
            if notes:
                break
        elif tok != BAR:
            raise ValueError(f"unknown token {tok!r}")
    return notes


def bar_lines(tokens: Sequence[str]) -> list[float]:
    """Times in beats of the bar lines of a token sequence (as `tokens_to_notes` counts time)."""
    out, t, pending = [], Fraction(0), False
    for tok in tokens:
        if tok.startswith("P") or tok == REST:
            pending = True
        elif tok.startswith("D"):
            if pending:
                t += Fraction(tok[1:])
            pending = False
        elif tok == BAR:
            out.append(float(t))
        elif tok == END and t > 0:
            break
    return out


def notes_to_tokens(notes: Sequence[Note]) -> list[str]:
    """Tokens of notes (no bar lines: the bar position is not stored in a Note)."""
    out = []
    for n in notes:
        out.append(REST if n.pitch is None else f"P{int(n.pitch)}")
        out.append(duration_token(Fraction(n.duration).limit_denominator(64)))
    return out


def transpose_tokens(tokens: Sequence[str], semitones: int) -> list[str]:
    """Shift every pitch token by `semitones`; other tokens unchanged."""
    return [f"P{int(t[1:]) + int(semitones)}" if t.startswith("P") else t for t in tokens]


def load_melodies(path: str | Path | None = None, check: bool = True) -> dict[str, list[str]]:
    """Piece id -> token list from the shipped token file (sha256 checked)."""
    path = Path(path) if path is not None else TOKENS_FILE
    cmd = "build-essen" if path == ESSEN_FILE else "build"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; rebuild it with `python -m rnnbook.music {cmd}`")
    want = {TOKENS_FILE: TOKENS_SHA256, ESSEN_FILE: ESSEN_SHA256}.get(path)
    data = path.read_bytes()
    if check and want is not None:
        verify(data, want, str(path), f"rebuild it with `python -m rnnbook.music {cmd}` and the "
               "pinned music21 (requirements.txt)")
    blob = json.loads(data.decode("utf-8"))
    return {p["id"]: p["tokens"].split() for p in blob["pieces"]}


def load_essen(check: bool = True) -> dict[str, list[str]]:
    """Song id ("file/index") -> token list from the shipped Essen folk-song file (sha256 checked)."""
    return load_melodies(ESSEN_FILE, check)


def tune_groups(melodies: dict[str, Sequence[str]], notes: int = 10) -> list[list[str]]:
    """Pieces grouped by tune: two pieces sharing any run of `notes` notes (pitch and duration,
    bar lines ignored) are in one group, and so, transitively, are their partners."""
    parent = {pid: pid for pid in melodies}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    n, owner = 2 * notes, {}
    for pid in sorted(melodies):
        toks = [t for t in melodies[pid] if t != BAR]
        for i in range(len(toks) - n + 1):
            g = tuple(toks[i: i + n])
            if g in owner:
                parent[find(pid)] = find(owner[g])
            else:
                owner[g] = pid
    groups: dict[str, list[str]] = {}
    for pid in sorted(melodies):
        groups.setdefault(find(pid), []).append(pid)
    return sorted(groups.values())


def split_pieces(melodies: dict[str, Sequence[str]], seed: int = SPLIT_SEED
                 ) -> dict[str, list[str]]:
    """Fixed ~80/10/10 train/validation/test split of piece ids, by tune.

    Bach harmonised many hymn tunes more than once, with small changes; pieces that share a run
    of ten notes (`tune_groups`) go to the same part, so no test melody is a variant of a
    training one.
    """
    groups = tune_groups(melodies)
    if len(groups) < 10:
        raise ValueError(f"need at least 10 distinct tunes to split, got {len(groups)}")
    perm = np.random.default_rng(seed).permutation(len(groups))
    a, b = int(0.8 * len(groups)), int(0.9 * len(groups))
    pick = lambda idx: sorted(pid for i in idx for pid in groups[i])  # noqa: E731
    return {"train": pick(perm[:a]), "validation": pick(perm[a:b]), "test": pick(perm[b:])}


def join_pieces(pieces: Iterable[Sequence[str]]) -> list[str]:
    """One stream: END, piece, END, piece, ..., END."""
    out = [END]
    for p in pieces:
        out.extend(p)
        out.append(END)
    return out


# ---------------------------------------------------------------------------- sound


# ---------------------------------------------------------------------------- models


class Vocabulary(Vocab):
    """Token <-> id over the tokens given: a `data.Vocab` in token order, with no special symbol.

    Sorted, not by frequency, so the ids do not depend on the corpus; without `<unk>` an unseen
    token is an error (the model has no unknown symbol).
    """

    def __init__(self, tokens: Iterable[str]) -> None:
        super().__init__(tokens, specials=(), order="token")

    @property
    def tokens(self) -> list[str]:
        """The tokens, in id order (the old name of `itos`)."""
        return self.itos

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """Ids of tokens; ValueError naming any token not in the vocabulary."""
        bad = sorted({t for t in tokens if t not in self.stoi})
        if bad:
            raise ValueError(f"tokens not in the vocabulary: {bad}; the LSTM has no unknown"
                             " symbol: build the Vocabulary from every token it must encode")
        return np.array([self.stoi[t] for t in tokens], dtype=np.int64)


class MelodyLSTM(nn.Module):
    """Embedding -> LSTM -> linear over melody tokens."""

    def __init__(self, vocab_size: int, hidden: int = 128, embed: int = 32, layers: int = 1,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if vocab_size < 2:
            raise ValueError(f"vocab_size must be at least 2, got {vocab_size}")
        self.embed = nn.Embedding(vocab_size, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=layers,
                            dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, vocab_size)

    def forward(self, x: torch.Tensor, state=None):
        """x: (T, B) ids -> logits (T, B, V) and the final (h, c)."""
        y, state = self.lstm(self.drop(self.embed(x)), state)
        return self.out(self.drop(y)), state


@torch.no_grad()
def stream_losses(model: MelodyLSTM, ids: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Nats of each of ids[1:], predicted from all ids before it (one stream, state carried)."""
    ids = torch.as_tensor(np.asarray(ids), dtype=torch.long)
    if len(ids) < 2:
        raise ValueError("need at least 2 tokens to score one")
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    ids = ids.to(dev)
    state, out = None, []
    for s in range(0, len(ids) - 1, chunk):
        x, y = ids[s: s + chunk], ids[s + 1: s + 1 + chunk]
        logits, state = model(x[: len(y)].unsqueeze(1), state)
        out.append(nn.functional.cross_entropy(logits[:, 0].double(), y, reduction="none"))
    model.train(was)
    return torch.cat(out).cpu().numpy()


def stream_nll(model: MelodyLSTM, ids: np.ndarray, chunk: int = 1024) -> float:
    """Mean nats per token of ids[1:], each predicted from all ids before it (one stream)."""
    return float(stream_losses(model, ids, chunk).mean())


def train_melody(train_ids: np.ndarray, val_ids: np.ndarray, vocab_size: int, steps: int,
                 hidden: int = 128, embed: int = 32, dropout: float = 0.3, batch: int = 16,
                 seq_len: int = 64, lr: float = 3e-3, eval_every: int = 100, seed: int = 0,
                 device=None, progress=None) -> tuple[MelodyLSTM, list[dict[str, float]]]:
    """Stateful truncated BPTT for `steps` steps; returns the weights of the best validation NLL.

    A live run (nothing saved): `rnnbook.training.Run` counts the steps, keeps the validation log
    and the best weights, as in the resumable scripts.
    """
    if steps < 1:
        raise ValueError(f"steps must be positive, got {steps}")
    run = Run(None, max_steps=steps, progress=progress, desc="melody LSTM")
    device = get_device(device) if not isinstance(device, torch.device) else device
    seed_everything(seed)
    model = MelodyLSTM(vocab_size, hidden, embed, dropout=dropout).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr / 20)
    extra = run.begin(model, opt, {"epoch": 0, "val_log": []}, device, scheduler=sched)

    def epoch_windows(epoch: int):
        offset = (epoch * 17) % seq_len  # windows start somewhere new each epoch
        data = torch.as_tensor(batchify(np.asarray(train_ids)[offset:], batch)).to(device)
        return iter(bptt_batches(data, seq_len))

    windows, state = epoch_windows(0), None
    for step in run.steps():
        xy = next(windows, None)
        if xy is None:  # epoch done: new offset, fresh state
            extra["epoch"] += 1
            windows, state = epoch_windows(extra["epoch"]), None
            xy = next(windows)
        x, y = xy
        if state is not None:
            state = tuple(s.detach() for s in state)
        logits, state = model(x, state)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % eval_every == 0 or step == steps:
            run.evaluated(stream_nll(model, val_ids), epoch=extra["epoch"], train=loss.item())
    model.load_state_dict(extra["best"]["weights"])
    return model.eval(), extra["val_log"]


def temperature_softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / temperature) along the last axis, computed stably."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


@torch.no_grad()
def sample_tokens(model: MelodyLSTM, vocab: Vocabulary, n_tokens: int = 200,
                  temperature: float = 1.0, prompt: Sequence[str] = (END,), seed: int = 0
                  ) -> list[str]:
    """Up to `n_tokens` tokens after `prompt`, drawn at `temperature`; stops at END."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    rng = np.random.default_rng(seed)
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    x = torch.as_tensor(vocab.encode(list(prompt)), device=dev).unsqueeze(1)
    logits, state = model(x)
    out = []
    for _ in range(int(n_tokens)):
        p = temperature_softmax(logits[-1, 0].double().cpu().numpy(), temperature)
        nxt = int(rng.choice(len(p), p=p))
        tok = vocab.tokens[nxt]
        if tok == END:
            break
        out.append(tok)
        logits, state = model(torch.tensor([[nxt]], device=dev), state)
    model.train(was)
    return out


def _main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m rnnbook.music")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="parse the Bach chorales and write the melody token file")
    b.add_argument("--out", default=str(TOKENS_FILE))
    e = sub.add_parser("build-essen", help="parse the Essen folk songs (ESSEN_FILES) and write"
                       " the folk token file")
    e.add_argument("--out", default=str(ESSEN_FILE))
    a = p.parse_args(argv)
    if a.cmd == "build":
        build(Path(a.out), log=lambda s: print(s, flush=True))
    elif a.cmd == "build-essen":
        build_essen(Path(a.out), log=lambda s: print(s, flush=True))


if __name__ == "__main__":
    _main(sys.argv[1:])
