"""Word vectors and how they are judged: `Embeddings` and the analogy and similarity scores.

word2vec (`rnnbook.word2vec`), GloVe (`rnnbook.glove`), the PPMI-SVD vectors of chapter 8 and the
pretrained rows that chapter 11's classifier starts from are all an `Embeddings`: a word list and
one row per word, with cosine look-ups, 3CosAdd/3CosMul analogies, and `.npz` save/load. The
scores are the standard ones: accuracy on Mikolov's analogy questions (`analogy_accuracy`, ours,
batched; `evaluate`, gensim's) and the Spearman correlation with WordSim-353 human ratings; the
question files come from gensim's test data.

This module holds no trainer and no vocabulary builder (those are `rnnbook.word2vec`,
`rnnbook.glove` and `rnnbook.data.Vocab`); it only holds vectors and judges them.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Embeddings", "gensim_test_file", "evaluate", "read_analogies", "analogy_accuracy",
           "wordsim_spearman"]


@dataclass
class Embeddings:
    """Word vectors with look-up, cosine neighbours and analogies; unknown words raise KeyError."""

    words: list[str]
    vectors: np.ndarray  # (N, D)
    _index: dict[str, int] = field(init=False, repr=False)
    _unit: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.vectors = np.asarray(self.vectors, dtype=np.float32)
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.words):
            raise ValueError(f"vectors must have shape (len(words), D) = ({len(self.words)}, D), "
                             f"got {self.vectors.shape}")
        self._index = {w: i for i, w in enumerate(self.words)}
        if len(self._index) != len(self.words):
            raise ValueError("words must be distinct")
        norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
        self._unit = self.vectors / np.maximum(norms, 1e-12)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self._index

    def __repr__(self) -> str:
        return f"Embeddings({len(self.words)} words, dim {self.vectors.shape[1]})"

    def index(self, word: str) -> int:
        """Row of `word`; KeyError naming the word if it is not in the vocabulary."""
        try:
            return self._index[word]
        except KeyError:
            raise KeyError(f"word {word!r} is not in the vocabulary ({len(self.words)} words)") from None

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.index(word)]

    def similarity(self, w1: str, w2: str) -> float:
        """Cosine similarity of two words."""
        return float(self._unit[self.index(w1)] @ self._unit[self.index(w2)])

    def _top(self, scores: np.ndarray, exclude: Sequence[int], topn: int) -> list[tuple[str, float]]:
        scores = scores.copy()
        scores[list(exclude)] = -np.inf
        k = min(topn, len(scores) - len(exclude))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(self.words[i], float(scores[i])) for i in best]

    def most_similar(self, word: str, topn: int = 10) -> list[tuple[str, float]]:
        """The `topn` nearest words by cosine similarity (the word itself left out)."""
        i = self.index(word)
        return self._top(self._unit @ self._unit[i], [i], topn)

    def analogy(self, a: str, b: str, c: str, method: str = "add") -> str:
        """The word closest to a - b + c (king - man + woman -> queen), inputs excluded.

        method="add" is 3CosAdd (cosine with the normalised offset); "mul" is 3CosMul
        (Levy & Goldberg 2014): cos(x,a) cos(x,c) / (cos(x,b) + 1e-3), cosines shifted to [0, 1].
        """
        return self.analogy_candidates(a, b, c, method=method, topn=1)[0][0]

    def analogy_candidates(self, a: str, b: str, c: str, method: str = "add",
                           topn: int = 5) -> list[tuple[str, float]]:
        """The `topn` best answers to a - b + c with their scores (see `analogy`)."""
        ia, ib, ic = self.index(a), self.index(b), self.index(c)
        u = self._unit
        if method == "add":
            target = u[ia] - u[ib] + u[ic]
            scores = u @ (target / max(np.linalg.norm(target), 1e-12))
        elif method == "mul":
            sa, sb, sc = ((u @ u[i] + 1) / 2 for i in (ia, ib, ic))
            scores = sa * sc / (sb + 1e-3)
        else:
            raise ValueError(f"method must be 'add' (3CosAdd) or 'mul' (3CosMul), got {method!r}")
        return self._top(scores, [ia, ib, ic], topn)

    def restrict(self, n: int) -> "Embeddings":
        """The first `n` words (the most frequent, when words are sorted by frequency)."""
        return Embeddings(self.words[:n], self.vectors[:n])

    def to_gensim(self):
        """A gensim `KeyedVectors` holding the same words and vectors (for gensim's evaluations)."""
        from gensim.models import KeyedVectors

        kv = KeyedVectors(self.vectors.shape[1], dtype=np.float32)
        kv.add_vectors(self.words, self.vectors)
        return kv

    def save(self, path: str | Path, dtype=np.float16) -> None:
        """Save to .npz (vectors in `dtype`, words newline-joined)."""
        packed = np.frombuffer("\n".join(self.words).encode("utf-8"), dtype=np.uint8)
        np.savez_compressed(path, words=packed, vectors=self.vectors.astype(dtype))

    @classmethod
    def load(cls, path: str | Path) -> "Embeddings":
        """Load what `save` wrote."""
        with np.load(path, allow_pickle=False) as z:
            words = z["words"].tobytes().decode("utf-8").split("\n")
            return cls(words, z["vectors"].astype(np.float32))


def gensim_test_file(name: str) -> str:
    """Path of a file in gensim's test data (questions-words.txt, wordsim353.tsv)."""
    from gensim.test.utils import datapath

    return datapath(name)


def evaluate(emb: Embeddings, restrict_vocab: int = 30_000) -> dict[str, float]:
    """Analogy accuracy (questions-words.txt, 3CosAdd) and WordSim-353 Spearman, via gensim."""
    kv = emb.to_gensim()
    acc, sections = kv.evaluate_word_analogies(gensim_test_file("questions-words.txt"),
                                               restrict_vocab=restrict_vocab)
    total = next(s for s in sections if s["section"] == "Total accuracy")
    answered = len(total["correct"]) + len(total["incorrect"])
    pearson, spearman, oov = kv.evaluate_word_pairs(gensim_test_file("wordsim353.tsv"),
                                                    restrict_vocab=restrict_vocab)
    return {"analogy_accuracy": float(acc), "analogy_answered": answered,
            "analogy_coverage": answered / 19544, "wordsim_spearman": float(spearman.statistic),
            "wordsim_oov_percent": float(oov)}


def read_analogies(path: str | None = None) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    """Sections of an analogy file (questions-words.txt format), lower-cased."""
    path = path or gensim_test_file("questions-words.txt")
    sections: list[tuple[str, list[tuple[str, str, str, str]]]] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith(":"):
                sections.append((line[1:].strip(), []))
            elif line.strip():
                a, b, c, d = line.lower().split()
                sections[-1][1].append((a, b, c, d))
    return sections


def analogy_accuracy(emb: Embeddings, restrict_vocab: int = 30_000, method: str = "add",
                     path: str | None = None, max_questions: int | None = None,
                     batch: int = 512) -> dict[str, float]:
    """Accuracy on "w1 is to w2 as w3 is to w4" questions, batched: is w4 = analogy(w2, w1, w3)?

    In the file's order (a, b, c, d below) the answer maximises cos(x, b - a + c): the
    `analogy(a, b, c) = a - b + c` of `Embeddings` called as analogy(b, a, c). Same rules as
    gensim's `evaluate_word_analogies`: only the first `restrict_vocab` words are candidates,
    questions with a word outside them are skipped (coverage reports how many were answered),
    and the three given words are excluded. `max_questions` takes an evenly spaced subset.
    """
    words = emb.words[:restrict_vocab]
    index = {w: i for i, w in enumerate(words)}
    qs = [q for _, sec in read_analogies(path) for q in sec]
    if max_questions is not None and max_questions < len(qs):
        qs = [qs[i] for i in np.linspace(0, len(qs) - 1, max_questions).astype(int)]
    ok = np.array([[index[w] for w in q] for q in qs if all(w in index for w in q)], dtype=np.int64)
    U = emb._unit[:len(words)]
    correct = 0
    for s in range(0, len(ok), batch):
        a, b, c, d = ok[s:s + batch].T
        if method == "add":
            scores = (U[b] - U[a] + U[c]) @ U.T
        elif method == "mul":
            sa, sb, sc = ((U[i] @ U.T + 1) / 2 for i in (a, b, c))
            scores = sb * sc / (sa + 1e-3)
        else:
            raise ValueError(f"method must be 'add' (3CosAdd) or 'mul' (3CosMul), got {method!r}")
        rows = np.arange(len(a))
        for i in (a, b, c):
            scores[rows, i] = -np.inf
        correct += int((scores.argmax(axis=1) == d).sum())
    return {"accuracy": correct / max(len(ok), 1), "answered": len(ok), "questions": len(qs),
            "coverage": len(ok) / max(len(qs), 1)}


def wordsim_spearman(emb: Embeddings, restrict_vocab: int = 30_000) -> dict[str, float]:
    """Spearman correlation with WordSim-353 human ratings, via gensim's `evaluate_word_pairs`."""
    kv = emb.restrict(restrict_vocab).to_gensim()
    _, spearman, oov = kv.evaluate_word_pairs(gensim_test_file("wordsim353.tsv"))
    return {"spearman": float(spearman.statistic), "oov_percent": float(oov)}
