"""Beam search against brute force, and the Seq2Seq model's masking, attention and gradients."""
import itertools
import math

import numpy as np
import pytest
import torch

from rnnbook import seq2seq
from rnnbook.seq2seq import Seq2Seq, beam_search


pytestmark = pytest.mark.usefixtures("one_torch_thread")



def toy_model(n_tokens: int, seed: int):
    """A random second-order model: log p(next | the two previous tokens), as a step function.

    Output ids are 0..n_tokens-1 with eos = n_tokens-1; id n_tokens is the start symbol. The
    state is each hypothesis' history (K, t), so a wrong reorder changes the probabilities.
    """
    g = torch.Generator().manual_seed(seed)
    table = torch.log_softmax(
        torch.randn(n_tokens + 1, n_tokens + 1, n_tokens, generator=g, dtype=torch.float64) * 2, -1)

    def step(tokens, state):
        history = torch.cat([state, tokens[:, None]], 1)
        assert (history[:, 0] == n_tokens).all()
        return table[history[:, -2], history[:, -1]], history

    return table, step


def brute_force(table, eos, max_len, length_penalty=0.0):
    """Every output sequence (ending in eos, or cut at max_len) with its normalised score."""
    n = table.shape[-1]
    words = [t for t in range(n) if t != eos]
    out = []
    for length in range(1, max_len + 1):
        for body in itertools.product(words, repeat=length - 1):
            endings = [eos] + (words if length == max_len else [])
            for last in endings:
                seq = [*body, last]
                history, total = [n, n], 0.0
                for tok in seq:
                    total += float(table[history[-2], history[-1], tok])
                    history.append(tok)
                out.append((seq, total / length ** length_penalty))
    out.sort(key=lambda p: -p[1])
    return out


def run_beam(table, step, n_tokens, width, max_len, length_penalty=0.0):
    bos = n_tokens  # the extra row of the table is the start symbol
    state = torch.tensor([[bos]])  # history so far: the start symbol twice
    return beam_search(step, state, bos, n_tokens - 1, width, max_len, length_penalty=length_penalty)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("length_penalty", [0.0, 0.6, 1.0])
def test_beam_search_covering_every_sequence_matches_brute_force_on_small_random_models(seed, length_penalty):
    rng = np.random.default_rng(seed)
    n_tokens, max_len = int(rng.integers(3, 5)), int(rng.integers(4, 6))  # eos included
    table, step = toy_model(n_tokens, seed)
    expected = brute_force(table, n_tokens - 1, max_len, length_penalty)
    width = len(expected)  # every sequence fits in the beam: nothing is pruned
    got = run_beam(table, step, n_tokens, width, max_len, length_penalty)
    assert len(got) == len(expected)
    assert [s for s, _ in got[:10]] == [s for s, _ in expected[:10]]
    np.testing.assert_allclose([sc for _, sc in got], [sc for _, sc in expected], rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_beam_scores_are_the_true_sequence_scores_and_never_worse_than_greedy(seed):
    n_tokens, max_len = 4, 5
    table, step = toy_model(n_tokens, seed + 100)
    truth = dict((tuple(s), sc) for s, sc in brute_force(table, n_tokens - 1, max_len))
    greedy = run_beam(table, step, n_tokens, 1, max_len)
    for width in (2, 3, 5):
        got = run_beam(table, step, n_tokens, width, max_len)
        assert 1 <= len(got) <= width
        assert [sc for _, sc in got] == sorted((sc for _, sc in got), reverse=True)
        for seq, score in got:
            assert score == pytest.approx(truth[tuple(seq)], abs=1e-12)
            assert seq[-1] == n_tokens - 1 or len(seq) == max_len
        assert len({tuple(s) for s, _ in got}) == len(got)


@pytest.mark.parametrize("seed", range(6))
def test_width_one_is_greedy_decoding(seed):
    n_tokens, max_len = 5, 7
    table, step = toy_model(n_tokens, seed + 200)
    (seq, score), = run_beam(table, step, n_tokens, 1, max_len)
    history, greedy, total = [n_tokens, n_tokens], [], 0.0
    for _ in range(max_len):
        tok = int(table[history[-2], history[-1]].argmax())
        greedy.append(tok)
        total += float(table[history[-2], history[-1], tok])
        history.append(tok)
        if tok == n_tokens - 1:
            break
    assert seq == greedy
    assert score == pytest.approx(total, abs=1e-12)


def test_beam_search_finds_a_sequence_greedy_misses():
    # from the start, token 0 (p = .6) looks best but every continuation is poor;
    # token 1 (p = .4) then eos with certainty is the most probable whole sequence.
    eos = 2
    table = torch.log(torch.tensor([[0.34, 0.33, 0.33], [0.0, 0.0, 1.0], [1 / 3] * 3, [0.6, 0.4, 0.0]],
                                   dtype=torch.float64).clamp_min(1e-300))

    def step(tokens, state):
        return table[tokens], None

    (g, _), = beam_search(step, None, 3, eos, 1, 3)
    best, score = beam_search(step, None, 3, eos, 2, 3)[0]
    assert g[0] == 0 and best == [1, 2]
    assert score == pytest.approx(math.log(0.4))


@pytest.mark.parametrize("kwargs, word", [
    (dict(width=0), "width"), (dict(width=2.5), "width"), (dict(max_len=0), "max_len"),
    (dict(length_penalty=-1.0), "length_penalty"), (dict(length_penalty=float("nan")), "length_penalty")])
def test_beam_search_rejects_bad_arguments_with_a_clear_error(kwargs, word):
    _, step = toy_model(3, 0)
    args = dict(width=2, max_len=3) | kwargs
    with pytest.raises(ValueError, match=word):
        beam_search(step, torch.tensor([[3]]), 3, 2, **args)


def test_default_reorder_handles_tensors_tuples_and_none():
    index = torch.tensor([2, 0])
    a, b = torch.arange(6).reshape(3, 2), torch.arange(3.0)
    got = seq2seq.default_reorder((a, (b, None)), index)
    assert torch.equal(got[0], a[[2, 0]]) and torch.equal(got[1][0], b[[2, 0]]) and got[1][1] is None
    with pytest.raises(TypeError, match="reorder"):
        seq2seq.default_reorder({"a": a}, index)


# ------------------------------------------------------------------------------------ the model
def random_batch(seed, B=4, V_src=9, V_tgt=8, S_max=7, T=5):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, S_max + 1, (B,), generator=g)
    lengths[0] = S_max
    src = torch.randint(1, V_src, (B, S_max), generator=g)
    src[torch.arange(S_max)[None] >= lengths[:, None]] = 0
    tgt_in = torch.randint(3, V_tgt, (B, T), generator=g)
    tgt_in[:, 0] = 1
    return src, lengths, tgt_in


def make_model(attention, seed, cell="gru", dtype=torch.float32, **kw):
    torch.manual_seed(seed)
    return Seq2Seq(9, 8, emb_size=6, hidden_size=10, attention=attention, cell=cell, **kw).to(dtype).eval()


ALL = [(a, c) for a in seq2seq.ATTENTION_KINDS for c in ("gru", "lstm")]


@pytest.mark.parametrize("attention, cell", ALL)
def test_outputs_have_the_documented_shapes(attention, cell):
    src, lengths, tgt_in = random_batch(0)
    logits, attn = make_model(attention, 0, cell)(src, lengths, tgt_in)
    assert logits.shape == (4, 5, 8)
    assert attn is None if attention == "none" else attn.shape == (4, 5, 7)


@pytest.mark.parametrize("attention", ["additive", "general", "dot"])
@pytest.mark.parametrize("seed", range(3))
def test_attention_rows_sum_to_one_and_padding_gets_exactly_zero_weight(attention, seed):
    src, lengths, tgt_in = random_batch(seed)
    _, attn = make_model(attention, seed)(src, lengths, tgt_in)
    torch.testing.assert_close(attn.sum(-1), torch.ones(4, 5), rtol=0, atol=1e-6)
    pad = torch.arange(7)[None, None, :] >= lengths[:, None, None]
    assert (attn[pad.expand_as(attn)] == 0).all()
    assert (attn[~pad.expand_as(attn)] > 0).all()


@pytest.mark.parametrize("attention, cell", ALL)
@pytest.mark.parametrize("seed", range(2))
def test_a_sequence_s_outputs_do_not_depend_on_the_padding_added_for_longer_neighbours(attention, cell, seed):
    src, lengths, tgt_in = random_batch(seed)
    model = make_model(attention, seed, cell, dtype=torch.float64)
    logits, attn = model(src, lengths, tgt_in)
    for i in range(1, 4):
        L = int(lengths[i])
        alone, attn_alone = model(src[i:i + 1, :L], lengths[i:i + 1], tgt_in[i:i + 1])
        torch.testing.assert_close(logits[i:i + 1], alone, rtol=0, atol=1e-10)
        if attn is not None:
            torch.testing.assert_close(attn[i:i + 1, :, :L], attn_alone, rtol=0, atol=1e-10)


@pytest.mark.parametrize("attention, cell", ALL)
def test_decode_step_run_step_by_step_equals_the_teacher_forced_forward(attention, cell):
    src, lengths, tgt_in = random_batch(7)
    model = make_model(attention, 7, cell, dtype=torch.float64)
    logits, attn = model(src, lengths, tgt_in)
    state = model.encode(src, lengths)
    for t in range(tgt_in.shape[1]):
        step_logits, state, weights = model.decode_step(tgt_in[:, t], state)
        torch.testing.assert_close(step_logits, logits[:, t], rtol=0, atol=1e-12)
        if attn is not None:
            torch.testing.assert_close(weights, attn[:, t], rtol=0, atol=1e-12)


@pytest.mark.parametrize("attention", seq2seq.ATTENTION_KINDS)
def test_translate_with_a_full_beam_on_short_outputs_matches_brute_force(attention):
    torch.manual_seed(3)
    model = Seq2Seq(6, 4, emb_size=5, hidden_size=8, attention=attention).double().eval()
    src = torch.tensor([[3, 4, 5, 1]])
    max_len = 4
    # brute force over outputs built from the one non-special token 3 (ids 0, 1 are pad and bos,
    # which the model may still emit; enumerate every id except bos after the start)
    best = {}
    with torch.no_grad():
        state0 = model.encode(src)
    for length in range(1, max_len + 1):
        for seq in itertools.product(range(4), repeat=length):
            if 2 in seq[:-1] or (seq[-1] != 2 and length < max_len):
                continue
            state, y, total = state0, torch.tensor([1]), 0.0
            for tok in seq:
                with torch.no_grad():
                    logits, state, _ = model.decode_step(y, state)
                total += float(torch.log_softmax(logits, -1)[0, tok])
                y = torch.tensor([tok])
            best[seq] = total
    ranked = sorted(best.items(), key=lambda kv: -kv[1])
    got = model.translate(src, beam=len(ranked), max_len=max_len)
    expect = [(list(s[:-1]) if s[-1] == 2 else list(s), sc) for s, sc in ranked]
    assert [g[0] for g in got[:5]] == [e[0] for e in expect[:5]]
    np.testing.assert_allclose([g[1] for g in got], [e[1] for e in expect], atol=1e-10)
    greedy_tokens, _ = model.greedy(src, max_len=max_len)
    assert greedy_tokens[0] == model.translate(src, beam=1, max_len=max_len)[0][0]


def test_additive_score_gradients_match_finite_differences_in_float64():
    g = torch.Generator().manual_seed(0)
    B, S, H, A = 2, 5, 4, 3
    query = torch.randn(B, H, generator=g, dtype=torch.float64, requires_grad=True)
    keys = torch.randn(B, S, A, generator=g, dtype=torch.float64, requires_grad=True)
    W_q = torch.randn(A, H, generator=g, dtype=torch.float64, requires_grad=True)
    v = torch.randn(A, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(seq2seq.additive_scores, (query, keys, W_q, v), eps=1e-6, atol=1e-8)
    # and against the formula written out element by element
    e = seq2seq.additive_scores(query, keys, W_q, v)
    manual = torch.stack([torch.stack([v @ torch.tanh(W_q @ query[b] + keys[b, i]) for i in range(S)])
                          for b in range(B)])
    torch.testing.assert_close(e, manual, rtol=0, atol=1e-12)


@pytest.mark.parametrize("attention", seq2seq.ATTENTION_KINDS)
def test_loss_gradient_of_the_whole_model_matches_finite_differences(attention):
    """Centred differences (float64, h = 1e-6) on 3 random entries of every parameter tensor."""
    torch.manual_seed(1)
    model = Seq2Seq(5, 5, emb_size=3, hidden_size=4, attention=attention).double()
    src, lengths, tgt_in, tgt_out = seq2seq.make_batch([[3, 4, 1], [2]], [[3, 4], [4]])

    def loss():
        return seq2seq.sequence_loss(model(src, lengths, tgt_in)[0], tgt_out)

    loss().backward()
    # without attention the memory projection is unused: the bottleneck is the summary alone
    unused = {"encoder.to_memory.weight", "encoder.to_memory.bias"} if attention == "none" else set()
    rng = np.random.default_rng(0)
    h = 1e-6
    with torch.no_grad():
        for name, p in model.named_parameters():
            assert (p.grad is None) == (name in unused), name
            if p.grad is None:
                continue
            for flat in rng.choice(p.numel(), size=min(3, p.numel()), replace=False):
                idx = np.unravel_index(flat, p.shape)
                old = p[idx].item()
                p[idx] = old + h
                up = loss().item()
                p[idx] = old - h
                down = loss().item()
                p[idx] = old
                assert p.grad[idx].item() == pytest.approx((up - down) / (2 * h), abs=1e-7), name
            assert torch.isfinite(p.grad).all()
        assert sum(float(p.grad.abs().sum()) for p in model.parameters() if p.grad is not None) > 0


def test_loss_at_initialisation_is_near_log_vocabulary_and_training_drives_it_down():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    sources = [list(rng.integers(3, 10, rng.integers(2, 6))) for _ in range(16)]
    targets = [s[::-1] for s in sources]  # reverse the sequence
    model = Seq2Seq(10, 10, emb_size=16, hidden_size=32, attention="additive")
    batch = seq2seq.make_batch(sources, targets)
    with torch.no_grad():
        start = float(seq2seq.sequence_loss(model(*batch[:3])[0], batch[3]))
    assert abs(start - math.log(10)) < 0.3
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(120):
        loss = seq2seq.train_epoch(model, [batch], opt)
    assert loss < 0.05
    preds, _ = model.eval().greedy(batch[0], batch[1], max_len=8)
    assert seq2seq.exact_match(preds, targets) == 1.0


def _reverse_task():
    rng = np.random.default_rng(0)
    sources = [list(rng.integers(3, 10, rng.integers(2, 6))) for _ in range(64)]
    targets = [s[::-1] for s in sources]
    test = seq2seq.make_batch(sources[:16], targets[:16])

    def sample(r):
        idx = r.integers(len(sources), size=16)
        return seq2seq.make_batch([sources[i] for i in idx], [targets[i] for i in idx])

    def evaluate(model):
        model.eval()
        preds, _ = model.greedy(test[0], test[1], max_len=8)
        model.train()
        return seq2seq.exact_match(preds, targets[:16])

    return sample, evaluate


def test_train_steps_reports_every_few_steps_stops_at_the_target_and_repeats_exactly():
    sample, evaluate = _reverse_task()
    curves, weights = [], []
    for _ in range(2):
        torch.manual_seed(0)
        model = Seq2Seq(10, 10, emb_size=16, hidden_size=32, attention="additive")
        curves.append(seq2seq.train_steps(model, sample, 400, evaluate, every=20, stop_at=1.0,
                                          lr=1e-2))
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    curve = curves[0]
    assert curves[0] == curves[1] and torch.equal(weights[0], weights[1])
    steps = [s for s, _ in curve]
    assert steps == list(range(20, 20 * len(curve) + 1, 20))
    assert curve[-1][1] == 1.0 and all(score < 1.0 for _, score in curve[:-1])
    assert steps[-1] < 400  # stopped early
    torch.manual_seed(0)
    model = Seq2Seq(10, 10, emb_size=16, hidden_size=32, attention="additive")
    short = seq2seq.train_steps(model, sample, 30, evaluate, every=20)
    assert [s for s, _ in short] == [20, 30]  # the last step is always scored
    for steps, every in ((0, 25), (10, 0)):
        with pytest.raises(ValueError, match="positive"):
            seq2seq.train_steps(model, sample, steps, evaluate, every=every)


@pytest.mark.parametrize("enc", ["strip", "image"])
def test_image_encoders_plug_into_the_same_decoder(enc):
    torch.manual_seed(0)
    if enc == "strip":
        encoder, src = seq2seq.StripEncoder(8, 12), torch.rand(3, 8, 30)
        S = 30 // 2 + 1  # stride 2; position j is centred on column 2 j
    else:
        encoder, src = seq2seq.ImageEncoder(3, 12), torch.rand(3, 3, 24, 32)
        S = 6 * 8
    model = Seq2Seq(None, 7, emb_size=5, hidden_size=12, attention="general", encoder=encoder)
    logits, attn = model(src, None, torch.ones(3, 4, dtype=torch.long))
    assert logits.shape == (3, 4, 7) and attn.shape == (3, 4, S)
    assert len(model.translate(src[:1], beam=3, max_len=5)) == 3


@pytest.mark.parametrize("kwargs, word", [
    (dict(attention="multiplicative"), "attention"), (dict(cell="rnn"), "cell"),
    (dict(bos=0), "distinct"), (dict(eos=99), "tgt_vocab_size")])
def test_seq2seq_rejects_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        Seq2Seq(5, 6, **kwargs)


def test_make_batch_pads_and_shifts_targets():
    src, lengths, tgt_in, tgt_out = seq2seq.make_batch([[5, 6, 7], [8]], [[3], [4, 5]])
    assert src.tolist() == [[5, 6, 7], [8, 0, 0]] and lengths.tolist() == [3, 1]
    assert tgt_in.tolist() == [[1, 3, 0], [1, 4, 5]]
    assert tgt_out.tolist() == [[3, 2, 0], [4, 5, 2]]
