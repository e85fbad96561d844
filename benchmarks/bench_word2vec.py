"""Words per second and analogy accuracy: rnnbook.word2vec against gensim Word2Vec(workers=1).

Both train on the chapter 8 corpus (rnnbook.corpora, about ten million tokens) with the same settings
(skip-gram, dim 100, window 5, 5 negatives, min_count 5, sample 1e-3, 5 epochs, alpha 0.025,
one thread), in one process, epochs alternating between the two so that both see the same
machine load. Speed = corpus words x epochs / training time (vocabulary building timed apart).
Both are then scored with gensim's own evaluation on questions-words.txt and WordSim-353,
restricted to the 30,000 most frequent words.

    .venv/bin/python benchmarks/bench_word2vec.py --out data/word2vec_benchmark.json \
        --save-ours /tmp/w2v.npz --state /tmp/w2v_bench

`--save-ours` writes rnnbook's vectors exactly as `python -m rnnbook.word2vec train` does (the
trainer is deterministic, so they are the shipped file's bytes). `--state DIR` saves both models
and the times after every epoch; the same command resumes from there. A quick check that the
script still runs: `--sources bbc --limit 20000 --epochs 1` (a few seconds).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections import Counter
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread each: BLAS in gensim too


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; returns (and writes to --out) the results."""
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="data/word2vec_benchmark.json")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--save-ours", help="also save our vectors (40k words, float16) here")
    p.add_argument("--limit", type=int, default=None, help="first N tokens only (a quick check)")
    p.add_argument("--sources", default=None,
                   help="comma-separated corpus sources (default: all of rnnbook.corpora.SOURCES)")
    p.add_argument("--state", default=None,
                   help="folder for both models and the times after each epoch (resumable)")
    p.add_argument("--stop-after", type=int, default=None,
                   help="stop after this many epochs, without scoring (resume with --state)")
    a = p.parse_args(argv)

    import gensim
    from gensim.models import Word2Vec

    from rnnbook import word2vec as w2v
    from rnnbook.corpora import SOURCES, load_corpus

    settings = dict(vector_size=100, window=5, negative=5, min_count=5, sample=1e-3,
                    epochs=a.epochs, alpha=0.025, seed=0)
    sources = SOURCES if a.sources is None else tuple(a.sources.split(","))
    corpus = load_corpus(sources)
    sentences = list(corpus.sentences(limit=a.limit))
    n_words = sum(len(s) for s in sentences)
    print(f"corpus: {n_words:,} words in {len(sentences):,} sentences", flush=True)
    results: dict = {"corpus_words": n_words, "settings": settings, "threads": 1,
                     "sources": list(sources), "limit": a.limit,
                     "machine": f"{platform.processor() or platform.machine()}, "
                                f"{os.cpu_count()} cores (shared)",
                     "gensim_version": gensim.__version__}

    t = time.perf_counter()
    vocab = w2v.build_vocabulary(Counter(t for s in sentences for t in s),
                                 settings["min_count"], settings["sample"])
    ids, bounds = w2v.encode(sentences, vocab)
    prep_ours = time.perf_counter() - t
    w2v.train_arrays(ids[:2000], np.array([0, min(2000, len(ids))]), vocab, epochs=1)  # compile
    model = Word2Vec(vector_size=100, window=5, negative=5, min_count=5, sample=1e-3, sg=1,
                     epochs=a.epochs, alpha=0.025, min_alpha=1e-4, seed=0, workers=1)
    t = time.perf_counter()
    model.build_vocab(sentences)
    prep_gensim = time.perf_counter() - t
    times = {"ours": 0.0, "gensim": 0.0, "epochs_done": 0}
    st = None
    state = Path(a.state) if a.state else None
    if state is not None and (state / "times.json").exists():
        times = json.loads((state / "times.json").read_text())
        st = w2v.Word2VecState.load(state / "ours.npz")
        model = Word2Vec.load(str(state / "gensim.model"))
        print(f"resuming after epoch {times['epochs_done']}", flush=True)

    # Epochs alternate between the two trainers, so that both see the same machine load.
    alphas = np.linspace(0.025, 1e-4, a.epochs + 1)
    for e in range(times["epochs_done"] + 1, a.epochs + 1):
        t = time.perf_counter()
        st = w2v.train_arrays(ids, bounds, vocab, settings["vector_size"], settings["window"],
                              settings["negative"], settings["epochs"], settings["alpha"], 1e-4,
                              settings["seed"], True, state=st, compute_loss=False, stop_after=e)
        times["ours"] += time.perf_counter() - t
        t = time.perf_counter()
        model.train(sentences, total_examples=len(sentences), epochs=1,
                    start_alpha=alphas[e - 1], end_alpha=alphas[e])
        times["gensim"] += time.perf_counter() - t
        times["epochs_done"] = e
        if state is not None:
            state.mkdir(parents=True, exist_ok=True)
            st.save(state / "ours.npz")
            model.save(str(state / "gensim.model"))
            (state / "times.json").write_text(json.dumps(times))  # last: marks the epoch done
        print(f"epoch {e}: rnnbook {n_words * e / times['ours']:,.0f} words/s, "
              f"gensim {n_words * e / times['gensim']:,.0f} words/s", flush=True)
        if a.stop_after is not None and e >= a.stop_after and e < a.epochs:
            print(f"stopped after epoch {e}; the same command resumes from {state}")
            return {"epochs_done": e}
    ours = w2v.Embeddings(vocab.words, st.W_in)
    theirs = w2v.Embeddings(list(model.wv.index_to_key), model.wv.vectors)
    if a.save_ours:
        ours.restrict(40_000).save(a.save_ours)

    for name, emb, train_s, prep_s in (("rnnbook", ours, times["ours"], prep_ours),
                                       ("gensim", theirs, times["gensim"], prep_gensim)):
        scores = w2v.evaluate(emb)
        scores.update(train_seconds=round(train_s, 1), vocab_seconds=round(prep_s, 1),
                      words_per_second=round(n_words * a.epochs / train_s), vocab_size=len(emb))
        results[name] = scores
        print(name, json.dumps(scores), flush=True)
    results["speed_ratio"] = results["rnnbook"]["words_per_second"] / results["gensim"]["words_per_second"]
    with open(a.out, "w") as f:
        json.dump(results, f, indent=2)
    print(f"speed ratio rnnbook/gensim = {results['speed_ratio']:.2f}; wrote {a.out}")
    return results


if __name__ == "__main__":
    main()
