"""rnnbook.race: the rulers of chapter 14 (sliding windows over a whole text)."""
import pytest
import torch

from rnnbook import race
from rnnbook.transformer import TransformerLM


def _nll_one_by_one(model, ids, context, stride=1):
    """Each id t predicted in its own forward pass from the ids of the window that scores it:
    windows of `context` inputs end at context, context + stride, ... (the last at the text's
    end) and each scores the targets up to its end that no earlier window scored."""
    total, n = 0.0, len(ids)
    length = min(context, n - 1)
    ends = list(range(length, n - 1, stride)) + [n - 1]
    for t in range(1, n):
        end = next(e for e in ends if e >= t)
        past = ids[end - length:t][None]
        logits = race.logits_of(model, past)[0, -1]
        total -= torch.log_softmax(logits.double(), -1)[ids[t]].item()
    return total / (len(ids) - 1)


@pytest.mark.parametrize("n, context, stride", [(40, 8, 8), (41, 8, 3), (23, 6, 1), (9, 16, 4)])
def test_sliding_nll_scores_every_id_once_with_the_promised_context(n, context, stride):
    torch.manual_seed(n)
    model = TransformerLM(7, dim=16, layers=1, heads=2, max_len=32).double()
    ids = torch.randint(0, 7, (n,))
    got = race.sliding_nll(model, ids, context, stride, batch=3)
    assert got == pytest.approx(_nll_one_by_one(model, ids, context, stride), abs=1e-10)
    # a stride of 1 gives every prediction its full context
    if stride == 1:
        assert got == pytest.approx(_nll_one_by_one(model, ids, context), abs=1e-10)
    # a model that sees one id of context scores the same whatever the windows
    unigram = TransformerLM(7, dim=16, layers=1, heads=2, max_len=32).double()
    assert race.sliding_nll(unigram, ids, 1, 1) == pytest.approx(_nll_one_by_one(unigram, ids, 1), abs=1e-10)


def test_sliding_nll_rejects_a_stride_longer_than_the_context():
    model = TransformerLM(7, dim=16, layers=1, heads=2, max_len=32)
    with pytest.raises(ValueError, match="stride"):
        race.sliding_nll(model, torch.zeros(20, dtype=torch.long), 4, 5)


def test_a_missing_shipped_newcomer_says_how_to_train_it(tmp_path):
    from rnnbook import newcomers

    with pytest.raises(FileNotFoundError, match="python -m rnnbook.newcomers train"):
        newcomers.load_pretrained("transformer", "cpu", tmp_path / "none.pt")
    with pytest.raises(ValueError, match="kind must be one of"):
        newcomers.load_pretrained("lstm")


def test_a_newcomer_file_loads_back_with_its_log_and_scores_as_the_live_model(tmp_path):
    from rnnbook import newcomers
    from rnnbook.checkpoint import export_model

    torch.manual_seed(0)
    model = TransformerLM(9, dim=16, layers=1, heads=2, max_len=12).eval()
    export_model(tmp_path / "tf.pt", model, model.config, {"step": 7, "val_log": []})
    back = newcomers.load_pretrained("transformer", "cpu", tmp_path / "tf.pt")
    ids = torch.randint(0, 9, (50,))
    assert back.meta["step"] == 7 and newcomers.context_of(back) == 12
    assert newcomers.evaluate(back, ids) == pytest.approx(race.sliding_nll(model, ids, 12, 6), abs=1e-6)
