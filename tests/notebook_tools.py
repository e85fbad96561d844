"""What the tests need to know about the book's notebooks and table of contents."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
# where the root conftest.py leaves nbval's executed notebooks and student-edition runs
NBVAL_STAGE = ROOT / "_build" / "smoke" / "nbval"


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
