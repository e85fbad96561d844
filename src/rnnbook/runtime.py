"""Run-time settings read from the environment: the training budget and an environment report."""
from __future__ import annotations

import os
import platform
from typing import TypeVar

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def smoke_mode() -> bool:
    """True when $RNNBOOK_SMOKE asks for the shrunken test budget."""
    value = os.environ.get("RNNBOOK_SMOKE", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"RNNBOOK_SMOKE={value!r} is not understood; use 1 (smoke test) or 0 (full budget)")


def budget(full: T, smoke: T) -> T:
    """Return `smoke` when RNNBOOK_SMOKE=1, else `full`: every training loop takes its size from here."""
    return smoke if smoke_mode() else full


def environment_report() -> dict[str, str]:
    """Versions of Python and the main libraries, the device in use and the budget, as strings."""
    import matplotlib
    import numpy
    import torch

    from . import __version__
    from .device import get_device

    device = get_device()
    name = str(device)
    if device.type == "cuda":
        name += f" ({torch.cuda.get_device_name(device)})"
    return {
        "python": platform.python_version(),
        "rnnbook": __version__,
        "numpy": numpy.__version__,
        "torch": torch.__version__,
        "matplotlib": matplotlib.__version__,
        "device": name,
        "torch threads": str(torch.get_num_threads()),
        "budget": "smoke (RNNBOOK_SMOKE=1)" if smoke_mode() else "full",
    }


def print_environment() -> None:
    """Print `environment_report()` as aligned lines: the first thing every chapter shows."""
    report = environment_report()
    width = max(len(k) for k in report)
    for key, value in report.items():
        print(f"{key:>{width}}: {value}")
