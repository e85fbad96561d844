"""Words per second and analogy accuracy: rnnbook.word2vec against gensim Word2Vec(workers=1).

Both train on the chapter 8 corpus (rnnbook.corpora, ~10.8M tokens) with the same settings
(skip-gram, dim 100, window 5, 5 negatives, min_count 5, sample 1e-3, 5 epochs, alpha 0.025,
one thread), in one process, one after the other. Speed = corpus words x epochs / training time
(vocabulary building timed apart). Both are then scored with gensim's own evaluation on
questions-words.txt and WordSim-353, restricted to the 30,000 most frequent words.

    .venv/bin/python benchmarks/bench_word2vec.py --out data/word2vec_benchmark.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections import Counter

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread each: BLAS in gensim too


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="data/word2vec_benchmark.json")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--save-ours", help="also save our vectors (40k words, float16) here")
    p.add_argument("--limit", type=int, default=None, help="first N tokens only (a quick check)")
    a = p.parse_args()

    import gensim
    from gensim.models import Word2Vec

    from rnnbook import word2vec as w2v
    from rnnbook.corpora import load_corpus

    settings = dict(vector_size=100, window=5, negative=5, min_count=5, sample=1e-3,
                    epochs=a.epochs, alpha=0.025, seed=0)
    corpus = load_corpus()
    sentences = list(corpus.sentences(limit=a.limit))
    n_words = sum(len(s) for s in sentences)
    print(f"corpus: {n_words:,} words in {len(sentences):,} sentences", flush=True)
    results: dict = {"corpus_words": n_words, "settings": settings, "threads": 1,
                     "machine": f"{platform.processor() or platform.machine()}, "
                                f"{os.cpu_count()} cores (shared)",
                     "gensim_version": gensim.__version__}

    # Epochs alternate between the two trainers, so that both see the same machine load.
    t = time.perf_counter()
    vocab = w2v.build_vocabulary(Counter(t for s in sentences for t in s),
                                 settings["min_count"], settings["sample"])
    ids, bounds = w2v.encode(sentences, vocab)
    prep_ours = time.perf_counter() - t
    w2v.train_arrays(ids[:2000], np.array([0, 2000]), vocab, epochs=1)  # compile the kernel
    model = Word2Vec(vector_size=100, window=5, negative=5, min_count=5, sample=1e-3, sg=1,
                     epochs=a.epochs, alpha=0.025, min_alpha=1e-4, seed=0, workers=1)
    t = time.perf_counter()
    model.build_vocab(sentences)
    prep_gensim = time.perf_counter() - t
    train_ours = train_gensim = 0.0
    st = None
    alphas = np.linspace(0.025, 1e-4, a.epochs + 1)
    for e in range(1, a.epochs + 1):
        t = time.perf_counter()
        st = w2v.train_arrays(ids, bounds, vocab, settings["vector_size"], settings["window"],
                              settings["negative"], settings["epochs"], settings["alpha"], 1e-4,
                              settings["seed"], True, state=st, compute_loss=False, stop_after=e)
        train_ours += time.perf_counter() - t
        t = time.perf_counter()
        model.train(sentences, total_examples=len(sentences), epochs=1,
                    start_alpha=alphas[e - 1], end_alpha=alphas[e])
        train_gensim += time.perf_counter() - t
        print(f"epoch {e}: rnnbook {n_words * e / train_ours:,.0f} words/s, "
              f"gensim {n_words * e / train_gensim:,.0f} words/s", flush=True)
    ours = w2v.Embeddings(vocab.words, st.W_in)
    theirs = w2v.Embeddings(list(model.wv.index_to_key), model.wv.vectors)
    if a.save_ours:
        ours.restrict(40_000).save(a.save_ours)

    for name, emb, train_s, prep_s in (("rnnbook", ours, train_ours, prep_ours),
                                       ("gensim", theirs, train_gensim, prep_gensim)):
        scores = w2v.evaluate(emb)
        scores.update(train_seconds=round(train_s, 1), vocab_seconds=round(prep_s, 1),
                      words_per_second=round(n_words * a.epochs / train_s), vocab_size=len(emb))
        results[name] = scores
        print(name, json.dumps(scores), flush=True)
    results["speed_ratio"] = results["rnnbook"]["words_per_second"] / results["gensim"]["words_per_second"]
    with open(a.out, "w") as f:
        json.dump(results, f, indent=2)
    print(f"speed ratio rnnbook/gensim = {results['speed_ratio']:.2f}; wrote {a.out}")


if __name__ == "__main__":
    main()
