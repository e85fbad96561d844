"""Resumable training of chapter 14's newcomers (a Transformer, a selective recurrence) on Shakespeare.

The same kind of script as chapter 7's `rnnbook.charlm`: `python -m rnnbook.newcomers train
--model transformer|selective --minutes M --out OUT --state STATE [--resume]` trains on
`rnnbook.text.split_text("train")` with chapter 7's character vocabulary, evaluates every
`eval_every` steps (never on a wall clock) on fixed windows of the validation plays, halves the
learning rate on a plateau (`rnnbook.checkpoint.track_plateau`) or follows a cosine schedule
(`--schedule cosine --warmup W --cosine-steps N`), and saves a resumable state
(weights, optimiser, every random generator, the data sampler's generator, logs) every few
minutes, on SIGTERM/SIGINT and at the end, with a small half-precision file of the best
validation weights. A run stopped and resumed takes exactly the steps of one that never stopped
(pinned in tests/test_newcomers.py). Each batch is `batch` random windows of `seq_len` + 1
characters, read from a fresh state, as chapter 14's race reads them.

`python -m rnnbook.newcomers evaluate --model FILE` scores a shipped file on the full validation
and test plays with `rnnbook.race.sliding_nll` (windows of the model's context sliding by half
of it, so every character is predicted once with at least half a context before it), the
numbers of the model cards. `load_pretrained(kind)` loads a shipped file (see
data/newcomers_card.md).
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from . import race
from .checkpoint import load_model_file, model_from_file, shipped_file
from .device import get_device, seed_everything
from .lru import RecurrentLM
from .packaged import DATA_DIR
from .training import Run, common_flags, config_flags, config_from
from .transformer import TransformerLM

MODELS = ("transformer", "selective")
PRETRAINED = {"transformer": DATA_DIR / "newcomers_transformer.pt",
              "selective": DATA_DIR / "newcomers_selective.pt"}


@dataclass
class TrainConfig:
    """Everything that decides a run (stored in its state; a resumed run uses the stored one)."""

    model: str = "transformer"
    dim: int = 256
    layers: int = 4
    heads: int = 4          # Transformer only
    state: int = 16         # selective recurrence only: state entries per channel
    expand: int = 2         # selective recurrence only
    dropout: float = 0.1    # Transformer only
    batch: int = 32
    seq_len: int = 256
    lr: float = 1e-3
    clip: float = 1.0
    eval_every: int = 500
    eval_windows: int = 256
    patience: int = 2
    min_lr: float = 1e-4
    schedule: str = "plateau"  # or "cosine": warm up, then decay to min_lr over cosine_steps
    warmup: int = 0
    cosine_steps: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        for name in ("dim", "layers", "batch", "seq_len", "eval_every", "eval_windows"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.schedule not in ("plateau", "cosine"):
            raise ValueError(f"schedule must be 'plateau' or 'cosine', got {self.schedule!r}")
        if self.schedule == "cosine" and not 0 <= self.warmup < self.cosine_steps:
            raise ValueError("a cosine schedule needs 0 <= warmup < cosine_steps (the planned "
                             f"run's length), got warmup={self.warmup}, "
                             f"cosine_steps={self.cosine_steps}")


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """The learning rate of step `step` (1, 2, ...) under a cosine schedule; cfg.lr otherwise."""
    if cfg.schedule != "cosine":
        return cfg.lr
    if step <= cfg.warmup:
        return cfg.lr * step / cfg.warmup
    done = min(1.0, (step - cfg.warmup) / (cfg.cosine_steps - cfg.warmup))
    return cfg.min_lr + (cfg.lr - cfg.min_lr) * 0.5 * (1.0 + math.cos(math.pi * done))


def build_model(cfg: TrainConfig, vocab: int) -> nn.Module:
    """The model that `cfg` describes, for a vocabulary of `vocab` characters."""
    if cfg.model == "transformer":
        return TransformerLM(vocab, cfg.dim, cfg.layers, cfg.heads, max_len=cfg.seq_len,
                             dropout=cfg.dropout)
    return RecurrentLM(vocab, cfg.dim, cfg.layers, "selective", cfg.state, cfg.expand)


def train(cfg: TrainConfig, train_ids: torch.Tensor, val_ids: torch.Tensor, chars: str,
          state_path: str | Path, out_path: str | Path | None = None,
          minutes: float | None = None, max_steps: int | None = None, resume: bool = False,
          save_every_s: float = 300.0, device: str | torch.device | None = None,
          log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train (or resume) until `minutes` of this call or `max_steps` in total; return the extra dict."""
    run = Run(state_path, out_path, minutes=minutes, max_steps=max_steps, resume=resume,
              save_every_s=save_every_s, log=log)
    device = get_device(device) if not isinstance(device, torch.device) else device
    cfg = run.stored_config(TrainConfig, cfg)
    chars = run.stored["chars"] if run.stored else chars
    seed_everything(cfg.seed)
    model = build_model(cfg, len(chars)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sampler = torch.Generator().manual_seed(cfg.seed)
    extra = run.begin(model, opt, {"config": asdict(cfg), "chars": chars, "chars_seen": 0,
                                   "cpu_s": 0.0, "val_log": [], "best_val": math.inf,
                                   "bad_evals": 0, "sampler": sampler.get_state()}, device)
    sampler.set_state(extra["sampler"])
    windows = race.fixed_windows(val_ids, cfg.eval_windows, cfg.seq_len)

    def pack() -> None:  # the window sampler's generator is part of the state
        extra["sampler"] = sampler.get_state()

    def ship() -> tuple[nn.Module, dict[str, Any]]:
        best, best_step = run.best()
        return best, run.meta(chars=chars, val_log=extra["val_log"], train_config=extra["config"],
                              shipped_step=best_step)

    run.pack, run.ship = pack, ship
    model.train()
    for step in run.steps():
        if cfg.schedule == "cosine":
            for group in opt.param_groups:
                group["lr"] = learning_rate(cfg, step)
        w = race.random_windows(train_ids, cfg.batch, cfg.seq_len, sampler).to(device)
        logits = race.logits_of(model, w[:, :-1])
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), w[:, 1:].flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        extra["chars_seen"] += w[:, 1:].numel()
        if step % cfg.eval_every == 0:
            v = race.window_nll(model, windows.to(device))
            model.train()
            # a cosine run keeps the best weights but never halves its rate on a plateau
            patience = cfg.patience if cfg.schedule == "plateau" else 10**9
            run.evaluated(v, patience=patience, min_lr=cfg.min_lr, chars=extra["chars_seen"])
            log(f"step {step} {run.elapsed() / 60:.1f} min (cpu {run.cpu() / 60:.1f}) "
                f"train {loss.item():.4f} val {v:.4f} nats/char "
                f"lr {extra['val_log'][-1]['lr']:.2e}")
    return extra


def load_pretrained(kind: str = "transformer", device: str | torch.device | None = None,
                    path: str | Path | None = None) -> nn.Module:
    """A shipped newcomer (`kind` transformer or selective), in evaluation mode, with its `meta`."""
    if kind not in MODELS:
        raise ValueError(f"kind must be one of {MODELS}, got {kind!r}")
    path = shipped_file(path if path is not None else PRETRAINED[kind], "newcomers",
                        "newcomers_card.md")
    cls = TransformerLM if kind == "transformer" else RecurrentLM
    model = model_from_file(cls, path, device)
    model.meta = load_model_file(path)[2]  # training log, steps and CPU minutes (the card's)
    return model


def context_of(model: nn.Module) -> int:
    """The longest window a model is scored with: a Transformer's max_len, else 256."""
    return int(getattr(model, "config", {}).get("max_len", 256))


def evaluate(model: nn.Module, ids: torch.Tensor, context: int | None = None,
             stride: int | None = None) -> float:
    """Nats per character of `model` over all of `ids` by sliding windows (the cards' number)."""
    context = context or context_of(model)
    return race.sliding_nll(model, ids, context, stride or context // 2)


def _main(argv: list[str] | None = None) -> None:
    """Command line: `train` and `evaluate` (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m rnnbook.newcomers",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train or resume a run")
    # --state is the state file, as in every script: the state-size field is --state-size
    rename = {"state": "state-size"}
    config_flags(common_flags(p, minutes_required=False, out_required=False, device="auto"),
                 TrainConfig, rename=rename)
    e = sub.add_parser("evaluate", help="score a shipped file on the validation and test plays")
    e.add_argument("--model", required=True, help="a file written by `train --out`")
    e.add_argument("--kind", choices=MODELS, default="transformer")
    e.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from .charlm import load_pretrained as load_lstm
    from .text import shakespeare_plays, split_text
    plays = shakespeare_plays()
    lm = load_lstm("cpu")  # chapter 7's vocabulary and its checked encoder
    if args.command == "evaluate":
        model = load_pretrained(args.kind, "cpu", args.model)
        for split in ("validation", "test"):
            ids = lm.encode(split_text(split, plays))
            print(f"{split}: {len(ids) - 1:,} characters scored, "
                  f"{evaluate(model, ids):.4f} nats/char (context {context_of(model)}, "
                  f"stride {context_of(model) // 2})")
        return
    train(config_from(args, TrainConfig, rename=rename), lm.encode(split_text("train", plays)),
          lm.encode(split_text("validation", plays)), lm.chars, args.state, args.out,
          args.minutes, args.max_steps, args.resume, save_every_s=args.save_every,
          device=args.device)


if __name__ == "__main__":
    _main(sys.argv[1:])
