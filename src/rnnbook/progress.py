"""The one progress bar that every training loop of the course uses."""
from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm


def progress(iterable: Iterable | None = None, *, total: int | None = None, desc: str | None = None,
             **kwargs: Any) -> tqdm:
    """Wrap `iterable` in a tqdm bar; RNNBOOK_PROGRESS=0 (set by the book build) silences it."""
    disable = os.environ.get("RNNBOOK_PROGRESS", "1").strip() == "0"
    return tqdm(iterable, total=total, desc=desc, disable=disable, leave=False, **kwargs)
