"""What the tests need to know about the book's notebooks and table of contents."""
from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
# where the root conftest.py leaves nbval's executed notebooks and student-edition runs
NBVAL_STAGE = ROOT / "_build" / "smoke" / "nbval"
# `make test` runs nbval and the tests as two pytest runs (each over several xdist workers) under
# one RNNBOOK_TEST_RUN token; the root conftest.py stamps what it stages with it
TEST_RUN = os.environ.get("RNNBOOK_TEST_RUN", "")


def staged_this_run(path: Path, stamp: str, session_start: float) -> bool:
    """Whether a staged nbval result was made by this test run: the same RNNBOOK_TEST_RUN token,
    or (without one) written since this pytest session began."""
    if not path.exists():
        return False
    if TEST_RUN:
        return stamp == TEST_RUN
    return path.stat().st_mtime >= session_start


def notebooks() -> list[Path]:
    return sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def toc_files() -> list[str]:
    """Every file named in _toc.yml (without suffix), root first, in order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    found = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                found.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return [str(Path(f).with_suffix("")) for f in found]
