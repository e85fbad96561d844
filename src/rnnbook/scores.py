"""From music21 scores to melody tokens: the token format, and building the shipped token files.

A melody is a sequence drawn from a small vocabulary (45 symbols in the shipped Bach file):

    "P52" ... "P86"  a note of that MIDI pitch (60 = middle C), always followed by a duration,
    "R"              a rest, always followed by a duration,
    "D1", "D1/2", "D3/2", ...  a duration in quarter notes (beats), as an exact fraction,
    "|"              a bar line (between two bars; the pick-up bar counts as a bar),
    "END"            the end of a piece (it also stands before the first piece of a stream).

Every piece is transposed to C major or A minor (the key music21's Krumhansl-Schmuckler analysis
finds, `Score.analyze("key")`), by the shift of -6..+5 semitones that takes its tonic to C or A.
Ties are not encoded: a note tied over a bar line appears as two notes of the same pitch; grace
notes (duration 0) are dropped; a chord in the melody line keeps its top note; fermatas,
dynamics and the time signature are not encoded.

`build` parses every Bach chorale of music21's corpus (`music21.corpus.getComposer("bach")`, the
`.mxl` files), takes the soprano part (`soprano_part`), drops melodies identical to one already
kept (same tokens), and writes `data/music_bach_tokens.json` (about 3.5 minutes on one core);
`build_essen` does the same for the folk songs of five files of music21's Essen collection
(`ESSEN_FILES`; each song is one part) and writes `data/music_essen_tokens.json`. Both run
from `python -m rnnbook.music build` / `build-essen`.

This module holds no loading, splitting or modelling of the token files (`rnnbook.music`) and
no sound (`rnnbook.sound`); music21 is imported only by the functions that parse.
"""
from __future__ import annotations

import json
import time
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

from .packaged import DATA_DIR, sha256_hex

__all__ = ["END", "BAR", "REST", "TOKENS_FILE", "ESSEN_FILE", "ESSEN_FILES", "duration_token",
           "transposition", "soprano_part", "melody_tokens", "build", "essen_tokens",
           "essen_songs", "build_essen"]

TOKENS_FILE = DATA_DIR / "music_bach_tokens.json"
ESSEN_FILE = DATA_DIR / "music_essen_tokens.json"
END, BAR, REST = "END", "|", "R"


def duration_token(ql: Fraction) -> str:
    """The token of a duration of `ql` quarter notes: "D1", "D1/2", "D3/2", ..."""
    return f"D{ql.numerator}" if ql.denominator == 1 else f"D{ql.numerator}/{ql.denominator}"


def _sha256(path: Path) -> str:
    return sha256_hex(Path(path).read_bytes())


def transposition(tonic_pitch_class: int, mode: str) -> int:
    """Semitones (-6..+5) that move a key's tonic to C (major) or A (minor)."""
    if mode not in ("major", "minor"):
        raise ValueError(f"mode must be 'major' or 'minor', got {mode!r}")
    if not 0 <= int(tonic_pitch_class) < 12:
        raise ValueError(f"tonic_pitch_class must be in 0..11, got {tonic_pitch_class}")
    target = 0 if mode == "major" else 9
    shift = (target - int(tonic_pitch_class)) % 12
    return shift - 12 if shift > 5 else shift


def soprano_part(score):
    """The part named soprano (or the first of exactly four parts); ValueError if neither."""
    for part in score.parts:
        names = f"{part.partName or ''} {part.id or ''}".lower()
        if "soprano" in names:
            return part
    if len(score.parts) == 4:
        return score.parts[0]
    raise ValueError(f"no soprano among {[p.partName for p in score.parts]}")


def melody_tokens(score, part=None) -> tuple[list[str], dict[str, Any]]:
    """Tokens of a melody part (default: `soprano_part`) of a music21 score, transposed to
    C major / A minor, and info."""
    key = score.analyze("key")
    shift = transposition(key.tonic.pitchClass, key.mode)
    part = soprano_part(score) if part is None else part
    tokens: list[str] = []
    for k, measure in enumerate(part.getElementsByClass("Measure")):
        if k > 0:
            tokens.append(BAR)
        for el in measure.notesAndRests:
            ql = Fraction(el.duration.quarterLength).limit_denominator(64)
            if ql == 0:  # grace notes take no time
                continue
            if el.isRest:
                tokens.append(REST)
            elif el.isNote:
                tokens.append(f"P{el.pitch.midi + shift}")
            else:  # a chord in a melody line: keep its top note
                tokens.append(f"P{max(p.midi for p in el.pitches) + shift}")
            tokens.append(duration_token(ql))
    return tokens, {"key": f"{key.tonic.name} {key.mode}", "shift": shift}


def _parse_piece(path: str):
    from music21 import converter
    return converter.parse(path)


class _MelodyFilter:
    """Collects the melodies worth keeping: the right number of parts, at least 20 tokens, and
    not an exact duplicate of one kept before (both corpora repeat tunes under other names)."""

    MIN_TOKENS = 20

    def __init__(self, tokens_of) -> None:
        self.tokens_of = tokens_of  # score -> (tokens, info); ValueError for a wrong score
        self.pieces: list[dict[str, Any]] = []
        self.skipped = {"parts": 0, "duplicate": 0, "short": 0}
        self._seen: set[str] = set()

    def add(self, piece_id: str, score) -> bool:
        """Tokenise `score` and keep it under `piece_id` unless a rule skips it; True if kept."""
        try:
            tokens, info = self.tokens_of(score)
        except ValueError:
            self.skipped["parts"] += 1
            return False
        text = " ".join(tokens)
        if len(tokens) < self.MIN_TOKENS:
            self.skipped["short"] += 1
            return False
        if text in self._seen:
            self.skipped["duplicate"] += 1
            return False
        self._seen.add(text)
        self.pieces.append({"id": piece_id, **info, "tokens": text})
        return True


def build(out: Path = TOKENS_FILE, log=print) -> dict[str, Any]:
    """Parse every Bach chorale of music21's corpus and write the token file (minutes)."""
    import music21
    from music21 import corpus
    paths = sorted((p for p in corpus.getComposer("bach") if p.suffix == ".mxl"),
                   key=lambda p: p.name)
    keep, t0 = _MelodyFilter(melody_tokens), time.monotonic()
    for i, p in enumerate(paths):
        keep.add(p.stem, _parse_piece(str(p)))  # melody_tokens: ValueError if not four parts
        if (i + 1) % 50 == 0:
            log(f"{i + 1}/{len(paths)} files, {len(keep.pieces)} kept, "
                f"{time.monotonic() - t0:.0f} s")
    pieces, skipped = keep.pieces, keep.skipped
    blob = {"format": "rnnbook-melodies-1", "source": "music21 corpus, composer 'bach', .mxl",
            "music21": music21.__version__, "skipped": skipped, "pieces": pieces}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(blob, indent=0, sort_keys=True) + "\n")
    log(f"wrote {len(pieces)} melodies to {out} (sha256 {_sha256(out)}); skipped {skipped}")
    return blob


ESSEN_FILES = ("altdeu10", "altdeu20", "boehme10", "boehme20", "kinder0")


def essen_tokens(score) -> tuple[list[str], dict[str, Any]]:
    """Tokens of a one-part Essen folk song (its only part), transposed, and info."""
    if len(score.parts) != 1:
        raise ValueError(f"an Essen song has one part, got {len(score.parts)}")
    tokens, info = melody_tokens(score, score.parts[0])
    ts = score.parts[0].recurse().getElementsByClass("TimeSignature")
    return tokens, {**info, "meter": ts[0].ratioString if ts else "none",
                    "title": score.metadata.title if score.metadata else ""}


def essen_songs(name: str) -> list:
    """The songs (music21 scores) of one Essen file of music21's corpus, e.g. "altdeu10"."""
    from music21 import converter, corpus
    paths = [p for p in corpus.getPaths() if p.parent.name == "essenFolksong"
             and p.stem == name]
    if not paths:
        raise ValueError(f"no Essen file {name!r} in music21's corpus; the build uses "
                         f"{ESSEN_FILES}")
    return list(converter.parse(str(paths[0])).scores)


def build_essen(out: Path = ESSEN_FILE, files: Sequence[str] = ESSEN_FILES,
                log=print) -> dict[str, Any]:
    """Parse the Essen files `files` of music21's corpus and write the folk token file."""
    import music21
    keep, t0 = _MelodyFilter(essen_tokens), time.monotonic()
    for name in files:
        for k, score in enumerate(essen_songs(name)):
            keep.add(f"{name}/{k}", score)
        log(f"{name}: {len(keep.pieces)} kept so far, {time.monotonic() - t0:.0f} s")
    pieces, skipped = keep.pieces, keep.skipped
    blob = {"format": "rnnbook-melodies-1",
            "source": f"music21 corpus, essenFolksong/{{{','.join(files)}}}.abc",
            "music21": music21.__version__, "skipped": skipped, "pieces": pieces}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(blob, indent=0, sort_keys=True, ensure_ascii=False) + "\n")
    log(f"wrote {len(pieces)} songs to {out} (sha256 {_sha256(out)}); skipped {skipped}")
    return blob
