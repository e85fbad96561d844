"""Melodies as tokens: Bach chorale soprano lines and Essen folk songs from music21's corpus, an
LSTM over them, audio.

Tokens. A melody is a sequence drawn from a small vocabulary (45 symbols in the shipped file):

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

Data. `python -m rnnbook.music build` parses every Bach chorale of music21's corpus
(`music21.corpus.getComposer("bach")`, the `.mxl` files), takes the soprano part (`soprano_part`),
drops melodies identical to one already kept (same tokens), and writes
`data/music_bach_tokens.json` (about 3.5 minutes on one core; the notebook only reads that file,
after checking its sha256). `python -m rnnbook.music build-essen` does the same for the folk
songs of five files of music21's Essen collection (`ESSEN_FILES`; each song is one part) and
writes `data/music_essen_tokens.json` (`load_essen`; split with `ESSEN_SPLIT_SEED`). The pieces are split about 80/10/10 into train/validation/test by
tune (`split_pieces`): pieces sharing a run of ten notes stay together, so no test melody is a
variant of a training one.

Models. `MelodyLSTM` (embedding -> LSTM -> linear) is trained by stateful truncated BPTT on the
train pieces joined into one stream (`train_melody`). The baseline is `rnnbook.ngram.KneserNey` on
the same token strings. Both are scored on the same test stream, each token predicted from
everything before it (`stream_nll`).

Sound. `synthesize` renders notes by additive synthesis (four harmonics, an attack-decay envelope)
into a float array; `write_wav` stores it as 16-bit PCM; `to_stream` builds a music21 stream for
MIDI or MusicXML export; `piano_roll` draws pitch against time in beats.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from .data import batchify, bptt_batches
from .device import get_device, seed_everything
from .training import Run

__all__ = ["Note", "TOKENS_FILE", "TOKENS_SHA256", "melody_tokens", "transposition",
           "soprano_part", "load_melodies", "split_pieces", "tune_groups", "join_pieces",
           "tokens_to_notes", "bar_lines", "notes_to_tokens", "midi_to_hz", "transpose_tokens",
           "temperature_softmax", "synthesize", "write_wav", "to_stream", "piano_roll", "Vocabulary",
           "MelodyLSTM", "train_melody", "stream_losses", "stream_nll", "sample_tokens",
           "ESSEN_FILE", "ESSEN_FILES", "essen_tokens", "essen_songs", "load_essen"]

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
TOKENS_FILE = DATA_DIR / "music_bach_tokens.json"
TOKENS_SHA256 = "9d7a1d4857f5e9e201d84d6ce3e9021d8ba02f1b08425e6b6cbbd9a3a897ecee"
SPLIT_SEED = 1685  # Bach's birth year
ESSEN_FILE = DATA_DIR / "music_essen_tokens.json"
ESSEN_SHA256 = "c7fe7a6d6e2050d7cafb89c7ee4be7ccdae5febbbd8b55d5020bdebde6d8c061"
ESSEN_SPLIT_SEED = 1995  # the year the Essen collection was published
END, BAR, REST = "END", "|", "R"


@dataclass(frozen=True)
class Note:
    """One note or rest: MIDI pitch (None for a rest), start and duration in beats (quarter notes)."""

    pitch: int | None
    start: float
    duration: float


# ---------------------------------------------------------------------------- tokens


def _dur_token(ql: Fraction) -> str:
    return f"D{ql.numerator}" if ql.denominator == 1 else f"D{ql.numerator}/{ql.denominator}"


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
            tokens.append(_dur_token(ql))
    return tokens, {"key": f"{key.tonic.name} {key.mode}", "shift": shift}


def tokens_to_notes(tokens: Sequence[str]) -> list[Note]:
    """Notes and rests of a token sequence; a pitch/rest without a duration (or vice versa) is skipped."""
    notes, t, pending = [], Fraction(0), None  # pending: (pitch or None,) awaiting a duration
    for tok in tokens:
        if tok.startswith("P") or tok == REST:
            pending = (None if tok == REST else int(tok[1:]),)
        elif tok.startswith("D"):
            if pending is not None:
                d = Fraction(tok[1:])
                notes.append(Note(pending[0], float(t), float(d)))
                t += d
            pending = None
        elif tok == END:
            if notes:
                break
        elif tok != BAR:
            raise ValueError(f"unknown token {tok!r}")
    return notes


def bar_lines(tokens: Sequence[str]) -> list[float]:
    """Times in beats of the bar lines of a token sequence (as `tokens_to_notes` counts time)."""
    out, t, pending = [], Fraction(0), False
    for tok in tokens:
        if tok.startswith("P") or tok == REST:
            pending = True
        elif tok.startswith("D"):
            if pending:
                t += Fraction(tok[1:])
            pending = False
        elif tok == BAR:
            out.append(float(t))
        elif tok == END and t > 0:
            break
    return out


def notes_to_tokens(notes: Sequence[Note]) -> list[str]:
    """Tokens of notes (no bar lines: the bar position is not stored in a Note)."""
    out = []
    for n in notes:
        out.append(REST if n.pitch is None else f"P{int(n.pitch)}")
        out.append(_dur_token(Fraction(n.duration).limit_denominator(64)))
    return out


def transpose_tokens(tokens: Sequence[str], semitones: int) -> list[str]:
    """Shift every pitch token by `semitones`; other tokens unchanged."""
    return [f"P{int(t[1:]) + int(semitones)}" if t.startswith("P") else t for t in tokens]


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


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_melodies(path: str | Path | None = None, check: bool = True) -> dict[str, list[str]]:
    """Piece id -> token list from the shipped token file (sha256 checked)."""
    path = Path(path) if path is not None else TOKENS_FILE
    cmd = "build-essen" if path == ESSEN_FILE else "build"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; rebuild it with `python -m rnnbook.music {cmd}`")
    want = {TOKENS_FILE: TOKENS_SHA256, ESSEN_FILE: ESSEN_SHA256}.get(path)
    if check and want is not None and _sha256(path) != want:
        raise RuntimeError(f"{path} has sha256 {_sha256(path)}, expected {want}; "
                           f"rebuild it with `python -m rnnbook.music {cmd}` and the pinned music21")
    blob = json.loads(path.read_text(encoding="utf-8"))
    return {p["id"]: p["tokens"].split() for p in blob["pieces"]}


def load_essen(check: bool = True) -> dict[str, list[str]]:
    """Song id ("file/index") -> token list from the shipped Essen folk-song file (sha256 checked)."""
    return load_melodies(ESSEN_FILE, check)


def tune_groups(melodies: dict[str, Sequence[str]], notes: int = 10) -> list[list[str]]:
    """Pieces grouped by tune: two pieces sharing any run of `notes` notes (pitch and duration,
    bar lines ignored) are in one group, and so, transitively, are their partners."""
    parent = {pid: pid for pid in melodies}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    n, owner = 2 * notes, {}
    for pid in sorted(melodies):
        toks = [t for t in melodies[pid] if t != BAR]
        for i in range(len(toks) - n + 1):
            g = tuple(toks[i: i + n])
            if g in owner:
                parent[find(pid)] = find(owner[g])
            else:
                owner[g] = pid
    groups: dict[str, list[str]] = {}
    for pid in sorted(melodies):
        groups.setdefault(find(pid), []).append(pid)
    return sorted(groups.values())


def split_pieces(melodies: dict[str, Sequence[str]], seed: int = SPLIT_SEED
                 ) -> dict[str, list[str]]:
    """Fixed ~80/10/10 train/validation/test split of piece ids, by tune.

    Bach harmonised many hymn tunes more than once, with small changes; pieces that share a run
    of ten notes (`tune_groups`) go to the same part, so no test melody is a variant of a
    training one.
    """
    groups = tune_groups(melodies)
    if len(groups) < 10:
        raise ValueError(f"need at least 10 distinct tunes to split, got {len(groups)}")
    perm = np.random.default_rng(seed).permutation(len(groups))
    a, b = int(0.8 * len(groups)), int(0.9 * len(groups))
    pick = lambda idx: sorted(pid for i in idx for pid in groups[i])  # noqa: E731
    return {"train": pick(perm[:a]), "validation": pick(perm[a:b]), "test": pick(perm[b:])}


def join_pieces(pieces: Iterable[Sequence[str]]) -> list[str]:
    """One stream: END, piece, END, piece, ..., END."""
    out = [END]
    for p in pieces:
        out.extend(p)
        out.append(END)
    return out


# ---------------------------------------------------------------------------- sound


def midi_to_hz(midi: float | np.ndarray) -> float | np.ndarray:
    """Equal-tempered frequency of a MIDI note number (69 = A4 = 440 Hz)."""
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=float) - 69.0) / 12.0)


HARMONICS = (1.0, 0.5, 0.25, 0.125)


def synthesize(notes: Sequence[Note], bpm: float = 90.0, sample_rate: int = 16000,
               attack: float = 0.01, decay: float = 3.0, release: float = 0.03) -> np.ndarray:
    """Mono float32 samples in [-1, 1] of `notes` played at `bpm` quarter notes per minute.

    Each note is a sum of harmonics k f (amplitudes `HARMONICS`) under an envelope: a linear
    rise over `attack` s, an exponential decay exp(-decay t), and a linear fade over the last
    `release` s so that consecutive notes do not click. The length is the end of the last note.
    """
    if not bpm > 0 or not sample_rate > 0:
        raise ValueError(f"bpm and sample_rate must be positive, got {bpm}, {sample_rate}")
    beat = 60.0 / bpm
    end = max((n.start + n.duration for n in notes), default=0.0)
    out = np.zeros(int(round(end * beat * sample_rate)), dtype=np.float64)
    norm = sum(HARMONICS)
    for n in notes:
        if n.duration <= 0:
            raise ValueError(f"note durations must be positive, got {n.duration}")
        if n.pitch is None:
            continue
        i0 = int(round(n.start * beat * sample_rate))
        i1 = min(int(round((n.start + n.duration) * beat * sample_rate)), len(out))
        t = np.arange(i1 - i0) / sample_rate
        f = float(midi_to_hz(n.pitch))
        wave_ = sum(a * np.sin(2 * np.pi * k * f * t) for k, a in enumerate(HARMONICS, 1)
                    if k * f < sample_rate / 2) / norm
        env = np.minimum(1.0, t / attack) * np.exp(-decay * t)
        env *= np.clip((t[-1] - t) / release, 0.0, 1.0) if len(t) else 1.0
        out[i0:i1] += 0.8 * wave_ * env
    return out.astype(np.float32)


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int = 16000) -> Path:
    """Write mono samples in [-1, 1] as a 16-bit PCM WAV file."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"samples must be one-dimensional (mono), got shape {x.shape}")
    pcm = np.round(np.clip(x, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(pcm.tobytes())
    return Path(path)


def to_stream(notes: Sequence[Note], bpm: float = 90.0):
    """A music21 Stream of `notes` (4/4, C major) for `.write("midi"|"musicxml", fp=...)`."""
    from music21 import meter, note, stream, tempo
    s = stream.Stream()
    s.append(meter.TimeSignature("4/4"))
    s.append(tempo.MetronomeMark(number=bpm))
    for n in notes:
        el = note.Rest() if n.pitch is None else note.Note(int(n.pitch))
        el.quarterLength = Fraction(n.duration).limit_denominator(64)
        s.append(el)
    return s


def piano_roll(ax, notes: Sequence[Note], color: str = "C0", label: str | None = None,
               bars: Sequence[float] = ()) -> None:
    """Draw notes as bars (time in beats across, MIDI pitch up) and grey lines at `bars`."""
    from matplotlib.patches import Rectangle
    pitches = [n.pitch for n in notes if n.pitch is not None] or [60, 72]  # empty: a blank roll
    for n in notes:
        if n.pitch is not None:
            ax.add_patch(Rectangle((n.start, n.pitch - 0.4), n.duration * 0.95, 0.8,
                                   color=color, label=label))
            label = None
    end = max((n.start + n.duration for n in notes), default=4.0)
    lo, hi = min(pitches) - 1, max(pitches) + 1
    ax.set_xlim(0, end)
    ax.set_ylim(lo - 0.5, hi + 0.5)
    names = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
    ticks = [p for p in range(lo, hi + 1) if p % 12 in (0, 4, 7, 9)]
    ax.set_yticks(ticks, [f"{names[p % 12]}{p // 12 - 1} ({p})" for p in ticks])
    ax.grid(axis="x", visible=False)  # the only vertical lines are the bar lines
    for x in bars:
        ax.axvline(x, color="0.75", lw=0.8, zorder=0)
    ax.set_xlabel("time (beats = quarter notes)")
    ax.set_ylabel("pitch (MIDI number)")


# ---------------------------------------------------------------------------- models


class Vocabulary:
    """Token <-> id over the tokens given (sorted, so the ids do not depend on their order)."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self.tokens = sorted(set(tokens))
        self.index = {t: i for i, t in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """Ids of tokens; ValueError naming any token not in the vocabulary."""
        bad = sorted({t for t in tokens if t not in self.index})
        if bad:
            raise ValueError(f"tokens not in the vocabulary: {bad}; the LSTM has no unknown"
                             " symbol: build the Vocabulary from every token it must encode")
        return np.array([self.index[t] for t in tokens], dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[int(i)] for i in ids]


class MelodyLSTM(nn.Module):
    """Embedding -> LSTM -> linear over melody tokens."""

    def __init__(self, vocab_size: int, hidden: int = 128, embed: int = 32, layers: int = 1,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if vocab_size < 2:
            raise ValueError(f"vocab_size must be at least 2, got {vocab_size}")
        self.embed = nn.Embedding(vocab_size, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=layers,
                            dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, vocab_size)

    def forward(self, x: torch.Tensor, state=None):
        """x: (T, B) ids -> logits (T, B, V) and the final (h, c)."""
        y, state = self.lstm(self.drop(self.embed(x)), state)
        return self.out(self.drop(y)), state


@torch.no_grad()
def stream_losses(model: MelodyLSTM, ids: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Nats of each of ids[1:], predicted from all ids before it (one stream, state carried)."""
    ids = torch.as_tensor(np.asarray(ids), dtype=torch.long)
    if len(ids) < 2:
        raise ValueError("need at least 2 tokens to score one")
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    ids = ids.to(dev)
    state, out = None, []
    for s in range(0, len(ids) - 1, chunk):
        x, y = ids[s: s + chunk], ids[s + 1: s + 1 + chunk]
        logits, state = model(x[: len(y)].unsqueeze(1), state)
        out.append(nn.functional.cross_entropy(logits[:, 0].double(), y, reduction="none"))
    model.train(was)
    return torch.cat(out).cpu().numpy()


def stream_nll(model: MelodyLSTM, ids: np.ndarray, chunk: int = 1024) -> float:
    """Mean nats per token of ids[1:], each predicted from all ids before it (one stream)."""
    return float(stream_losses(model, ids, chunk).mean())


def train_melody(train_ids: np.ndarray, val_ids: np.ndarray, vocab_size: int, steps: int,
                 hidden: int = 128, embed: int = 32, dropout: float = 0.3, batch: int = 16,
                 seq_len: int = 64, lr: float = 3e-3, eval_every: int = 100, seed: int = 0,
                 device=None, progress=None) -> tuple[MelodyLSTM, list[dict[str, float]]]:
    """Stateful truncated BPTT for `steps` steps; returns the weights of the best validation NLL.

    A live run (nothing saved): `rnnbook.training.Run` counts the steps, keeps the validation log
    and the best weights, as in the resumable scripts.
    """
    if steps < 1:
        raise ValueError(f"steps must be positive, got {steps}")
    run = Run(None, max_steps=steps, progress=progress, desc="melody LSTM")
    device = get_device(device) if not isinstance(device, torch.device) else device
    seed_everything(seed)
    model = MelodyLSTM(vocab_size, hidden, embed, dropout=dropout).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr / 20)
    extra = run.begin(model, opt, {"epoch": 0, "val_log": []}, device, scheduler=sched)

    def epoch_windows(epoch: int):
        offset = (epoch * 17) % seq_len  # windows start somewhere new each epoch
        data = torch.as_tensor(batchify(np.asarray(train_ids)[offset:], batch)).to(device)
        return iter(bptt_batches(data, seq_len))

    windows, state = epoch_windows(0), None
    for step in run.steps():
        xy = next(windows, None)
        if xy is None:  # epoch done: new offset, fresh state
            extra["epoch"] += 1
            windows, state = epoch_windows(extra["epoch"]), None
            xy = next(windows)
        x, y = xy
        if state is not None:
            state = tuple(s.detach() for s in state)
        logits, state = model(x, state)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % eval_every == 0 or step == steps:
            run.evaluated(stream_nll(model, val_ids), epoch=extra["epoch"], train=loss.item())
    model.load_state_dict(extra["best"]["weights"])
    return model.eval(), extra["val_log"]


def temperature_softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / temperature) along the last axis, computed stably."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


@torch.no_grad()
def sample_tokens(model: MelodyLSTM, vocab: Vocabulary, n_tokens: int = 200,
                  temperature: float = 1.0, prompt: Sequence[str] = (END,), seed: int = 0
                  ) -> list[str]:
    """Up to `n_tokens` tokens after `prompt`, drawn at `temperature`; stops at END."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    rng = np.random.default_rng(seed)
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    x = torch.as_tensor(vocab.encode(list(prompt)), device=dev).unsqueeze(1)
    logits, state = model(x)
    out = []
    for _ in range(int(n_tokens)):
        p = temperature_softmax(logits[-1, 0].double().cpu().numpy(), temperature)
        nxt = int(rng.choice(len(p), p=p))
        tok = vocab.tokens[nxt]
        if tok == END:
            break
        out.append(tok)
        logits, state = model(torch.tensor([[nxt]], device=dev), state)
    model.train(was)
    return out


def _main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m rnnbook.music")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="parse the Bach chorales and write the melody token file")
    b.add_argument("--out", default=str(TOKENS_FILE))
    e = sub.add_parser("build-essen", help="parse the Essen folk songs (ESSEN_FILES) and write"
                       " the folk token file")
    e.add_argument("--out", default=str(ESSEN_FILE))
    a = p.parse_args(argv)
    if a.cmd == "build":
        build(Path(a.out), log=lambda s: print(s, flush=True))
    elif a.cmd == "build-essen":
        build_essen(Path(a.out), log=lambda s: print(s, flush=True))


if __name__ == "__main__":
    _main(sys.argv[1:])
