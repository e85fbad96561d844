"""The course's figure style: one place for sizes, colours and fonts, and small drawing helpers."""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

# Okabe–Ito colours: distinguishable with the common forms of colour blindness.
COLORS = {
    "blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "red": "#D55E00",
    "purple": "#CC79A7", "sky": "#56B4E9", "yellow": "#F0E442", "black": "#000000",
}
CYCLE = [COLORS[k] for k in ("blue", "orange", "green", "red", "purple", "sky", "black")]
WIDTH = 7.0  # inches: the text column of the rendered book at 100 dpi


def use_style() -> None:
    """Apply the course style to matplotlib (idempotent)."""
    mpl.rcParams.update({
        "figure.figsize": (WIDTH, WIDTH * 0.5),
        "figure.dpi": 100,
        "savefig.dpi": 150,
        "savefig.bbox": "tight",
        "font.size": 11,
        "axes.titlesize": 12,
        "axes.labelsize": 11,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.prop_cycle": mpl.cycler(color=CYCLE),
        "legend.frameon": False,
        "image.cmap": "viridis",
    })


def figure(ncols: int = 1, nrows: int = 1, height: float | None = None, **kwargs):
    """A figure of the column width with `nrows x ncols` axes, in the course style."""
    use_style()
    h = height if height is not None else WIDTH * 0.45 * nrows / max(1, ncols) ** 0.5
    return plt.subplots(nrows, ncols, figsize=(WIDTH, h), layout="constrained", **kwargs)


def show_matrix(ax, matrix, row_labels: Sequence[str] | None = None,
                col_labels: Sequence[str] | None = None, title: str = "", xlabel: str = "",
                ylabel: str = "", annotate: bool = True, cmap: str = "Blues", fmt: str = "{:g}"):
    """Draw a small matrix as a labelled heat map, with its values written in the cells."""
    m = np.asarray(matrix, dtype=float)
    image = ax.imshow(m, cmap=cmap, aspect="auto")
    ax.grid(False)
    ax.set_xticks(range(m.shape[1]), col_labels if col_labels is not None else range(m.shape[1]))
    ax.set_yticks(range(m.shape[0]), row_labels if row_labels is not None else range(m.shape[0]))
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if annotate:
        lo, hi = np.nanmin(m), np.nanmax(m)
        for (i, j), v in np.ndenumerate(m):
            dark = hi > lo and (v - lo) / (hi - lo) > 0.6
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=8,
                    color="white" if dark else "black")
    return image
