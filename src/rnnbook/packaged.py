"""Files shipped inside installed packages, found without importing the package.

Several data sets of the course come in wheels whose code we never run (some of it has heavy or
harmful side effects on import); `importlib.metadata` lists a distribution's files instead.
"""
from __future__ import annotations

import importlib.metadata
from pathlib import Path

__all__ = ["package_files", "package_file"]


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
