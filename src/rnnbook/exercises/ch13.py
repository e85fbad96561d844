"""Checkers for chapter 13, generating melodies and text on demand."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .. import condlm as _condlm
from .. import music as _music
from .. import sound as _sound
from ._guard import SOFTMAX_FUNCTIONS
from ._core import Case, Score, _to_array, compare_arrays, fresh_seed, run_checks


def _random_melody(rng: np.random.Generator, n: int) -> list[str]:
    durs = ["D1", "D1/2", "D2", "D3/2", "D1/4", "D4"]
    out: list[str] = []
    for k in range(n):
        if k and rng.random() < 0.15:
            out.append("|")
        out.append("R" if rng.random() < 0.1 else f"P{int(rng.integers(48, 84))}")
        out.append(durs[int(rng.integers(len(durs)))])
    return out


def check_transpose_melody(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(tokens, semitones) -> tokens` with every pitch token "P<midi>" shifted."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((["P60", "D1", "P64", "D1/2", "|", "R", "D1", "P67", "D2"], 2), None,
                  "C E | rest G up 2 semitones")]
    for _ in range(4):
        tokens = _random_melody(rng, int(rng.integers(3, 30)))
        shift = int(rng.choice([-1, 1]) * rng.integers(1, 12))
        cases.append(Case((tokens, shift), None, f"{len(tokens)} tokens by {shift:+d} semitones"))
    for case in cases:
        case.expected = _music.transpose_tokens(*case.args)
        case.args = (list(case.args[0]), case.args[1])

    def compare(got, expected):
        if isinstance(got, str) or not hasattr(got, "__len__"):
            return f"expected a list of tokens, got {type(got).__name__}"
        got = list(got)
        if len(got) != len(expected):
            return f"got {len(got)} tokens, expected {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            if g != e:
                return f"token {i} is {g!r}, expected {e!r}"
        return None

    return run_checks("transpose_melody", func, cases, compare, points, seed)


def check_midi_to_hz(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(midi) -> frequencies in Hz` (equal temperament, 69 = A4 = 440 Hz)."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((np.array([69, 81, 57, 60]),), None, "A4, A5, A3 and middle C")]
    for _ in range(4):
        midi = rng.integers(21, 109, size=int(rng.integers(1, 20)))
        cases.append(Case((midi,), None, f"{midi.size} MIDI numbers from the piano's range"))
    for case in cases:
        case.expected = np.asarray(_sound.midi_to_hz(case.args[0]), dtype=float)
        case.args = (case.args[0].copy(),)

    def compare(got, expected):
        return compare_arrays(got, expected, what="frequencies", rtol=1e-9)

    return run_checks("midi_to_hz", func, cases, compare, points, seed)


def check_temperature_softmax(func: Callable, points: float = 1.0,
                              seed: int | None = None) -> Score:
    """Check `func(logits, temperature) -> probabilities` = softmax(logits / temperature)."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((np.array([2.0, 1.0, 0.0]), 1.0), None, "logits 2, 1, 0 at T = 1"),
             Case((np.array([2.0, 1.0, 0.0]), 0.5), None, "logits 2, 1, 0 at T = 0.5"),
             Case((np.array([800.0, 799.0, -5.0]), 0.7), None, "large logits at T = 0.7")]
    for _ in range(3):
        logits = rng.normal(scale=3, size=int(rng.integers(2, 40)))
        t = float(rng.choice([rng.uniform(0.2, 0.9), rng.uniform(1.1, 3.0)]))
        cases.append(Case((logits, t), None, f"{logits.size} logits at T = {t:.2f}"))
    for case in cases:
        case.expected = _music.temperature_softmax(*case.args)
        case.args = (case.args[0].copy(), case.args[1])

    def compare(got, expected):
        return compare_arrays(got, expected, what="probabilities", rtol=1e-7, atol=1e-12)

    return run_checks("temperature_softmax", func, cases, compare, points, seed,
                      forbid=SOFTMAX_FUNCTIONS)


def check_condition_inputs(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(x_emb (T, B, E), c_emb (B, C)) -> (T, B, E + C)`: the condition at every step."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(5):
        T, B, E, C = (2, 3, 4, 2) if k == 0 else tuple(int(v) for v in rng.integers(1, 9, size=4))
        x = torch.as_tensor(rng.normal(size=(T, B, E)))
        c = torch.as_tensor(rng.normal(size=(B, C)))
        expected = _condlm.condition_inputs(x, c).numpy()
        cases.append(Case((x.clone(), c.clone()), expected,
                          f"T={T} steps, B={B} sentences, E={E}, C={C}"))

    def compare(got, expected):
        return compare_arrays(got, expected, what="joined inputs", rtol=1e-12)

    return run_checks("condition_inputs", func, cases, compare, points, seed)


def _entropy_slope(logits, t):
    z = np.asarray(logits, dtype=np.float64)
    p = np.exp((z - z.max()) / t)
    p /= p.sum()
    mean = p @ z
    return float(p @ (z - mean) ** 2) / t ** 3


def check_entropy_slope(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(logits (V,), temperature) -> float`: dH/dT of softmax(logits / T) at T."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((np.zeros(4), 1.0), None, "four equal logits: the entropy is log 4 at every T"),
             Case((np.array([0.0, 1.0]), 1.0), None, "two logits 0 and 1 at T = 1")]
    for _ in range(5):
        logits = rng.normal(0, float(rng.uniform(0.5, 20)), size=int(rng.integers(2, 30)))
        cases.append(Case((logits, float(rng.uniform(0.3, 4.0))), None,
                          f"{logits.size} logits (spread {logits.std():.1f})"))
    for case in cases:
        case.expected = np.array(_entropy_slope(*case.args))
        case.args = (case.args[0].copy(), case.args[1])

    def compare(got, expected):
        return compare_arrays(got, expected, what="slope dH/dT", rtol=1e-6, atol=1e-10)

    return run_checks("entropy_slope", func, cases, compare, points, seed,
                      forbid=SOFTMAX_FUNCTIONS + ("torch.autograd",))


def _tempered(logits, t):
    z = logits / t
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    return p / p.sum(axis=-1, keepdims=True)


def _sweep(logits, temperatures, uniforms):
    """(K, L) samples: step i at temperature k is the first token whose cumulative tempered
    probability after the previous token (token 0 before the first step) exceeds uniforms[k, i]."""
    samples = np.zeros(uniforms.shape, dtype=np.int64)
    for k, t in enumerate(temperatures):
        cum = np.cumsum(_tempered(logits, t), axis=1)
        prev = 0
        for i, u in enumerate(uniforms[k]):
            prev = min(int(np.searchsorted(cum[prev], u, side="right")), len(cum) - 1)
            samples[k, i] = prev
    return samples


def check_temperature_sweep(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(logits (V, V), temperatures (K,), uniforms (K, L))` -> {"samples",
    "repeat_rate", "stops_repeating"}: one sampled sequence per temperature from the chain whose
    next-token distribution after token i is softmax(logits[i] / T), starting after token 0,
    drawn by the inverse CDF from the given uniform numbers.

    Checked: the samples are the chain's, the repeat rates are measured from them, and
    `stops_repeating` is the lowest temperature whose repeat rate is below 0.5 (None if none).
    """
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    temperatures = np.array([0.25, 0.5, 1.0, 2.0, 4.0])
    cases = []
    for k in range(2):
        V = int(rng.integers(5, 8))
        logits = rng.normal(size=(V, V)) + 2.5 * np.eye(V)  # sticky, as melodies repeat notes
        uniforms = rng.random((len(temperatures), 1000))
        cases.append(Case((logits, temperatures.copy(), uniforms),
                          _sweep(logits, temperatures, uniforms),
                          f"chain {k + 1}: {V} tokens, 1,000 steps per temperature"))
    for case in cases:
        case.args = tuple(a.copy() for a in case.args)

    def compare(got, expected):
        if not isinstance(got, dict) or not {"samples", "repeat_rate", "stops_repeating"} <= set(got):
            return "expected a dict with keys 'samples', 'repeat_rate' and 'stops_repeating'"
        problem = compare_arrays(got["samples"], expected, what="samples", rtol=0, atol=0,
                                 dtype_kind="iu")
        if problem:
            return problem
        rates = (expected[:, 1:] == expected[:, :-1]).mean(axis=1)
        problem = compare_arrays(got["repeat_rate"], rates, what="repeat rate (measured again "
                                 "from the samples)", rtol=0, atol=1e-9)
        if problem:
            return problem
        below = np.flatnonzero(rates < 0.5)
        truth = float(temperatures[below[0]]) if below.size else None
        claimed = got["stops_repeating"]
        try:
            same = claimed is None and truth is None or np.isclose(float(claimed), truth)
        except (TypeError, ValueError):
            same = False
        if not same:
            return (f"'stops_repeating' is {claimed!r}, but that is not the lowest temperature "
                    "whose measured repeat rate is below 0.5")
        return None

    return run_checks("temperature_sweep", func, cases, compare, points, seed)


def _notes(tokens):
    """(pitch or None, start, duration) of every timed note, in the checker's own words."""
    from fractions import Fraction

    out, now, waiting, have = [], Fraction(0), None, False
    for tok in tokens:
        if tok == "END":
            if out:
                break
        elif tok[0] == "P" or tok == "R":
            waiting, have = (None if tok == "R" else int(tok[1:])), True
        elif tok[0] == "D":
            if have:
                length = Fraction(tok[1:])
                out.append((waiting, float(now), float(length)))
                now += length
            have = False
    return out


def _random_tokens(rng: np.random.Generator, n: int) -> list[str]:
    durations = ["D1", "D1/2", "D2", "D3/2", "D1/4", "D3", "D1/3"]
    out = []
    for _ in range(n):
        u = rng.random()
        if u < 0.55:  # mostly well-formed notes, so the timing matters
            out += [f"P{int(rng.integers(55, 80))}" if rng.random() < 0.85 else "R",
                    str(rng.choice(durations))]
        elif u < 0.7:
            out.append("|")
        elif u < 0.8:
            out.append(f"P{int(rng.integers(55, 80))}")  # a pitch with no duration yet
        elif u < 0.9:
            out.append(str(rng.choice(durations)))        # a duration with nothing to time
        else:
            out.append("END" if rng.random() < 0.5 else "R")
    return out


def check_tokens_to_notes(func: Callable, points: float = 1.0, seed: int | None = None) -> Score:
    """Check `func(tokens) -> [(pitch or None, start, duration), ...]`: the timed notes of a
    melody's tokens, with the rules of the task (a pending pitch or rest is timed by the next
    duration, bar lines are skipped, an END after the first note ends the melody)."""
    seed = fresh_seed(seed)
    rng = np.random.default_rng(seed)
    cases = [Case((["P60", "D1", "|", "R", "D1/2", "P62", "D3/2", "END"],), None,
                  "a note, a bar line, a rest and a note"),
             Case((["END", "P67", "P69", "|", "D2", "D1", "END", "P70", "D1"],), None,
                   "a leading END, a replaced pitch, a bar line inside a note, a stray duration")]
    for _ in range(5):
        cases.append(Case((_random_tokens(rng, int(rng.integers(5, 60))),), None,
                          "random tokens"))
    for case in cases:
        case.expected = _notes(case.args[0])
        case.args = (list(case.args[0]),)

    def compare(got, expected):
        if not isinstance(got, (list, tuple)):
            return f"expected a list of (pitch, start, duration), got {type(got).__name__}"
        if len(got) != len(expected):
            return f"{len(got)} notes, expected {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            try:
                pitch, start, duration = g
                same = (pitch is None) == (e[0] is None) and (pitch is None or int(pitch) == e[0])
                timed = np.isclose(float(start), e[1], atol=1e-9) and np.isclose(
                    float(duration), e[2], atol=1e-9)
            except (TypeError, ValueError) as exc:
                return f"note {i} is not a (pitch, start, duration) triple ({type(exc).__name__})"
            if not same:
                return f"note {i} has pitch {pitch!r}, expected {e[0]!r}"
            if not timed:
                return (f"note {i} (pitch {e[0]!r}) is timed ({float(start):g}, {float(duration):g}), "
                        f"expected ({e[1]:g}, {e[2]:g})")
        return None

    return run_checks("tokens_to_notes", func, cases, compare, points, seed)
