"""word2vec (Mikolov et al. 2013): skip-gram and CBOW with negative sampling, from scratch.

Two trainers compute the same updates in the same order, drawing from the same random stream:
`train_readable` is plain Python + NumPy, short enough to read in the chapter; `train` runs the
identical algorithm compiled with numba, at gensim's speed. Both follow word2vec/gensim:
frequent words dropped with probability 1 - (sqrt(f/t) + 1) t/f, a window shrunk at random for
each centre word, negatives drawn from unigram^0.75, and a learning rate that falls linearly to
`min_alpha`. Randomness comes from word2vec's own 48-bit linear congruential generator, so the
two trainers (and two runs with the same seed) give the same vectors.

Run `python -m rnnbook.word2vec train --out data/word2vec_sgns_100d.npz` to train the shipped vectors.

This module holds the trainers and their vocabulary with sampling tables. The vectors they give,
and their evaluation, are `rnnbook.vectors` (re-exported here under the old names); the word
order of a vocabulary is `rnnbook.data.Vocab`'s.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import Vocab, encode_sentences
from .packaged import DATA_DIR
from .training import EpochRun, common_flags
from .vectors import (Embeddings, analogy_accuracy, evaluate, gensim_test_file,  # noqa: F401
                      read_analogies, wordsim_spearman)

PRETRAINED = DATA_DIR / "word2vec_sgns_100d.npz"

_MASK48 = (1 << 48) - 1
_MULT = 25214903917
MAX_SENTENCE = 10_000  # gensim's limit on words per sentence


# ---------------------------------------------------------------- the shipped vectors

def load_pretrained(path: str | Path | None = None) -> Embeddings:
    """The skip-gram vectors shipped in data/ (see data/word2vec_card.md for how they were made)."""
    path = Path(path) if path is not None else PRETRAINED
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; train it with `python -m rnnbook.word2vec train`")
    return Embeddings.load(path)


# ---------------------------------------------------------------- vocabulary and noise

@dataclass(frozen=True)
class Vocabulary:
    """Words kept by min_count, their counts, keep probabilities and the unigram^0.75 table.

    Not a `rnnbook.data.Vocab` (whose word order it takes): the compiled kernels need the counts,
    keep probabilities and noise table as arrays aligned with the ids, and a saved training
    state stores exactly these four fields.
    """

    words: list[str]
    counts: np.ndarray      # (V,) int64
    keep_prob: np.ndarray   # (V,) float64, probability of keeping each occurrence
    cum_table: np.ndarray   # (V,) int64, cumulative unigram^0.75 weights scaled to 2^31 - 1


def build_vocabulary(counts: dict[str, int] | Counter, min_count: int = 5, sample: float = 1e-3,
                     power: float = 0.75) -> Vocabulary:
    """Vocabulary sorted by falling count (ties alphabetical), with subsampling and noise tables."""
    if min_count < 1:
        raise ValueError(f"min_count must be at least 1, got {min_count}")
    words = Vocab.from_counts(counts, min_freq=min_count, specials=()).itos
    if not words:
        raise ValueError(f"no word occurs min_count={min_count} times; lower min_count")
    c = np.array([counts[w] for w in words], dtype=np.int64)
    return Vocabulary(words, c, keep_probabilities(c, sample), noise_table(c, power))


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """word2vec's subsampling: keep a word of frequency f with probability (sqrt(f/t) + 1) t / f."""
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0:
        return np.ones_like(counts)
    threshold = sample * counts.sum()
    return np.minimum((np.sqrt(counts / threshold) + 1) * threshold / counts, 1.0)


def noise_table(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """Cumulative unigram^power weights as integers up to 2^31 - 1 (gensim's cum_table)."""
    w = np.asarray(counts, dtype=np.float64) ** power
    return np.round(np.cumsum(w) / w.sum() * (2**31 - 1)).astype(np.int64)


# ---------------------------------------------------------------- the readable trainer

def sigmoid(x):
    """Logistic function 1 / (1 + e^-x)."""
    return 1.0 / (1.0 + np.exp(-x))


def sgns_loss_and_grads(v: np.ndarray, u_pos: np.ndarray, u_neg: np.ndarray):
    """Loss -log s(u_pos.v) - sum_k log s(-u_k.v) of one pair, and its gradients.

    Returns (loss, dL/dv, dL/du_pos, dL/du_neg) with u_neg of shape (K, D).
    """
    a_pos, a_neg = u_pos @ v, u_neg @ v
    s_pos = sigmoid(a_pos)              # probability that the true context is real
    s_neg = sigmoid(a_neg)              # (K,) probabilities that noise words are real
    # -log s(a) = log(1 + e^-a): computed this way, not as -log(1 - s), which loses every digit
    # of 1 - s when s is close to 1 (and made finite-difference checks of this loss flaky)
    loss = np.logaddexp(0.0, -a_pos) + np.logaddexp(0.0, a_neg).sum()
    d_v = (s_pos - 1) * u_pos + s_neg @ u_neg
    return loss, d_v, (s_pos - 1) * v, s_neg[:, None] * v[None, :]


class LCG:
    """word2vec's 48-bit linear congruential generator (shared with the numba kernel)."""

    def __init__(self, seed: int) -> None:
        self.state = seed & _MASK48

    def next(self) -> int:
        self.state = (self.state * _MULT + 11) & _MASK48
        return self.state


def _draw_negative(cum_table: np.ndarray, r: int) -> int:
    return int(np.searchsorted(cum_table, (r >> 16) % int(cum_table[-1]), side="right"))


def train_readable(sentences: Iterable[Sequence[str]], vocab: Vocabulary, vector_size: int = 100,
                   window: int = 5, negative: int = 5, epochs: int = 5, alpha: float = 0.025,
                   min_alpha: float = 1e-4, seed: int = 0, sg: bool = True):
    """Reference SGNS/CBOW trainer in Python + NumPy: slow, meant to be read. Returns (W_in, W_out)."""
    index = {w: i for i, w in enumerate(vocab.words)}
    sents = [[index[t] for t in s if t in index][:MAX_SENTENCE] for s in sentences]
    W_in, W_out = init_weights(len(vocab.words), vector_size, seed)
    rng = LCG(seed + 1)
    total = epochs * sum(len(s) for s in sents)
    done = 0
    for _ in range(epochs):
        for sent in sents:
            lr = np.float32(max(alpha - (alpha - min_alpha) * done / total, min_alpha))
            done += len(sent)
            # subsampling: frequent words are dropped before the windows are formed
            kept = [w for w in sent
                    if vocab.keep_prob[w] >= 1.0
                    or vocab.keep_prob[w] >= (rng.next() & 0xFFFFFF) / 16777216.0]
            for i, centre in enumerate(kept):
                b = rng.next() % window  # dynamic window: nearer words are used more often
                lo, hi = max(0, i - window + b), min(len(kept), i + window + 1 - b)
                context = [kept[j] for j in range(lo, hi) if j != i]
                if sg:
                    for c in context:  # predict the centre from each context word in turn
                        W_in[c] += _update_output(W_in[c], centre, W_out, vocab.cum_table, negative, rng, lr)
                elif context:
                    h = W_in[context].mean(axis=0)
                    err = _update_output(h, centre, W_out, vocab.cum_table, negative, rng, lr)
                    for c in context:  # as in word2vec and gensim, every context word gets the full error
                        W_in[c] += err
    return W_in, W_out


def _update_output(h, target, W_out, cum_table, negative, rng, lr):
    """One positive and `negative` noise updates of W_out; returns the step for the input vector."""
    err = np.zeros_like(h)
    for d in range(negative + 1):
        if d == 0:
            word, label = target, 1.0
        else:
            word, label = _draw_negative(cum_table, rng.next()), 0.0
            if word == target:
                continue
        g = np.float32((label - sigmoid(np.float32(h @ W_out[word]))) * lr)
        err += g * W_out[word]
        W_out[word] += g * h
    return err


def init_weights(n_words: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Input vectors uniform in (-0.5/dim, 0.5/dim), output vectors zero (as in word2vec)."""
    rng = np.random.default_rng(seed)
    W_in = ((rng.random((n_words, dim), dtype=np.float32) - 0.5) / dim).astype(np.float32)
    return W_in, np.zeros((n_words, dim), dtype=np.float32)


# ---------------------------------------------------------------- the fast trainer (numba)

_KERNEL = None


def _kernel():
    """Compile (once, cached on disk) the numba epoch kernel."""
    global _KERNEL
    if _KERNEL is not None:
        return _KERNEL
    import numba as nb

    @nb.njit(cache=True, fastmath=True, nogil=True)
    def out_update(h, target, W_out, cum_table, buckets, negative, state, lr, err, compute_loss):
        D = h.shape[0]
        loss = 0.0
        total = cum_table[cum_table.shape[0] - 1]
        for d in range(negative + 1):
            if d == 0:
                word = target
                label = np.float32(1.0)
            else:
                state = (state * np.uint64(_MULT) + np.uint64(11)) & np.uint64(_MASK48)
                r = np.int64((state >> np.uint64(16)) % np.uint64(total))
                # the bucket index narrows the binary search to a few entries (same result)
                lo, hi = buckets[r >> 16], buckets[(r >> 16) + 1]
                word = lo + np.searchsorted(cum_table[lo:hi], r, side="right")
                label = np.float32(0.0)
                if word == target:
                    continue
            f = np.float32(0.0)
            for k in range(D):
                f += h[k] * W_out[word, k]
            s = np.float32(1.0) / (np.float32(1.0) + np.exp(-f))
            if compute_loss:
                loss -= math.log(max(s if label > 0 else 1.0 - s, 1e-12))
            g = (label - s) * lr
            for k in range(D):
                err[k] += g * W_out[word, k]
                W_out[word, k] += g * h[k]
        return state, loss

    @nb.njit(cache=True, fastmath=True, nogil=True)
    def epoch(ids, bounds, W_in, W_out, keep_prob, cum_table, buckets, window, negative, alpha, min_alpha,
              done, total, state, sg, compute_loss):
        D = W_in.shape[1]
        err = np.zeros(D, dtype=np.float32)
        h = np.zeros(D, dtype=np.float32)
        kept = np.empty(MAX_SENTENCE, dtype=np.int32)
        loss = 0.0
        pairs = 0
        for s in range(bounds.shape[0] - 1):
            start, end = bounds[s], bounds[s + 1]
            lr = np.float32(max(alpha - (alpha - min_alpha) * done / total, min_alpha))
            done += end - start
            n = 0
            for t in range(start, end):
                w = ids[t]
                if keep_prob[w] < 1.0:
                    state = (state * np.uint64(_MULT) + np.uint64(11)) & np.uint64(_MASK48)
                    if keep_prob[w] < (state & np.uint64(0xFFFFFF)) / 16777216.0:
                        continue
                kept[n] = w
                n += 1
            for i in range(n):
                state = (state * np.uint64(_MULT) + np.uint64(11)) & np.uint64(_MASK48)
                b = np.int64(state % np.uint64(window))
                lo, hi = max(0, i - window + b), min(n, i + window + 1 - b)
                if sg:
                    for j in range(lo, hi):
                        if j == i:
                            continue
                        c = kept[j]
                        err[:] = 0.0
                        state, l = out_update(W_in[c], kept[i], W_out, cum_table, buckets,
                                              negative, state, lr, err, compute_loss)
                        loss += l
                        pairs += 1
                        for k in range(D):
                            W_in[c, k] += err[k]
                else:
                    count = hi - lo - 1
                    if count <= 0:
                        continue
                    h[:] = 0.0
                    for j in range(lo, hi):
                        if j != i:
                            for k in range(D):
                                h[k] += W_in[kept[j], k]
                    for k in range(D):
                        h[k] /= count
                    err[:] = 0.0
                    state, l = out_update(h, kept[i], W_out, cum_table, buckets, negative, state, lr, err,
                                            compute_loss)
                    loss += l
                    pairs += 1
                    for j in range(lo, hi):
                        if j != i:
                            for k in range(D):
                                W_in[kept[j], k] += err[k]
        return state, done, loss, pairs

    _KERNEL = epoch
    return epoch


def encode(sentences: Iterable[Sequence[str]], vocab: Vocabulary) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of in-vocabulary words, and sentence bounds (sentences cut at 10,000 words)."""
    return encode_sentences(sentences, {w: i for i, w in enumerate(vocab.words)}, MAX_SENTENCE)


@dataclass
class Word2VecState:
    """Everything needed to continue training word2vec: weights, random state, progress.

    (Not `rnnbook.checkpoint.TrainState`, the torch trainers' state; the `.npz` layout is
    unchanged, so states saved under the old name `TrainState` still load.)
    """

    vocab: Vocabulary
    W_in: np.ndarray
    W_out: np.ndarray
    rng_state: int
    epochs_done: int
    words_done: int
    losses: list[float]

    def save(self, path: str | Path) -> None:
        v = self.vocab
        np.savez(path, words=np.frombuffer("\n".join(v.words).encode(), dtype=np.uint8),
                 counts=v.counts, keep_prob=v.keep_prob, cum_table=v.cum_table, W_in=self.W_in,
                 W_out=self.W_out, rng_state=np.uint64(self.rng_state),
                 epochs_done=self.epochs_done, words_done=self.words_done,
                 losses=np.array(self.losses))

    @classmethod
    def load(cls, path: str | Path) -> "Word2VecState":
        with np.load(path) as z:
            vocab = Vocabulary(z["words"].tobytes().decode().split("\n"), z["counts"],
                               z["keep_prob"], z["cum_table"])
            return cls(vocab, z["W_in"], z["W_out"], int(z["rng_state"]), int(z["epochs_done"]),
                       int(z["words_done"]), z["losses"].tolist())


def train_arrays(ids: np.ndarray, bounds: np.ndarray, vocab: Vocabulary, vector_size: int = 100,
                 window: int = 5, negative: int = 5, epochs: int = 5, alpha: float = 0.025,
                 min_alpha: float = 1e-4, seed: int = 0, sg: bool = True,
                 state: Word2VecState | None = None, on_epoch=None,
                 compute_loss: bool = True, stop_after: int | None = None) -> Word2VecState:
    """The fast trainer on encoded ids (see `encode`); resumes from `state` if given.

    `stop_after=e` returns once `e` epochs are done (the schedule still spans `epochs`), so that
    training can proceed epoch by epoch.
    """
    for name, value in (("window", window), ("negative", negative), ("epochs", epochs),
                        ("vector_size", vector_size)):
        if value < (0 if name == "negative" else 1):
            raise ValueError(f"{name} must be positive, got {value}")
    kernel = _kernel()
    if state is None:
        W_in, W_out = init_weights(len(vocab.words), vector_size, seed)
        state = Word2VecState(vocab, W_in, W_out, (seed + 1) & _MASK48, 0, 0, [])
    total = epochs * int(bounds[-1])
    # buckets[k] = first word whose cumulative weight exceeds k * 2^16
    buckets = np.searchsorted(vocab.cum_table, np.arange(2**15 + 1, dtype=np.int64) << 16, side="right")
    while state.epochs_done < min(epochs, stop_after or epochs):
        rng, done, loss, pairs = kernel(ids, bounds, state.W_in, state.W_out, vocab.keep_prob,
                                        vocab.cum_table, buckets, window, negative, alpha, min_alpha,
                                        state.words_done, total, np.uint64(state.rng_state), sg,
                                        compute_loss)
        state.rng_state, state.words_done = int(rng), int(done)
        state.epochs_done += 1
        state.losses.append(loss / max(pairs, 1))
        if on_epoch is not None:
            on_epoch(state)
    return state


def train(sentences: Iterable[Sequence[str]], vector_size: int = 100, window: int = 5,
          negative: int = 5, min_count: int = 5, sample: float = 1e-3, epochs: int = 5,
          alpha: float = 0.025, seed: int = 0, sg: bool = True, min_alpha: float = 1e-4) -> Embeddings:
    """Train skip-gram (sg=True) or CBOW with negative sampling; returns the input vectors."""
    sentences = [list(s) for s in sentences]
    vocab = build_vocabulary(Counter(t for s in sentences for t in s), min_count, sample)
    ids, bounds = encode(sentences, vocab)
    st = train_arrays(ids, bounds, vocab, vector_size, window, negative, epochs, alpha, min_alpha,
                      seed, sg)
    return Embeddings(vocab.words, st.W_in)


# ---------------------------------------------------------------- command line

def _main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m rnnbook.word2vec")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train on the chapter 8 corpus (rnnbook.corpora)")
    # an epoch is this trainer's step: --minutes and signals stop it after the epoch under way
    common_flags(t, minutes_required=False, state_required=False, save_every=None,
                 torch_flags=False, seed=0, max_steps=False)
    t.add_argument("--keep", type=int, default=40_000)
    for name, default in (("vector-size", 100), ("window", 5), ("negative", 5), ("min-count", 5),
                          ("epochs", 5)):
        t.add_argument(f"--{name}", type=int, default=default)
    t.add_argument("--sample", type=float, default=1e-3)
    t.add_argument("--alpha", type=float, default=0.025)
    t.add_argument("--cbow", action="store_true")
    a = p.parse_args(argv)
    run = EpochRun(a.state, a.resume, a.minutes, a.epochs, log=lambda s: print(s, flush=True))

    from .corpora import load_corpus

    corpus = load_corpus()
    vocab = build_vocabulary(dict(zip(corpus.words, corpus.counts.tolist())), a.min_count, a.sample)
    ids, bounds = encode(corpus.sentences(), vocab)
    st = None
    if a.resume:
        st = Word2VecState.load(a.state)
        print(f"resuming after epoch {st.epochs_done}", flush=True)
    t0 = time.perf_counter()
    with run:
        while (0 if st is None else st.epochs_done) < a.epochs:
            done = 0 if st is None else st.epochs_done
            st = train_arrays(ids, bounds, vocab, a.vector_size, a.window, a.negative, a.epochs,
                              a.alpha, 1e-4, a.seed, not a.cbow, state=st, stop_after=done + 1)
            print(f"epoch {st.epochs_done}/{a.epochs} loss {st.losses[-1]:.4f} "
                  f"{time.perf_counter() - t0:.0f}s", flush=True)
            if a.state:
                st.save(a.state)
            if run.stop_after_epoch(st.epochs_done):
                break
    if st is not None:
        Embeddings(vocab.words, st.W_in).restrict(a.keep).save(a.out)
        print(f"saved {a.out} after epoch {st.epochs_done}/{a.epochs} in "
              f"{time.perf_counter() - t0:.1f}s", flush=True)


if __name__ == "__main__":
    _main(sys.argv[1:])
