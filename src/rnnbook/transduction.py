"""Transduction tasks for chapters 9 and 10, generated offline with fixed seeds; train and test disjoint.

- `number_words`: "three hundred and forty-two" -> "342" (num2words; English, French, German),
  train and test integers disjoint.
- `dates`: the same day in several locales and formats (babel) -> ISO "YYYY-MM-DD",
  train and test days disjoint.
- `digit_strips`: 3-5 scikit-learn 8x8 digits side by side, with gaps and jitter -> the digit
  string; the digit images are split into train and test before any strip is made.
- `scenes`: two coloured shapes and a relation drawn by code -> "a red circle left of a blue
  square" (every scene has two correct captions: the relation and its converse).
"""
from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .data import Vocab

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")  # ids 0, 1, 2, 3 as rnnbook.seq2seq expects


@dataclass
class Pairs:
    """Token sequences and their targets; `keys` are what makes train and test disjoint."""
    sources: list[list[str]]
    targets: list[list[str]]
    keys: list

    def __len__(self) -> int:
        return len(self.sources)


def _check_sizes(n_train: int, n_test: int) -> None:
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


def make_vocab(sequences: Sequence[Sequence[str]]) -> Vocab:
    """A Vocab whose first ids are <pad>=0, <bos>=1, <eos>=2, <unk>=3 (as Seq2Seq expects)."""
    return Vocab((t for s in sequences for t in s), specials=SPECIALS)


def encode(vocab: Vocab, sequences: Sequence[Sequence[str]]) -> list[list[int]]:
    """Token lists -> id lists (unknown tokens become <unk>)."""
    return [vocab.encode(s).tolist() for s in sequences]


# --------------------------------------------------------------------------------- number words
LANGUAGES = ("en", "fr", "de")
_WORD_TOKENS = re.compile(r"[^\s,\-]+|[,\-]")


def number_to_tokens(n: int, lang: str = "en") -> list[str]:
    """The number in words as tokens: words, hyphens and commas for en/fr; characters for de."""
    from num2words import num2words

    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {LANGUAGES}, got {lang!r}")
    text = num2words(int(n), lang=lang)
    if lang == "de":  # German writes most numbers as one long word: characters are the tokens
        return list(text)
    return _WORD_TOKENS.findall(text)


def sample_integers(n: int, max_digits: int, seed: int) -> np.ndarray:
    """n distinct integers: a digit count uniform in 1..max_digits, then a uniform value."""
    if not 1 <= max_digits <= 15:
        raise ValueError(f"max_digits must be in 1..15, got {max_digits}")
    capacity = 10 ** max_digits
    if n > capacity // 2:
        raise ValueError(f"asked for {n} distinct integers below 10**{max_digits}; "
                         f"use at most {capacity // 2} or raise max_digits")
    rng = np.random.default_rng(seed)
    chosen: dict[int, None] = {}
    while len(chosen) < n:
        digits = rng.integers(1, max_digits + 1, size=2 * (n - len(chosen)))
        low = np.where(digits == 1, 0, 10 ** (digits - 1))
        values = low + (rng.random(len(digits)) * (10 ** digits - low)).astype(np.int64)
        for v in values.tolist():
            if len(chosen) == n:
                break
            chosen.setdefault(v)
    return np.array(list(chosen), dtype=np.int64)


def number_words(n_train: int, n_test: int, lang: str = "en", max_digits: int = 6,
                 seed: int = 0, reverse: bool = False) -> tuple[Pairs, Pairs]:
    """(train, test) pairs words -> digit characters (or the reverse); integers never shared."""
    _check_sizes(n_train, n_test)
    values = sample_integers(n_train + n_test, max_digits, seed)
    def build(vs):
        words = [number_to_tokens(v, lang) for v in vs]
        digits = [list(str(v)) for v in vs]
        src, tgt = (digits, words) if reverse else (words, digits)
        return Pairs(src, tgt, [int(v) for v in vs])
    return build(values[:n_train]), build(values[n_train:])


# ---------------------------------------------------------------------------------------- dates
DATE_LOCALES = ("en_US", "en_GB", "fr_FR", "de_DE", "es_ES", "nl_NL")
DATE_FORMATS = ("short", "medium", "long", "full")
_FIRST_DAY, _N_DAYS = datetime.date(1950, 1, 1), (datetime.date(2050, 1, 1) - datetime.date(1950, 1, 1)).days


def date_to_tokens(day: datetime.date, locale: str, fmt: str) -> list[str]:
    """A locale tag token, then the formatted date's characters (years 1950-2049: 2-digit years are unique)."""
    from babel.dates import format_date

    if locale not in DATE_LOCALES:
        raise ValueError(f"locale must be one of {DATE_LOCALES}, got {locale!r}")
    if fmt not in DATE_FORMATS:
        raise ValueError(f"fmt must be one of {DATE_FORMATS}, got {fmt!r}")
    return [f"<{locale}>"] + list(format_date(day, fmt, locale=locale))


def dates(n_train: int, n_test: int, locales: Sequence[str] = DATE_LOCALES,
          formats: Sequence[str] = DATE_FORMATS, seed: int = 0) -> tuple[Pairs, Pairs]:
    """(train, test) pairs: a date written in a random locale and format -> ISO characters."""
    _check_sizes(n_train, n_test)
    if n_train + n_test > _N_DAYS:
        raise ValueError(f"there are only {_N_DAYS} days in 1950-2049; ask for fewer examples")
    rng = np.random.default_rng(seed)
    offsets = rng.permutation(_N_DAYS)[: n_train + n_test]
    def build(offs):
        days = [_FIRST_DAY + datetime.timedelta(days=int(o)) for o in offs]
        src = [date_to_tokens(d, locales[rng.integers(len(locales))], formats[rng.integers(len(formats))])
               for d in days]
        return Pairs(src, [list(d.isoformat()) for d in days], days)
    return build(offsets[:n_train]), build(offsets[n_train:])


# ---------------------------------------------------------------------------------- digit strips
@dataclass
class Strips:
    """Images (N, 8, width) in [0, 1], labels as digit strings, each digit's column span and image id."""
    images: np.ndarray
    labels: list[str]
    spans: list[list[tuple[int, int]]]
    digit_ids: list[list[int]]


DIGITS_FILE = ("scikit-learn", "sklearn/datasets/data/digits.csv.gz",
               "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22")


def load_digit_images() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 UCI 8x8 digits shipped in scikit-learn (sha256 checked): images in [0, 1], labels."""
    import gzip
    import io

    from .corpora import read_verified

    dist, relpath, sha = DIGITS_FILE
    table = np.loadtxt(io.BytesIO(gzip.decompress(read_verified(dist, relpath, sha))), delimiter=",")
    images = (table[:, :64].reshape(-1, 8, 8) / 16.0).astype(np.float32)
    return images, table[:, 64].astype(np.int64)


def _shift_rows(img: np.ndarray, dy: int) -> np.ndarray:
    """Move an image dy rows down (up if negative), filling with zeros (no wrap-around)."""
    out = np.zeros_like(img)
    if dy >= 0:
        out[dy:] = img[: img.shape[0] - dy]
    else:
        out[:dy] = img[-dy:]
    return out


def digit_strips(n_train: int, n_test: int, min_digits: int = 3, max_digits: int = 5,
                 width: int = 60, test_fraction: float = 0.3, seed: int = 0) -> tuple[Strips, Strips]:
    """(train, test) strips of 8x8 digits with 1-3 px gaps and +-1 px vertical jitter.

    The 1797 scikit-learn digit images are split into train and test images FIRST, so no
    test strip contains an image seen in training.
    """
    _check_sizes(n_train, n_test)
    if not 1 <= min_digits <= max_digits:
        raise ValueError(f"need 1 <= min_digits <= max_digits, got {min_digits}, {max_digits}")
    if width < max_digits * 11 + 1:
        raise ValueError(f"width={width} is too narrow for {max_digits} digits with gaps; "
                         f"use at least {max_digits * 11 + 1}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    images, labels = load_digit_images()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))
    n_test_images = int(round(test_fraction * len(images)))
    pools = order[n_test_images:], order[:n_test_images]

    def build(n, pool):
        out = np.zeros((n, 8, width), dtype=np.float32)
        strip_labels, spans, ids = [], [], []
        for k in range(n):
            count = int(rng.integers(min_digits, max_digits + 1))
            chosen = rng.choice(pool, size=count, replace=False)
            x = int(rng.integers(1, 4))
            row_spans = []
            for idx in chosen:
                img = _shift_rows(images[idx], int(rng.integers(-1, 2)))
                out[k, :, x:x + 8] = img
                row_spans.append((x, x + 8))
                x += 8 + int(rng.integers(1, 4))
            strip_labels.append("".join(str(labels[i]) for i in chosen))
            spans.append(row_spans)
            ids.append([int(i) for i in chosen])
        return Strips(out, strip_labels, spans, ids)

    return build(n_train, pools[0]), build(n_test, pools[1])


# --------------------------------------------------------------------------------------- scenes
SCENE_COLORS = {"red": (1.0, 0.15, 0.15), "green": (0.15, 0.85, 0.15),
                "blue": (0.2, 0.35, 1.0), "yellow": (1.0, 0.9, 0.1)}
SCENE_SHAPES = ("circle", "square", "triangle")
RELATIONS = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}


@dataclass
class Scenes:
    """Images (N, 3, size, size) in [0, 1]; every scene's correct captions (first one = drawn relation)."""
    images: np.ndarray
    captions: list[list[str]]
    objects: list[tuple]


def _shape_mask(shape: str, cx: float, cy: float, r: float, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    if shape == "circle":
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= r ** 2
    if shape == "square":
        return (np.abs(xx - cx) <= r * 0.85) & (np.abs(yy - cy) <= r * 0.85)
    if shape == "triangle":  # apex up: the half-width grows linearly from the top
        top, bottom = cy - r, cy + r
        half = (yy - top) / (2 * r) * r
        return (yy >= top) & (yy <= bottom) & (np.abs(xx - cx) <= half)
    raise ValueError(f"shape must be one of {SCENE_SHAPES}, got {shape!r}")


def draw_scene(obj1: tuple[str, str], obj2: tuple[str, str], relation: str, rng: np.random.Generator,
               size: int = 32) -> np.ndarray:
    """Draw (colour, shape) obj1 `relation` obj2 on black: an array (3, size, size)."""
    if relation not in RELATIONS:
        raise ValueError(f"relation must be one of {tuple(RELATIONS)}, got {relation!r}")
    r = size * 0.14
    margin = r + 1
    # the pair sits along one axis, with a gap of at least one diameter, and a small offset across
    along1 = rng.uniform(margin, size / 2 - r)
    along2 = rng.uniform(size / 2 + r, size - margin)
    across = rng.uniform(margin, size - margin, 2)
    across[1] = np.clip(across[0] + rng.uniform(-r, r), margin, size - margin)
    first_low = relation in ("left of", "above")
    a1, a2 = (along1, along2) if first_low else (along2, along1)
    if relation in ("left of", "right of"):
        centres = [(a1, across[0]), (a2, across[1])]
    else:
        centres = [(across[0], a1), (across[1], a2)]
    img = np.zeros((3, size, size), dtype=np.float32)
    for (colour, shape), (cx, cy) in zip((obj1, obj2), centres):
        mask = _shape_mask(shape, cx, cy, r, size)
        img[:, mask] = np.array(SCENE_COLORS[colour], dtype=np.float32)[:, None]
    return img


def scene_captions(obj1: tuple[str, str], obj2: tuple[str, str], relation: str) -> list[str]:
    """The two correct captions: 'a c1 s1 rel a c2 s2' and its converse."""
    return [f"a {obj1[0]} {obj1[1]} {relation} a {obj2[0]} {obj2[1]}",
            f"a {obj2[0]} {obj2[1]} {RELATIONS[relation]} a {obj1[0]} {obj1[1]}"]


def scenes(n_train: int, n_test: int, size: int = 32, seed: int = 0) -> tuple[Scenes, Scenes]:
    """(train, test) scenes of two distinct (colour, shape) objects and a relation.

    Train and test come from separate random streams, and no test image equals a train image.
    """
    _check_sizes(n_train, n_test)
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    colours, relations = list(SCENE_COLORS), list(RELATIONS)

    def build(n, rng):
        imgs = np.zeros((n, 3, size, size), dtype=np.float32)
        caps, objs = [], []
        for k in range(n):
            while True:
                o1 = (colours[rng.integers(4)], SCENE_SHAPES[rng.integers(3)])
                o2 = (colours[rng.integers(4)], SCENE_SHAPES[rng.integers(3)])
                if o1[0] != o2[0]:  # different colours, so the caption names each object
                    break
            rel = relations[rng.integers(4)]
            imgs[k] = draw_scene(o1, o2, rel, rng, size)
            caps.append(scene_captions(o1, o2, rel))
            objs.append((o1, o2, rel))
        return Scenes(imgs, caps, objs)

    train_rng, test_rng = (np.random.default_rng([seed, part]) for part in (0, 1))
    return build(n_train, train_rng), build(n_test, test_rng)
