"""Chapter 13 checkers: full marks for the reference, feedback (never a crash) for wrong answers."""
import numpy as np
import torch

from checker_contract import checker_contract
from rnnbook import exercises


def ref_transpose(tokens, semitones):
    return [f"P{int(t[1:]) + semitones}" if t[0] == "P" else t for t in tokens]


def ref_midi_to_hz(midi):
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=float) - 69) / 12)


def ref_temperature(logits, t):
    z = logits / t
    e = np.exp(z - z.max())
    return e / e.sum()


def ref_condition(x, c):
    T = x.shape[0]
    return torch.cat([x, c[None].repeat(T, 1, 1)], dim=2)


CHECKERS = {
    "transpose_melody": (exercises.check_transpose_melody, ref_transpose, {
        "shifts durations too": lambda tok, s: [t[0] + str(int(t[1:]) + s)
                                                if t[0] == "P" or t == "D1" else t for t in tok],
        "wrong direction": lambda tok, s: ref_transpose(tok, -s),
        "drops bar lines": lambda tok, s: [t for t in ref_transpose(tok, s) if t != "|"],
        "returns one string": lambda tok, s: " ".join(ref_transpose(tok, s)),
        "raises": lambda tok, s: int("P60"),
    }),
    "midi_to_hz": (exercises.check_midi_to_hz, ref_midi_to_hz, {
        "A4 at note 60": lambda m: 440.0 * 2.0 ** ((np.asarray(m) - 60) / 12),
        "octave per 10 notes": lambda m: 440.0 * 2.0 ** ((np.asarray(m) - 69) / 10),
        "integer division": lambda m: 440.0 * 2.0 ** ((np.asarray(m) - 69) // 12),
        "NaN": lambda m: np.full(np.shape(m), np.nan),
    }),
    "temperature_softmax": (exercises.check_temperature_softmax, ref_temperature, {
        "multiplies by the temperature": lambda z, t: ref_temperature(z * t * t, t),
        "ignores the temperature": lambda z, t: ref_temperature(z, 1.0),
        "unstable (overflows)": lambda z, t: np.exp(z / t) / np.exp(z / t).sum(),
        "temperature on the probabilities": lambda z, t: ref_temperature(z, 1.0) / t,
    }),
    "condition_inputs": (exercises.check_condition_inputs, ref_condition, {
        "condition first": lambda x, c: ref_condition(x, c)[..., list(range(x.shape[2],
                                                                            x.shape[2] + c.shape[1]))
                                                            + list(range(x.shape[2]))],
        "condition only at the first step": lambda x, c: torch.cat(
            [x, torch.cat([c[None], torch.zeros(x.shape[0] - 1, *c.shape, dtype=c.dtype)])], 2),
        "adds instead of joining": lambda x, c: x + c.sum(),
        "forgets the condition": lambda x, c: x,
    }),
}


def entropy_slope(logits, temperature):
    p = ref_temperature(np.asarray(logits, dtype=float), temperature)
    return p @ (logits - p @ logits) ** 2 / temperature ** 3


def temperature_sweep(logits, temperatures, uniforms, tempered=True):
    samples = np.zeros(uniforms.shape, dtype=np.int64)
    for k, t in enumerate(temperatures):
        probs = np.stack([ref_temperature(row, t if tempered else 1.0) for row in logits])
        prev = 0
        for i, u in enumerate(uniforms[k]):
            prev = min(int((np.cumsum(probs[prev]) <= u).sum()), len(probs) - 1)
            samples[k, i] = prev
    rates = (samples[:, 1:] == samples[:, :-1]).mean(axis=1)
    below = [float(t) for t, r in zip(temperatures, rates) if r < 0.5]
    return {"samples": samples, "repeat_rate": rates, "stops_repeating": below[0] if below else None}


CHECKERS["entropy_slope"] = (exercises.check_entropy_slope, entropy_slope, {
    "entropy instead of its slope": lambda z, t: float(-(ref_temperature(z, t) * np.log(ref_temperature(z, t))).sum()),
    "T squared": lambda z, t: entropy_slope(z, t) * t,
    "sign flipped": lambda z, t: -entropy_slope(z, t),
    "variance only": lambda z, t: entropy_slope(z, t) * t ** 3,
})
CHECKERS["temperature_sweep"] = (exercises.check_temperature_sweep, temperature_sweep, {
    "ignores the temperature": lambda z, ts, u: temperature_sweep(z, ts, u, tempered=False),
    "repeat rate counts distinct tokens": lambda z, ts, u: dict(
        temperature_sweep(z, ts, u), repeat_rate=np.array([1 - len(set(r)) / len(r) for r in
                                                          temperature_sweep(z, ts, u)["samples"]])),
    "highest temperature that still repeats": lambda z, ts, u: dict(
        temperature_sweep(z, ts, u), stops_repeating=float(ts[-1])),
    "starts from the last token": lambda z, ts, u: temperature_sweep(z[::-1, ::-1], ts, u),
})


(test_the_reference_earns_full_marks_on_fresh_inputs,
 test_an_unattempted_exercise_scores_zero_and_says_so,
 test_typical_wrong_answers_earn_less_and_get_feedback) = checker_contract(CHECKERS)


def tokens_to_notes(tokens, bars_clear=False, stop_at_end=True):
    from fractions import Fraction

    notes, now, pitch, pending = [], Fraction(0), None, False
    for tok in tokens:
        if tok == "END":
            if notes and stop_at_end:
                break
        elif tok == "|":
            pending = pending and not bars_clear
        elif tok.startswith("P") or tok == "R":
            pitch, pending = (None if tok == "R" else int(tok[1:])), True
        elif pending:
            notes.append((pitch, float(now), float(Fraction(tok[1:]))))
            now += Fraction(tok[1:])
            pending = False
    return notes


NOTES = {"tokens_to_notes": (exercises.check_tokens_to_notes, tokens_to_notes, {
    "a bar line drops the pending pitch": lambda t: tokens_to_notes(t, bars_clear=True),
    "reads past END": lambda t: tokens_to_notes(t, stop_at_end=False),
    "start times from zero for every note": lambda t: [(p, 0.0, d) for p, _, d in tokens_to_notes(t)],
    "rests dropped": lambda t: [n for n in tokens_to_notes(t) if n[0] is not None],
})}

(test_notes_reference_earns_full_marks,
 test_notes_not_attempted_scores_zero,
 test_notes_wrong_answers_lose_credit) = checker_contract(NOTES)
