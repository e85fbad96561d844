"""The Japanese vowels data set (Kudo, Toyama & Shimbo 1999): who said /ae/?

Nine male speakers each uttered the Japanese vowels /a/ and /e/ in succession; every utterance
was cut into frames and each frame turned into 12 LPC cepstral coefficients, giving a sequence of
7 to 29 frames of 12 numbers. The task is to name the speaker. The training set has 30 utterances
per speaker (270), the test set 370, with 24 to 88 per speaker.

The two files are read from the `aeon` wheel (pinned in requirements-nodeps.txt), located with
`importlib.metadata` and checked against their sha256 before parsing: aeon itself is never
imported. The .ts format has a header of `@` lines, then one utterance per line: 12 dimensions
separated by `:`, each a comma-separated series of the same length, and the class label last.

Reading and checking go through `rnnbook.packaged.read_verified`; this module holds the parser and
the small array helpers of chapter 12, no model.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .packaged import ChecksumError, read_verified as _read_package_file

DIST = "aeon"
PIN = "aeon==1.6.0 (requirements-nodeps.txt, installed with --no-deps)"
FILES = {
    "train": ("aeon/datasets/data/JapaneseVowels/JapaneseVowels_TRAIN.ts",
              "68a430eabd919cc77f40b1f5f3bc0dcafacc1486bca9260785aeb7d262cc78cd"),
    "test": ("aeon/datasets/data/JapaneseVowels/JapaneseVowels_TEST.ts",
             "b3d41d6a0ca3bcad3afb9ca7d4365382aa51341e2e58bae2a574babdda5b9462"),
}
N_SPEAKERS = 9
N_COEFFICIENTS = 12


@dataclass(frozen=True)
class VowelSplit:
    """One split: a list of (T_i, 12) float arrays and speaker labels 0..8."""

    sequences: list[np.ndarray]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.sequences)

    @property
    def lengths(self) -> np.ndarray:
        """Frames per utterance."""
        return np.array([len(x) for x in self.sequences])


@dataclass(frozen=True)
class JapaneseVowels:
    """The training (270 utterances) and test (370) splits."""

    train: VowelSplit
    test: VowelSplit


def read_verified(split: str) -> str:
    """Text of the split's .ts file, after checking its sha256."""
    if split not in FILES:
        raise ValueError(f"split must be one of {sorted(FILES)}, got {split!r}")
    relpath, expected = FILES[split]
    return _read_package_file(DIST, relpath, expected, PIN,
                              "the Japanese vowels data of chapter 12").decode("utf-8")


def parse_ts(text: str) -> VowelSplit:
    """Parse a multivariate, unequal-length .ts file into sequences (T_i, D) and labels 0..C-1."""
    sequences, labels = [], []
    in_data = False
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            in_data = line.lower() == "@data"
            continue
        *dims, label = line.split(":")
        series = [np.array(d.split(","), dtype=np.float64) for d in dims]
        if len({len(s) for s in series}) != 1:
            raise ValueError(f"line {number}: the {len(series)} dimensions have different lengths")
        sequences.append(np.stack(series, axis=1))
        labels.append(int(label) - 1)             # the files number speakers 1..9
    if not in_data or not sequences:
        raise ValueError("no @data section with utterances found")
    return VowelSplit(sequences, np.array(labels, dtype=np.int64))


def load_japanese_vowels() -> JapaneseVowels:
    """Both splits of the Japanese vowels set, read from the pinned aeon wheel."""
    return JapaneseVowels(parse_ts(read_verified("train")), parse_ts(read_verified("test")))


def standardizer(sequences: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of every coefficient over all frames of `sequences`."""
    frames = np.concatenate(sequences)
    return frames.mean(axis=0), frames.std(axis=0)


def summary_features(sequences: list[np.ndarray]) -> np.ndarray:
    """Per-utterance mean and standard deviation of each coefficient: (N, 2D), order ignored."""
    return np.array([np.concatenate([x.mean(axis=0), x.std(axis=0)]) for x in sequences])


def pad_frames(sequences: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack sequences (T_i, D) into zeros-padded (N, T_max, D) and their lengths (N,)."""
    if not sequences:
        raise ValueError("pad_frames needs at least one sequence")
    lengths = np.array([len(x) for x in sequences])
    out = np.zeros((len(sequences), lengths.max(), sequences[0].shape[1]))
    for i, x in enumerate(sequences):
        out[i, :len(x)] = x
    return out, lengths


def masked_mean(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Mean over the first lengths[i] frames of each padded sequence: (N, T, D) -> (N, D)."""
    x, lengths = np.asarray(x, dtype=np.float64), np.asarray(lengths)
    if x.ndim != 3 or lengths.shape != (x.shape[0],):
        raise ValueError(f"x must be (N, T, D) and lengths (N,), got {x.shape} and {lengths.shape}")
    if (lengths < 1).any() or (lengths > x.shape[1]).any():
        raise ValueError(f"lengths must lie in 1..T={x.shape[1]}, got {lengths.tolist()}")
    mask = np.arange(x.shape[1])[None, :] < lengths[:, None]         # (N, T), True on real frames
    return (x * mask[:, :, None]).sum(axis=1) / lengths[:, None]


def validation_split(labels, every: int = 3) -> np.ndarray:
    """Held-out mask: every `every`-th utterance of each speaker, in file order (deterministic, stratified)."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-d integer array, got shape {labels.shape}, "
                         f"dtype {labels.dtype}")
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 2:
        raise ValueError(f"every must be an integer >= 2 (1 would hold out everything), got {every!r}")
    held_out = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        mine = np.flatnonzero(labels == label)
        if len(mine) < every:
            raise ValueError(f"class {label} has {len(mine)} utterances, fewer than every={every}: "
                             f"it would have none held out; use a smaller `every`")
        held_out[mine[every - 1::every]] = True   # the 3rd, 6th, ... of each speaker
    return held_out
