"""A character-level LSTM language model of Shakespeare's plays (chapter 7).

The model is an embedding, a `torch.nn.LSTM` and a linear read-out. Chapter 5 pins (in
`tests/test_cells.py`) that the course's scratch LSTM computes exactly what `torch.nn.LSTM`
computes, so here we use torch's fast fused kernel; `CharLM.activations` recomputes the same
recurrence step by step from the weights to expose the gates, and a test checks that it agrees.

Vocabulary: the characters of the TRAINING plays (`rnnbook.text.SHAKESPEARE_SPLIT["train"]`),
sorted. A character outside it raises `ValueError` naming it (there is no unknown symbol: every
character of the validation and test plays occurs in training, and a silent stand-in would make a
loss look better or worse than it is).

Training (`python -m rnnbook.charlm train`) is stateful truncated BPTT: the training text, one
long stream, is cut into `batch` parallel streams (`rnnbook.data.batchify`) read in windows of
`seq_len` characters (`rnnbook.data.bptt_batches`); the hidden state is carried from one window
to the next and detached, so gradients flow back at most `seq_len` steps while the state has seen
the whole text. Each epoch starts the streams at a different offset (epoch * 37 mod seq_len) so
that window boundaries move. Adam, gradient-norm clipping, and a learning rate halved whenever
the validation loss (full validation text, cut into `EVAL_STREAMS` parallel streams) has not
improved by 0.002 nats/char for `patience` evaluations. Evaluations happen every `eval_every`
steps (never on a wall clock), so a run stopped and resumed takes exactly the same steps as one
that never stopped; the state (weights, optimiser, RNGs, hidden state, data position, losses) is
saved every few minutes, on SIGTERM/SIGINT and at the end, together with the small shipped file,
which holds (in half precision) the weights of the best validation loss seen so far.

`python -m rnnbook.charlm evaluate --model data/charlm_shakespeare.pt` prints the validation and
test nats/char of a shipped file, each computed by `CharLM.nll` over the full text in one stream.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .checkpoint import model_from_file, shipped_file
from .data import Vocab, batchify, bptt_batches
from .device import get_device, seed_everything
from .packaged import DATA_DIR
from .training import Run, command_of, common_flags, config_flags, config_from

PRETRAINED = DATA_DIR / "charlm_shakespeare.pt"
EVAL_STREAMS = 16


@contextmanager
def _native_lstm():
    # oneDNN's CPU LSTM lays the weights out afresh on every call: nothing next to a chunk of
    # 2,048 characters, but sampling calls the LSTM once per character, and then the layout is
    # nine tenths of the time. Torch's own kernel skips it (same text from the same seed).
    was = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = was


class CharLM(nn.Module):
    """Embedding -> LSTM -> linear over a fixed character vocabulary."""

    def __init__(self, chars: str, hidden: int = 512, layers: int = 1, embed: int = 64,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if len(chars) < 2 or len(set(chars)) != len(chars):
            raise ValueError("chars must hold at least two distinct characters, each once")
        for name, v in (("hidden", hidden), ("layers", layers), ("embed", embed)):
            if int(v) < 1:
                raise ValueError(f"{name} must be a positive integer, got {v}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.chars = chars
        self.char_to_id = {c: i for i, c in enumerate(chars)}
        self.hidden, self.layers, self.embed_dim, self.dropout_p = hidden, layers, embed, dropout
        self.embed = nn.Embedding(len(chars), embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=layers,
                            dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, len(chars))

    @property
    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild the model (weights aside)."""
        return {"chars": self.chars, "hidden": self.hidden, "layers": self.layers,
                "embed": self.embed_dim, "dropout": self.dropout_p}

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x: (T, B) character ids -> logits (T, B, V) and the final (h, c)."""
        y, state = self.lstm(self.drop(self.embed(x)), state)
        return self.out(self.drop(y)), state

    # ------------------------------------------------------------------ text in, numbers out

    def encode(self, text: str) -> torch.Tensor:
        """Character ids of `text` (1-D int64 tensor); ValueError for characters outside the vocabulary."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        try:
            ids = [self.char_to_id[c] for c in text]
        except KeyError:
            bad = sorted({c for c in text if c not in self.char_to_id})
            raise ValueError(
                f"text holds {len(bad)} character(s) outside the model's vocabulary: {bad!r} "
                "(the vocabulary is the characters of the training plays; remove or replace "
                "them)") from None
        return torch.tensor(ids, dtype=torch.long)

    def decode(self, ids) -> str:
        """Text of a sequence of character ids."""
        return "".join(self.chars[int(i)] for i in ids)

    @torch.no_grad()
    def char_losses(self, text: str, chunk: int = 2048) -> np.ndarray:
        """Loss in nats of each of text[1:], predicted from all characters before it (state carried)."""
        if chunk < 1:
            raise ValueError(f"chunk must be positive, got {chunk}")
        ids = self.encode(text)
        if len(ids) < 2:
            raise ValueError(f"text must hold at least 2 characters to predict one, got {len(ids)}")
        was_training = self.training
        self.eval()
        ids = ids.to(self.device)
        state, out = None, []
        for start in range(0, len(ids) - 1, chunk):
            x = ids[start: start + chunk].unsqueeze(1)
            y = ids[start + 1: start + 1 + chunk]
            logits, state = self(x[: len(y)], state)
            out.append(nn.functional.cross_entropy(logits[:, 0].float(), y, reduction="none"))
        self.train(was_training)
        return torch.cat(out).double().cpu().numpy()

    def nll(self, text: str, chunk: int = 2048) -> float:
        """Mean nats per character of text[1:], each predicted from everything before it."""
        return float(self.char_losses(text, chunk).mean())

    @torch.no_grad()
    def sample(self, prompt: str, length: int, temperature: float = 1.0,
               top_k: int | None = None, seed: int = 0) -> str:
        """`length` characters continuing `prompt` (prompt not included); same seed, same text."""
        if not isinstance(prompt, str) or len(prompt) == 0:
            raise ValueError("prompt must be a non-empty string (e.g. '\\n' to start a new line)")
        if int(length) != length or length < 0:
            raise ValueError(f"length must be a non-negative integer, got {length}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}; for the most likely "
                             "character use top_k=1")
        if top_k is not None and (int(top_k) != top_k or top_k < 1):
            raise ValueError(f"top_k must be None or an integer >= 1, got {top_k}")
        with _native_lstm():
            return self._sample(prompt, int(length), temperature, top_k, seed)

    def _sample(self, prompt: str, length: int, temperature: float, top_k: int | None,
                seed: int) -> str:
        rng = np.random.default_rng(seed)
        was_training = self.training
        self.eval()
        ids = self.encode(prompt).to(self.device)
        logits, state = self(ids.unsqueeze(1))
        last = logits[-1, 0]
        out = []
        for _ in range(length):
            z = last.double().cpu().numpy() / temperature
            if top_k is not None and top_k < len(z):
                # keep the top_k largest logits; ties at the threshold are broken by index
                keep = np.argsort(-z, kind="stable")[: int(top_k)]
                masked = np.full_like(z, -np.inf)
                masked[keep] = z[keep]
                z = masked
            p = np.exp(z - z.max())
            cdf = np.cumsum(p / p.sum())
            nxt = int(min(np.searchsorted(cdf, rng.random(), side="right"), len(z) - 1))
            while not np.isfinite(z[nxt]):  # guard against landing on a masked entry by rounding
                nxt -= 1
            out.append(nxt)
            logits, state = self(torch.tensor([[nxt]], device=self.device), state)
            last = logits[-1, 0]
        self.train(was_training)
        return self.decode(out)

    @torch.no_grad()
    def activations(self, text: str, layer: int = -1) -> dict[str, np.ndarray]:
        """Per-character states and gates of one LSTM layer after reading each character of `text`.

        Returns arrays of shape (len(text), hidden): "h" (hidden state), "c" (cell state), and the
        gates "i" (input), "f" (forget), "o" (output) in (0, 1) and "g" (candidate) in (-1, 1).
        """
        if not -self.layers <= layer < self.layers:
            raise ValueError(f"layer must be in [-{self.layers}, {self.layers - 1}], got {layer}")
        layer %= self.layers
        ids = self.encode(text).to(self.device)
        if len(ids) == 0:
            raise ValueError("text must not be empty")
        x = self.embed(ids).float()
        for k in range(layer + 1):
            w_ih, w_hh = getattr(self.lstm, f"weight_ih_l{k}"), getattr(self.lstm, f"weight_hh_l{k}")
            b = getattr(self.lstm, f"bias_ih_l{k}") + getattr(self.lstm, f"bias_hh_l{k}")
            pre_x = x @ w_ih.T + b  # input part of every step at once
            h = torch.zeros(self.hidden, device=self.device)
            c = torch.zeros(self.hidden, device=self.device)
            rec = {key: [] for key in "hcifgo"}
            for t in range(len(ids)):
                i, f, g, o = (pre_x[t] + w_hh @ h).chunk(4)  # torch's gate order
                i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
                c = f * c + i * g
                h = o * torch.tanh(c)
                for key, v in zip("hcifgo", (h, c, i, f, g, o)):
                    rec[key].append(v)
            x = torch.stack(rec["h"])
        return {key: torch.stack(v).cpu().numpy() for key, v in rec.items()}


# ---------------------------------------------------------------------------- loading


def build_vocabulary(text: str) -> str:
    """The sorted distinct characters of `text` (the training plays)."""
    # a `data.Vocab` in token order without specials, kept as one string: the shipped file's
    # config stores it that way
    return "".join(Vocab(text, specials=(), order="token").itos)


def from_file(path: str | Path, device: str | torch.device | None = None) -> CharLM:
    """Rebuild a model from a file written by `export_model` (evaluation mode)."""
    return model_from_file(CharLM, path, device)


def load_pretrained(device: str | torch.device | None = None,
                    path: str | Path | None = None) -> CharLM:
    """The shipped Shakespeare model (data/charlm_shakespeare.pt; see data/charlm_card.md)."""
    return from_file(shipped_file(path if path is not None else PRETRAINED, "charlm",
                                  "charlm_card.md"), device)


# ---------------------------------------------------------------------------- training


@dataclass
class TrainConfig:
    """Hyper-parameters of a training run (stored in the state; fixed once a run has started)."""

    hidden: int = 512
    layers: int = 1
    embed: int = 64
    dropout: float = 0.0
    batch: int = 64
    seq_len: int = 128
    lr: float = 2e-3
    min_lr: float = 1e-4
    clip: float = 1.0
    eval_every: int = 500
    patience: int = 2
    seed: int = 0


@torch.no_grad()
def stream_loss(model: CharLM, ids: torch.Tensor, streams: int = EVAL_STREAMS, chunk: int = 512) -> float:
    """Mean nats/char of a long id stream cut into `streams` parallel streams (state carried in each)."""
    was_training = model.training
    model.eval()
    data = torch.as_tensor(batchify(ids.cpu().numpy(), streams)).to(model.device)
    total, count, state = 0.0, 0, None
    for x, y in bptt_batches(data, chunk):
        logits, state = model(x, state)
        total += float(nn.functional.cross_entropy(logits.flatten(0, 1).float(), y.flatten(),
                                                   reduction="sum"))
        count += y.numel()
    model.train(was_training)
    return total / count


def _epoch_data(ids: np.ndarray, cfg: TrainConfig, epoch: int) -> np.ndarray:
    offset = (epoch * 37) % cfg.seq_len
    return batchify(ids[offset:], cfg.batch)


def train(cfg: TrainConfig, train_text: str, val_text: str, state_path: str | Path,
          out_path: str | Path | None = None, minutes: float | None = None,
          max_steps: int | None = None, resume: bool = False, save_every_s: float = 300.0,
          device: str | torch.device | None = None, meta: dict[str, Any] | None = None,
          log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train (or resume) until `minutes` of this call or `max_steps` in total; return the extra dict."""
    run = Run(state_path, out_path, minutes=minutes, max_steps=max_steps, resume=resume,
              save_every_s=save_every_s, log=log)
    device = get_device(device) if not isinstance(device, torch.device) else device
    cfg = run.stored_config(TrainConfig, cfg)
    chars = run.stored["chars"] if run.stored else build_vocabulary(train_text)
    seed_everything(cfg.seed)
    model = CharLM(chars, cfg.hidden, cfg.layers, cfg.embed, cfg.dropout).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    extra = run.begin(model, opt, {"config": asdict(cfg), "chars": chars, "epoch": 0, "pos": 0,
                                   "hidden": None, "chars_seen": 0, "cpu_s": 0.0,
                                   "train_log": [], "val_log": [], "best_val": math.inf,
                                   "bad_evals": 0}, device)
    ids = model.encode(train_text).numpy()
    val_ids = model.encode(val_text)
    data = torch.as_tensor(_epoch_data(ids, cfg, extra["epoch"]))
    state = None
    if extra["hidden"] is not None:
        state = tuple(t.to(device) for t in extra["hidden"])

    def pack() -> None:  # the hidden state carried across windows is part of the state
        extra["hidden"] = None if state is None else tuple(t.detach().cpu() for t in state)

    def ship() -> tuple[CharLM, dict[str, Any]]:
        # ship the weights of the best validation loss so far (the current ones before any)
        best, best_step = run.best()
        return best, run.meta(meta, epoch=extra["epoch"], chars_seen=extra["chars_seen"],
                              val_log=extra["val_log"], config=extra["config"],
                              shipped_step=best_step)

    run.pack, run.ship = pack, ship
    model.train()
    for step in run.steps():
        if extra["pos"] >= data.shape[0] - 1:  # epoch done: new offset, fresh state
            extra["epoch"] += 1
            extra["pos"] = 0
            data = torch.as_tensor(_epoch_data(ids, cfg, extra["epoch"]))
            state = None
        x, y = next(bptt_batches(data[extra["pos"]:].numpy(), cfg.seq_len))
        x, y = torch.as_tensor(x).to(device), torch.as_tensor(y).to(device)
        if state is not None:
            state = tuple(t.detach() for t in state)
        logits, state = model(x, state)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        extra["pos"] += x.shape[0]
        extra["chars_seen"] += x.numel()
        run.train_loss(loss.item(), 100, chars=extra["chars_seen"])
        if step % cfg.eval_every == 0:
            v = stream_loss(model, val_ids)
            run.evaluated(v, patience=cfg.patience, min_lr=cfg.min_lr, chars=extra["chars_seen"])
            log(f"step {step} epoch {extra['epoch']} {run.elapsed() / 60:.1f} min "
                f"(cpu {run.cpu() / 60:.1f} min) train {run.last_train_loss():.4f} val {v:.4f} "
                f"nats/char lr {extra['val_log'][-1]['lr']:.2e}")
    return extra


def evaluate(model: CharLM) -> dict[str, float]:
    """Validation and test nats/char of `model`: full texts, one stream each, state carried."""
    from .text import shakespeare_plays, split_text
    plays = shakespeare_plays()
    out: dict[str, float] = {}
    for split in ("validation", "test"):
        text = split_text(split, plays)
        out[f"{split}_nats_per_char"] = model.nll(text)
        out[f"{split}_bits_per_char"] = out[f"{split}_nats_per_char"] / math.log(2)
        out[f"{split}_chars"] = len(text) - 1
    return out


def _main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m rnnbook.charlm")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train (or resume) the Shakespeare character LSTM")
    config_flags(common_flags(t), TrainConfig)
    e = sub.add_parser("evaluate", help="validation and test nats/char of a model file (JSON)")
    e.add_argument("--model", default=str(PRETRAINED))
    e.add_argument("--threads", type=int, default=1)
    e.add_argument("--device", default=None)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.cmd == "evaluate":
        print(json.dumps(evaluate(from_file(a.model, a.device)), indent=2))
        return
    from .text import shakespeare_plays, split_text
    plays = shakespeare_plays()
    train(config_from(a, TrainConfig), split_text("train", plays), split_text("validation", plays),
          a.state, a.out, minutes=a.minutes, max_steps=a.max_steps, resume=a.resume,
          save_every_s=a.save_every, device=a.device,
          meta={**command_of("charlm", argv), "threads": a.threads},
          log=lambda s: print(s, flush=True))


if __name__ == "__main__":
    _main(sys.argv[1:])
