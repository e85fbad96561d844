"""Every entry of the bibliography is cited by some page (and -W makes unknown keys fail the build)."""
import json
import re

from notebook_tools import ROOT


def cited_keys() -> set[str]:
    sources = [p.read_text() for p in (ROOT / "book").glob("*.md")]
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        sources += ["".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "markdown"]
    keys = set()
    for text in sources:
        for group in re.findall(r"\{cite(?::[a-z]+)?\}`([^`]+)`", text):
            keys |= {k.strip() for k in group.split(",")}
    return keys


def test_every_bibliography_entry_is_cited_somewhere():
    entries = set(re.findall(r"@\w+\{([^,\s]+),", (ROOT / "book" / "references.bib").read_text()))
    uncited = sorted(entries - cited_keys())
    assert not uncited, f"entries in book/references.bib that no page cites: {uncited}"
