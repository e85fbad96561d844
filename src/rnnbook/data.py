"""Turning text into numbers: vocabularies, one-hot vectors, padding with masks, BPTT batches."""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

PAD = "<pad>"
UNK = "<unk>"

_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")


def tokenize_chars(text: str) -> list[str]:
    """Split text into characters (every character, spaces and newlines included, is a token)."""
    return list(text)


def tokenize_words(text: str) -> list[str]:
    """Lower-case text and split it into words and single punctuation marks."""
    return _WORD_RE.findall(text.lower())


class Vocab:
    """A two-way map between tokens and integer indices, built from a corpus.

    Special symbols come first (by default `<pad>` = 0 and `<unk>` = 1), then tokens by
    decreasing frequency, ties broken alphabetically, so the same corpus always gives the
    same indices. Tokens seen fewer than `min_freq` times are left out and encode as `<unk>`.
    """

    def __init__(self, tokens: Iterable[str], min_freq: int = 1,
                 specials: Sequence[str] = (PAD, UNK)) -> None:
        if min_freq < 1:
            raise ValueError(f"min_freq must be at least 1, got {min_freq}")
        if len(set(specials)) != len(specials):
            raise ValueError(f"specials must be distinct, got {list(specials)}")
        counts = Counter(tokens)
        kept = sorted((t for t, c in counts.items() if c >= min_freq and t not in specials),
                      key=lambda t: (-counts[t], t))
        self.itos: list[str] = list(specials) + kept
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        self.counts = counts

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __repr__(self) -> str:
        head = ", ".join(repr(t) for t in self.itos[:8])
        return f"Vocab(size={len(self)}, first=[{head}{', ...' if len(self) > 8 else ''}])"

    @property
    def pad_index(self) -> int | None:
        """Index of `<pad>`, or None if this vocabulary has no padding symbol."""
        return self.stoi.get(PAD)

    @property
    def unk_index(self) -> int | None:
        """Index of `<unk>`, or None if this vocabulary has no unknown symbol."""
        return self.stoi.get(UNK)

    def index(self, token: str) -> int:
        """Index of one token; unknown tokens map to `<unk>` (KeyError if there is none)."""
        i = self.stoi.get(token)
        if i is not None:
            return i
        if self.unk_index is None:
            raise KeyError(f"token {token!r} is not in the vocabulary and it has no {UNK} symbol")
        return self.unk_index

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """Map a sequence of tokens to an int64 array of indices."""
        return np.fromiter((self.index(t) for t in tokens), dtype=np.int64)

    def decode(self, indices: Iterable[int]) -> list[str]:
        """Map indices back to tokens."""
        out = []
        for i in np.asarray(list(indices) if not isinstance(indices, np.ndarray) else indices).ravel():
            if not 0 <= int(i) < len(self):
                raise IndexError(f"index {int(i)} is outside the vocabulary (size {len(self)})")
            out.append(self.itos[int(i)])
        return out


def _as_index_array(indices, name: str) -> np.ndarray:
    arr = np.asarray(indices)
    if arr.size == 0 and arr.dtype.kind == "f":  # np.asarray([]) is float64; an empty list is fine
        arr = arr.astype(np.int64)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    return arr


def one_hot(indices, vocab_size: int, dtype=np.float32) -> np.ndarray:
    """One-hot encode integer indices: shape `indices.shape + (vocab_size,)`."""
    arr = _as_index_array(indices, "indices")
    if vocab_size < 1:
        raise ValueError(f"vocab_size must be positive, got {vocab_size}")
    if arr.size and (arr.min() < 0 or arr.max() >= vocab_size):
        bad = arr[(arr < 0) | (arr >= vocab_size)].ravel()[0]
        raise ValueError(f"index {int(bad)} is outside 0..{vocab_size - 1} (vocab_size={vocab_size})")
    out = np.zeros(arr.shape + (vocab_size,), dtype=dtype)
    np.put_along_axis(out, arr[..., None], 1, axis=-1)
    return out


def pad_sequences(sequences: Sequence[Sequence[int]], pad_value: int = 0,
                  batch_first: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Pad variable-length integer sequences to the longest one.

    Returns `(padded, mask)`: int64 `(B, T_max)` (or `(T_max, B)` if not batch_first) and a
    boolean mask of the same shape that is True on real tokens and False on padding.
    """
    seqs = [_as_index_array(s, f"sequence {i}") for i, s in enumerate(sequences)]
    for i, s in enumerate(seqs):
        if s.ndim != 1:
            raise ValueError(f"sequence {i} must be one-dimensional, got shape {s.shape}")
    if not seqs:
        raise ValueError("pad_sequences needs at least one sequence")
    t_max = max(len(s) for s in seqs)
    padded = np.full((len(seqs), t_max), pad_value, dtype=np.int64)
    mask = np.zeros((len(seqs), t_max), dtype=bool)
    for i, s in enumerate(seqs):
        padded[i, : len(s)] = s
        mask[i, : len(s)] = True
    if not batch_first:
        return padded.T.copy(), mask.T.copy()
    return padded, mask


def batchify(stream, batch_size: int) -> np.ndarray:
    """Cut a long token stream into `batch_size` contiguous columns: shape `(L, B)`.

    Column b holds tokens `b*L .. (b+1)*L - 1`; the last `len(stream) % batch_size` tokens
    are dropped. Reading down a column continues one text, which is what lets truncated
    BPTT carry the hidden state from one window to the next.
    """
    arr = np.asarray(stream)
    if arr.ndim != 1:
        raise ValueError(f"stream must be one-dimensional, got shape {arr.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    length = len(arr) // batch_size
    if length < 2:
        raise ValueError(f"a stream of {len(arr)} tokens is too short for batch_size={batch_size}")
    return arr[: length * batch_size].reshape(batch_size, length).T.copy()


def bptt_batches(batched: np.ndarray, seq_len: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield `(inputs, targets)` windows of shape `(T, B)` with T <= seq_len, targets shifted by one."""
    if batched.ndim != 2:
        raise ValueError(f"batched must be (L, B), got shape {batched.shape}; use batchify first")
    if seq_len < 1:
        raise ValueError(f"seq_len must be positive, got {seq_len}")
    for start in range(0, batched.shape[0] - 1, seq_len):
        t = min(seq_len, batched.shape[0] - 1 - start)
        yield batched[start: start + t], batched[start + 1: start + 1 + t]
