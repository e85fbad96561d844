"""Reading digit strips without segmentation (chapter 6): a CTC recogniser of variable strips.

The strips (`spaced_strips`: 1-5 of scikit-learn's 8x8 digits side by side at random widths and
gaps, from disjoint train/validation/test image pools) are made by `rnnbook.strips` and
re-exported here; this module must not grow data-making code again.

`Recogniser` reads a strip column by column (8 pixels per step) with a stack of `torch.nn.LSTM`
layers, one- or bidirectional, and a linear read-out to 11 classes: class 0 is CTC's blank and
digit d is class d + 1. `hidden_for_budget` picks the hidden size that gives a stack about a
given number of parameters, so that depth and direction are compared at equal size.

Training (`python -m rnnbook.ctc_strips train`) draws a fresh batch of training strips at every
step from a generator seeded by (seed, step), so a run stopped and resumed takes exactly the
same steps as one that never stopped; it minimises `rnnbook.ctc.ctc_loss` with Adam and clipping,
measures the label error rate on fixed validation strips every `eval_every` steps, and ships (in
half precision) the weights with the best validation label error rate.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from . import ctc
from .checkpoint import model_from_file, shipped_file
from .device import get_device, seed_everything
from .packaged import DATA_DIR
from .strips import HEIGHT, SpacedStrips, image_pools, spaced_strips  # noqa: F401
from .training import Run, command_of, common_flags, config_flags, config_from

N_CLASSES = 11          # blank + ten digits
BLANK = 0
CONFIGS = [(layers, bi) for bi in (False, True) for layers in (1, 2, 3)]


def shipped_path(layers: int, bidirectional: bool) -> Path:
    """Where the shipped model of one configuration lives in data/."""
    return DATA_DIR / f"ctc_strips_{'bi' if bidirectional else 'uni'}{layers}.pt"


def batch_tensors(strips: SpacedStrips, device: torch.device | str = "cpu"
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x (W, B, 8) columns, lengths (B,), targets (B, S) padded with 0, target lengths (B,))."""
    x = torch.from_numpy(strips.images).permute(2, 0, 1).contiguous().to(device)
    S = max(1, max(len(lab) for lab in strips.labels))
    targets = torch.zeros(len(strips), S, dtype=torch.long)
    for b, lab in enumerate(strips.labels):
        targets[b, : len(lab)] = torch.tensor(lab, dtype=torch.long) + 1  # class = digit + 1
    tgt_len = torch.tensor([len(lab) for lab in strips.labels])
    return x, torch.from_numpy(strips.lengths).long(), targets.to(device), tgt_len


class Recogniser(nn.Module):
    """Columns -> stacked (bi)LSTM -> linear -> log-probabilities over blank + 10 digits."""

    def __init__(self, hidden: int, layers: int = 1, bidirectional: bool = False,
                 n_inputs: int = HEIGHT, n_classes: int = N_CLASSES) -> None:
        super().__init__()
        for name, v in (("hidden", hidden), ("layers", layers)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        self.config = {"hidden": hidden, "layers": layers, "bidirectional": bool(bidirectional),
                       "n_inputs": n_inputs, "n_classes": n_classes}
        self.rnn = nn.LSTM(n_inputs, hidden, num_layers=layers, bidirectional=bidirectional)
        self.out = nn.Linear(hidden * (2 if bidirectional else 1), n_classes)
        # Per-pixel-row standardisation, set by `train` from training strips and saved with
        # the weights (buffers, not parameters: they do not count towards the budget).
        self.register_buffer("in_mean", torch.zeros(n_inputs))
        self.register_buffer("in_std", torch.ones(n_inputs))

    def open_forget_gates(self, bias: float) -> None:
        """Start every forget gate at sigmoid(bias): near 1 (open) keeps the cell's memory."""
        with torch.no_grad():
            for name, p in self.rnn.named_parameters():
                if name.startswith("bias_"):
                    h = self.config["hidden"]
                    # torch orders the gates i, f, g, o; the two biases add, so put it in one
                    p[h:2 * h] = bias if name.startswith("bias_ih") else 0.0

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x (T, B, 8), lengths (B,) -> log-probabilities (T, B, C); padded steps are garbage."""
        # packing makes the backward direction start at each strip's own last column
        x = (x - self.in_mean) / self.in_std
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, total_length=x.shape[0])
        return self.out(out).log_softmax(-1)


@torch.no_grad()
def layer_spread(model: Recogniser, strips: SpacedStrips) -> list[float]:
    """How much each layer's output varies over the strips' columns: per-unit std, averaged.

    A read-out can only tell columns apart by how its inputs differ between them; at
    initialisation this shrinks from layer to layer, which is what keeps deep stacks on CTC's
    emit-only-blanks plateau (chapter 6).
    """
    x, lengths, _, _ = batch_tensors(strips, "cpu")
    mask = (torch.arange(x.shape[0])[:, None] < lengths[None]).float()[..., None]
    weights = {k: v.detach().cpu() for k, v in model.rnn.state_dict().items()}
    cur = (x - model.in_mean.cpu()) / model.in_std.cpu()
    spreads = []
    for layer in range(model.config["layers"]):
        single = nn.LSTM(cur.shape[2], model.config["hidden"],
                         bidirectional=model.config["bidirectional"])
        mine = (f"_l{layer}", f"_l{layer}_reverse")
        single.load_state_dict({k.replace(f"_l{layer}", "_l0"): v for k, v in weights.items()
                                if k.endswith(mine)})
        out, _ = single(nn.utils.rnn.pack_padded_sequence(cur, lengths, enforce_sorted=False))
        cur, _ = nn.utils.rnn.pad_packed_sequence(out, total_length=x.shape[0])
        mean = (cur * mask).sum((0, 1)) / mask.sum()
        var = (((cur - mean) ** 2) * mask).sum((0, 1)) / mask.sum()
        spreads.append(float(var.sqrt().mean()))
    return spreads


def n_parameters(model: nn.Module) -> int:
    """The number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_for(hidden: int, layers: int, bidirectional: bool, n_inputs: int = HEIGHT,
              n_classes: int = N_CLASSES) -> int:
    """Parameters of `Recogniser(hidden, layers, bidirectional)`, by formula."""
    d = 2 if bidirectional else 1
    total = 0
    for layer in range(layers):
        inp = n_inputs if layer == 0 else d * hidden
        total += d * 4 * hidden * (inp + hidden + 2)     # W_ih, W_hh and two biases per direction
    return total + (d * hidden + 1) * n_classes


def hidden_for_budget(budget: int, layers: int, bidirectional: bool) -> int:
    """The hidden size whose parameter count is closest to `budget`."""
    if budget < count_for(1, layers, bidirectional):
        raise ValueError(f"a budget of {budget} parameters is below the smallest such model")
    return min(range(1, 2048), key=lambda h: abs(count_for(h, layers, bidirectional) - budget))


def edit_distance(a: list[int], b: list[int]) -> int:
    """Levenshtein distance: insertions, deletions and substitutions to turn `a` into `b`."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, start=1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def label_error_rate(predictions: list[list[int]], references: list[list[int]]) -> float:
    """Total edit distance over total reference length (the corpus label error rate)."""
    if len(predictions) != len(references) or not references:
        raise ValueError(f"need as many predictions as references (and some), got "
                         f"{len(predictions)} and {len(references)}")
    edits = sum(edit_distance(p, r) for p, r in zip(predictions, references))
    return edits / sum(len(r) for r in references)


@torch.no_grad()
def read_strips(model: Recogniser, strips: SpacedStrips, batch: int = 500
                ) -> tuple[list[list[int]], list[np.ndarray]]:
    """Greedy CTC transcripts (digits) of every strip, and each strip's (T_b, C) log-probabilities."""
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    preds, outputs = [], []
    for start in range(0, len(strips), batch):
        part = SpacedStrips(strips.images[start:start + batch],
                            strips.lengths[start:start + batch],
                            strips.labels[start:start + batch], strips.spans[start:start + batch])
        x, lengths, _, _ = batch_tensors(part, device)
        lp = model(x, lengths).cpu()
        for b, n in enumerate(lengths.tolist()):
            outputs.append(lp[:n, b].numpy())
            preds.append([k - 1 for k in ctc.greedy_decode(lp[:n, b], BLANK)])
    model.train(was)
    return preds, outputs


def evaluate(model: Recogniser, strips: SpacedStrips) -> float:
    """Label error rate of greedy decoding on `strips`."""
    preds, _ = read_strips(model, strips)
    return label_error_rate(preds, strips.labels)


# ---------------------------------------------------------------------------- training


@dataclass
class TrainConfig:
    """Hyper-parameters of a training run (stored in the state; fixed once a run has started)."""

    layers: int = 1
    bidirectional: bool = False
    budget: int = 25_000
    batch: int = 32
    lr: float = 3e-3
    clip: float = 1.0
    eval_every: int = 250
    n_val: int = 400
    seed: int = 0
    forget_bias: float = 1.0
    warmup: int = 0
    raw_inputs: bool = False


def train_step(model: Recogniser, opt: torch.optim.Optimizer, strips: SpacedStrips,
               clip: float = 1.0, fused: bool = False) -> float:
    """One Adam step on the mean per-label CTC loss of a batch; returns that loss.

    `fused=True` uses torch's CTC kernel, which tests/test_ctc.py pins equal (loss and gradient)
    to `rnnbook.ctc.ctc_loss`, and which is several times faster than its step-by-step loop.
    """
    device = next(model.parameters()).device
    x, lengths, targets, tgt_len = batch_tensors(strips, device)
    lp = model(x, lengths)
    if fused:
        nll = nn.functional.ctc_loss(lp, targets, lengths, tgt_len, BLANK, reduction="none")
    else:
        nll = ctc.ctc_loss(lp, targets, lengths.to(device), tgt_len.to(device), BLANK)
    loss = (nll / tgt_len.to(device).clamp(min=1)).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    return float(loss.detach())


def column_statistics(strips: SpacedStrips) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of each pixel row over the strips' real (unpadded) columns."""
    cols = np.concatenate([strips.images[k, :, :n] for k, n in enumerate(strips.lengths)], axis=1)
    std = cols.std(axis=1)
    if not np.all(std > 0):
        raise ValueError("a pixel row is constant over these strips; draw more strips")
    return torch.from_numpy(cols.mean(axis=1)), torch.from_numpy(std)


def step_rng(seed: int, step: int) -> np.random.Generator:
    """The generator that draws the training batch of step `step` (no state to save)."""
    return np.random.default_rng([seed, step])


def train(cfg: TrainConfig, state_path: str | Path, out_path: str | Path | None = None,
          minutes: float | None = None, max_steps: int | None = None, resume: bool = False,
          save_every_s: float = 300.0, device: str | torch.device | None = None,
          meta: dict[str, Any] | None = None, log: Callable[[str], None] = print,
          fused: bool = True) -> dict[str, Any]:
    """Train (or resume) until `minutes` of this call or `max_steps` in total; return the extra dict.

    `fused=False` trains with `rnnbook.ctc.ctc_loss` instead of torch's kernel (the same loss and
    gradient to rounding, several times slower): the chapter's live run uses it.
    """
    run = Run(state_path, out_path, minutes=minutes, max_steps=max_steps, resume=resume,
              save_every_s=save_every_s, log=log)
    device = get_device(device) if not isinstance(device, torch.device) else device
    cfg = run.stored_config(TrainConfig, cfg)
    seed_everything(cfg.seed)
    hidden = hidden_for_budget(cfg.budget, cfg.layers, cfg.bidirectional)
    model = Recogniser(hidden, cfg.layers, cfg.bidirectional)
    model.open_forget_gates(cfg.forget_bias)
    if not cfg.raw_inputs:
        mean, std = column_statistics(spaced_strips(256, "train", np.random.default_rng(
            [cfg.seed, 3 * 10**9])))
        model.in_mean.copy_(mean)
        model.in_std.copy_(std)
    model = model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    extra = run.begin(model, opt, {"config": asdict(cfg), "cpu_s": 0.0, "train_log": [],
                                   "val_log": [], "best": None}, device)
    val = spaced_strips(cfg.n_val, "validation", np.random.default_rng([cfg.seed, 10**9]))

    def ship() -> tuple[Recogniser, dict[str, Any]]:
        best, best_step = run.best()
        return best, run.meta(meta, val_log=extra["val_log"], train_log=extra["train_log"],
                              config=extra["config"], parameters=n_parameters(model),
                              shipped_step=best_step)

    run.ship = ship
    model.train()
    for step in run.steps():
        strips = spaced_strips(cfg.batch, "train", step_rng(cfg.seed, step - 1))
        for group in opt.param_groups:  # linear warm-up: a function of the step, no state
            group["lr"] = cfg.lr * min(1.0, step / cfg.warmup) if cfg.warmup else cfg.lr
        run.train_loss(train_step(model, opt, strips, cfg.clip, fused=fused), 50)
        if step % cfg.eval_every == 0:
            ler = evaluate(model, val)
            run.evaluated(ler, key="val_ler")
            log(f"step {step} {run.elapsed() / 60:.1f} min (cpu {run.cpu() / 60:.1f}) "
                f"train {run.last_train_loss():.4f} nats/label, validation LER {ler:.4f}")
    return extra


def train_all(cfg: TrainConfig, max_steps: int, out_dir: str | Path, state_dir: str | Path,
              round_steps: int = 250, stop_file: str | Path | None = None,
              device: str | torch.device | None = None, meta: dict[str, Any] | None = None,
              log: Callable[[str], None] = print) -> int:
    """Train all six configurations in turns of `round_steps` steps each, up to `max_steps`.

    Taking turns keeps every model at the same step count whenever the run stops, so that the
    comparison is at equal training even if it is cut short: it stops after a complete round
    once `stop_file` exists (and resumes from the states in `state_dir` when started again).
    Returns the step count that all six have reached.
    """
    if round_steps < 1 or max_steps < 1:
        raise ValueError(f"need round_steps and max_steps >= 1, got {round_steps}, {max_steps}")
    Path(state_dir).mkdir(parents=True, exist_ok=True)
    done = 0
    while done < max_steps:
        target = min(done + round_steps, max_steps)
        for layers, bi in CONFIGS:
            one = TrainConfig(**{**asdict(cfg), "layers": layers, "bidirectional": bi})
            state = Path(state_dir) / f"state_{shipped_path(layers, bi).stem}.pt"
            out = Path(out_dir) / shipped_path(layers, bi).name
            train(one, state, out, max_steps=target, resume=state.exists(), save_every_s=1e9,
                  device=device, meta=meta, log=lambda m, n=out.stem: log(f"{n}: {m}"))
        done = target
        if stop_file is not None and Path(stop_file).exists():
            log(f"{stop_file} exists: stopping with all six at step {done}")
            break
    return done


def load_shipped(layers: int, bidirectional: bool, device: str | torch.device | None = None
                 ) -> Recogniser:
    """The shipped model of one configuration (evaluation mode)."""
    path = shipped_file(shipped_path(layers, bidirectional), "ctc_strips", "ctc_strips_card.md")
    return model_from_file(Recogniser, path, device)


def test_strips(n: int = 1000, seed: int = 0) -> SpacedStrips:
    """The held-out strips the chapter and the model card score (test images only)."""
    return spaced_strips(n, "test", np.random.default_rng([seed, 2 * 10**9]))


def _main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m rnnbook.ctc_strips")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train (or resume) one CTC strip recogniser")
    config_flags(common_flags(t, save_every=120.0), TrainConfig)
    ta = sub.add_parser("train-all", help="train all six configurations in turns (equal steps)")
    ta.add_argument("--max-steps", type=int, required=True)
    ta.add_argument("--round", type=int, default=250, help="steps per model per turn")
    ta.add_argument("--out-dir", default=str(DATA_DIR))
    ta.add_argument("--state-dir", required=True, help="resumable states (keep them out of git)")
    ta.add_argument("--stop-file", default=None, help="stop after the round in which it appears")
    ta.add_argument("--threads", type=int, default=1)
    ta.add_argument("--device", default=None)
    config_flags(ta, TrainConfig, skip=("layers", "bidirectional"))
    e = sub.add_parser("evaluate", help="test label error rate of the shipped models (JSON)")
    e.add_argument("--n", type=int, default=1000)
    e.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.cmd == "evaluate":
        strips, scores = test_strips(a.n), {}
        for layers, bi in CONFIGS:
            path = shipped_path(layers, bi)
            if path.exists():
                model = load_shipped(layers, bi, "cpu")
                scores[path.name] = {"parameters": n_parameters(model),
                                     "test_ler": evaluate(model, strips)}
        print(json.dumps(scores, indent=2))
        return
    meta = {**command_of("ctc_strips", argv), "threads": a.threads}
    if a.cmd == "train-all":
        cfg = config_from(a, TrainConfig, skip=("layers", "bidirectional"))
        train_all(cfg, a.max_steps, a.out_dir, a.state_dir, a.round, a.stop_file, a.device, meta,
                  log=lambda s: print(s, flush=True))
        return
    train(config_from(a, TrainConfig), a.state, a.out, minutes=a.minutes, max_steps=a.max_steps,
          resume=a.resume, save_every_s=a.save_every, device=a.device, meta=meta,
          log=lambda s: print(s, flush=True))


if __name__ == "__main__":
    _main(sys.argv[1:])
