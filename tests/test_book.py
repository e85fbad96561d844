"""Build the book strictly (warnings are errors) in smoke mode and check what a reader gets."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from notebook_tools import ROOT, toc_files

OUT = ROOT / "_build" / "smoke"
HTML = OUT / "_build" / "html"


@pytest.fixture(scope="module")
def build():
    shutil.rmtree(HTML, ignore_errors=True)
    env = {**os.environ, "RNNBOOK_SMOKE": "1", "RNNBOOK_PROGRESS": "0"}
    jb = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run([str(jb), "build", str(ROOT), "-W", "-n", "--keep-going", "--path-output", str(OUT)],
                          env=env, capture_output=True, text=True, timeout=1800)
    return proc


def test_the_book_builds_with_warnings_as_errors(build):
    warnings = [line for line in (build.stdout + build.stderr).splitlines()
                if ("WARNING" in line or "ERROR" in line) and "Kernel is running over TCP" not in line]
    assert build.returncode == 0 and not warnings, "\n".join(warnings) or build.stdout[-3000:]


def test_every_page_of_the_toc_is_rendered(build):
    for entry in toc_files():
        assert (HTML / f"{entry}.html").exists(), f"{entry}.html was not built"


def test_exercise_solutions_are_collapsed_dropdowns(build):
    page = (HTML / "notebooks" / "00_representing_sequences.html").read_text()
    assert page.count('class="exercise admonition"') == 2 or page.count("exercise admonition") >= 2
    assert page.count("solution dropdown") >= 2, "solutions must render as collapsed dropdowns"


def test_maths_figures_and_citations_render(build):
    page = (HTML / "notebooks" / "00_representing_sequences.html").read_text()
    assert "math notranslate" in page, "maths should be marked up for MathJax"
    assert page.count("<img") >= 3 and "figure" in page
    assert "Elman" in page, "citations should resolve to author names"
    assert "{glue" not in page and "{cite" not in page
