"""rnnbook.transformer and rnnbook.race: the cache changes nothing, the future is never seen."""
import inspect

import pytest
import torch
from torch import nn

from rnnbook import race
from rnnbook.attention import MultiHeadAttention, causal_mask
from rnnbook.charlm import CharLM
from rnnbook.lru import RecurrentLM
from rnnbook.transformer import TransformerBlock, TransformerLM

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                 reason="needs a CUDA GPU"))]


@pytest.mark.parametrize("device", DEVICES)
def test_generation_with_the_kv_cache_equals_full_recomputation(device):
    torch.manual_seed(0)
    model = TransformerLM(13, dim=16, layers=3, heads=4, max_len=64).double().to(device).eval()
    ids = torch.randint(0, 13, (2, 21), device=device)
    full, _ = model(ids)
    logits, cache = model(ids[:, :5])              # a prompt of five tokens, then one at a time
    steps = [logits]
    for t in range(5, 21):
        logits, cache = model(ids[:, t:t + 1], cache)
        steps.append(logits)
    assert torch.allclose(torch.cat(steps, 1), full, rtol=0, atol=1e-10)
    assert cache[0][0].shape == (2, 4, 21, 4)


def test_changing_a_later_token_leaves_earlier_logits_unchanged():
    torch.manual_seed(1)
    model = TransformerLM(9, dim=8, layers=2, heads=2, max_len=32).double()
    ids = torch.randint(0, 9, (1, 12))
    changed = ids.clone()
    changed[0, 8] = (ids[0, 8] + 1) % 9
    a, b = model(ids)[0], model(changed)[0]
    assert torch.allclose(a[:, :8], b[:, :8], atol=1e-12) and not torch.allclose(a[:, 8:], b[:, 8:])


def test_the_block_attention_is_torch_multiheadattention_with_a_causal_mask():
    torch.manual_seed(2)
    ref = nn.MultiheadAttention(12, 3, batch_first=True).double()
    block = TransformerBlock(12, 3).double()
    block.attn = MultiHeadAttention.from_torch(ref)
    x = torch.randn(2, 6, 12, dtype=torch.float64)
    h = block.norm1(x)
    attn, _ = ref(h, h, h, attn_mask=~causal_mask(6, 6))
    expected = x + attn
    expected = expected + block.mlp(block.norm2(expected))
    assert torch.allclose(block(x)[0], expected, atol=1e-10)


def test_the_block_fits_on_a_page():
    assert len(inspect.getsource(TransformerBlock).splitlines()) <= 150


def test_bad_arguments_raise_a_clear_error():
    model = TransformerLM(5, dim=8, layers=1, heads=2, max_len=10)
    with pytest.raises(ValueError, match="exceed max_len=10"):
        model(torch.zeros(1, 11, dtype=torch.long))
    with pytest.raises(ValueError, match="int64"):
        model(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="multiple of heads"):
        TransformerLM(5, dim=10, heads=3)
    with pytest.raises(ValueError, match="cache holds 2 layers"):
        model(torch.zeros(1, 1, dtype=torch.long), cache=[None, None])


def test_logits_of_gives_every_runner_the_same_convention():
    torch.manual_seed(3)
    ids = torch.randint(0, 6, (2, 7))
    lstm = CharLM("abcdef", hidden=8, embed=4)
    assert torch.allclose(race.logits_of(lstm, ids)[1], lstm(ids[1:2].T)[0][:, 0])
    for model in (RecurrentLM(6, dim=8), TransformerLM(6, dim=8, heads=2)):
        assert race.logits_of(model, ids).shape == (2, 7, 6)


def test_selective_copying_places_the_data_and_asks_for_it_in_order():
    g = torch.Generator().manual_seed(4)
    x, y, w = race.selective_copying(5, 12, 3, 4, g)
    assert x.shape == y.shape == w.shape == (5, 15)
    for row in range(5):
        data = x[row, :12][x[row, :12] != race.NOISE]
        assert data.tolist() == y[row, 12:].tolist() and len(data) == 3
        assert x[row, 12] == race.SEPARATOR and x[row, 13:].tolist() == data[:2].tolist()
    assert w[:, :12].sum() == 0 and bool((w[:, 12:] == 1).all())
    assert int(x.max()) <= 5 and int(x[:, :12][x[:, :12] > 0].min()) >= 2


def test_training_is_reproducible_and_lowers_the_loss():
    text = torch.tensor([0, 1, 2, 3, 4, 5] * 60)
    windows = race.fixed_windows(text, 4, 12)
    runs = []
    for _ in range(2):
        torch.manual_seed(5)
        model = TransformerLM(6, dim=16, layers=1, heads=2, max_len=16)
        sample = lambda g: (lambda w: (w[:, :-1], w[:, 1:]))(race.random_windows(text, 8, 12, g))
        runs.append(race.train_steps(model, sample, 30, lambda m: race.window_nll(m, windows),
                                     eval_every=15, lr=1e-2))
    assert [r["value"] for r in runs[0]] == [r["value"] for r in runs[1]]
    assert [r["step"] for r in runs[0]] == [0, 15, 30]
    assert runs[0][-1]["value"] < 0.5 * runs[0][0]["value"]


def test_window_helpers_refuse_a_text_too_short():
    with pytest.raises(ValueError, match="longer than"):
        race.random_windows(torch.arange(5), 2, 8, torch.Generator())
    with pytest.raises(ValueError, match="at least"):
        race.fixed_windows(torch.arange(20), 4, 8)
