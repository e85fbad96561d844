"""Choosing the torch device and seeding every random number generator."""
from __future__ import annotations

import os
import random

import numpy as np
import torch

VALID_DEVICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_device(name: str | None = None) -> torch.device:
    """Return the torch device named by `name` or by $RNNBOOK_DEVICE (default `auto`)."""
    if name is None:
        name = os.environ.get("RNNBOOK_DEVICE", "auto")
    key = name.strip().lower()
    if key not in VALID_DEVICES:
        raise ValueError(
            f"unknown device {name!r} (from RNNBOOK_DEVICE or the argument); "
            f"valid names are: {', '.join(VALID_DEVICES)}"
        )
    if key == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if key == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "RNNBOOK_DEVICE=cuda was asked for, but torch sees no CUDA GPU on this machine "
            f"(torch {torch.__version__}, built with CUDA {torch.version.cuda}). "
            "Set RNNBOOK_DEVICE=cpu (or auto) to run on the CPU, or install a CUDA build of torch."
        )
    if key == "mps" and not _mps_available():
        raise RuntimeError(
            "RNNBOOK_DEVICE=mps was asked for, but Apple's Metal backend is not available here. "
            "Set RNNBOOK_DEVICE=cpu (or auto) to run on the CPU."
        )
    return torch.device(key)


def seed_everything(seed: int) -> None:
    """Seed Python's `random`, NumPy's global generator and torch (all CUDA devices too)."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(int(seed))
