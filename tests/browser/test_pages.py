"""Open every page of the built book in headless Chromium, as a reader would, with no network."""
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import HTML, SCREENSHOTS, built_pages

PAGES = built_pages()
IDS = [str(p.relative_to(HTML)) for p in PAGES] if PAGES else []

# Text that MathJax should have replaced; a reader should never see it.
RAW_MATH = ["$$", "\\(", "\\)", "\\[", "\\]", "\\begin{"]

VISIBLE_TEXT_JS = """() => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const parts = [];
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!el || el.closest('pre, code, script, style, mjx-container, .highlight, textarea')) continue;
    if (el.offsetParent === null && getComputedStyle(el).position !== 'fixed') continue;
    parts.push(walker.currentNode.textContent);
  }
  return parts.join(' ');
}"""

# Elements that stick out of the viewport and are not inside something that scrolls sideways.
OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const scrolls = el => { for (let a = el.parentElement; a; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX; if (o === 'auto' || o === 'scroll' || o === 'hidden') return true; }
    return false; };
  const bad = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || getComputedStyle(el).visibility !== 'visible') continue;
    if (r.right > width + 1 && !scrolls(el)) {
      bad.push(el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : '') + ` (right edge ${Math.round(r.right)} px)`);
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, width, bad: bad.slice(0, 5)};
}"""


# Code boxes whose lines are wider than the box (so it scrolls sideways), and the set-up cell's
# scrollWidth, clientWidth and longest line.
CODE_WIDTH_JS = """() => {
  const pres = [...document.querySelectorAll('div.cell_input pre')];
  const longest = pre => Math.max(...pre.textContent.split('\\n').map(l => l.length));
  return {setup: pres.length ? [pres[0].scrollWidth, pres[0].clientWidth, longest(pres[0])] : null,
          scrolling: pres.filter(p => p.scrollWidth > p.clientWidth).map(p => p.textContent.slice(0, 60))};
}"""


@dataclass
class PageReport:
    errors: list = field(default_factory=list)
    external: list = field(default_factory=list)
    broken_images: list = field(default_factory=list)
    n_images: int = 0
    n_math_sources: int = 0
    n_mathjax: int = 0
    raw_math: list = field(default_factory=list)
    overflow: dict = field(default_factory=dict)
    code_width: dict = field(default_factory=dict)
    solutions: list = field(default_factory=list)
    load_seconds: float = 0.0


def open_page(browser, path: Path, width: int, errors: list, external: list):
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))

    def route(r):
        if r.request.url.startswith(("file://", "data:", "blob:")):
            r.continue_()
        else:
            external.append(f"{r.request.resource_type} {r.request.url}")
            r.abort()

    page.route("**/*", route)
    start = time.perf_counter()
    page.goto(path.as_uri(), wait_until="load")
    if page.evaluate("document.querySelector('.math') !== null"):
        page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20000)
        page.evaluate("MathJax.startup.promise")
    return page, time.perf_counter() - start


_reports: dict = {}


@pytest.fixture
def report(browser, request) -> PageReport:
    path = request.param
    if path in _reports:
        return _reports[path]
    rep = PageReport()
    page, rep.load_seconds = open_page(browser, path, 1280, rep.errors, rep.external)
    images = page.evaluate("Array.from(document.images).map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])")
    rep.n_images = len(images)
    rep.broken_images = [src for src, ok in images if not ok]
    rep.n_math_sources = page.evaluate("document.querySelectorAll('span.math, div.math').length")
    rep.n_mathjax = page.evaluate("document.querySelectorAll('mjx-container').length")
    text = page.evaluate(VISIBLE_TEXT_JS)
    rep.raw_math = [m for m in RAW_MATH if m in text]
    rep.overflow[1280] = page.evaluate(OVERFLOW_JS)
    rep.code_width = page.evaluate(CODE_WIDTH_JS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    name = str(path.relative_to(HTML)).replace("/", "__").removesuffix(".html")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    # Solutions: present, hidden until their toggle is clicked, visible after.
    for i in range(page.locator(".solution.dropdown").count()):
        sol = page.locator(".solution.dropdown").nth(i)
        body = sol.locator(".admonition-title ~ *").first
        before = body.is_visible()
        sol.locator("button.toggle-button").first.click()
        page.wait_for_timeout(150)
        rep.solutions.append((before, body.is_visible()))
    # A click on the link inside a solution's title must not throw (it only follows the link).
    links = page.locator(".solution.dropdown > .admonition-title a")
    if links.count():
        links.first.click()
        page.wait_for_timeout(150)
    page.close()
    phone, _ = open_page(browser, path, 390, rep.errors, rep.external)
    rep.overflow[390] = phone.evaluate(OVERFLOW_JS)
    phone.close()
    _reports[path] = rep
    # A record for reviewers: how long each page took to load and typeset, slowest first.
    times = {str(p.relative_to(HTML)): round(r.load_seconds, 3) for p, r in _reports.items()}
    (SCREENSHOTS / "load_times.json").write_text(
        json.dumps(dict(sorted(times.items(), key=lambda kv: -kv[1])), indent=1))
    return rep


pages = pytest.mark.parametrize("report", PAGES, ids=IDS, indirect=True)


def test_the_book_has_pages():
    assert len(PAGES) >= 3, f"expected a built book under {HTML}"


def test_index_redirects_to_the_introduction(browser):
    page = browser.new_page()
    page.goto((HTML / "index.html").as_uri())
    page.wait_for_url("**/intro.html", timeout=10000)
    assert "Memory Machines" in page.title()
    page.close()


@pages
def test_page_has_no_console_errors(report):
    assert not report.errors, "\n".join(report.errors)


@pages
def test_page_loads_nothing_from_another_host(report):
    assert not report.external, "requests to other hosts (blocked):\n" + "\n".join(report.external)


@pages
def test_every_image_loads(report):
    assert not report.broken_images, f"images that did not load: {report.broken_images}"


@pages
def test_all_maths_is_typeset(report):
    assert not report.raw_math, f"raw TeX visible to the reader: {report.raw_math}"
    assert report.n_mathjax >= report.n_math_sources, (
        f"{report.n_math_sources} maths elements but only {report.n_mathjax} typeset by MathJax")


@pages
def test_nothing_is_wider_than_a_phone_or_a_laptop_screen(report):
    for width, result in report.overflow.items():
        assert result["scrollWidth"] <= result["width"] + 1 and not result["bad"], (
            f"at {width} px the page scrolls sideways ({result['scrollWidth']} px): {result['bad']}")


@pages
def test_solutions_are_collapsed_until_clicked(report):
    for i, (before, after) in enumerate(report.solutions, start=1):
        assert not before, f"solution {i} is visible before it is clicked"
        assert after, f"solution {i} does not open when clicked"


@pages
def test_page_loads_quickly(report):
    assert report.load_seconds < 10, f"took {report.load_seconds:.1f} s to load and typeset"


@pages
def test_code_cells_show_88_characters_without_scrolling_in_a_1280_px_window(report):
    # 88 characters is the longest line a notebook may have (tests/test_hygiene.py); with both
    # sidebars shown, static/course.css fits the font to the column. (The viewport's height,
    # 900 px, does not change any width.)
    result = report.code_width
    if result["setup"] is None:
        return                                  # a page without code cells
    scroll_width, client_width, longest = result["setup"]
    assert longest >= 85, f"the set-up cell's longest line is {longest} characters: the check needs a long one"
    assert scroll_width <= client_width, (
        f"the set-up cell scrolls sideways at 1280 px ({scroll_width} > {client_width} px)")
    assert not result["scrolling"], f"code cells that scroll sideways at 1280 px: {result['scrolling']}"


def test_chapter_pages_have_solutions_when_they_have_exercises():
    for path in PAGES:
        html = path.read_text()
        if "exercise admonition" in html:
            assert "solution dropdown" in html, f"{path.name}: exercises without collapsed solutions"


def test_search_works_offline(browser):
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((HTML / "search.html").as_uri() + "?q=recurrent")
    page.wait_for_selector("#search-results li", timeout=20000)
    hits = page.locator("#search-results li").count()
    page.close()
    assert hits >= 1 and not errors, f"search found {hits} pages; errors: {errors}"
