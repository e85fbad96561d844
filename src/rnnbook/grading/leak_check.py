"""The leak check: no line of a reference solution, answer key or rubric may appear in the student
edition.
"""

from __future__ import annotations
import contextlib
import html
import json
import re
from pathlib import Path

from .discovery import NOTEBOOKS, _source, read_notebook, solution_lines


def _searchable_text(path: Path) -> str:
    """A file's text with whitespace collapsed; notebooks (any suffix) by their cells and outputs."""
    raw = path.read_bytes().decode("utf-8", errors="replace")
    if raw.lstrip().startswith("{"):
        with contextlib.suppress(ValueError, AttributeError, TypeError, KeyError):
            cells = json.loads(raw)["cells"]
            parts = [_source(c) for c in cells]
            for out in (o for c in cells for o in c.get("outputs", [])):
                parts += [out.get("text", "")] + [v for v in out.get("data", {}).values() if isinstance(v, str)]
            raw = "\n".join("".join(p) if isinstance(p, list) else str(p) for p in parts)
    if path.suffix in {".html", ".htm", ".xml"}:
        raw = html.unescape(re.sub(r"<[^>]+>", "", raw))
    return " ".join(raw.split())


def leak_check(directory: Path, notebook_dir: Path = NOTEBOOKS) -> list[str]:
    """Every (file, solution line) where a line of a reference solution appears under `directory`."""
    secrets = sorted(solution_lines(read_notebook(p) for p in sorted(Path(notebook_dir).glob("*.ipynb"))))
    leaks = []
    for path in sorted(Path(directory).rglob("*")):
        if not path.is_file() or path.suffix in {".png", ".jpg", ".svg", ".woff", ".woff2", ".ttf", ".db",
                                                 ".ico", ".pickle", ".gif", ".eot", ".sqlite"}:
            continue
        text = _searchable_text(path)
        leaks += [f"{path}: {line!r}" for line in secrets if line in text]
    return leaks
