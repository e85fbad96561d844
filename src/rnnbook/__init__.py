"""rnnbook: the helper package of Memory Machines, a course on sequence models and RNNs."""
__version__ = "0.1.0"

from .device import get_device, seed_everything  # noqa: E402
from .progress import progress  # noqa: E402
from .runtime import budget, environment_report, print_environment, smoke_mode  # noqa: E402

__all__ = ["budget", "environment_report", "print_environment", "get_device", "progress", "seed_everything", "smoke_mode"]
