"""How a melody sounds and looks: notes, additive synthesis, WAV files, music21 streams, piano rolls.

A `Note` is a pitch (MIDI number, None for a rest), a start and a duration in beats. `synthesize`
renders notes by additive synthesis (four harmonics, an attack-decay envelope) into a float
array; `write_wav` stores it as 16-bit PCM; `to_stream` builds a music21 stream for MIDI or
MusicXML export; `piano_roll` draws pitch against time in beats.

This module knows nothing of tokens, data sets or models (those are `rnnbook.music` and
`rnnbook.scores`); music21 and matplotlib are imported only by the functions that need them.
"""
from __future__ import annotations

import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["Note", "midi_to_hz", "HARMONICS", "synthesize", "write_wav", "to_stream", "piano_roll"]


@dataclass(frozen=True)
class Note:
    """One note or rest: MIDI pitch (None for a rest), start and duration in beats (quarter notes)."""

    pitch: int | None
    start: float
    duration: float


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
