"""A small decoder-only Transformer with pre-norm blocks and a key-value cache (chapter 14).

Each block is x + attention(LN(x)) followed by x + MLP(LN(x)) (the pre-norm arrangement, which
trains without a learning-rate warm-up at this size), with causal multi-head self-attention from
`rnnbook.attention` and sinusoidal position codes added to the token embeddings. Nothing is
recurrent: every position of a training window is computed at once.

Generating one token at a time, position t attends to all t earlier positions. Recomputing the
whole prefix each time costs O(t) matrix rows per layer and token; a **key-value cache** keeps
every layer's keys and values of the positions already seen, so a new token only computes its own
query, key and value and attends over the cache. `forward(ids, cache)` does both: with a cache it
treats `ids` as the positions that follow the cached ones, and a test pins that the logits equal
those of a full recomputation.
"""
from __future__ import annotations

import torch
from torch import nn

from .attention import MultiHeadAttention, scaled_dot_product_attention, sinusoidal_positions

__all__ = ["TransformerBlock", "TransformerLM"]

Cache = list[tuple[torch.Tensor, torch.Tensor]]


class TransformerBlock(nn.Module):
    """Pre-norm block: x + MHA(LN(x)) (causal), then x + MLP(LN(x)); keys and values cacheable."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(),
                                 nn.Linear(mlp_ratio * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x (B, T, dim), past keys/values (B, H, t, dim/H) or None -> (B, T, dim), new (k, v)."""
        h = self.norm1(x)
        attn = self.attn
        q, k, v = (attn.split_heads(p(h)) for p in (attn.q_proj, attn.k_proj, attn.v_proj))
        if past is not None:  # the new positions come after the cached ones
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        out, _ = scaled_dot_product_attention(q, k, v, causal=True)
        out = out.transpose(1, 2).reshape(x.shape)
        x = x + self.drop(attn.out_proj(out))
        x = x + self.drop(self.mlp(self.norm2(x)))
        return x, (k, v)


class TransformerLM(nn.Module):
    """Token embedding + sinusoidal positions -> pre-norm blocks -> LayerNorm -> linear."""

    def __init__(self, vocab: int, dim: int = 64, layers: int = 2, heads: int = 4,
                 max_len: int = 4096, dropout: float = 0.0) -> None:
        super().__init__()
        for name, v in (("vocab", vocab), ("dim", dim), ("layers", layers), ("heads", heads),
                        ("max_len", max_len)):
            if int(v) < 1:
                raise ValueError(f"{name} must be a positive integer, got {v}")
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be a multiple of heads ({heads})")
        self.max_len = max_len
        self._config = {"vocab": vocab, "dim": dim, "layers": layers, "heads": heads,
                        "max_len": max_len, "dropout": dropout}
        self.embed = nn.Embedding(vocab, dim)
        self.register_buffer("positions", sinusoidal_positions(max_len, dim), persistent=False)
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads, dropout=dropout)
                                    for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)

    @property
    def config(self) -> dict:
        """The constructor's arguments (to rebuild the model from a saved file)."""
        return dict(self._config)

    def forward(self, ids: torch.Tensor, cache: Cache | None = None
                ) -> tuple[torch.Tensor, Cache]:
        """ids (B, T) -> logits (B, T, vocab) and the key-value cache including these positions."""
        if ids.dim() != 2 or ids.dtype != torch.long:
            raise ValueError(f"ids must be a (batch, time) int64 tensor, got {tuple(ids.shape)} "
                             f"{ids.dtype}")
        if cache is not None and len(cache) != len(self.blocks):
            raise ValueError(f"the cache holds {len(cache)} layers, the model {len(self.blocks)}")
        start = 0 if cache is None else cache[0][0].shape[2]
        end = start + ids.shape[1]
        if end > self.max_len:
            raise ValueError(f"positions up to {end} exceed max_len={self.max_len}; build the "
                             "model with a larger max_len or generate a shorter text")
        x = self.embed(ids) + self.positions[start:end]
        new_cache: Cache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if cache is None else cache[i])
            new_cache.append(kv)
        return self.head(self.norm(x)), new_cache
