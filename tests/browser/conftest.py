"""Fixtures for checking the built book in headless Chromium (Debian's package, network blocked)."""
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("RNNBOOK_HTML", ROOT / "_build" / "html")).resolve()
SCREENSHOTS = Path(os.environ.get("RNNBOOK_SCREENSHOTS", ROOT / "_build" / "screenshots"))
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
# Flags that keep Chromium from phoning home on a machine with no network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps", "--disable-extensions"]


def built_pages() -> list[Path]:
    """Every HTML page of the build (not the copies of sources or static assets)."""
    if not HTML.exists():
        return []
    skip = {"_static", "_sources", "_images", "_downloads"}
    return sorted(p for p in HTML.rglob("*.html")
                  if not skip & set(p.relative_to(HTML).parts) and not is_redirect(p))


def is_redirect(page: Path) -> bool:
    """Jupyter Book writes index.html as a stub that redirects to the root page."""
    return 'http-equiv="Refresh"' in page.read_text(errors="replace")[:2000]


@pytest.fixture(scope="session")
def browser():
    if not HTML.joinpath("index.html").exists():
        pytest.fail(f"no built book at {HTML}: run `make book` first (make browser-test does)")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make browser-test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
