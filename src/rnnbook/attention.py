"""Self-attention without recurrence: scaled dot-product attention, heads, positions (chapter 14).

Scaled dot-product attention (Vaswani et al. 2017) scores every query against every key,
softmax(q k^T / sqrt(d)) over the keys, and returns the weighted mean of the values. Masks say
which keys a query may use (True = attend): a padding mask hides padded keys, and the causal
mask hides the future. With fewer queries than keys (generation with a key-value cache: the
new queries are the *last* positions) the causal mask is aligned at the end, so query i of Tq
sees keys up to i + Tk - Tq; for Tq = Tk this is the usual lower triangle.

`MultiHeadAttention` is the layer of `torch.nn.MultiheadAttention` (batch first) written out:
project to heads, attend in each, concatenate, project back. `from_torch` copies a torch
layer's weights into it, so the tests can pin that both compute the same thing. Chapter 9's
additive attention (`rnnbook.seq2seq`) scored one decoder state against encoder states; here
every position attends to every other, and nothing is recurrent.
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["MultiHeadAttention", "causal_mask", "scaled_dot_product_attention",
           "sinusoidal_positions"]


def causal_mask(tq: int, tk: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean (tq, tk) mask, True where query i may attend to key j <= i + tk - tq."""
    if tq < 1 or tk < tq:
        raise ValueError(f"a causal mask needs 1 <= tq <= tk, got tq={tq}, tk={tk}")
    return torch.ones(tq, tk, dtype=torch.bool, device=device).tril(diagonal=tk - tq)


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None, causal: bool = False
                                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T / sqrt(d)) v for q (B,H,Tq,d), k, v (B,H,Tk,d): (output, weights (B,H,Tq,Tk))."""
    for name, x in (("q", q), ("k", k), ("v", v)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"{name} must be a floating tensor, got {x.dtype} (use .float())")
        if x.dim() != 4:
            raise ValueError(f"{name} must have shape (batch, heads, time, dim), got "
                             f"{tuple(x.shape)}")
    if not q.dtype == k.dtype == v.dtype:
        raise TypeError(f"q, k and v must share a dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if q.shape[:2] != k.shape[:2] or k.shape[:3] != v.shape[:3]:
        raise ValueError(f"batch and heads of q {tuple(q.shape)}, k {tuple(k.shape)} and v "
                         f"{tuple(v.shape)} must agree, and k and v must have the same length")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"queries and keys need the same size, got {q.shape[-1]} and "
                         f"{k.shape[-1]}")
    tq, tk = q.shape[2], k.shape[2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    allowed = torch.ones(1, 1, tq, tk, dtype=torch.bool, device=q.device)
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            raise TypeError("mask must be a boolean tensor (True = attend), got "
                            f"{getattr(mask, 'dtype', type(mask).__name__)}")
        try:
            allowed = allowed & mask.to(q.device)
            torch.broadcast_shapes(allowed.shape, scores.shape)
        except RuntimeError:
            raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to "
                             f"(batch, heads, Tq, Tk) = {tuple(scores.shape)}") from None
    if causal:
        allowed = allowed & causal_mask(tq, tk, q.device)
    if not bool(allowed.any(dim=-1).all()):
        raise ValueError("the mask blocks every key for some query; softmax over nothing is "
                         "undefined (let each query attend to at least one key)")
    weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
    return weights @ v, weights


def sinusoidal_positions(steps: int, dim: int) -> torch.Tensor:
    """The (steps, dim) sine/cosine position codes of Vaswani et al. (2017); dim must be even."""
    if steps < 1 or dim < 2 or dim % 2:
        raise ValueError(f"need steps >= 1 and an even dim >= 2, got steps={steps}, dim={dim}")
    pos = torch.arange(steps, dtype=torch.float64)[:, None]
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    codes = torch.zeros(steps, dim, dtype=torch.float64)
    codes[:, 0::2] = torch.sin(pos * freq)
    codes[:, 1::2] = torch.cos(pos * freq)
    return codes.float()


class MultiHeadAttention(nn.Module):
    """Multi-head attention on (B, T, E) inputs, computing what torch.nn.MultiheadAttention does."""

    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True) -> None:
        super().__init__()
        if num_heads < 1 or embed_dim % num_heads:
            raise ValueError(f"embed_dim ({embed_dim}) must be a multiple of num_heads "
                             f"({num_heads})")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.k_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.v_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, E) -> (B, H, T, E / H)."""
        b, t, _ = x.shape
        return x.view(b, t, self.num_heads, -1).transpose(1, 2)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                mask: torch.Tensor | None = None, causal: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(output (B, Tq, E), per-head weights (B, H, Tq, Tk)); mask True = attend."""
        if query.dim() != 3 or query.shape[-1] != self.embed_dim:
            raise ValueError(f"query must be (batch, time, {self.embed_dim}), got "
                             f"{tuple(query.shape)}")
        q = self.split_heads(self.q_proj(query))
        k = self.split_heads(self.k_proj(key))
        v = self.split_heads(self.v_proj(value))
        out, weights = scaled_dot_product_attention(q, k, v, mask=mask, causal=causal)
        out = out.transpose(1, 2).reshape(query.shape[0], query.shape[1], self.embed_dim)
        return self.out_proj(out), weights

    @classmethod
    def from_torch(cls, layer: nn.MultiheadAttention) -> "MultiHeadAttention":
        """A copy of a torch.nn.MultiheadAttention layer's weights (same q, k, v sizes)."""
        if not layer._qkv_same_embed_dim or layer.bias_k is not None:
            raise ValueError("only layers with kdim = vdim = embed_dim and no bias_k/bias_v "
                             "can be copied")
        bias = layer.in_proj_bias is not None
        new = cls(layer.embed_dim, layer.num_heads, bias=bias)
        new = new.to(dtype=layer.in_proj_weight.dtype, device=layer.in_proj_weight.device)
        with torch.no_grad():
            for proj, w in zip((new.q_proj, new.k_proj, new.v_proj),
                               layer.in_proj_weight.chunk(3)):
                proj.weight.copy_(w)
            new.out_proj.weight.copy_(layer.out_proj.weight)
            if bias:
                for proj, b_ in zip((new.q_proj, new.k_proj, new.v_proj),
                                    layer.in_proj_bias.chunk(3)):
                    proj.bias.copy_(b_)
                new.out_proj.bias.copy_(layer.out_proj.bias)
        return new
