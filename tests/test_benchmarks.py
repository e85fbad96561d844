"""The word2vec benchmark script still runs, resumes exactly, and saves the trainer's own vectors.

Chapter 8 quotes the shipped benchmark (data/word2vec_benchmark.json); these smoke runs on a
tiny slice of the corpus check that the command which regenerates it still works.
"""
import importlib.util
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from rnnbook import corpora, word2vec

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_word2vec.py"
SMOKE = ["--sources", "bbc", "--limit", "20000", "--epochs", "2"]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_word2vec", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def unbroken(bench, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    results = bench.main(SMOKE + ["--out", str(out / "b.json"), "--save-ours", str(out / "v.npz")])
    return out, results


def test_a_smoke_run_writes_every_number_chapter_8_reads(unbroken):
    out, results = unbroken
    stored = json.loads((out / "b.json").read_text())
    assert stored["corpus_words"] == 20_000 and stored["settings"]["epochs"] == 2
    for name in ("rnnbook", "gensim"):
        for key in ("words_per_second", "analogy_accuracy", "analogy_answered",
                    "wordsim_spearman", "train_seconds"):
            assert np.isfinite(stored[name][key]), (name, key)
        assert stored[name]["words_per_second"] > 0
    assert stored["rnnbook"]["vocab_size"] == stored["gensim"]["vocab_size"]  # same min_count
    assert stored["speed_ratio"] == pytest.approx(
        stored["rnnbook"]["words_per_second"] / stored["gensim"]["words_per_second"])


def test_a_run_stopped_and_resumed_saves_the_same_vectors(bench, unbroken, tmp_path):
    out, _ = unbroken
    args = SMOKE + ["--out", str(tmp_path / "b.json"), "--save-ours", str(tmp_path / "v.npz"),
                    "--state", str(tmp_path / "state")]
    assert bench.main(args + ["--stop-after", "1"]) == {"epochs_done": 1}
    assert not (tmp_path / "v.npz").exists()
    bench.main(args)
    assert (tmp_path / "v.npz").read_bytes() == (out / "v.npz").read_bytes()


def test_the_benchmarks_vectors_are_the_trainers_own(unbroken):
    out, _ = unbroken
    sentences = list(corpora.load_corpus(("bbc",)).sentences(limit=20_000))
    vocab = word2vec.build_vocabulary(Counter(t for s in sentences for t in s), 5, 1e-3)
    ids, bounds = word2vec.encode(sentences, vocab)
    st = word2vec.train_arrays(ids, bounds, vocab, epochs=2, seed=0)  # the CLI's call
    saved = word2vec.Embeddings.load(out / "v.npz")
    assert saved.words == vocab.words
    assert np.array_equal(saved.vectors, st.W_in.astype(np.float16).astype(np.float32))


def test_the_shipped_benchmark_ran_on_todays_corpus_with_the_shipped_settings():
    # chapter 8 glues the corpus size from the shipped JSON: it must be the corpus's own
    shipped = json.loads((SCRIPT.parents[1] / "data" / "word2vec_benchmark.json").read_text())
    assert shipped["corpus_words"] == corpora.load_corpus().n_tokens
    assert shipped["sources"] == list(corpora.SOURCES) and shipped["limit"] is None
    assert shipped["settings"] == dict(vector_size=100, window=5, negative=5, min_count=5,
                                       sample=1e-3, epochs=5, alpha=0.025, seed=0)


def test_the_scan_benchmark_runs_and_writes_its_rows(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "bench_scan", Path(__file__).resolve().parents[1] / "benchmarks" / "bench_scan.py")
    bench_scan = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_scan)
    out = tmp_path / "scan.json"
    rows = bench_scan.main(["--lengths", "16", "100", "--channels", "4", "--repeats", "1",
                            "--out", str(out)])
    assert [r["T"] for r in rows] == [16, 100] and all(r["speedup"] > 0 for r in rows)
    assert json.loads(out.read_text())["rows"] == rows
