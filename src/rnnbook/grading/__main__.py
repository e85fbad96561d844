"""`python -m rnnbook.grading student|grade|leak-check` (see rnnbook.grading.cli)."""
import sys

from .cli import main

sys.exit(main())
