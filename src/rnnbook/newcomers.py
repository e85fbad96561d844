"""Resumable training of chapter 14's newcomers (a Transformer, a selective recurrence) on Shakespeare.

The same kind of script as chapter 7's `rnnbook.charlm`: `python -m rnnbook.newcomers train
--model transformer|selective --minutes M --out OUT --state STATE [--resume]` trains on
`rnnbook.text.split_text("train")` with chapter 7's character vocabulary, evaluates every
`eval_every` steps (never on a wall clock) on fixed windows of the validation plays, halves the
learning rate on a plateau (`rnnbook.checkpoint.track_plateau`), and saves a resumable state
(weights, optimiser, every random generator, the data sampler's generator, logs) every few
minutes, on SIGTERM/SIGINT and at the end, with a small half-precision file of the best
validation weights. A run stopped and resumed takes exactly the steps of one that never stopped
(pinned in tests/test_newcomers.py). Each batch is `batch` random windows of `seq_len` + 1
characters, read from a fresh state, as chapter 14's race reads them.

No model trained by this script ships yet: the chapter shows only its live runs.
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
from .checkpoint import (RunClock, SaveTimer, best_model, check_state_path, export_model,
                         load_state, save_state, track_plateau)
from .device import get_device, seed_everything
from .lru import RecurrentLM
from .transformer import TransformerLM

MODELS = ("transformer", "selective")


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
    seed: int = 0

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        for name in ("dim", "layers", "batch", "seq_len", "eval_every", "eval_windows"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")


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
    if minutes is None and max_steps is None:
        raise ValueError("give minutes or max_steps (or both) to say when to stop")
    device = get_device(device) if not isinstance(device, torch.device) else device
    check_state_path(state_path, resume)
    if resume:
        saved = torch.load(state_path, map_location="cpu", weights_only=False)["extra"]
        if saved["config"] != asdict(cfg):
            log(f"resuming with the stored configuration {saved['config']}")
        cfg, chars = TrainConfig(**saved["config"]), saved["chars"]
    seed_everything(cfg.seed)
    model = build_model(cfg, len(chars)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sampler = torch.Generator().manual_seed(cfg.seed)
    extra: dict[str, Any] = {"config": asdict(cfg), "chars": chars, "chars_seen": 0,
                             "cpu_s": 0.0, "val_log": [], "best_val": math.inf,
                             "bad_evals": 0, "sampler": sampler.get_state()}
    step, elapsed0 = 0, 0.0
    if resume:
        st = load_state(state_path, model, opt, map_location=device)
        step, elapsed0, extra = st.step, st.elapsed_s, st.extra
        sampler.set_state(extra["sampler"])
        log(f"resumed at step {step} ({elapsed0 / 60:.1f} min so far)")
    windows = race.fixed_windows(val_ids, cfg.eval_windows, cfg.seq_len)
    clock = RunClock(minutes, max_steps, elapsed0, extra["cpu_s"])
    timer = SaveTimer(save_every_s)

    def save() -> None:
        extra["cpu_s"], extra["sampler"] = clock.cpu(), sampler.get_state()
        save_state(state_path, model, opt, step=step, elapsed_s=clock.elapsed(), extra=extra)
        if out_path is not None:
            ship, best_step = best_model(model, extra)
            meta = {"step": step, "chars": chars, "train_minutes": round(clock.elapsed() / 60, 2),
                    "cpu_minutes": round(clock.cpu() / 60, 2), "val_log": extra["val_log"],
                    "train_config": extra["config"],
                    "shipped_step": step if best_step is None else best_step}
            export_model(out_path, ship, ship.config, meta, half=True)

    model.train()
    with clock:
        while (reason := clock.stop_reason(step)) is None:
            w = race.random_windows(train_ids, cfg.batch, cfg.seq_len, sampler).to(device)
            logits = race.logits_of(model, w[:, :-1])
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), w[:, 1:].flatten())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            opt.step()
            step += 1
            extra["chars_seen"] += w[:, 1:].numel()
            if step % cfg.eval_every == 0:
                v = race.window_nll(model, windows.to(device))
                model.train()
                lr = opt.param_groups[0]["lr"]
                extra["val_log"].append({"step": step, "chars": extra["chars_seen"],
                                         "wall_s": round(clock.elapsed(), 1),
                                         "cpu_s": round(clock.cpu(), 1), "val": v, "lr": lr})
                track_plateau(extra, model, opt, step, v, cfg.patience, cfg.min_lr)
                log(f"step {step} {clock.elapsed() / 60:.1f} min (cpu {clock.cpu() / 60:.1f}) "
                    f"train {loss.item():.4f} val {v:.4f} nats/char lr {lr:.2e}")
            if timer.should_save():
                save()
        if clock.signalled:
            log(reason)
        save()  # not in a `finally`: a crash mid-step must not overwrite the last good state
    log(f"saved state at step {step} ({clock.elapsed() / 60:.1f} min in total) to {state_path}")
    return extra


def _main(argv: list[str] | None = None) -> None:
    """Command line: `train` (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m rnnbook.newcomers",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train or resume a run")
    defaults = TrainConfig()
    for name, value in asdict(defaults).items():  # --state is the state file, as in charlm
        flag = "state-size" if name == "state" else name.replace("_", "-")
        p.add_argument(f"--{flag}", dest=name if name != "state" else "state_size",
                       type=type(value), default=value)
    p.add_argument("--minutes", type=float, default=None)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--out", default=None)
    p.add_argument("--state", required=True)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from .charlm import load_pretrained
    from .text import shakespeare_plays, split_text
    plays = shakespeare_plays()
    lm = load_pretrained("cpu")  # chapter 7's vocabulary and its checked encoder
    cfg = TrainConfig(**{k: getattr(args, "state_size" if k == "state" else k)
                         for k in asdict(defaults)})
    train(cfg, lm.encode(split_text("train", plays)), lm.encode(split_text("validation", plays)),
          lm.chars, args.state, args.out, args.minutes, args.max_steps, args.resume,
          device=args.device)


if __name__ == "__main__":
    _main(sys.argv[1:])
