"""Real data sets read from files inside installed packages: no network, checked by sha256.

statsmodels ships small public-domain data sets as CSV files. We read those files directly
(not through `statsmodels.datasets`, whose loaders go through pandas and change across versions)
and refuse to go on if a file's bytes are not the ones this course was written against.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# sha256 of the files in statsmodels 0.15.0 (see data/README.md).
SUNSPOTS_SHA256 = "f67889b1d9002cd5227f0e0ef54e35b419cdd85a31279adef6f73fb41e5c0a9b"
NILE_SHA256 = "88e97bea7249e5832a85e41aec6ce4b8f7b1b14aae930c8363da7f193286b598"


@dataclass(frozen=True)
class Series:
    """A yearly series: `years` (int array), `values` (float array), a name and a unit."""

    years: np.ndarray
    values: np.ndarray
    name: str
    unit: str


def statsmodels_file(*parts: str) -> Path:
    """Path of a data file inside the installed statsmodels package."""
    try:
        import statsmodels.datasets
    except ImportError as exc:  # pragma: no cover - statsmodels is pinned in requirements.txt
        raise ImportError("statsmodels is needed for this data set: pip install -r requirements.txt") from exc
    return Path(statsmodels.datasets.__file__).parent.joinpath(*parts)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_checked_csv(path: Path, sha256: str) -> tuple[list[str], np.ndarray]:
    """Header and (rows, columns) float array of a small CSV file whose sha256 must match."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; is the pinned statsmodels installed? "
                                "(pip install -r requirements.txt)")
    digest = sha256_of(path)
    if digest != sha256:
        raise ValueError(f"{path} has sha256 {digest}, expected {sha256}: the file differs from "
                         "the one this course was written against (another statsmodels version?). "
                         "Install the version pinned in requirements.txt.")
    lines = path.read_text().strip().splitlines()
    header = [h.strip().strip('"') for h in lines[0].split(",")]
    rows = np.array([[float(x) for x in line.split(",")] for line in lines[1:]])
    return header, rows


def load_sunspots() -> Series:
    """Yearly mean sunspot numbers, 1700–2008 (309 values), as shipped with statsmodels."""
    _, rows = read_checked_csv(statsmodels_file("sunspots", "sunspots.csv"), SUNSPOTS_SHA256)
    return Series(rows[:, 0].astype(int), rows[:, 1], "yearly sunspot number", "sunspots")


def load_nile() -> Series:
    """Yearly flow of the Nile at Aswan, 1871–1970 (100 values, 10^8 m^3), as in statsmodels."""
    _, rows = read_checked_csv(statsmodels_file("nile", "nile.csv"), NILE_SHA256)
    return Series(rows[:, 0].astype(int), rows[:, 1], "Nile flow at Aswan", "10^8 m^3 per year")
