"""Where the course's data files are, and the one way to read a checked one.

Several data sets of the course come in wheels whose code we never run (some of it has heavy or
harmful side effects on import); `importlib.metadata` lists a distribution's files instead.
Every reader of such a file goes through `read_verified` (one file) or `verify_tree` (a folder of
many small files, pinned by one `tree_digest`), which check the sha256 pinned by the reading
module and raise the one `ChecksumError`, whose message names the package to reinstall. Files the
course makes itself live in `DATA_DIR`; a reader of one of those checks it with `verify`.

This module holds no knowledge of any data set (paths and digests stay with their readers) and
no parsing: it only finds bytes and checks them.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
from collections.abc import Sequence
from pathlib import Path

__all__ = ["DATA_DIR", "ChecksumError", "package_files", "package_file", "sha256_hex", "verify",
           "tree_digest", "verify_tree", "read_verified"]

# The repository's data/ folder: the course's own shipped files (models, token files, cards).
DATA_DIR = Path(__file__).resolve().parents[2] / "data"

_MAKE_VENV = "as pinned in requirements.txt / requirements-nodeps.txt (`make venv` installs them)"


class ChecksumError(RuntimeError):
    """A data file is not the one the course was written for: its sha256 is not the pinned one."""


def package_files(dist: str, needed_for: str, pin: str | None = None) -> dict[str, Path]:
    """Every file of installed distribution `dist`, by path relative to site-packages."""
    install = f"Install {pin} (pinned in the requirements files, `make venv`)" if pin else \
        "Install the pins in requirements.txt and requirements-nodeps.txt (`make venv`)"
    try:
        files = importlib.metadata.files(dist)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(f"package {dist!r} is not installed; it ships {needed_for}. "
                                f"{install}") from None
    return {str(f): Path(f.locate()) for f in files or ()}


def package_file(dist: str, relpath: str, needed_for: str, pin: str | None = None) -> Path:
    """Absolute path of file `relpath` inside installed distribution `dist`."""
    files = package_files(dist, needed_for, pin)
    if relpath not in files:
        raise FileNotFoundError(f"{relpath!r} is not among the files of package {dist!r}"
                                + (f"; install {pin}" if pin else ""))
    return files[relpath]


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def verify(data: bytes, sha256: str, what: str, remedy: str) -> bytes:
    """`data` unchanged if its sha256 is `sha256`, else ChecksumError naming `what` and `remedy`."""
    got = sha256_hex(data)
    if got != sha256:
        raise ChecksumError(f"{what} has sha256 {got}, expected {sha256}: {remedy}")
    return data


def tree_digest(files: Sequence[tuple[str, bytes]]) -> str:
    """sha256 over (relative path, bytes) pairs in the given order: one digest for many files."""
    h = hashlib.sha256()
    for name, data in files:
        h.update(name.encode() + b"\0" + data + b"\0")
    return h.hexdigest()


def _reinstall(dist: str, pin: str | None) -> str:
    return (f"the installed package {dist!r} ships a different file; reinstall "
            f"{pin or dist + ' at its pinned version'}, {_MAKE_VENV}")


def verify_tree(files: Sequence[tuple[str, bytes]], sha256: str, dist: str, folder: str,
                pin: str | None = None) -> list[tuple[str, bytes]]:
    """`files` (path, bytes) of `folder` in package `dist`, after checking their `tree_digest`."""
    got = tree_digest(files)
    if got != sha256:
        raise ChecksumError(f"{dist}:{folder} ({len(files)} files) has tree sha256 {got}, "
                            f"expected {sha256}: {_reinstall(dist, pin)}")
    return list(files)


def read_verified(dist: str, path: str, sha256: str, pin: str | None = None,
                  needed_for: str = "data the course reads") -> bytes:
    """Bytes of file `path` of installed package `dist`, after checking them against `sha256`.

    `pin` ("name==version") is what the error messages tell the reader to install.
    """
    data = package_file(dist, path, needed_for, pin).read_bytes()
    return verify(data, sha256, f"{dist}:{path}", _reinstall(dist, pin))
