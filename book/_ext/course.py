"""Sphinx extension of Memory Machines: measured run times on the pages, and small page fixes.

- Every executed notebook page gets a line under its title saying how long it took to execute
  when the book was built (jupyter-cache's record of the run), never a number typed by hand.
- The role {chapter-runtime}`notebooks/NN_name` writes that time anywhere, e.g. in the chapter map.
- A solution's title holds a link to its exercise; a click on it made sphinx-togglebutton throw
  (static/course.js keeps the link a plain link).
- A chapter is numbered as its notebook is (00_..., 08_...), so Sphinx's section, figure and
  exercise numbers (which count chapters from 1) are set from the notebook's number.
- Long inline code wraps on a phone instead of widening the page (static/course.css).
- sphinx-thebe registers its configuration script twice under Jupyter Book 1, which throws
  "Identifier 'THEBE_JS_URL' has already been declared" in the browser: keep one copy.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxRole


class runtime_ref(nodes.Inline, nodes.TextElement):
    """Placeholder for a notebook's execution time, filled in once every page has been read."""


class ChapterRuntimeRole(SphinxRole):
    def run(self):
        node = runtime_ref(self.text, "", target=self.text.strip().lstrip("/"))
        return [node], []


def _runtime(env, docname: str) -> float | None:
    from myst_nb.sphinx_ import NbMetadataCollector

    try:
        data = NbMetadataCollector.get_exec_data(env, docname)
    except KeyError:
        return None
    if not data or not data.get("succeeded", True):
        return None
    return float(data["runtime"]) if data.get("runtime") is not None else None


def format_seconds(seconds: float) -> str:
    """'0.8 s', '42 s', '1 min 30 s'."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def _budget() -> str:
    return "smoke-test budget" if os.environ.get("RNNBOOK_SMOKE", "") == "1" else "full budget"


def fill_runtimes(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    env = app.env
    for node in list(doctree.findall(runtime_ref)):
        target = node["target"]
        if target not in env.all_docs:
            raise ValueError(f"{docname}: chapter-runtime names {target!r}, which is not a page of the book")
        seconds = _runtime(env, target)
        node.replace_self(nodes.Text(format_seconds(seconds) if seconds is not None else "not executed"))
    seconds = _runtime(env, docname)
    if seconds is None:
        return
    title = next(iter(doctree.findall(nodes.title)), None)
    if title is None:
        return
    para = nodes.paragraph(classes=["chapter-runtime"])
    para += nodes.emphasis(text=(f"This chapter executed in {format_seconds(seconds)} when this copy of "
                                 f"the book was built ({os.cpu_count()} CPU cores, {_budget()})."))
    section = title.parent
    section.insert(section.index(title) + 1, para)


def dedupe_scripts(app: Sphinx, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        # the two copies differ only in how "no file" is spelt ('' or None)
        key = (getattr(script, "filename", str(script)) or "", getattr(script, "attributes", {}).get("body"))
        if key in seen:
            continue
        seen.add(key)
        kept.append(script)
    scripts[:] = kept


def _chapter_number(docname: str) -> int | None:
    match = re.match(r"notebooks/(\d+)_", docname)
    return int(match.group(1)) if match else None


def number_chapters_as_their_notebooks(app: Sphinx, env) -> list[str]:
    # Runs after Sphinx (and sphinx-multitoc-numbering) have numbered everything afresh from 1,
    # which they do on every build. A chapter takes the number of its notebook (00_..., 08_...),
    # so numbers stay right when a chapter is missing or comes later.
    def renumber(docname: str, number):
        if not number:
            return number
        chapter = _chapter_number(docname)
        return (chapter if chapter is not None else number[0] - 1, *number[1:])

    changed = []
    for docname, anchors in env.toc_secnumbers.items():
        if anchors:
            env.toc_secnumbers[docname] = {a: renumber(docname, n) for a, n in anchors.items()}
            changed.append(docname)
    for docname, figtypes in env.toc_fignumbers.items():
        for figtype, numbers in figtypes.items():
            figtypes[figtype] = {k: renumber(docname, n) if len(n) > 1 else n for k, n in numbers.items()}
    for docname, toc in env.tocs.items():  # the navigation is drawn from these
        for node in toc.findall(nodes.Element):
            if node.get("secnumber"):
                node["secnumber"] = renumber(docname, tuple(node["secnumber"]))
    return changed


def add_static(app: Sphinx) -> None:
    app.config.html_static_path.append(str(Path(__file__).parent / "static"))


def setup(app: Sphinx) -> dict:
    app.connect("builder-inited", add_static)
    app.add_js_file("course.js")
    app.add_css_file("course.css")
    app.add_node(runtime_ref)
    app.add_role("chapter-runtime", ChapterRuntimeRole())
    app.connect("doctree-resolved", fill_runtimes)
    app.connect("env-get-updated", number_chapters_as_their_notebooks, priority=900)
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
