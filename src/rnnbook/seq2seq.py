"""Encoder–decoder models with attention (none, additive, general, dot) and beam search.

A `Seq2Seq` model reads a source with an encoder into a *memory* `(B, S, H)` (one vector per
source position) and a *summary* `(B, H)` (the fixed-size vector of the plain encoder–decoder),
then writes the target one token at a time. The encoder is a bidirectional GRU over token
embeddings by default; `StripEncoder` (image columns) and `ImageEncoder` (a small CNN whose
feature-map cells are the memory) plug into the same decoder.

Attention kinds, with query $q$ (a decoder state) and memory vectors $m_i$:
  additive (Bahdanau et al. 2015): $e_i = v^\\top \\tanh(W_q q + W_k m_i)$, query $s_{t-1}$;
  general (Luong et al. 2015):     $e_i = q^\\top W_a m_i$, query $s_t$;
  dot (Luong et al. 2015):         $e_i = q^\\top m_i$, query $s_t$;
then $a = \\operatorname{softmax}(e)$ over real (unpadded) positions and context $c = \\sum_i a_i m_i$.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

ATTENTION_KINDS = ("none", "additive", "general", "dot")
PAD, BOS, EOS = 0, 1, 2


# ----------------------------------------------------------------------------------- beam search
def default_reorder(state: Any, index: torch.Tensor) -> Any:
    """Select hypotheses `index` along dim 0 of a tensor, or of every tensor in a tuple/list."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.index_select(0, index.to(state.device))
    if isinstance(state, (tuple, list)):
        return type(state)(default_reorder(s, index) for s in state)
    raise TypeError(f"default reorder handles tensors and tuples of tensors, got {type(state).__name__}; "
                    "pass reorder=... for other states")


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def top_extensions(scores: torch.Tensor, log_probs: torch.Tensor, k: int):
    """The k best one-token extensions: (parent rows, tokens, totals), best first.

    `scores` (K,) are the live hypotheses' summed log-probabilities and `log_probs` (K, V) the
    next token's; an extension's total is scores[row] + log_probs[row, token].
    """
    total = scores[:, None] + log_probs
    best, flat = total.flatten().topk(min(k, total.numel()))
    return flat // total.shape[1], flat % total.shape[1], best


def beam_search(step: Callable, state: Any, bos: int, eos: int, width: int, max_len: int,
                reorder: Callable | None = None,
                length_penalty: float = 0.0) -> list[tuple[list[int], float]]:
    """Beam search: up to `width` finished hypotheses `(tokens, score)`, best first.

    `step(tokens (K,), state) -> (log_probs (K, V), state)` advances K live hypotheses;
    `state` starts with one row. At every step the `width - finished` best extensions of the
    live hypotheses (by summed log-probability) survive; an extension ending in `eos` is
    finished and leaves the beam, which therefore shrinks (so width 1 is greedy decoding).
    A hypothesis still live after `max_len` tokens is finished as it is (cut). Returned tokens
    exclude `bos`; the score is the sum of log-probabilities / len(tokens) ** length_penalty.
    """
    width = _check_positive_int(width, "width")
    max_len = _check_positive_int(max_len, "max_len")
    if not math.isfinite(length_penalty) or length_penalty < 0:
        raise ValueError(f"length_penalty must be a finite number >= 0, got {length_penalty!r}")
    reorder = reorder or default_reorder

    def normalised(total: float, length: int) -> float:
        return total / (length ** length_penalty) if length_penalty else total

    finished: list[tuple[list[int], float]] = []
    hyps: list[list[int]] = [[]]
    scores = torch.zeros(1, dtype=torch.float64)
    tokens = torch.tensor([bos], dtype=torch.long)
    for t in range(max_len):
        log_probs, state = step(tokens, state)
        if log_probs.ndim != 2 or log_probs.shape[0] != len(hyps):
            raise ValueError(f"step must return log_probs of shape (K, V) with K={len(hyps)}, "
                             f"got {tuple(log_probs.shape)}")
        vocab = log_probs.shape[1]
        if not 0 <= eos < vocab:
            raise ValueError(f"eos={eos} is outside the vocabulary of size {vocab}")
        rows, cols, best = top_extensions(scores, log_probs.detach().to("cpu", torch.float64),
                                          width - len(finished))
        keep_rows, keep_tokens, keep_scores = [], [], []
        for s, r, c in zip(best.tolist(), rows.tolist(), cols.tolist()):
            seq = hyps[r] + [c]
            if c == eos or t == max_len - 1:
                finished.append((seq, normalised(s, len(seq))))
            else:
                keep_rows.append(r)
                keep_tokens.append(c)
                keep_scores.append(s)
        if not keep_rows:
            break
        index = torch.tensor(keep_rows, dtype=torch.long)
        hyps = [hyps[r] + [c] for r, c in zip(keep_rows, keep_tokens)]
        scores = torch.tensor(keep_scores, dtype=torch.float64)
        tokens = torch.tensor(keep_tokens, dtype=torch.long, device=log_probs.device)
        state = reorder(state, index.to(log_probs.device))
    finished.sort(key=lambda pair: -pair[1])
    return finished[:width]


# -------------------------------------------------------------------------------------- encoders
class TokenEncoder(nn.Module):
    """Embedding + (bidirectional) GRU over padded token ids; memory projected to `hidden_size`."""

    def __init__(self, vocab_size: int, emb_size: int, hidden_size: int,
                 bidirectional: bool = True, pad: int = PAD) -> None:
        super().__init__()
        self.pad = pad
        self.embed = nn.Embedding(vocab_size, emb_size, padding_idx=pad)
        self.rnn = nn.GRU(emb_size, hidden_size, batch_first=True, bidirectional=bidirectional)
        width = hidden_size * (2 if bidirectional else 1)
        self.to_memory = nn.Linear(width, hidden_size)
        self.to_summary = nn.Linear(width, hidden_size)

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor | None):
        """(memory (B, S, H), mask (B, S) True on real tokens, summary (B, H))."""
        B, S = src.shape
        if src_lengths is None:
            src_lengths = (src != self.pad).sum(1)
        lengths = torch.as_tensor(src_lengths).to("cpu", torch.long)
        if lengths.shape != (B,) or lengths.min() < 1 or lengths.max() > S:
            raise ValueError(f"src_lengths must hold B={B} lengths in 1..{S}, got {lengths.tolist()}")
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(src), lengths, batch_first=True,
                                                   enforce_sorted=False)
        out, h_n = self.rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=S)
        final = torch.cat(list(h_n), dim=-1)  # forward state at the last real token (+ backward at 0)
        mask = torch.arange(S, device=src.device)[None, :] < lengths.to(src.device)[:, None]
        return self.to_memory(out), mask, torch.tanh(self.to_summary(final))


class StripEncoder(nn.Module):
    """Image columns as a sequence: a digit-wide 1-D convolution (stride 2), then a biGRU.

    Memory position j summarises columns [2j - 4, 2j + 4), centred on column `2 * j`. The layer
    normalisation matters: without it the convolution's outputs start nearly equal at every
    position, attention cannot tell positions apart and training sits on a long plateau.
    """

    stride = 2

    def __init__(self, height: int, hidden_size: int, channels: int = 64, kernel: int = 8) -> None:
        super().__init__()
        self.conv = nn.Conv1d(height, channels, kernel, stride=self.stride, padding=kernel // 2)
        self.norm = nn.LayerNorm(channels)
        self.rnn = nn.GRU(channels, hidden_size, batch_first=True, bidirectional=True)
        self.to_memory = nn.Linear(2 * hidden_size, hidden_size)
        self.to_summary = nn.Linear(2 * hidden_size, hidden_size)

    def forward(self, src: torch.Tensor, src_lengths=None):
        """src (B, height, width) images -> memory (B, width // 2 + 1, H), mask, summary (B, H)."""
        feats = self.norm(torch.relu(self.conv(src)).transpose(1, 2))
        out, h_n = self.rnn(feats)
        mask = torch.ones(out.shape[:2], dtype=torch.bool, device=src.device)
        return self.to_memory(out), mask, torch.tanh(self.to_summary(torch.cat(list(h_n), -1)))


def add_coordinates(images: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C + 2, H, W): each pixel's row (y) and column (x), from -1 to 1."""
    if images.dim() != 4:
        raise ValueError(f"expected images of shape (B, C, H, W), got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"expected floating-point images, got {images.dtype}: convert them with "
                         ".float() (and scale to [0, 1]) first")
    B, _, height, width = images.shape
    ys = torch.linspace(-1, 1, height, device=images.device, dtype=images.dtype)
    xs = torch.linspace(-1, 1, width, device=images.device, dtype=images.dtype)
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"))[None].expand(B, -1, -1, -1)
    return torch.cat([images, grid], 1)


class ImageEncoder(nn.Module):
    """A small CNN; each cell of its last feature map is one memory vector (Xu et al. 2015).

    Two coordinate channels (y then x, in [-1, 1]) are appended to the image so that features know
    where they are, and the summary keeps a coarse 4 x 4 layout (a mean over all cells would lose
    "left of" and "above"). Layer normalisation of the cells keeps them distinguishable at the
    start of training.
    """

    def __init__(self, in_channels: int, hidden_size: int, channels: int = 32) -> None:
        super().__init__()
        self.cnn = nn.Sequential(
            nn.Conv2d(in_channels + 2, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(channels, hidden_size, 3, padding=1), nn.ReLU())
        self.norm = nn.LayerNorm(hidden_size)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.pool_norm = nn.LayerNorm(16 * hidden_size)
        self.to_summary = nn.Linear(16 * hidden_size, hidden_size)

    def forward(self, src: torch.Tensor, src_lengths=None):
        """src (B, C, height, width) -> memory (B, cells, H), mask, summary (B, H)."""
        feats = self.cnn(add_coordinates(src))
        memory = self.norm(feats.flatten(2).transpose(1, 2))
        summary = torch.tanh(self.to_summary(self.pool_norm(self.pool(feats).flatten(1))))
        mask = torch.ones(memory.shape[:2], dtype=torch.bool, device=src.device)
        return memory, mask, summary


# ------------------------------------------------------------------------------------- attention
def additive_scores(query: torch.Tensor, keys: torch.Tensor, W_q: torch.Tensor,
                    v: torch.Tensor) -> torch.Tensor:
    """Bahdanau scores e_i = v . tanh(W_q q + k_i) for queries (B, H) and keys (B, S, A) = W_k m."""
    return torch.tanh(keys + (query @ W_q.T)[:, None, :]) @ v


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis that gives exactly zero weight where mask is False."""
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)


# ----------------------------------------------------------------------------------------- model
class Seq2Seq(nn.Module):
    """Encoder–decoder with a GRU (or LSTM) decoder and optional attention.

    `Seq2Seq(src_vocab_size, tgt_vocab_size, ...)` builds a `TokenEncoder`; pass
    `encoder=StripEncoder(...)` or `ImageEncoder(...)` (and `src_vocab_size=None`) for images.
    Target ids use `pad`, `bos`, `eos` (default 0, 1, 2). The decoder state is initialised
    from the encoder's summary; with attention the decoder also reads a context vector:
    additive feeds the context into the recurrent cell (query s_{t-1}); general/dot feed back
    the previous attentional vector (Luong's input feeding) and attend with s_t.
    """

    def __init__(self, src_vocab_size: int | None, tgt_vocab_size: int, emb_size: int = 32,
                 hidden_size: int = 64, attention: str = "additive", bidirectional: bool = True,
                 cell: str = "gru", encoder: nn.Module | None = None,
                 pad: int = PAD, bos: int = BOS, eos: int = EOS) -> None:
        super().__init__()
        if attention not in ATTENTION_KINDS:
            raise ValueError(f"attention must be one of {ATTENTION_KINDS}, got {attention!r}")
        if cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be 'gru' or 'lstm', got {cell!r}")
        if encoder is None:
            if src_vocab_size is None:
                raise ValueError("give src_vocab_size for the token encoder, or pass encoder=...")
            encoder = TokenEncoder(src_vocab_size, emb_size, hidden_size, bidirectional, pad)
        elif src_vocab_size is not None:
            raise ValueError("src_vocab_size is only used by the default encoder; pass None "
                             "together with encoder=...")
        if len({pad, bos, eos}) != 3 or not all(0 <= i < tgt_vocab_size for i in (pad, bos, eos)):
            raise ValueError(f"pad, bos, eos must be distinct ids below tgt_vocab_size="
                             f"{tgt_vocab_size}, got {pad}, {bos}, {eos}")
        self.attention, self.cell_kind = attention, cell
        self.hidden_size, self.tgt_vocab_size = hidden_size, tgt_vocab_size
        self.pad, self.bos, self.eos = pad, bos, eos
        H = hidden_size
        self.encoder = encoder
        self.embed = nn.Embedding(tgt_vocab_size, emb_size, padding_idx=pad)
        in_size = emb_size + (0 if attention == "none" else H)
        self.cell = nn.GRUCell(in_size, H) if cell == "gru" else nn.LSTMCell(in_size, H)
        if attention == "additive":
            self.W_k = nn.Linear(H, H)                 # keys W_k m_i (+ bias), computed once
            self.W_q = nn.Parameter(torch.randn(H, H) / math.sqrt(H))
            self.v = nn.Parameter(torch.randn(H) / math.sqrt(H))
        elif attention == "general":
            self.W_a = nn.Linear(H, H, bias=False)    # q^T W_a m_i = q . (W_a m_i)
        self.combine = nn.Linear(H if attention == "none" else 2 * H, H)
        self.out = nn.Linear(H, tgt_vocab_size)

    # state = (s, c, feed, memory, keys, mask): batch on dim 0 of every tensor, so that
    # beam_search's default reorder selects hypotheses.
    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor | None = None) -> tuple:
        """Run the encoder; return the decoder's initial state."""
        memory, mask, summary = self.encoder(src, src_lengths)
        if self.attention == "additive":
            keys = self.W_k(memory)
        elif self.attention == "general":
            keys = self.W_a(memory)
        else:
            keys = memory
        B, H = summary.shape
        zeros = summary.new_zeros(B, H)
        c = zeros if self.cell_kind == "lstm" else summary.new_zeros(B, 0)
        return summary, c, zeros, memory, keys, mask

    def _attend(self, query, keys, memory, mask):
        if self.attention == "additive":
            scores = additive_scores(query, keys, self.W_q, self.v)
        else:
            scores = (keys @ query[:, :, None]).squeeze(-1)
        weights = masked_softmax(scores, mask)
        return (weights[:, None, :] @ memory).squeeze(1), weights

    def _cell(self, x, s, c):
        if self.cell_kind == "lstm":
            return self.cell(x, (s, c))
        return self.cell(x, s), c

    def decode_step(self, y_prev: torch.Tensor, state: tuple):
        """One decoder step: (logits (B, V), new state, attention weights (B, S) or None)."""
        s, c, feed, memory, keys, mask = state
        x = self.embed(y_prev)
        weights = None
        if self.attention == "none":
            s, c = self._cell(x, s, c)
            h_tilde = torch.tanh(self.combine(s))
        elif self.attention == "additive":
            context, weights = self._attend(s, keys, memory, mask)
            s, c = self._cell(torch.cat([x, context], -1), s, c)
            h_tilde = torch.tanh(self.combine(torch.cat([s, context], -1)))
        else:
            s, c = self._cell(torch.cat([x, feed], -1), s, c)
            context, weights = self._attend(s, keys, memory, mask)
            h_tilde = torch.tanh(self.combine(torch.cat([s, context], -1)))
        return self.out(h_tilde), (s, c, h_tilde, memory, keys, mask), weights

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor | None, tgt_in: torch.Tensor):
        """Teacher forcing: logits (B, T, V) and attention (B, T, S) (None without attention)."""
        state = self.encode(src, src_lengths)
        logits, attn = [], []
        for t in range(tgt_in.shape[1]):
            step_logits, state, weights = self.decode_step(tgt_in[:, t], state)
            logits.append(step_logits)
            attn.append(weights)
        return torch.stack(logits, 1), (None if self.attention == "none" else torch.stack(attn, 1))

    @torch.no_grad()
    def greedy(self, src: torch.Tensor, src_lengths: torch.Tensor | None = None,
               max_len: int = 30) -> tuple[list[list[int]], torch.Tensor | None]:
        """Greedy decoding of a batch: token lists (ending at eos, which is dropped) and attention."""
        max_len = _check_positive_int(max_len, "max_len")
        state = self.encode(src, src_lengths)
        B = src.shape[0]
        y = torch.full((B,), self.bos, dtype=torch.long, device=src.device)
        steps, attn = [], []
        done = torch.zeros(B, dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            logits, state, weights = self.decode_step(y, state)
            y = logits.argmax(-1)
            steps.append(y)
            attn.append(weights)
            done |= y == self.eos
            if bool(done.all()):
                break
        out = []
        for row in torch.stack(steps, 1).tolist():
            out.append(row[: row.index(self.eos)] if self.eos in row else row)
        return out, (None if self.attention == "none" else torch.stack(attn, 1))

    @torch.no_grad()
    def translate(self, src: torch.Tensor, src_lengths: torch.Tensor | None = None, beam: int = 5,
                  max_len: int = 30, length_penalty: float = 0.0) -> list[tuple[list[int], float]]:
        """Beam search for ONE source (batch of size 1): [(tokens without bos/eos, score)], best first."""
        if src.shape[0] != 1:
            raise ValueError(f"translate takes one source (batch size 1), got batch size {src.shape[0]}")

        def step(tokens, state):
            logits, state, _ = self.decode_step(tokens, state)
            return torch.log_softmax(logits, -1), state

        hyps = beam_search(step, self.encode(src, src_lengths), self.bos, self.eos, beam, max_len,
                           length_penalty=length_penalty)
        return [(toks[:-1] if toks and toks[-1] == self.eos else toks, score) for toks, score in hyps]


# -------------------------------------------------------------------------------------- training
def make_targets(targets: Sequence[Sequence[int]], pad: int = PAD, bos: int = BOS, eos: int = EOS,
                 device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad target token lists: (tgt_in = bos + y, tgt_out = y + eos), both (B, T) int64."""
    if not targets:
        raise ValueError("need at least one target")
    T = max(len(t) for t in targets) + 1
    tgt_in = torch.full((len(targets), T), pad, dtype=torch.long)
    tgt_out = torch.full((len(targets), T), pad, dtype=torch.long)
    for i, y in enumerate(targets):
        tgt_in[i, : len(y) + 1] = torch.as_tensor([bos, *y], dtype=torch.long)
        tgt_out[i, : len(y) + 1] = torch.as_tensor([*y, eos], dtype=torch.long)
    return tgt_in.to(device), tgt_out.to(device)


def make_batch(sources: Sequence[Sequence[int]], targets: Sequence[Sequence[int]],
               pad: int = PAD, bos: int = BOS, eos: int = EOS, device=None):
    """Pad token lists: (src (B, S), src_lengths (B,), tgt_in = bos+y (B, T), tgt_out = y+eos)."""
    if len(sources) != len(targets) or not sources:
        raise ValueError(f"need as many sources as targets (at least one), got {len(sources)} "
                         f"and {len(targets)}")
    lengths = [len(s) for s in sources]
    if min(lengths) < 1:
        raise ValueError("every source needs at least one token")
    src = torch.full((len(sources), max(lengths)), pad, dtype=torch.long)
    for i, s in enumerate(sources):
        src[i, : len(s)] = torch.as_tensor(list(s), dtype=torch.long)
    tgt_in, tgt_out = make_targets(targets, pad, bos, eos, device)
    return src.to(device), torch.tensor(lengths, dtype=torch.long).to(device), tgt_in, tgt_out


def sequence_loss(logits: torch.Tensor, tgt_out: torch.Tensor, pad: int = PAD) -> torch.Tensor:
    """Mean cross-entropy (nats) per real target token; padded positions are ignored."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1),
                           ignore_index=pad)


def train_epoch(model: Seq2Seq, batches: Iterable, optimizer: torch.optim.Optimizer,
                clip: float = 1.0) -> float:
    """One pass of teacher forcing over (src, src_lengths, tgt_in, tgt_out) batches; mean loss."""
    model.train()
    total, count = 0.0, 0
    for src, src_lengths, tgt_in, tgt_out in batches:
        logits, _ = model(src, src_lengths, tgt_in)
        loss = sequence_loss(logits, tgt_out, model.pad)
        optimizer.zero_grad()
        loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        n = int((tgt_out != model.pad).sum())
        total += loss.item() * n
        count += n
    if count == 0:
        raise ValueError("train_epoch got no batches (or only padding)")
    return total / count


def train_steps(model: nn.Module, sample: Callable[[np.random.Generator], tuple], steps: int,
                evaluate: Callable[[nn.Module], float], every: int = 25,
                stop_at: float | None = None, lr: float = 3e-3, clip: float = 1.0,
                seed: int = 0) -> list[tuple[int, float]]:
    """Adam on one batch sample(rng) per step; [(step, evaluate(model))] every `every` steps.

    Stops early once a score reaches `stop_at`; the batches depend only on `seed`.
    """
    if steps < 1 or every < 1:
        raise ValueError(f"steps and every must be positive, got steps={steps}, every={every}")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    curve: list[tuple[int, float]] = []
    for step in range(1, steps + 1):
        train_epoch(model, [sample(rng)], optimizer, clip=clip)
        if step % every == 0 or step == steps:
            curve.append((step, float(evaluate(model))))
            if stop_at is not None and curve[-1][1] >= stop_at:
                break
    return curve


def exact_match(predictions: Sequence[Sequence[int]], targets: Sequence[Sequence[int]]) -> float:
    """Fraction of predictions equal to their target, token for token."""
    if len(predictions) != len(targets) or not targets:
        raise ValueError(f"need as many predictions as targets (at least one), got "
                         f"{len(predictions)} and {len(targets)}")
    return sum(list(p) == list(t) for p, t in zip(predictions, targets)) / len(targets)
