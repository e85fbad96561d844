"""rnnbook.attention and rnnbook.linear_attention against torch's attention and the recurrence."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnnbook.attention import (MultiHeadAttention, causal_mask, scaled_dot_product_attention,
                               sinusoidal_positions)
from rnnbook.linear_attention import feature_map, linear_attention, linear_attention_recurrent

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                 reason="needs a CUDA GPU"))]


def qkv(b=2, h=3, tq=5, tk=7, d=4, dv=6, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    shapes = ((b, h, tq, d), (b, h, tk, d), (b, h, tk, dv))
    return [torch.randn(*s, generator=g, dtype=torch.float64).to(device) for s in shapes]


@pytest.mark.parametrize("device", DEVICES)
def test_attention_equals_torch_sdpa_to_1e_10_in_float64(device):
    q, k, v = qkv(device=device, seed=1)
    out, w = scaled_dot_product_attention(q, k, v)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v), rtol=0, atol=1e-10)
    assert torch.allclose(w.sum(-1), torch.ones_like(w[..., 0]), atol=1e-12)
    expected_w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
    assert torch.allclose(w, expected_w, rtol=0, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_padding_and_causal_masks_match_torch(device):
    q, k, v = qkv(tq=6, tk=6, device=device, seed=2)
    g = torch.Generator().manual_seed(3)
    keep = torch.rand(2, 1, 1, 6, generator=g) > 0.3
    keep[..., 0] = True  # every query must see at least one key
    keep = keep.to(device)
    out, w = scaled_dot_product_attention(q, k, v, mask=keep)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v, attn_mask=keep), atol=1e-10)
    assert float(w.masked_select(~keep.expand_as(w)).abs().max()) == 0.0
    out, w = scaled_dot_product_attention(q, k, v, causal=True)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-10)
    assert float(w.triu(diagonal=1).abs().max()) == 0.0


def test_a_causal_mask_with_fewer_queries_is_aligned_at_the_end():
    q, k, v = qkv(tq=7, tk=7, seed=4)
    full, _ = scaled_dot_product_attention(q, k, v, causal=True)
    last, _ = scaled_dot_product_attention(q[:, :, -3:], k, v, causal=True)
    assert torch.allclose(last, full[:, :, -3:], atol=1e-12)
    assert causal_mask(2, 4).tolist() == [[True, True, True, False], [True, True, True, True]]


@pytest.mark.parametrize("device", DEVICES)
def test_multi_head_layer_equals_torch_multiheadattention_with_copied_weights(device):
    torch.manual_seed(5)
    ref = nn.MultiheadAttention(12, 3, batch_first=True).double().to(device)
    ours = MultiHeadAttention.from_torch(ref)
    g = torch.Generator().manual_seed(6)
    x = torch.randn(2, 5, 12, generator=g, dtype=torch.float64).to(device)
    mem = torch.randn(2, 8, 12, generator=g, dtype=torch.float64).to(device)
    out, w = ours(x, mem, mem)
    ref_out, ref_w = ref(x, mem, mem)
    assert torch.allclose(out, ref_out, atol=1e-10) and torch.allclose(w.mean(1), ref_w, atol=1e-10)
    # self-attention, causal and with padded keys; torch's masks say True = do NOT attend
    pad = torch.tensor([[False] * 5, [False, False, False, True, True]], device=device)
    out, _ = ours(x, x, x, mask=~pad[:, None, None, :], causal=True)
    ref_out, _ = ref(x, x, x, key_padding_mask=pad, attn_mask=~causal_mask(5, 5, device))
    assert torch.allclose(out, ref_out, atol=1e-10)


def test_bad_inputs_raise_a_clear_error():
    q, k, v = qkv(seed=7)
    with pytest.raises(ValueError, match="batch and heads"):
        scaled_dot_product_attention(q, k[:1], v[:1])
    with pytest.raises(ValueError, match="same size"):
        scaled_dot_product_attention(q, k[..., :3], v)
    with pytest.raises(ValueError, match="batch, heads, time, dim"):
        scaled_dot_product_attention(q[0], k[0], v[0])
    with pytest.raises(TypeError, match="floating"):
        scaled_dot_product_attention(q.long(), k, v)
    with pytest.raises(TypeError, match="share a dtype"):
        scaled_dot_product_attention(q.float(), k, v)
    with pytest.raises(TypeError, match="boolean"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(5, 7))
    with pytest.raises(ValueError, match="does not broadcast"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(4, 4, dtype=torch.bool))
    blocked = torch.ones(5, 7, dtype=torch.bool)
    blocked[2] = False
    with pytest.raises(ValueError, match="blocks every key"):
        scaled_dot_product_attention(q, k, v, mask=blocked)
    with pytest.raises(ValueError, match="multiple of num_heads"):
        MultiHeadAttention(10, 3)


def test_sinusoidal_positions_follow_the_formula():
    pe = sinusoidal_positions(50, 8)
    assert pe.shape == (50, 8)
    for pos, i in ((0, 0), (7, 1), (49, 3)):
        angle = pos / 10000 ** (2 * i / 8)
        assert math.isclose(pe[pos, 2 * i], math.sin(angle), abs_tol=1e-6)
        assert math.isclose(pe[pos, 2 * i + 1], math.cos(angle), abs_tol=1e-6)
    with pytest.raises(ValueError, match="even dim"):
        sinusoidal_positions(5, 7)


@pytest.mark.parametrize("device", DEVICES)
def test_linear_attention_as_a_recurrence_equals_its_parallel_form(device):
    g = torch.Generator().manual_seed(8)
    q, k = (torch.randn(2, 3, 11, 4, generator=g, dtype=torch.float64).to(device) for _ in range(2))
    v = torch.randn(2, 3, 11, 5, generator=g, dtype=torch.float64).to(device)
    par, rec = linear_attention(q, k, v), linear_attention_recurrent(q, k, v)
    assert torch.allclose(par, rec, rtol=0, atol=1e-10)
    # and both are the kernel-weighted mean of the past values, written out for one position
    t = 6
    w = (feature_map(q[0, 0, t]) * feature_map(k[0, 0, :t + 1])).sum(-1)
    assert torch.allclose(par[0, 0, t], (w[:, None] * v[0, 0, :t + 1]).sum(0) / w.sum(), atol=1e-12)


def test_linear_attention_refuses_mismatched_inputs():
    q = torch.randn(2, 5, 4)
    with pytest.raises(ValueError, match="same shape"):
        linear_attention(q, q[:, :4], q)
    with pytest.raises(TypeError, match="floating"):
        linear_attention_recurrent(q.long(), q, q)
