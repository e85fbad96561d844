"""Turning text into numbers: vocabularies, one-hot vectors, padding with masks, BPTT batches.

`Vocab` is the course's one vocabulary type: every chapter module that maps tokens to ids builds
one (or says in its docstring why it needs another). `hash_split` is the one rule that assigns an
item to train/validation/test by a hash of its text. The synthetic long-range tasks of chapters
4-6 are here too. This module reads no files and holds no model or training code.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence

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
    same indices (`order="token"`: alphabetically, whatever the counts). Tokens seen fewer than
    `min_freq` times are left out and encode as `<unk>`; `max_size` caps the size (specials
    included), keeping the most frequent tokens.
    """

    def __init__(self, tokens: Iterable[str], min_freq: int = 1,
                 specials: Sequence[str] = (PAD, UNK), max_size: int | None = None,
                 order: str = "frequency") -> None:
        self._build(Counter(tokens), min_freq, specials, max_size, order)

    @classmethod
    def from_counts(cls, counts: Mapping[str, int], min_freq: int = 1,
                    specials: Sequence[str] = (PAD, UNK), max_size: int | None = None,
                    order: str = "frequency") -> "Vocab":
        """The vocabulary of a corpus given by its token counts (no token list needed)."""
        vocab = cls.__new__(cls)
        Vocab._build(vocab, Counter(dict(counts)), min_freq, specials, max_size, order)
        return vocab

    def _build(self, counts: Counter, min_freq: int, specials: Sequence[str],
               max_size: int | None, order: str) -> None:
        if min_freq < 1:
            raise ValueError(f"min_freq must be at least 1, got {min_freq}")
        if len(set(specials)) != len(specials):
            raise ValueError(f"specials must be distinct, got {list(specials)}")
        if order not in ("frequency", "token"):
            raise ValueError(f"order must be 'frequency' or 'token', got {order!r}")
        if max_size is not None and (int(max_size) != max_size or max_size < len(specials)):
            raise ValueError(f"max_size must be an integer >= the {len(specials)} specials, "
                             f"got {max_size}")
        kept = [t for t, c in counts.items() if c >= min_freq and t not in specials]
        kept.sort(key=(lambda t: (-counts[t], t)) if order == "frequency" else None)
        if max_size is not None:
            kept = kept[: int(max_size) - len(specials)]
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


def hash_split(key: str, parts: Sequence[tuple[str, int]]) -> str:
    """The part `key` belongs to, fixed by its text: `parts` are (name, percent) summing to 100.

    The first 8 bytes of sha256(key) (UTF-8), read big-endian, modulo 100 give a bucket; the
    parts take consecutive buckets in the order given. Equal keys always share a part, and
    adding items never moves an old one.
    """
    if sum(share for _, share in parts) != 100 or any(share < 0 for _, share in parts):
        raise ValueError(f"the shares of parts must be non-negative and sum to 100, got {parts}")
    bucket = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % 100
    for name, share in parts:
        if bucket < share:
            return name
        bucket -= share
    raise AssertionError("unreachable: the shares sum to 100")


def encode_sentences(sentences: Iterable[Sequence[str]], stoi: Mapping[str, int],
                     max_len: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
    """Ids of the in-vocabulary tokens of each sentence, back to back, and the sentence bounds.

    Tokens missing from `stoi` are dropped (not mapped to `<unk>`), a sentence left empty is
    dropped too, and one longer than `max_len` kept tokens is cut into pieces of `max_len`. Returns int32 ids (T,) and int64
    bounds (S + 1,): sentence s is `ids[bounds[s]:bounds[s + 1]]`.
    """
    if max_len < 1:
        raise ValueError(f"max_len must be positive, got {max_len}")
    ids: list[int] = []
    bounds = [0]
    for s in sentences:
        sent = [stoi[t] for t in s if t in stoi]
        for k in range(0, len(sent), max_len):
            ids.extend(sent[k:k + max_len])
            bounds.append(len(ids))
    return np.array(ids, dtype=np.int32), np.array(bounds, dtype=np.int64)


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


def recall_task(n_sequences: int, lag: int, n_keys: int = 4, n_noise: int = 4,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A long-dependency task: recall the key token seen `lag` steps before the query token.

    Each sequence is `[key, noise x (lag - 1), query]` (length lag + 1): a key drawn from
    `0..n_keys-1` ("Jane walked into the room"), `lag - 1` distractors from
    `n_keys..n_keys+n_noise-1` ("... it was late in the day ..."), then the query symbol
    `n_keys + n_noise` ("Jane said hi to ___"). The target is the key, so a model reading
    left to right must carry it over `lag` steps. Vocabulary size is `n_keys + n_noise + 1`.
    Returns `(tokens (N, lag + 1) int64, targets (N,) int64)`.
    """
    if n_sequences < 1:
        raise ValueError(f"n_sequences must be positive, got {n_sequences}")
    if lag < 1:
        raise ValueError(f"lag must be at least 1 (the query directly after the key), got {lag}")
    if n_keys < 2:
        raise ValueError(f"n_keys must be at least 2 for the task to need a memory, got {n_keys}")
    if n_noise < 1:
        raise ValueError(f"n_noise must be at least 1, got {n_noise}")
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, n_keys, size=n_sequences)
    noise = rng.integers(n_keys, n_keys + n_noise, size=(n_sequences, lag - 1))
    query = np.full((n_sequences, 1), n_keys + n_noise)
    tokens = np.concatenate([keys[:, None], noise, query], axis=1).astype(np.int64)
    return tokens, keys.astype(np.int64)


# ---- Long-range synthetic tasks (chapters 5 and 6) -------------------------------------------

def _check_count(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def adding_problem(n_sequences: int, length: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem: sum the two numbers marked in a long sequence of random numbers.

    Each step carries two features: a value drawn uniformly from [0, 1) and a marker that is 1 at
    exactly two steps, one in each half of the sequence, and 0 elsewhere. The target is the sum of
    the two marked values. Always answering 1 has mean squared error 1/6 (the variance of the sum):
    the baseline a model must beat. Returns `(x (N, length, 2) float32, y (N,) float32)`.
    """
    n_sequences = _check_count(n_sequences, "n_sequences")
    length = _check_count(length, "length", 2)
    rng = np.random.default_rng(seed)
    x = np.zeros((n_sequences, length, 2), dtype=np.float32)
    x[:, :, 0] = rng.random((n_sequences, length))
    half = length // 2
    first = rng.integers(0, half, size=n_sequences)
    second = rng.integers(half, length, size=n_sequences)
    rows = np.arange(n_sequences)
    x[rows, first, 1] = 1.0
    x[rows, second, 1] = 1.0
    y = (x[rows, first, 0] + x[rows, second, 0]).astype(np.float32)
    return x, y


def copy_task(n_sequences: int, n_copy: int, delay: int, n_symbols: int = 8,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The copy task: read `n_copy` symbols, wait `delay` steps, then write them out in order.

    Inputs are `n_copy` symbols from `0..n_symbols-1`, then `delay` blanks (symbol `n_symbols`)
    of which the last is replaced by a go marker (`n_symbols + 1`), then `n_copy` blanks; the
    sequence length is `2 * n_copy + delay`. Targets are blanks except at the last `n_copy` steps,
    which hold the symbols read at the start. Vocabulary size is `n_symbols + 2`.
    Returns `(tokens (N, L) int64, targets (N, L) int64)`.
    """
    n_sequences = _check_count(n_sequences, "n_sequences")
    n_copy = _check_count(n_copy, "n_copy")
    delay = _check_count(delay, "delay")
    n_symbols = _check_count(n_symbols, "n_symbols", 2)
    rng = np.random.default_rng(seed)
    length = 2 * n_copy + delay
    symbols = rng.integers(0, n_symbols, size=(n_sequences, n_copy))
    tokens = np.full((n_sequences, length), n_symbols, dtype=np.int64)
    tokens[:, :n_copy] = symbols
    tokens[:, n_copy + delay - 1] = n_symbols + 1
    targets = np.full((n_sequences, length), n_symbols, dtype=np.int64)
    targets[:, -n_copy:] = symbols
    return tokens, targets


def lookahead_labels(n_sequences: int, length: int, shift: int, n_symbols: int = 4,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A labelling task whose answers lie in the future: label step t with the symbol at t + shift.

    Tokens are uniform over `0..n_symbols-1`; the label of step t is `tokens[t + shift]`, or the
    extra class `n_symbols` ("end") for the last `shift` steps. A left-to-right model cannot beat
    chance (1 / n_symbols) on most steps; a bidirectional one can.
    Returns `(tokens (N, length) int64, labels (N, length) int64)`.
    """
    n_sequences = _check_count(n_sequences, "n_sequences")
    length = _check_count(length, "length")
    shift = _check_count(shift, "shift")
    n_symbols = _check_count(n_symbols, "n_symbols", 2)
    if shift >= length:
        raise ValueError(f"shift={shift} must be smaller than length={length}")
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, n_symbols, size=(n_sequences, length)).astype(np.int64)
    labels = np.full_like(tokens, n_symbols)
    labels[:, :-shift] = tokens[:, shift:]
    return tokens, labels
