"""Build the book strictly (warnings are errors) in smoke mode and check what a reader gets."""
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from notebook_tools import NBVAL_STAGE, NOTEBOOK_DIR, ROOT, staged_this_run, toc_files

OUT = ROOT / "_build" / "smoke"
HTML = OUT / "_build" / "html"
SESSION_START = time.time()  # this module is imported at collection, before nbval runs


def cache_this_runs_nbval_executions() -> list[str]:
    """Store the notebooks nbval executed in this session in the smoke build's jupyter-cache, as
    myst-nb stores its own runs (see the root conftest.py); return their names."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(OUT / "_build" / ".jupyter_cache"))
    cached = []
    for staged in sorted(NBVAL_STAGE.glob("*.ipynb")):
        nb = nbformat.read(staged, as_version=4)
        if not staged_this_run(staged, nb.metadata.pop("rnnbook_test_run", ""), SESSION_START):
            continue  # left by an earlier run: the build executes the chapter itself
        seconds = nb.metadata.pop("rnnbook_execution_seconds", None)
        cache.cache_notebook_bundle(CacheBundleIn(nb, str(NOTEBOOK_DIR / staged.name),
                                                  data={"execution_seconds": seconds}),
                                    check_validity=True, overwrite=True)
        cached.append(staged.stem)
    return cached


@pytest.fixture(scope="module")
def build():
    shutil.rmtree(HTML, ignore_errors=True)
    cache_this_runs_nbval_executions()
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


def test_no_page_loads_anything_from_another_host(build):
    """Scripts, stylesheets, images and fonts all come from the build: the book works offline."""
    pattern = re.compile(r"<(script|link|img|source|iframe)\b[^>]*?\b(src|href)=\"(https?:)?//[^\"]+\"[^>]*>")
    offenders = []
    for page in HTML.rglob("*.html"):
        for match in pattern.finditer(page.read_text(errors="replace")):
            tag = match.group(0)
            if match.group(1) == "link" and not re.search(r'rel="(stylesheet|preload|icon|modulepreload)', tag):
                continue  # a link to a paper or a launch service, not a resource the page loads
            offenders.append(f"{page.relative_to(HTML)}: {tag[:120]}")
    for css in HTML.joinpath("_static").rglob("*.css"):
        for url in re.findall(r"url\(\s*['\"]?((?:https?:)?//[^)'\"]+)", css.read_text(errors="replace")):
            offenders.append(f"{css.relative_to(HTML)}: {url}")
    assert not offenders, "resources loaded from other hosts:\n" + "\n".join(offenders[:20])
    assert (HTML / "_static" / "mathjax" / "tex-chtml.js").exists(), "MathJax must be served from the build"


def test_every_chapter_page_says_how_long_it_took_to_execute(build):
    for entry in toc_files():
        if entry.startswith("notebooks/"):
            page = (HTML / f"{entry}.html").read_text()
            assert re.search(r"This chapter executed in (\d+ min )?[\d.]+ s", page), f"{entry}: no measured run time"
    intro = (HTML / "book" / "intro.html").read_text()
    assert "not executed" not in intro and re.search(r"<td><p>[\d.]+ s</p></td>", intro)



def content_images(page_html: str) -> list[str]:
    """The <img> tags of a page's own content (not the theme's logos and buttons)."""
    return [img for img in re.findall(r"<img\b[^>]*>", page_html) if "_static/" not in img]


def test_every_figure_has_alt_text_and_a_caption(build):
    for page in HTML.rglob("*.html"):
        text = page.read_text(errors="replace")
        for img in content_images(text):
            alt = re.search(r'alt="([^"]*)"', img)
            src = re.search(r'src="([^"]*)"', img)
            assert alt and alt.group(1).strip() and not alt.group(1).endswith(src.group(1).rsplit("/", 1)[-1]), (
                f"{page.relative_to(HTML)}: an image without alt text (use :alt: in the glue:figure): {img[:100]}")
        n_images = len(content_images(text))
        n_captions = text.count("<figcaption")
        assert n_captions >= n_images, f"{page.relative_to(HTML)}: {n_images} figures but {n_captions} captions"


def test_progress_bars_leave_no_garbage_in_the_book(build):
    for page in HTML.rglob("*.html"):
        text = page.read_text(errors="replace")
        assert not re.search(r"\d+%\|[^|]*\|\s*\d+/\d+", text), f"{page.relative_to(HTML)}: a progress bar was rendered"


def test_chapter_pages_offer_colab_binder_and_a_notebook_download(build):
    for entry in toc_files():
        if entry.startswith("notebooks/"):
            page = (HTML / f"{entry}.html").read_text()
            name = entry.split("/")[-1]
            assert f"colab.research.google.com/github/" in page and f"{name}.ipynb" in page, f"{entry}: no Colab button"
            assert "mybinder.org/v2/gh/" in page, f"{entry}: no Binder button"
            assert f'href="../_sources/notebooks/{name}.ipynb"' in page, f"{entry}: no .ipynb download"


def test_chapter_numbers_in_the_book_match_the_notebook_numbers(build):
    for entry in toc_files():
        if entry.startswith("notebooks/"):
            page = (HTML / f"{entry}.html").read_text()
            number = int(entry.split("/")[-1][:2])
            heading = re.search(r'<h1><span class="section-number">(\d+)\. </span>', page)
            assert heading and int(heading.group(1)) == number, f"{entry}: the page is not numbered {number}"
            for label in re.findall(r"Exercise (\d+)\.\d+", page):
                assert int(label) == number, f"{entry}: exercise numbered in chapter {label}"
