"""Sentiment (chapter 11): the fixed split, tf-idf against scikit-learn, packed batches, resumption."""
import numpy as np
import pytest
import torch

from rnnbook import sentiment

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def fresh_rng() -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence().entropy)


WORDS = [f"w{i}" for i in range(30)]


def random_docs(rng, n, max_len=12):
    return [list(rng.choice(WORDS[: int(rng.integers(5, 30))], size=int(rng.integers(0, max_len))))
            for _ in range(n)]


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("pool", ["max", "mean", "last"])
def test_a_padded_packed_batch_gives_each_review_what_it_gets_alone(cell, pool):
    rng = fresh_rng()
    torch.manual_seed(int(rng.integers(2**31)))
    vocab = sentiment.build_vocab([WORDS], 32)
    model = sentiment.SentimentRNN(vocab, embed=6, hidden=5, cell=cell, pool=pool).double().eval()
    seqs = [rng.integers(1, len(vocab), size=int(n)) for n in rng.integers(1, 15, size=7)]
    ids, lengths = sentiment.pad_batch(seqs)
    ids[ids == 0] = 0
    with torch.no_grad():
        batched = model(ids, lengths)
        # garbage in the padding must not leak either
        noisy = ids.clone()
        noisy[torch.arange(ids.shape[1])[None, :] >= lengths[:, None]] = 3
        batched_noisy = model(noisy, lengths)
        alone = torch.stack([model(torch.as_tensor(s)[None], torch.tensor([len(s)]))[0] for s in seqs])
    np.testing.assert_allclose(batched.numpy(), alone.numpy(), atol=1e-6, rtol=0)
    np.testing.assert_allclose(batched_noisy.numpy(), alone.numpy(), atol=1e-6, rtol=0)
    assert alone.std() > 1e-4  # outputs differ between reviews: the comparison is not vacuous


def test_ngram_tfidf_equals_scikit_learn_up_to_column_order():
    from sklearn.feature_extraction.text import TfidfVectorizer
    rng = fresh_rng()
    train, test = random_docs(rng, 40), random_docs(rng, 15)
    test[0] = ["never", "seen"] + test[0]  # unseen words make no n-gram
    min_df = int(rng.integers(1, 4))
    mine = sentiment.NgramTfidf(min_df).fit(train)
    vec = TfidfVectorizer(tokenizer=str.split, token_pattern=None, lowercase=False,
                          ngram_range=(1, 2), min_df=min_df, sublinear_tf=True)
    vec.fit([" ".join(d) for d in train])
    names = mine.feature_names()
    assert sorted(names) == sorted(vec.get_feature_names_out().tolist())
    order = [vec.vocabulary_[n] for n in names]
    for docs in (train, test):
        ref = vec.transform([" ".join(d) for d in docs]).toarray()[:, order]
        np.testing.assert_allclose(mine.transform(docs).toarray(), ref, atol=1e-12, rtol=0)
    np.testing.assert_allclose(sentiment.NgramTfidf(min_df).fit_transform(train).toarray(),
                               mine.transform(train).toarray(), atol=1e-15)


def test_masked_mean_and_length_buckets_match_plain_loops():
    rng = fresh_rng()
    lengths = rng.integers(1, 9, size=6)
    x = rng.normal(size=(6, 10, 3))
    ref = np.stack([x[b, :n].mean(0) for b, n in enumerate(lengths)])
    got = sentiment.masked_mean(torch.as_tensor(x), torch.as_tensor(lengths)).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-12)
    correct, n = rng.random(50) < 0.6, rng.integers(0, 100, size=50)
    edges = [0, 10, 40, 41, 100]
    acc, count = sentiment.accuracy_by_length(correct, n, edges)
    for k in range(4):
        inside = (n >= edges[k]) & (n < edges[k + 1])
        assert count[k] == inside.sum()
        assert (np.isnan(acc[k]) and not inside.any()) or acc[k] == pytest.approx(correct[inside].mean())


def test_encode_keeps_the_first_or_last_tokens_and_marks_unknown_words():
    index = {w: i + 2 for i, w in enumerate("abcde")}
    toks = list("abczde")
    assert sentiment.encode(toks, index).tolist() == [2, 3, 4, 1, 5, 6]
    assert sentiment.encode(toks, index, 2, "first").tolist() == [2, 3]
    assert sentiment.encode(toks, index, 2, "last").tolist() == [5, 6]
    assert sentiment.encode([], index).tolist() == [1]
    with pytest.raises(ValueError, match="keep"):
        sentiment.encode(toks, index, 2, "middle")


def test_length_batches_cover_every_review_once_with_little_padding():
    rng = fresh_rng()
    lengths = rng.integers(1, 500, size=1000)
    batches = sentiment.length_batches(lengths, 32, np.random.default_rng(0))
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches])
    assert spread < 30  # random batches would spread over ~480 tokens


def test_tokenizer_strips_imdb_line_breaks_and_keeps_negations():
    assert sentiment.tokenize("Great!<br /><br />I didn't LIKE it.") == ["great", "i", "didn't", "like", "it"]


def test_the_split_is_by_review_fixed_and_balanced():
    assert sentiment.split_of("a review") == sentiment.split_of("a review")
    for source, sizes in (("imdb", (19944, 2533, 2523)), ("rt", (6799, 873, 858))):
        data = sentiment.load_reviews(source)
        assert tuple(len(data[s]) for s in sentiment.SPLITS) == sizes
        texts = [set(data[s].texts) for s in sentiment.SPLITS]
        assert not (texts[0] & texts[1]) and not (texts[0] & texts[2]) and not (texts[1] & texts[2])
        for s in sentiment.SPLITS:
            assert 0.45 < data[s].labels.mean() < 0.55
    with pytest.raises(ValueError, match="source"):
        sentiment.load_reviews("yelp")


def tiny_data(rng):
    def part(n):
        toks = random_docs(rng, n, 20)
        labels = np.array([int(sum(w in ("w1", "w2") for w in t) > 1) for t in toks])
        return sentiment.Reviews([" ".join(t) for t in toks], toks, labels)
    return {"train": part(96), "validation": part(20), "test": part(20)}


def test_a_resumed_run_takes_exactly_the_steps_of_an_unbroken_one(tmp_path):
    rng = fresh_rng()
    data = tiny_data(rng)
    cfg = sentiment.TrainConfig(vocab_size=40, embed=4, hidden=3, batch=16, eval_every=3,
                                dropout=0.2, seed=int(rng.integers(1000)))
    quiet = dict(log=lambda s: None, device="cpu")
    sentiment.train(cfg, data, tmp_path / "a.pt", tmp_path / "a_out.pt", max_steps=10, **quiet)
    sentiment.train(cfg, data, tmp_path / "b.pt", tmp_path / "b_out.pt", max_steps=4, **quiet)
    sentiment.train(cfg, data, tmp_path / "b.pt", tmp_path / "b_out.pt", max_steps=10, resume=True, **quiet)
    a = torch.load(tmp_path / "a.pt", weights_only=False)
    b = torch.load(tmp_path / "b.pt", weights_only=False)
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert a["extra"]["val_log"] == [dict(v, wall_s=w["wall_s"], cpu_s=w["cpu_s"])
                                     for v, w in zip(b["extra"]["val_log"], a["extra"]["val_log"])]
    model = sentiment.from_file(tmp_path / "b_out.pt")
    assert model.meta["shipped_step"] in (3, 6, 9)
    with pytest.raises(FileExistsError):
        sentiment.train(cfg, data, tmp_path / "b.pt", max_steps=1, **quiet)


def test_fused_adam_takes_the_default_adams_steps_up_to_rounding():
    rng = fresh_rng()
    data = tiny_data(rng)
    seed = int(rng.integers(1000))
    runs = {}
    for fused in (False, True):
        cfg = sentiment.TrainConfig(vocab_size=40, embed=4, hidden=3, batch=16, eval_every=5,
                                    dropout=0.0, seed=seed, fused_adam=fused)
        model, info = sentiment.train(cfg, data, max_steps=10, log=lambda s: None, device="cpu")
        runs[fused] = model.state_dict()
        assert info["config"]["fused_adam"] is fused
    for k, w in runs[False].items():
        torch.testing.assert_close(runs[True][k], w, atol=1e-5, rtol=1e-5)


def test_the_bag_of_words_dual_solver_finds_the_primal_optimum():
    from sklearn.linear_model import LogisticRegression
    rng = fresh_rng()
    docs = random_docs(rng, 60, 20)
    labels = np.array([int(sum(w in ("w1", "w2", "w3") for w in d) > 1) for d in docs])
    bow = sentiment.bag_of_words(docs, labels, C=4.0, min_df=1)
    X = bow.tfidf.transform(docs)
    assert X.shape[1] > X.shape[0] and bow.classifier.dual  # the case it is chosen for
    primal = LogisticRegression(C=4.0, solver="liblinear", tol=1e-10, max_iter=10_000).fit(X, labels)
    np.testing.assert_allclose(bow.predict_proba(docs), primal.predict_proba(X)[:, 1], atol=1e-3)


def test_embeddings_from_pretrained_vectors_are_copied_row_by_row():
    from rnnbook.word2vec import Embeddings
    rng = fresh_rng()
    vecs = Embeddings(WORDS[:10], rng.normal(size=(10, 4)).astype(np.float32))
    model = sentiment.SentimentRNN(sentiment.build_vocab([WORDS[5:15]], 12), embed=4, hidden=2)
    coverage = sentiment.init_embeddings(model, vecs)
    assert coverage == pytest.approx(sum(w in vecs for w in model.vocab[2:]) / 10)
    for i, w in enumerate(model.vocab):
        if w in vecs:
            np.testing.assert_array_equal(model.embed.weight[i].detach().numpy(), vecs.vectors[vecs.index(w)])
    assert 0 < coverage < 1
    with pytest.raises(ValueError, match="dimension"):
        sentiment.init_embeddings(sentiment.SentimentRNN(model.vocab, embed=3, hidden=2), vecs)


def test_helpers_reject_bad_arguments_with_clear_errors():
    with pytest.raises(ValueError, match="vocab"):
        sentiment.SentimentRNN(["a", "b", "c"])
    with pytest.raises(ValueError, match="pool"):
        sentiment.SentimentRNN(sentiment.build_vocab([["a"]], 5), pool="sum")
    with pytest.raises(ValueError, match="edges"):
        sentiment.accuracy_by_length([1], [3], [5, 2])
    with pytest.raises(ValueError, match="equal length"):
        sentiment.accuracy_by_length([1, 0], [3], [0, 5])
    with pytest.raises(ValueError, match="batch"):
        sentiment.length_batches(np.array([3, 4, 5]), 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="at least one"):
        sentiment.pad_batch([np.array([1]), np.array([], dtype=np.int64)])


@pytest.mark.skipif(not sentiment.PRETRAINED.exists(), reason="no shipped model yet")
def test_the_shipped_model_is_small_and_far_better_than_chance():
    assert sentiment.PRETRAINED.stat().st_size <= 5 * 2**20
    model = sentiment.load_pretrained(device="cpu")
    test = sentiment.load_reviews("imdb")["test"]
    p = model.predict_proba(test.tokens[::8], max_len=400)  # the CSV is sorted by label
    assert np.mean((p >= 0.5) == test.labels[::8]) > 0.8
