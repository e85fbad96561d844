"""Melody tokens, synthesis and the melody LSTM of chapter 13 (rnnbook.music)."""
from fractions import Fraction

import numpy as np
import pytest
import torch

from rnnbook import music, scores
from rnnbook.music import Note


def test_shipped_token_file_matches_its_checksum_and_holds_the_documented_vocabulary():
    melodies = music.load_melodies()
    assert len(melodies) > 300
    vocab = {t for toks in melodies.values() for t in toks}
    for t in vocab:
        assert t in (music.BAR, music.REST) or (t[0] == "P" and t[1:].isdigit()) or \
            (t[0] == "D" and Fraction(t[1:]) > 0), t
    for toks in melodies.values():  # pitch/rest and duration alternate, bars between them
        body = [t for t in toks if t != music.BAR]
        assert all(a[0] in "PR" and b[0] == "D" for a, b in zip(body[::2], body[1::2]))
        assert len(body) % 2 == 0


@pytest.mark.parametrize("piece", ["bwv10.7", "bwv26.6", "bwv253", "bwv40.8"])
def test_reparsing_a_chorale_with_music21_gives_the_shipped_tokens(piece):
    from music21 import corpus
    melodies = music.load_melodies()
    if piece not in melodies:
        pytest.skip(f"{piece} is not among the shipped melodies")
    path = next(p for p in corpus.getComposer("bach") if p.stem == piece and p.suffix == ".mxl")
    tokens, info = music.melody_tokens(scores._parse_piece(str(path)))
    assert tokens == melodies[piece]
    assert -6 <= info["shift"] <= 5


def test_transposition_takes_every_tonic_to_c_major_or_a_minor_by_at_most_six_semitones():
    for pc in range(12):
        for mode, target in (("major", 0), ("minor", 9)):
            s = music.transposition(pc, mode)
            assert (pc + s) % 12 == target and -6 <= s <= 5
    with pytest.raises(ValueError, match="mode"):
        music.transposition(0, "dorian")


def test_split_puts_no_ten_note_run_of_a_test_melody_in_training():
    melodies = music.load_melodies()
    split = music.split_pieces(melodies)
    parts = {k: set(v) for k, v in split.items()}
    assert sum(map(len, parts.values())) == len(melodies)
    assert not (parts["train"] & parts["test"] or parts["train"] & parts["validation"]
                or parts["validation"] & parts["test"])
    assert 0.7 < len(parts["train"]) / len(melodies) < 0.9

    def runs(pid, n=20):
        toks = [t for t in melodies[pid] if t != music.BAR]
        return {tuple(toks[i: i + n]) for i in range(len(toks) - n + 1)}

    train_runs = set().union(*(runs(p) for p in parts["train"]))
    for part in ("validation", "test"):
        assert not any(runs(p) & train_runs for p in parts[part]), part


def test_tokens_and_notes_round_trip():
    rng = np.random.default_rng()
    durs = [Fraction(1), Fraction(1, 2), Fraction(3, 2), Fraction(1, 4), Fraction(2)]
    notes, t = [], Fraction(0)
    for _ in range(30):
        d = durs[int(rng.integers(len(durs)))]
        pitch = None if rng.random() < 0.2 else int(rng.integers(50, 80))
        notes.append(Note(pitch, float(t), float(d)))
        t += d
    assert music.tokens_to_notes(music.notes_to_tokens(notes)) == notes
    # bar lines do not move time; a dangling pitch without a duration is skipped
    assert music.tokens_to_notes(["P60", "|", "D1", "P62", "P64", "D2"]) == [
        Note(60, 0.0, 1.0), Note(64, 1.0, 2.0)]


def test_midi_to_hz_is_equal_temperament_anchored_at_a440():
    assert music.midi_to_hz(69) == pytest.approx(440.0, abs=1e-12)
    assert music.midi_to_hz(81) == pytest.approx(880.0, abs=1e-12)
    assert music.midi_to_hz(60) == pytest.approx(261.6255653, abs=1e-6)


def test_synthesised_wav_has_the_right_length_and_its_fft_peak_at_the_note_frequency(tmp_path):
    rng = np.random.default_rng()
    sr, bpm = 16000, float(rng.uniform(60, 140))
    pitch = int(rng.integers(55, 85))
    beats = float(rng.choice([1.0, 2.0, 3.0]))
    x = music.synthesize([Note(None, 0.0, 0.5), Note(pitch, 0.5, beats)], bpm=bpm, sample_rate=sr)
    assert len(x) == round((0.5 + beats) * 60 / bpm * sr)
    assert np.abs(x).max() <= 1.0 and np.all(x[: int(0.5 * 60 / bpm * sr) - 1] == 0)
    path = music.write_wav(tmp_path / "a.wav", x, sr)
    import wave
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, sr)
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert len(pcm) == len(x)
    spec = np.abs(np.fft.rfft(pcm.astype(float)))
    freqs = np.fft.rfftfreq(len(pcm), 1 / sr)
    f0 = float(music.midi_to_hz(pitch))
    assert abs(freqs[np.argmax(spec)] - f0) <= 2 * sr / len(pcm)  # within two FFT bins


def test_music21_export_writes_midi_and_musicxml_with_the_same_notes(tmp_path):
    from music21 import converter
    notes = music.tokens_to_notes(["P60", "D1", "P64", "D1/2", "R", "D1/2", "P67", "D2"])
    s = music.to_stream(notes)
    s.write("midi", fp=tmp_path / "m.mid")
    s.write("musicxml", fp=tmp_path / "m.musicxml")
    back = converter.parse(tmp_path / "m.musicxml").flatten().notes
    assert [n.pitch.midi for n in back] == [60, 64, 67]
    assert (tmp_path / "m.mid").stat().st_size > 0


def test_temperature_softmax_matches_torch_and_sharpens_below_one():
    z = np.random.default_rng().normal(size=(5, 12))
    for t in (0.3, 1.0, 2.5):
        ref = torch.softmax(torch.as_tensor(z) / t, dim=-1).numpy()
        np.testing.assert_allclose(music.temperature_softmax(z, t), ref, rtol=1e-12, atol=1e-15)
    p1, p2 = music.temperature_softmax(z[0], 1.0), music.temperature_softmax(z[0], 0.5)
    assert p2.max() > p1.max()


def test_stream_nll_equals_a_step_by_step_evaluation():
    torch.manual_seed(0)
    model = music.MelodyLSTM(7, hidden=8, embed=4).double()
    ids = np.random.default_rng().integers(0, 7, size=50)
    got = music.stream_nll(model, ids, chunk=7)
    total, state = 0.0, None
    with torch.no_grad():
        for a, b in zip(ids[:-1], ids[1:]):
            logits, state = model(torch.tensor([[a]]), state)
            total -= float(torch.log_softmax(logits[0, 0], -1)[b])
    assert got == pytest.approx(total / 49, rel=1e-10)


def test_training_lowers_the_loss_and_sampling_is_reproducible():
    melodies = music.load_melodies()
    ids = sorted(melodies)[:20]
    stream = music.join_pieces(melodies[i] for i in ids)
    vocab = music.Vocabulary(stream)
    x = vocab.encode(stream)
    model, hist = music.train_melody(x, x[:500], len(vocab), steps=30, hidden=32, eval_every=10)
    assert hist[-1]["val"] < hist[0]["val"] < np.log(len(vocab)) + 0.5
    a = music.sample_tokens(model, vocab, 40, temperature=0.8, seed=3)
    assert a == music.sample_tokens(model, vocab, 40, temperature=0.8, seed=3)
    assert all(t in vocab for t in a)


def test_bar_lines_fall_where_the_durations_before_them_add_up():
    toks = ["P60", "D1", "|", "P62", "D1/2", "R", "D3/2", "P64", "D2", "|", "P65", "D4", "|"]
    assert music.bar_lines(toks) == [1.0, 5.0, 9.0]
    melodies = music.load_melodies()
    toks = melodies["bwv10.7"]
    notes = music.tokens_to_notes(toks)
    starts = {n.start for n in notes}
    assert set(music.bar_lines(toks)) <= starts  # every bar line starts a note


def test_shipped_essen_file_matches_its_checksum_and_alternates_notes_and_durations():
    folk = music.load_essen()
    assert len(folk) > 1500
    assert len({" ".join(t) for t in folk.values()}) == len(folk)  # exact duplicates dropped
    for toks in folk.values():
        body = [t for t in toks if t != music.BAR]
        assert len(body) % 2 == 0
        assert all(a[0] in "PR" and b[0] == "D" and Fraction(b[1:]) > 0
                   for a, b in zip(body[::2], body[1::2]))


@pytest.mark.parametrize("name", ["altdeu10", "kinder0"])
def test_reparsing_essen_songs_with_music21_gives_the_shipped_tokens(name):
    folk = music.load_essen()
    songs = music.essen_songs(name)
    rng = np.random.default_rng()
    picked = [f"{name}/{k}" for k in rng.choice(len(songs), size=12, replace=False)]
    checked = 0
    for sid in picked:
        if sid not in folk:  # a duplicate or too short, not shipped
            continue
        tokens, info = music.essen_tokens(songs[int(sid.split("/")[1])])
        assert tokens == folk[sid], sid
        assert -6 <= info["shift"] <= 5
        checked += 1
    assert checked >= 8


def test_essen_split_is_by_tune_and_fixed():
    folk = music.load_essen()
    a = music.split_pieces(folk, seed=music.ESSEN_SPLIT_SEED)
    assert a == music.split_pieces(folk, seed=music.ESSEN_SPLIT_SEED)
    parts = {k: set(v) for k, v in a.items()}
    assert sum(map(len, parts.values())) == len(folk)
    assert not (parts["train"] & parts["test"] or parts["validation"] & parts["test"])
    groups = music.tune_groups(folk)
    where = {pid: k for k, ids in a.items() for pid in ids}
    assert all(len({where[pid] for pid in g}) == 1 for g in groups)


def test_piano_roll_draws_one_box_per_note_and_only_bar_lines_as_vertical_lines():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rnnbook import viz

    fig, ax = viz.figure()  # the course style, whose grid would otherwise draw vertical lines too
    notes = [Note(60, 0.0, 1.0), Note(None, 1.0, 1.0), Note(67, 2.0, 2.0)]
    music.piano_roll(ax, notes, bars=[4.0])
    assert len(ax.patches) == 2  # the rest draws nothing
    assert [p.get_xy() for p in ax.patches] == [(0.0, 59.6), (2.0, 66.6)]
    assert not any(line.get_visible() for line in ax.get_xgridlines())
    assert [line.get_xdata()[0] for line in ax.get_lines()] == [4.0]
    plt.close(fig)


def test_melody_filter_skips_wrong_scores_short_tunes_and_duplicates_in_order():
    def tokens_of(score):
        if score == "bad":
            raise ValueError("wrong number of parts")
        return score.split(), {"n": len(score.split())}

    keep = scores._MelodyFilter(tokens_of)
    tune = " ".join(f"p{k} d1" for k in range(10))  # 20 tokens: long enough
    results = [keep.add("a", tune), keep.add("b", "bad"), keep.add("c", "p1 d1 p2 d1"),
               keep.add("d", tune), keep.add("e", tune + " p3 d2")]
    assert results == [True, False, False, False, True]
    assert keep.skipped == {"parts": 1, "short": 1, "duplicate": 1}
    assert [p["id"] for p in keep.pieces] == ["a", "e"]
    assert keep.pieces[0] == {"id": "a", "n": 20, "tokens": tune}


def test_sound_and_score_parsing_live_in_their_own_modules_under_the_old_names_too():
    from rnnbook import scores, sound
    for name in ("Note", "midi_to_hz", "synthesize", "write_wav", "to_stream", "piano_roll"):
        assert getattr(music, name) is getattr(sound, name)
    for name in ("melody_tokens", "transposition", "soprano_part", "build", "build_essen",
                 "essen_tokens", "essen_songs", "TOKENS_FILE", "ESSEN_FILE", "END", "BAR", "REST"):
        assert getattr(music, name) is getattr(scores, name)


def test_duration_tokens_are_exact_fractions_of_a_beat_and_round_trip():
    from fractions import Fraction
    from rnnbook.scores import duration_token
    assert [duration_token(Fraction(q)) for q in ("1", "1/2", "3/2", "4", "1/3")] == \
        ["D1", "D1/2", "D3/2", "D4", "D1/3"]
    rng = np.random.default_rng()
    notes = [music.Note(int(p), 0.0, float(Fraction(int(n), int(d))))
             for p, n, d in zip(rng.integers(50, 90, 20), rng.integers(1, 9, 20), rng.choice([1, 2, 4], 20))]
    back = music.tokens_to_notes(music.notes_to_tokens(notes))
    assert [(n.pitch, n.duration) for n in back] == [(n.pitch, n.duration) for n in notes]


def test_a_changed_token_file_is_refused_with_the_one_checksum_error(tmp_path, monkeypatch):
    from rnnbook.packaged import ChecksumError
    copy = tmp_path / "music_bach_tokens.json"
    copy.write_bytes(music.TOKENS_FILE.read_bytes() + b" ")
    monkeypatch.setattr(music, "TOKENS_FILE", copy)
    with pytest.raises(ChecksumError, match=r"python -m rnnbook\.music build.*music21"):
        music.load_melodies()
    assert len(music.load_melodies(check=False)) == len(music.load_melodies(scores.TOKENS_FILE))
