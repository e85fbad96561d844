"""The label-conditioned character LSTM of chapter 13 (rnnbook.condlm)."""
import numpy as np
import pytest
import torch

from rnnbook import condlm


def test_normalise_folds_accents_and_cp1252_punctuation_and_keeps_only_the_alphabet():
    assert condlm.normalise("Amélie \x96 a café\x85 ½ Æon ~{}") == "amelie - a cafe... 1/2 aeon "
    assert set(condlm.normalise("".join(map(chr, range(32, 0x2000))))) <= set(condlm.ALPHABET)
    assert condlm.BOS not in condlm.ALPHABET and condlm.EOS not in condlm.ALPHABET


def test_rotten_tomatoes_has_8530_balanced_sentences_and_a_disjoint_fixed_split():
    texts, labels = condlm.rotten_tomatoes()
    assert len(texts) == 8530 and np.bincount(labels).tolist() == [4265, 4265]
    assert all(set(t) <= set(condlm.ALPHABET) and t for t in texts)
    split = condlm.split_sentences(len(texts))
    parts = [set(v.tolist()) for v in split.values()]
    assert sum(map(len, parts)) == len(texts) == len(set().union(*parts))
    again = condlm.split_sentences(len(texts))
    assert all(np.array_equal(split[k], again[k]) for k in split)


def test_condition_inputs_puts_the_condition_after_the_input_at_every_step():
    rng = np.random.default_rng()
    T, B, E, C = (int(v) for v in rng.integers(1, 7, size=4))
    x, c = torch.randn(T, B, E, dtype=torch.float64), torch.randn(B, C, dtype=torch.float64)
    got = condlm.condition_inputs(x, c)
    for t in range(T):
        for b in range(B):
            assert torch.equal(got[t, b], torch.cat([x[t, b], c[b]]))
    with pytest.raises(ValueError, match="same B"):
        condlm.condition_inputs(x, torch.randn(B + 1, C))


def _model(seed=0, hidden=16):
    torch.manual_seed(seed)
    return condlm.CondCharLM(hidden=hidden, embed=8, cond_embed=3).double().eval()


def test_sentence_nll_of_a_padded_batch_equals_scoring_each_sentence_step_by_step():
    model = _model(int(np.random.default_rng().integers(1000)))
    texts = ["a good film .", "bad", "the plot , such as it is , drags on and on"]
    conds = np.array([1, 0, 1])
    tot, cnt = model.sentence_nll(texts, conds, batch=2)
    for text, k, got, n in zip(texts, conds, tot, cnt):
        ids = model.encode(text)
        state, want = None, 0.0
        with torch.no_grad():
            for a, b in zip(ids[:-1], ids[1:]):
                logits, state = model(torch.tensor([[a]]), torch.tensor([int(k)]), state)
                want -= float(torch.log_softmax(logits[0, 0], -1)[b])
        assert n == len(text) + 1
        assert got == pytest.approx(want, rel=1e-10)


def test_the_condition_changes_the_predictions_and_sampling_is_reproducible():
    model = _model(1)
    a, _ = model.sentence_nll(["a fine film ."], 0)
    b, _ = model.sentence_nll(["a fine film ."], 1)
    assert abs(a[0] - b[0]) > 1e-6
    s1 = model.sample(1, n=3, temperature=0.8, max_len=30, seed=5)
    assert s1 == model.sample(1, n=3, temperature=0.8, max_len=30, seed=5)
    assert all(len(s) <= 30 and set(s) <= set(condlm.ALPHABET) for s in s1)
    with pytest.raises(ValueError, match="cond"):
        model.sample(2)
    with pytest.raises(ValueError, match="alphabet"):
        model.encode("Ünïcode")


def test_a_resumed_training_run_takes_exactly_the_steps_of_an_uninterrupted_one(tmp_path):
    texts, labels = condlm.rotten_tomatoes()
    tr, va = texts[:64], texts[64:80]
    ltr, lva = labels[:64], labels[64:80]
    cfg = condlm.TrainConfig(hidden=16, embed=8, cond_embed=3, batch=16, eval_every=3)
    quiet = lambda s: None  # noqa: E731
    whole, _ = condlm.train(cfg, tr, ltr, va, lva, tmp_path / "a.pt", max_steps=8, log=quiet)
    condlm.train(cfg, tr, ltr, va, lva, tmp_path / "b.pt", max_steps=5, log=quiet)
    resumed, extra = condlm.train(cfg, tr, ltr, va, lva, tmp_path / "b.pt",
                                  tmp_path / "b_small.pt", max_steps=8, resume=True, log=quiet)
    for k, v in whole.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    assert extra["epoch"] == 1  # 8 steps of 16 over 64 sentences: the second epoch
    small = condlm.from_file(tmp_path / "b_small.pt")
    assert small.config == resumed.config
    with pytest.raises(FileExistsError):
        condlm.train(cfg, tr, ltr, va, lva, tmp_path / "b.pt", max_steps=9, log=quiet)


def test_shipped_model_loads_and_prefers_the_right_condition_on_held_out_sentences():
    if not condlm.PRETRAINED.exists():
        pytest.skip("data/condlm_rt.pt not trained yet")
    model = condlm.load_pretrained("cpu")
    texts, labels = condlm.rotten_tomatoes()
    test = condlm.split_sentences(len(texts))["test"][:300]
    t, y = [texts[i] for i in test], labels[test]
    nll = np.stack([model.sentence_nll(t, k)[0] for k in (0, 1)])
    assert np.mean(nll.argmin(axis=0) == y) > 0.55
