"""Digit strips of variable length for chapter 6: scikit-learn's 8x8 digits side by side.

`spaced_strips` lays 1-5 digits side by side, each stretched or squeezed to a random width of 5-10
columns, with gaps of 0-3 blank columns (0: the digits touch), a margin of 0-3 columns at both
ends and +-1 row of jitter. Strips have different lengths; nothing says where a digit starts. The
1,797 digit images are split into train, validation and test images FIRST (`image_pools`), so no
held-out strip contains an image seen in training.

This module makes data only: the recogniser, its scores and its training are `rnnbook.ctc_strips`
(which re-exports these names), and the digit file is read by `rnnbook.transduction`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .transduction import _shift_rows, load_digit_images

__all__ = ["HEIGHT", "SpacedStrips", "image_pools", "spaced_strips"]

HEIGHT = 8  # pixels per column


@dataclass
class SpacedStrips:
    """Strips (N, 8, W) zero-padded to the longest, their lengths, labels (digit lists), digit spans."""

    images: np.ndarray
    lengths: np.ndarray
    labels: list[list[int]]
    spans: list[list[tuple[int, int]]]

    def __len__(self) -> int:
        return len(self.labels)


def image_pools(seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.25
                ) -> dict[str, np.ndarray]:
    """Disjoint indices of digit images for 'train', 'validation' and 'test' strips."""
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(f"need fractions in (0, 1) summing below 1, got {val_fraction}, "
                         f"{test_fraction}")
    n = len(_digits()[1])  # read once per process: re-reading it cost more than a training step
    order = np.random.default_rng(seed).permutation(n)
    n_test, n_val = int(round(test_fraction * n)), int(round(val_fraction * n))
    return {"test": order[:n_test], "validation": order[n_test:n_test + n_val],
            "train": order[n_test + n_val:]}


def _resize_columns(img: np.ndarray, width: int) -> np.ndarray:
    """Stretch or squeeze an (8, 8) image to (8, width) by linear interpolation along its rows."""
    src = np.linspace(0, img.shape[1] - 1, width)
    return np.stack([np.interp(src, np.arange(img.shape[1]), row) for row in img])


def spaced_strips(n: int, split: str, rng: np.random.Generator, min_digits: int = 1,
                  max_digits: int = 5, widths: tuple[int, int] = (5, 10),
                  gaps: tuple[int, int] = (0, 3), pools: dict[str, np.ndarray] | None = None
                  ) -> SpacedStrips:
    """`n` strips of `split` images ('train', 'validation' or 'test'), drawn with `rng`."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not 1 <= min_digits <= max_digits:
        raise ValueError(f"need 1 <= min_digits <= max_digits, got {min_digits}, {max_digits}")
    if not 2 <= widths[0] <= widths[1] or not 0 <= gaps[0] <= gaps[1]:
        raise ValueError(f"need 2 <= widths[0] <= widths[1] and 0 <= gaps[0] <= gaps[1], got "
                         f"widths={widths}, gaps={gaps}")
    pools = _default_pools() if pools is None else pools
    if split not in pools:
        raise ValueError(f"split must be one of {sorted(pools)}, got {split!r}")
    images, digit_labels = _digits()
    pool = pools[split]
    strips, labels, spans = [], [], []
    for _ in range(n):
        count = int(rng.integers(min_digits, max_digits + 1))
        chosen = rng.choice(pool, size=count, replace=True)
        x = int(rng.integers(0, 4))
        cols = [np.zeros((HEIGHT, x), np.float32)]
        row_spans = []
        for i, idx in enumerate(chosen):
            w = int(rng.integers(widths[0], widths[1] + 1))
            img = _resize_columns(_shift_rows(images[idx], int(rng.integers(-1, 2))), w)
            cols.append(img.astype(np.float32))
            row_spans.append((x, x + w))
            x += w
            gap = int(rng.integers(gaps[0], gaps[1] + 1)) if i < count - 1 else int(
                rng.integers(0, 4))
            cols.append(np.zeros((HEIGHT, gap), np.float32))
            x += gap
        strips.append(np.concatenate(cols, axis=1))
        labels.append([int(digit_labels[i]) for i in chosen])
        spans.append(row_spans)
    lengths = np.array([s.shape[1] for s in strips])
    out = np.zeros((n, HEIGHT, lengths.max()), np.float32)
    for k, s in enumerate(strips):
        out[k, :, : s.shape[1]] = s
    return SpacedStrips(out, lengths, labels, spans)


_DIGITS: tuple[np.ndarray, np.ndarray] | None = None
_POOLS: dict[str, np.ndarray] | None = None


def _default_pools() -> dict[str, np.ndarray]:
    global _POOLS
    if _POOLS is None:
        _POOLS = image_pools()
    return _POOLS


def _digits() -> tuple[np.ndarray, np.ndarray]:
    global _DIGITS
    if _DIGITS is None:  # read and checksum the file once per process
        _DIGITS = load_digit_images()
    return _DIGITS
