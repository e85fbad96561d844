"""Training several kinds of sequence model on the same batches, with CPU time logged (chapter 14).

The runners of chapter 14's race (chapter 7's LSTM, `rnnbook.lru.RecurrentLM` and
`rnnbook.transformer.TransformerLM`) have different conventions; `logits_of` maps (B, T) token
ids to (B, T, V) logits for each. `train_steps` trains any of them for a fixed number of steps
(never for a wall-clock budget, so that two runs print the same losses), recording the process
CPU time of every evaluation for the learning curves. `window_nll` is the ruler: the mean
negative log-likelihood in nats per token over fixed windows, each read from a fresh state.
`sliding_nll` scores a whole text with a model that sees a bounded context (a Transformer):
every token once, each with at least `context - stride` tokens before it.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .charlm import CharLM

__all__ = ["copying_accuracy", "fixed_windows", "logits_of", "random_windows", "selective_copying",
           "sliding_nll", "train_steps", "window_nll"]


def logits_of(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """(B, T) ids -> (B, T, V) logits for a CharLM (time-major inside) or a batch-first model."""
    if ids.dim() != 2:
        raise ValueError(f"ids must be (batch, time), got shape {tuple(ids.shape)}")
    if isinstance(model, CharLM):
        return model(ids.T)[0].transpose(0, 1)
    return model(ids)[0]


def random_windows(ids: torch.Tensor, batch: int, length: int, generator: torch.Generator
                   ) -> torch.Tensor:
    """`batch` windows of `length` + 1 consecutive ids at random offsets: (batch, length + 1)."""
    if ids.dim() != 1 or len(ids) <= length + 1:
        raise ValueError(f"need a 1-D id sequence longer than length + 1 = {length + 1}")
    start = torch.randint(0, len(ids) - length - 1, (batch,), generator=generator)
    return ids[start[:, None] + torch.arange(length + 1)]


def fixed_windows(ids: torch.Tensor, count: int, length: int) -> torch.Tensor:
    """`count` windows of `length` + 1 ids at evenly spaced offsets (the same every time)."""
    if ids.dim() != 1 or len(ids) < count * (length + 1):
        raise ValueError(f"need a 1-D id sequence of at least count * (length + 1) = "
                         f"{count * (length + 1)} ids, got {tuple(ids.shape)}")
    start = torch.linspace(0, len(ids) - length - 1, count).long()
    return ids[start[:, None] + torch.arange(length + 1)]


@torch.no_grad()
def window_nll(model: nn.Module, windows: torch.Tensor, batch: int = 32) -> float:
    """Mean nats per predicted token over windows (N, L + 1), each scored from a fresh state."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(windows), batch):
        w = windows[i:i + batch]
        logits = logits_of(model, w[:, :-1])
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1),
                                 reduction="sum").item()
        count += w[:, 1:].numel()
    model.train(was_training)
    return total / count


def _window_starts(n: int, context: int, stride: int) -> list[int]:
    """Starts of the windows of `context` + 1 ids that slide over n ids by `stride`, the last
    one flush with the end."""
    if n - 1 <= context:
        return [0]
    return list(range(0, n - 1 - context, stride)) + [n - 1 - context]


@torch.no_grad()
def sliding_nll(model: nn.Module, ids: torch.Tensor, context: int, stride: int,
                batch: int = 16) -> float:
    """Mean nats per token over a whole 1-D id sequence, read by windows of `context` inputs.

    Every id after the first is predicted exactly once: in the first window with all the ids
    before it, afterwards in a window that moved on by at most `stride`, so with at least
    `context - stride` ids of context (the last window ends flush with the text). A smaller
    stride gives more context per prediction and costs context / stride forward passes per id.
    """
    if ids.dim() != 1 or len(ids) < 2:
        raise ValueError(f"ids must be a 1-D sequence of at least 2 ids, got {tuple(ids.shape)}")
    if not 1 <= stride <= context:
        raise ValueError(f"need 1 <= stride <= context, got stride {stride}, context {context}")
    starts = _window_starts(len(ids), context, stride)
    length = min(context, len(ids) - 1)
    # window i scores its targets after the last one that window i - 1 scored
    ends = [s + length for s in starts]  # index in ids of each window's last target
    fresh = [length] + [e - p for p, e in zip(ends, ends[1:])]
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(starts), batch):
        s = torch.tensor(starts[i:i + batch])
        w = ids[s[:, None] + torch.arange(length + 1)]
        logits = logits_of(model, w[:, :-1])
        nll = F.cross_entropy(logits.transpose(1, 2), w[:, 1:], reduction="none")  # (B, length)
        k = torch.tensor(fresh[i:i + batch])
        keep = torch.arange(length)[None, :] >= (length - k)[:, None]
        total += nll[keep].sum().item()
        count += int(keep.sum())
    model.train(was_training)
    assert count == len(ids) - 1, (count, len(ids))
    return total / count


def train_steps(model: nn.Module, sample: Callable[[torch.Generator], tuple[torch.Tensor, ...]],
                steps: int, evaluate: Callable[[nn.Module], float], eval_every: int,
                lr: float = 3e-3, seed: int = 0, clip: float = 1.0) -> list[dict]:
    """Adam for `steps` steps on `sample(generator) -> (x, y[, weight])`; evaluations logged.

    Returns one row per evaluation (and one at step 0): step, CPU seconds spent training so
    far (evaluation excluded) and the value of `evaluate(model)`.
    """
    if steps < 0 or eval_every < 1:
        raise ValueError(f"need steps >= 0 and eval_every >= 1, got {steps}, {eval_every}")
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = [{"step": 0, "cpu_s": 0.0, "value": evaluate(model)}]
    cpu = 0.0
    model.train()
    for step in range(1, steps + 1):
        t0 = time.process_time()
        x, y, *weight = sample(gen)
        logits = logits_of(model, x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                               reduction="none")
        if weight:  # a mask of the positions that count (the synthetic tasks)
            w = weight[0].reshape(-1).float()
            loss = (loss * w).sum() / w.sum()
        else:
            loss = loss.mean()
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        cpu += time.process_time() - t0
        if step % eval_every == 0 or step == steps:
            history.append({"step": step, "cpu_s": cpu, "value": evaluate(model)})
    if not np.isfinite(history[-1]["value"]):
        raise FloatingPointError("training diverged (the evaluation is not finite); lower lr")
    return history


NOISE, SEPARATOR = 0, 1  # token ids of the selective-copying task; data tokens are 2, 3, ...


def selective_copying(batch: int, length: int, k: int, symbols: int,
                      generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Selective copying: `k` data tokens at random places among `length` noise tokens, then
    a separator after which the model must write the data tokens in order.

    Returns inputs x and targets y, both (batch, length + k), and a 0/1 weight (batch,
    length + k) that is 1 exactly at the k answer positions. The inputs after the separator are
    the earlier answers (teacher forcing), as in language modelling. Vocabulary: NOISE = 0,
    SEPARATOR = 1 and data tokens 2 .. symbols + 1.
    """
    if not 1 <= k <= length or symbols < 2:
        raise ValueError(f"need 1 <= k <= length and symbols >= 2, got k={k}, "
                         f"length={length}, symbols={symbols}")
    data = torch.randint(2, symbols + 2, (batch, k), generator=generator)
    # k distinct positions per row, in order: the smallest k of random keys' ranks
    where = torch.rand(batch, length, generator=generator).argsort(dim=1)[:, :k].sort(1).values
    seq = torch.full((batch, length), NOISE, dtype=torch.long)
    seq.scatter_(1, where, data)
    x = torch.cat([seq, torch.full((batch, 1), SEPARATOR), data[:, :-1]], dim=1)
    y = torch.cat([torch.full((batch, length), NOISE), data], dim=1)
    weight = torch.zeros_like(y)
    weight[:, length:] = 1
    return x, y, weight


@torch.no_grad()
def copying_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor
                     ) -> float:
    """Fraction of answer tokens (weight 1) predicted exactly by the most likely token."""
    was_training = model.training
    model.eval()
    hit = (logits_of(model, x).argmax(-1) == y) & weight.bool()
    model.train(was_training)
    return hit.sum().item() / weight.sum().item()
