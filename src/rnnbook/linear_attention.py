"""Linear attention, run as attention and as a recurrence (Katharopoulos et al. 2020).

Replace softmax(q k^T) by a kernel phi(q)^T phi(k) with a positive feature map phi (here
elu(x) + 1). Causal attention at step t is then

    y_t = phi(q_t)^T S_t / (phi(q_t)^T z_t),  S_t = sum_{j<=t} phi(k_j) v_j^T,  z_t = sum_{j<=t} phi(k_j),

and S_t = S_{t-1} + phi(k_t) v_t^T is a recurrence with a matrix-valued state of fixed size:
a "Transformer" that generates like an RNN, at constant cost per token. `linear_attention`
computes the parallel form (a masked T x T matrix); `linear_attention_recurrent` steps the
recurrence. They are the same function, which the tests and chapter 14 check.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["feature_map", "linear_attention", "linear_attention_recurrent"]


def feature_map(x: torch.Tensor) -> torch.Tensor:
    """phi(x) = elu(x) + 1, positive everywhere."""
    return F.elu(x) + 1.0


def _check(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    """Raise unless q, k (..., T, d) and v (..., T, dv) are floating tensors that agree."""
    for name, x in (("q", q), ("k", k), ("v", v)):
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 2:
            raise TypeError(f"{name} must be a floating tensor of shape (..., T, dim)")
    if q.shape != k.shape or k.shape[:-1] != v.shape[:-1]:
        raise ValueError(f"q and k must have the same shape and v the same leading shape, got "
                         f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")


def linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal linear attention in its parallel (T x T) form: shape (..., T, dv)."""
    _check(q, k, v)
    fq, fk = feature_map(q), feature_map(k)
    scores = (fq @ fk.transpose(-2, -1)).tril()  # causal: key j <= query i
    return (scores @ v) / scores.sum(dim=-1, keepdim=True)


def linear_attention_recurrent(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The same, as a recurrence over t with state S (d x dv) and normaliser z (d)."""
    _check(q, k, v)
    fq, fk = feature_map(q), feature_map(k)
    state = q.new_zeros(*q.shape[:-2], q.shape[-1], v.shape[-1])
    norm = q.new_zeros(*q.shape[:-2], q.shape[-1])
    out = []
    for t in range(q.shape[-2]):
        state = state + fk[..., t, :, None] * v[..., t, None, :]  # S_t = S_{t-1} + phi(k_t) v_t^T
        norm = norm + fk[..., t, :]
        num = (fq[..., t, None, :] @ state).squeeze(-2)
        out.append(num / (fq[..., t, :] * norm).sum(-1, keepdim=True))
    return torch.stack(out, dim=-2)
