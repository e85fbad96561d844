"""Course-side tools for instructors: find the exercises, make the student edition, grade submissions.

    python -m rnnbook.grading student [--out _build/student] [--no-html]
    python -m rnnbook.grading grade SUBMISSIONS [--out _build/grades] [--timeout 60] [--memory 4G]
    python -m rnnbook.grading leak-check DIR

Everything is discovered from `notebooks/*.ipynb` and their nbgrader metadata (never a hand-kept
list). Grading runs in two stages for every submitted notebook:

1. nbgrader's own autograder executes the notebook in a kernel with a per-cell time limit and a
   memory limit (a kernel launcher sets RLIMIT_AS), restores locked cells (and re-adds deleted
   ones) and writes the executed copy that nbgrader's feedback page shows.
2. The score is decided in a *clean room*: this (trusted) process, which never runs student code,
   calls the course's checkers with a stand-in for the student's function. Each call is forwarded
   to a separate, limited worker process that has executed the student's cells; only plain data
   (numbers, strings, arrays, without pickle) comes back. Whatever the student's code patches in
   its own process (a checker, numpy, torch, builtins), the comparison against the reference runs
   here, on inputs drawn here with a seed the student's process never sees.

The clean-room score is the one recorded (in the CSV files and in nbgrader's gradebook, so that its
feedback and `nbgrader export` agree); where it differs from what the kernel printed, the row is
listed in `flags.csv` for the instructor to look at.

Written answers (a Markdown cell marked solution and grade, holding the answer key and rubric) are
replaced whole in the student edition and graded by hand in nbgrader's formgrader; the CSV files
hold the checkers' points only.
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import csv
import functools
import html
import io
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
KERNEL_NAME = "rnnbook-grading"
_EXERCISE = re.compile(r"(?:`{3,}|:{3,})\{exercise\}[ \t]*(.*)")
_LABEL = re.compile(r"^:label:\s*(\S+)", re.M)
_DIFFICULTY = ("easy", "medium", "hard")


# ---------------------------------------------------------------------------------------------
# Discovery: exercises from the notebooks' nbgrader metadata
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckCell:
    """A locked, graded cell: its nbgrader grade_id and points, the checker and the function it checks."""

    grade_id: str
    points: float
    checker: str
    function: str
    kwargs: tuple = ()


@dataclass(frozen=True)
class WrittenCell:
    """A manually graded Markdown answer (nbgrader: solution and grade): its grade_id and points.

    The course's cell holds the answer key and the rubric; nbgrader's student edition replaces
    the whole cell by a stub in which the student writes, and an instructor grades it by hand.
    """

    grade_id: str
    points: float


@dataclass(frozen=True)
class Exercise:
    """One exercise of a chapter, as the notebook's cells and nbgrader metadata describe it."""

    notebook: str
    chapter: str
    label: str
    title: str
    solution_ids: tuple[str, ...]
    checks: tuple[CheckCell, ...]
    difficulty: str = ""
    answer_lines: int = 0
    written: tuple[WrittenCell, ...] = ()

    @property
    def points(self) -> float:
        return float(sum(c.points for c in self.checks) + sum(w.points for w in self.written))

    @property
    def auto_points(self) -> float:
        """The points the checkers award (the written answers' points are graded by hand)."""
        return float(sum(c.points for c in self.checks))

    @property
    def level(self) -> str:
        """The author's rating (a difficulty-* tag), else one read off the reference answer's length."""
        if self.difficulty:
            return self.difficulty
        guess = "easy" if self.answer_lines <= 4 else "medium" if self.answer_lines <= 10 else "hard"
        return f"{guess} ({self.answer_lines}-line answer)"


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def nbgrader_meta(cell: dict) -> dict:
    """The cell's nbgrader metadata ({} when there is none)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def read_notebook(path: Path) -> dict:
    """The notebook at `path` as a dict; ValueError if it is not a readable notebook."""
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable notebook ({type(exc).__name__}: {exc})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError(f"{path}: not a notebook (no list of cells)")
    return nb


def chapter_title(nb: dict) -> str:
    """The text of the notebook's first '# Title' line."""
    for cell in nb["cells"]:
        if cell.get("cell_type") == "markdown":
            for line in _source(cell).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


def parse_check_call(source: str) -> tuple[str, str, tuple]:
    """(checker, function, literal keyword arguments) of the last `check_x(func, ...)` call in a cell."""
    calls = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call)]
    for node in reversed(calls):
        name = node.func.id if isinstance(node.func, ast.Name) else (
            node.func.attr if isinstance(node.func, ast.Attribute) else "")
        if name.startswith("check_") and node.args and isinstance(node.args[0], ast.Name):
            kwargs = tuple((k.arg, ast.literal_eval(k.value)) for k in node.keywords if k.arg)
            return name, node.args[0].id, kwargs
    raise ValueError("the check cell calls no checker `check_x(function)` from rnnbook.exercises")


def exercises_in(nb: dict, notebook: str) -> list[Exercise]:
    """The exercises of one notebook: each {exercise} block with the nbgrader cells that follow it."""
    found: list[dict] = []
    for cell in nb["cells"]:
        text, meta = _source(cell), nbgrader_meta(cell)
        match = _EXERCISE.search(text) if cell.get("cell_type") == "markdown" else None
        if match:
            label = _LABEL.search(text)
            tags = cell.get("metadata", {}).get("tags", [])
            level = next((t.split("-", 1)[1] for t in tags if t in {f"difficulty-{d}" for d in _DIFFICULTY}), "")
            found.append({"label": label.group(1) if label else "", "title": match.group(1).strip(),
                          "solutions": [], "checks": [], "difficulty": level, "lines": 0,
                          "written": []})
        elif found and is_written_answer(cell):
            found[-1]["written"].append(WrittenCell(str(meta.get("grade_id", "")),
                                                    float(meta.get("points", 0))))
        elif found and meta.get("solution"):
            found[-1]["solutions"].append(str(meta.get("grade_id", "")))
            found[-1]["lines"] += len(_answer_lines(text))
        elif found and meta.get("grade") and cell.get("cell_type") == "code":
            checker, function, kwargs = parse_check_call(text)
            found[-1]["checks"].append(CheckCell(str(meta.get("grade_id", "")), float(meta.get("points", 0)),
                                                 checker, function, kwargs))
    title = chapter_title(nb)
    return [Exercise(notebook, title, f["label"], f["title"], tuple(f["solutions"]), tuple(f["checks"]),
                     f["difficulty"], f["lines"], tuple(f["written"])) for f in found]


def is_written_answer(cell: dict) -> bool:
    """True for a manually graded Markdown answer cell (nbgrader solution and grade)."""
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "markdown" and bool(meta.get("solution")) and bool(meta.get("grade"))


def _answer_lines(source: str) -> list[str]:
    """The non-blank, non-comment lines between the solution markers of a cell."""
    inside, lines = False, []
    for raw in source.splitlines():
        line = raw.strip()
        if line.startswith(BEGIN) or line.startswith(END):
            inside = line.startswith(BEGIN)
        elif inside and line and not line.startswith("#"):
            lines.append(line)
    return lines


def discover_exercises(notebook_dir: Path = NOTEBOOKS) -> list[Exercise]:
    """Every exercise of every notebook in `notebook_dir`, in notebook order."""
    return [ex for path in sorted(Path(notebook_dir).glob("*.ipynb"))
            for ex in exercises_in(read_notebook(path), path.stem)]


def solution_lines(notebooks: Iterable[dict], min_chars: int = 12) -> set[str]:
    """The non-trivial lines between solution markers that appear nowhere else in these notebooks."""
    inside, outside = set(), set()
    for cell in (c for nb in notebooks for c in nb["cells"]):
        # a written answer's cell is all answer key and rubric: nbgrader replaces it whole
        in_solution = is_written_answer(cell)
        marked = cell.get("cell_type") == "code" and nbgrader_meta(cell).get("solution")
        for raw in _source(cell).splitlines():
            line = " ".join(raw.split())
            if marked and line.startswith(BEGIN):
                in_solution = True
            elif marked and line.startswith(END):
                in_solution = False
            elif line:
                (inside if in_solution else outside).add(line)
    # a line the course also shows outside an answer (`states.append(h)`) is public anyway
    return {line for line in inside - outside if len(line.replace(" ", "")) >= min_chars}


# ---------------------------------------------------------------------------------------------
# The student edition and the leak check
# ---------------------------------------------------------------------------------------------

def _nbgrader_api(course: Path, limits: "Limits | None" = None):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, Execute, IgnorePattern,
                                        LimitOutput, SaveAutoGrades)
    from traitlets.config import Config

    # nbgrader runs the `alembic` command when it creates a gradebook: find it beside this Python
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bindir, os.environ.get("PATH", "")])
    c = Config()
    c.CourseDirectory.root = str(course)
    c.CourseDirectory.course_id = "memory-machines"
    c.OverwriteCells.add_missing_cells = True
    if limits is not None:
        c.Execute.timeout = int(limits.cell_timeout)
        c.Execute.kernel_name = KERNEL_NAME
        c.Execute.startup_timeout = 120
        c.LimitOutput.max_lines = 200
        c.Autograde.autograde_preprocessors = [Execute, _truncate_output_class(), IgnorePattern, ClearMetadataPreprocessor,
                                               LimitOutput, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
    coursedir = CourseDirectory(config=c)
    api = NbGraderAPI(coursedir=coursedir, config=c)
    api.log.setLevel("ERROR")
    return api


@functools.cache
def _truncate_output_class():
    from nbgrader.preprocessors import NbGraderPreprocessor

    class _TruncateOutput(NbGraderPreprocessor):
        """Cut each text output to `max_chars` (LimitOutput counts lines; one 100 MB line is one line)."""

        max_chars = 20_000

        def preprocess_cell(self, cell, resources, index):
            for out in cell.get("outputs", []):
                if isinstance(out.get("text"), str) and len(out["text"]) > self.max_chars:
                    out["text"] = out["text"][: self.max_chars] + "\n... [output truncated by the grader]\n"
                for key, value in list(out.get("data", {}).items()):
                    if isinstance(value, str) and len(value) > self.max_chars:
                        out["data"][key] = value[: self.max_chars] + "\n... [truncated]"
            return cell, resources

    return _TruncateOutput


def _check_api(result: dict, what: str) -> None:
    if not result.get("success"):
        raise RuntimeError(f"nbgrader failed to {what}:\n{result.get('log', '')[-4000:]}")


def _copy_source(path: Path, dst: Path) -> None:
    """Copy a chapter for nbgrader; marker text in prose is disguised (nbgrader would take it for a marker)."""
    nb = read_notebook(path)
    for cell in nb["cells"]:
        if not (cell.get("cell_type") == "code" and nbgrader_meta(cell).get("solution")):
            text = _source(cell)
            for marker in (BEGIN, END):
                text = text.replace(marker, marker.replace(" SOLUTION", "\u00a0SOLUTION"))
            cell["source"] = text
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")


def make_student_edition(out: Path, notebook_dir: Path = NOTEBOOKS) -> list[Path]:
    """Run nbgrader generate_assignment on every chapter; copy the editions to out/notebooks."""
    out, notebook_dir = Path(out).resolve(), Path(notebook_dir).resolve()
    shutil.rmtree(Path(out) / "notebooks", ignore_errors=True)
    (Path(out) / "notebooks").mkdir(parents=True)
    made = []
    # nbgrader's course folder holds the solutions, so it lives outside `out` and is thrown away
    with tempfile.TemporaryDirectory(prefix="rnnbook-nbgrader-") as tmp:
        course = Path(tmp)
        api = _nbgrader_api(course)
        for path in sorted(Path(notebook_dir).glob("*.ipynb")):
            _copy_source(path, course / "source" / path.stem / path.name)
            _check_api(api.generate_assignment(path.stem), f"generate the student edition of {path.name}")
            dst = Path(out) / "notebooks" / path.name
            shutil.copy(course / "release" / path.stem / path.name, dst)
            made.append(dst)
    return made


def _student_book_source(out: Path, notebooks: Sequence[Path]) -> Path:
    """A copy of the book's sources with the student notebooks and no solution blocks."""
    src = Path(out) / "book_src"
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(ROOT / "book", src / "book", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, src / name)
    (src / "notebooks").mkdir()
    for path in notebooks:
        nb = read_notebook(path)
        # the {solution-start}/{solution-end} wrappers would show an empty "Solution" dropdown
        nb["cells"] = [c for c in nb["cells"] if not (c.get("cell_type") == "markdown" and re.match(
            r"\s*(`{3,}|:{3,})\{solution-(start|end)\}", _source(c)))]
        (src / "notebooks" / path.name).write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return src


def build_student_html(out: Path, notebooks: Sequence[Path], execute: bool = True) -> Path:
    """Build the student book with jupyter-book into out/html (solutions absent, not collapsed)."""
    out = Path(out).resolve()
    src = _student_book_source(out, notebooks)
    work = Path(out) / "work"
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(src), "--path-output",
               str(work), "--keep-going"]
    env = dict(os.environ, RNNBOOK_PROGRESS="0")
    if not execute:
        command += ["--config", str(_no_execute_config(src))]
    subprocess.run(command, check=True, env=env, cwd=src)
    html_dir = Path(out) / "html"
    shutil.rmtree(html_dir, ignore_errors=True)
    shutil.copytree(work / "_build" / "html", html_dir)
    return html_dir


def _no_execute_config(src: Path) -> Path:
    import yaml

    config = yaml.safe_load((src / "_config.yml").read_text())
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    path = src / "_config_noexec.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _searchable_text(path: Path) -> str:
    """A file's text with whitespace collapsed; notebooks (any suffix) by their cells and outputs."""
    raw = path.read_bytes().decode("utf-8", errors="replace")
    if raw.lstrip().startswith("{"):
        with contextlib.suppress(ValueError, AttributeError, TypeError, KeyError):
            cells = json.loads(raw)["cells"]
            parts = [_source(c) for c in cells]
            for out in (o for c in cells for o in c.get("outputs", [])):
                parts += [out.get("text", "")] + [v for v in out.get("data", {}).values() if isinstance(v, str)]
            raw = "\n".join("".join(p) if isinstance(p, list) else str(p) for p in parts)
    if path.suffix in {".html", ".htm", ".xml"}:
        raw = html.unescape(re.sub(r"<[^>]+>", "", raw))
    return " ".join(raw.split())


def leak_check(directory: Path, notebook_dir: Path = NOTEBOOKS) -> list[str]:
    """Every (file, solution line) where a line of a reference solution appears under `directory`."""
    secrets = sorted(solution_lines(read_notebook(p) for p in sorted(Path(notebook_dir).glob("*.ipynb"))))
    leaks = []
    for path in sorted(Path(directory).rglob("*")):
        if not path.is_file() or path.suffix in {".png", ".jpg", ".svg", ".woff", ".woff2", ".ttf", ".db",
                                                 ".ico", ".pickle", ".gif", ".eot", ".sqlite"}:
            continue
        text = _searchable_text(path)
        leaks += [f"{path}: {line!r}" for line in secrets if line in text]
    return leaks


# ---------------------------------------------------------------------------------------------
# The clean room: student code in a limited worker, checkers here
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Limits:
    """Per-cell time limit (s), per-notebook memory limit (bytes) and per-notebook wall-clock limit (s)."""

    cell_timeout: float = 60.0
    memory: int = 4 * 2**30
    notebook_timeout: float = 900.0
    startup_timeout: float = 120.0
    max_result_bytes: int = 256 * 2**20


def parse_bytes(text: str) -> int:
    """'4G' -> 4 * 2**30; accepts K, M, G, T suffixes (binary) and plain byte counts."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", str(text), re.I)
    if not match:
        raise ValueError(f"memory limit {text!r}: expected a size such as 4G, 512M or 2000000000")
    return int(float(match.group(1)) * 1024 ** " KMGT".index(match.group(2).upper() or " "))


class Opaque:
    """Stands for a value the student's function returned that is not plain data."""

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<a {self.type_name} object>"


class RemoteError(Exception):
    """An exception raised in the student's process (its type name and message, nothing else)."""


def _encode(value: Any, arrays: list, depth: int = 0) -> Any:
    if depth > 20:
        return {"t": "opaque", "type": "deeply nested value"}
    if value is None or isinstance(value, (bool, int, float, str)):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63:
            return {"t": "opaque", "type": "huge int"}
        return {"t": "py", "v": value if not isinstance(value, str) else value[:10_000]}
    if isinstance(value, complex):
        return {"t": "complex", "v": [value.real, value.imag]}
    if isinstance(value, (tuple, list)):
        return {"t": type(value).__name__, "v": [_encode(v, arrays, depth + 1) for v in value[:100_000]]}
    if isinstance(value, dict):
        return {"t": "dict", "v": [[_encode(k, arrays, depth + 1), _encode(v, arrays, depth + 1)]
                                   for k, v in list(value.items())[:100_000]]}
    kind = "array"
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        kind, value = "tensor", value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything a student returns
        arr = None
    if arr is None or arr.dtype.hasobject:
        return {"t": "opaque", "type": type(value).__name__[:60]}
    arrays.append(np.ascontiguousarray(arr))
    return {"t": kind, "i": len(arrays) - 1}


def _decode(tree: Any, arrays: list) -> Any:
    kind = tree["t"]
    if kind == "py":
        return tree["v"]
    if kind == "complex":
        return complex(*tree["v"])
    if kind in {"tuple", "list"}:
        items = [_decode(v, arrays) for v in tree["v"]]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        return {_freeze(_decode(k, arrays)): _decode(v, arrays) for k, v in tree["v"]}
    if kind in {"array", "tensor"}:
        arr = arrays[int(tree["i"])]
        if kind == "tensor":
            import torch

            return torch.from_numpy(arr.copy())
        return arr if arr.ndim else arr[()]
    return Opaque(str(tree.get("type", "unknown"))[:60])


def _freeze(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else (key if not isinstance(key, np.ndarray) else key.tobytes())


def _pack(tree: Any, arrays: list) -> bytes:
    header = json.dumps(tree).encode()
    parts = [struct.pack("<QQ", len(header), len(arrays)), header]
    for arr in arrays:
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        parts += [struct.pack("<Q", buf.tell()), buf.getvalue()]
    return b"".join(parts)


def _unpack(data: bytes) -> Any:
    """Decode a reply without pickle: JSON plus .npy buffers (allow_pickle=False)."""
    n_header, n_arrays = struct.unpack_from("<QQ", data)
    pos = 16 + n_header
    tree = json.loads(data[16:pos])
    arrays = []
    for _ in range(n_arrays):
        (size,) = struct.unpack_from("<Q", data, pos)
        arrays.append(np.load(io.BytesIO(data[pos + 8: pos + 8 + size]), allow_pickle=False))
        pos += 8 + size
    return tree, arrays


def _write_frame(stream, payload: bytes) -> None:
    stream.write(struct.pack("<Q", len(payload)) + payload)
    stream.flush()


PRELOAD = ("numpy", "torch", "matplotlib.pyplot", "rnnbook")


def _preload() -> None:
    """Import the course's heavy libraries before any cell runs, so imports never eat a cell's time."""
    import importlib

    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def _worker_main(reply_fd: int, memory: int) -> None:
    """The student's process: run cells, then call functions on request (student code runs only here)."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    commands = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(reply_fd, "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # student output goes nowhere; the protocol has its own pipes
        os.dup2(devnull, fd)
    _preload()
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    import cloudpickle

    _write_frame(replies, _pack({"ok": True, "value": {"t": "py", "v": "ready"}}, []))
    while True:
        head = commands.read(8)
        if len(head) < 8:
            return
        message = cloudpickle.loads(commands.read(struct.unpack("<Q", head)[0]))
        try:
            if message[0] == "cell":
                result = shell.run_cell(message[1], store_history=False, silent=True)
                error = result.error_before_exec or result.error_in_exec
                tree, arrays = {"t": "py", "v": None if error is None else type(error).__name__}, []
                payload = _pack({"ok": True, "value": tree}, arrays)
            else:
                _, name, args, kwargs = message
                func = shell.user_ns.get(name)
                if func is None:
                    raise NameError(f"name {name!r} is not defined (was its cell changed or deleted?)")
                value = func(*args, **kwargs)
                arrays = []
                tree = {"ok": True, "value": _encode(value, arrays),
                        "args": _encode(list(args), arrays), "kwargs": _encode(kwargs, arrays)}
                payload = _pack(tree, arrays)
        except BaseException as exc:  # noqa: BLE001 - everything the student's code raises goes back
            name = type(exc).__name__ if isinstance(type(exc).__name__, str) else "Exception"
            try:
                text = str(exc)[:500]
            except BaseException:  # noqa: BLE001
                text = "(the exception could not be printed)"
            payload = _pack({"ok": False, "type": name[:80], "message": text,
                             "builtin": isinstance(exc, NotImplementedError)}, [])
        _write_frame(replies, payload)


class Sandbox:
    """A worker process holding the student's notebook state, with time and memory limits."""

    def __init__(self, cells: Sequence[str], limits: Limits, deadline: float, cwd: str | None = None):
        self.cells, self.limits, self.deadline, self.cwd = list(cells), limits, deadline, cwd
        self.proc: subprocess.Popen | None = None
        self.skip: set[int] = set()
        self.notes: list[str] = []

    # -- process management --------------------------------------------------------------------
    def _spawn(self) -> None:
        read_fd, write_fd = os.pipe()
        env = dict(os.environ, RNNBOOK_SMOKE=os.environ.get("RNNBOOK_SMOKE", "1"), RNNBOOK_PROGRESS="0",
                   MPLBACKEND="Agg", CUDA_VISIBLE_DEVICES="", PYTHONHASHSEED="0")
        code = f"from rnnbook.grading import _worker_main; _worker_main({write_fd}, {int(self.limits.memory)})"
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, pass_fds=(write_fd,), env=env,
                                     start_new_session=True, cwd=self.cwd)
        os.close(write_fd)
        self.replies = read_fd

    def kill(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            os.close(self.replies)
            self.proc = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _request(self, message: tuple, timeout: float) -> dict:
        """Send one message; the decoded reply, or {'ok': False, 'type': 'TimeoutError'/'Crash'}."""
        import cloudpickle

        try:
            _write_frame(self.proc.stdin, cloudpickle.dumps(message))
        except (BrokenPipeError, OSError):
            return self._died()
        try:
            data = self._read_frame(timeout)
        except EOFError:  # the process ended (os._exit, a crash, the memory limit)
            return self._died()
        if data is None and self.alive:  # time is up: interrupt like a kernel does, then kill
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGINT)
            with contextlib.suppress(EOFError):
                if self._read_frame(3.0) is None:
                    self.kill()
            return {"ok": False, "type": "TimeoutError",
                    "message": f"no result within the time limit of {self.limits.cell_timeout:g} s"}
        if data is None:
            return self._died()
        return self._decode(data)

    def _decode(self, data: bytes) -> dict:
        try:
            tree, arrays = _unpack(data)
            if tree.get("ok"):
                tree["value"] = _decode(tree["value"], arrays)
                for key in ("args", "kwargs"):
                    if key in tree:
                        tree[key] = _decode(tree[key], arrays)
            return tree
        except Exception as exc:  # noqa: BLE001 - a forged or broken reply
            return {"ok": False, "type": "ProtocolError", "message": f"unreadable reply ({type(exc).__name__})"}

    def _died(self) -> dict:
        code = None
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self.proc.wait(timeout=2)
        self.kill()
        return {"ok": False, "type": "Crash", "message": f"the notebook's process ended (exit status {code})"}

    def _read_frame(self, timeout: float) -> bytes | None:
        end = time.monotonic() + max(timeout, 0.0)
        buf = bytearray()
        need = 8
        while len(buf) < need:
            left = end - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.replies], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.replies, min(need - len(buf), 1 << 20))
            if not chunk:
                raise EOFError("the worker closed its end of the pipe")
            buf += chunk
            if need == 8 and len(buf) == 8:
                size = struct.unpack("<Q", bytes(buf))[0]
                if size > self.limits.max_result_bytes:
                    self.kill()
                    return _pack({"ok": False, "type": "ResultTooLarge",
                                  "message": f"the result is over {self.limits.max_result_bytes} bytes"}, [])
                need = 8 + size
        return bytes(buf[8:])

    def boot(self) -> None:
        """Start the worker and run the student's cells; a cell that hangs or kills it is skipped."""
        while True:
            self.kill()
            self._spawn()
            try:
                ready = self._read_frame(max(self.limits.startup_timeout, 1.0))
            except EOFError:
                ready = None
            if ready is None:
                self.kill()
                self.notes.append("the clean-room process did not start")
                return
            for i, cell in enumerate(self.cells):
                if i in self.skip:
                    continue
                left = min(self.limits.cell_timeout, self.deadline - time.monotonic())
                reply = self._request(("cell", cell), left)
                if not self.alive or (not reply.get("ok") and reply.get("type") == "TimeoutError"):
                    self.skip.add(i)
                    first = next((line for line in cell.splitlines() if line.strip()), "")[:60]
                    self.notes.append(f"the cell starting {first!r} did not finish ({reply.get('message', '')}); "
                                      "the clean room skipped it")
                    break
            else:
                return
            if time.monotonic() > self.deadline:
                return

    def call(self, name: str, args: tuple, kwargs: dict, timeout: float) -> Any:
        """Call the student's function `name` in the worker; raise what it raised, or return its value."""
        if timeout <= 0:
            raise TimeoutError(f"no time left of the {self.limits.cell_timeout:g} s limit for this check")
        if not self.alive:
            raise RemoteError("the notebook's process had already stopped (a crash or time-out before)")
        reply = self._request(("call", name, tuple(args), dict(kwargs)), timeout)
        if not reply.get("ok"):
            kind, message = str(reply.get("type", "Exception")), str(reply.get("message", ""))
            if reply.get("builtin") and kind == "NotImplementedError":
                raise NotImplementedError(message)
            if kind == "TimeoutError":
                raise TimeoutError(message)
            raise RemoteError(f"{kind}: {message}")
        _copy_back(list(args), reply.get("args"))
        _copy_back(kwargs, reply.get("kwargs"))
        return reply["value"]


def _copy_back(original: Any, changed: Any) -> None:
    """Apply the function's in-place changes to array arguments (a checker may test for them)."""
    if isinstance(original, dict) and isinstance(changed, dict):
        for key, value in original.items():
            _copy_back(value, changed.get(key))
    elif isinstance(original, (list, tuple)) and isinstance(changed, (list, tuple)) and len(original) == len(changed):
        for a, b in zip(original, changed):
            _copy_back(a, b)
    elif isinstance(original, np.ndarray) and isinstance(changed, np.ndarray):
        if original.shape == changed.shape and original.flags.writeable:
            with contextlib.suppress(TypeError, ValueError):
                np.copyto(original, changed, casting="same_kind")


class _RemoteFunction:
    """What the checker receives instead of the student's function: every call goes to the worker."""

    def __init__(self, sandbox: Sandbox, name: str, deadline: float):
        self.sandbox, self.name, self.deadline, self.__name__ = sandbox, name, deadline, name

    def __call__(self, *args, **kwargs):
        return self.sandbox.call(self.name, args, kwargs, self.deadline - time.monotonic())


@dataclass
class CheckResult:
    """The clean-room verdict on one check cell."""

    notebook: str
    exercise: str
    grade_id: str
    score: float
    max_score: float
    feedback: str = ""
    kernel_score: float | None = None
    student: str = ""


class _ThreadStdout(io.TextIOBase):
    """sys.stdout that sends a thread's writes to its own buffer while it captures (checkers print)."""

    def __init__(self, default):
        self.default, self.local = default, threading.local()

    def write(self, text: str) -> int:
        return (getattr(self.local, "buffer", None) or self.default).write(text)

    def flush(self) -> None:
        (getattr(self.local, "buffer", None) or self.default).flush()


@contextlib.contextmanager
def _captured_stdout():
    if not isinstance(sys.stdout, _ThreadStdout):
        sys.stdout = _ThreadStdout(sys.stdout)
    proxy, buffer = sys.stdout, io.StringIO()
    proxy.local.buffer = buffer
    try:
        yield buffer
    finally:
        proxy.local.buffer = None
        if sys.stdout is proxy:
            sys.stdout = proxy.default


def _checkers() -> dict[str, Callable]:
    from . import exercises

    return {name: getattr(exercises, name) for name in dir(exercises) if name.startswith("check_")}


def _names(source: str) -> tuple[set[str], set[str]]:
    """(names a cell binds, names it reads without binding them itself), from its syntax tree."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except (SyntaxError, ValueError):
        return set(), set()
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    return bound, read - bound


def student_cells(nb: dict, course_nb: dict | None = None, functions: Iterable[str] = (),
                  keep_first: int = 2) -> list[str]:
    """The code the clean room runs, in notebook order (never the locked check cells).

    With the chapter's own notebook given, that is: its first `keep_first` code cells (set-up and
    imports), the solution cells, every cell the student wrote or changed, and the chapter's cells
    that bind a name those cells read or a checked function's name (transitively). The chapter's demonstrations, which no answer uses, are
    skipped, so the clean room takes seconds, not a full run of the chapter.
    """
    code = [c for c in nb["cells"] if c.get("cell_type") == "code"
            and not (nbgrader_meta(c).get("grade") and not nbgrader_meta(c).get("solution"))]
    cells = [_source(c) for c in code]
    if course_nb is None:
        return cells
    course = [_source(c).strip() for c in course_nb["cells"] if c.get("cell_type") == "code"]
    keep = [src.strip() not in course or src.strip() in course[:keep_first] or bool(nbgrader_meta(c).get("solution"))
            for src, c in zip(cells, code)]
    names = [_names(src) for src in cells]
    wanted = set(functions).union(*(names[i][1] for i in range(len(cells)) if keep[i]))
    changed = True
    while changed:
        changed = False
        for i, (bound, read) in enumerate(names):
            if not keep[i] and bound & wanted:
                keep[i], changed = True, True
                wanted |= read
    return [src for src, k in zip(cells, keep) if k]


def verify_notebook(submission: dict | None, notebook: str, exercises: Sequence[Exercise], limits: Limits,
                    checkers: dict[str, Callable] | None = None, course_nb: dict | None = None) -> list[CheckResult]:
    """Score one submitted notebook in the clean room; `submission` None means unreadable."""
    checkers = checkers or _checkers()
    results = [CheckResult(notebook, ex.label, chk.grade_id, 0.0, chk.points) for ex in exercises for chk in ex.checks]
    if submission is None:
        for r in results:
            r.feedback = "the file is not a readable notebook (not JSON in the notebook format)"
        return results
    present = {str(nbgrader_meta(c).get("grade_id")) for c in submission["cells"]}
    if not any(sid in present for ex in exercises for sid in ex.solution_ids):
        for r in results:
            r.feedback = (f"none of the exercises of {notebook} is in this file: is it another chapter's "
                          "notebook handed in under this name?")
        return results
    start = time.monotonic()
    functions = [chk.function for ex in exercises for chk in ex.checks]
    scratch = tempfile.TemporaryDirectory(prefix="rnnbook-clean-room-")  # the student's working folder
    sandbox = Sandbox(student_cells(submission, course_nb, functions), limits, start + limits.notebook_timeout,
                      cwd=scratch.name)
    by_id = {r.grade_id: r for r in results}
    try:
        sandbox.boot()
        for ex in exercises:
            for chk in ex.checks:
                result = by_id[chk.grade_id]
                if not sandbox.alive:
                    sandbox.boot()
                if time.monotonic() > sandbox.deadline or chk.checker not in checkers:
                    result.feedback = ("the notebook ran out of its time limit" if chk.checker in checkers
                                       else f"unknown checker {chk.checker}")
                    continue
                deadline = min(time.monotonic() + limits.cell_timeout, sandbox.deadline)
                func = _RemoteFunction(sandbox, chk.function, deadline)
                with _captured_stdout() as out:
                    try:
                        score = checkers[chk.checker](func, **dict(chk.kwargs))
                    except Exception as exc:  # noqa: BLE001 - a checker bug must not stop the class
                        score = 0.0
                        print(f"the checker failed: {type(exc).__name__}: {exc}")
                top = float(getattr(score, "max_points", dict(chk.kwargs).get("points", 1.0)) or 1.0)
                fraction = float(score) / top if np.isfinite(float(score)) else 0.0
                result.score = round(chk.points * min(max(fraction, 0.0), 1.0), 6)
                result.feedback = out.getvalue()[:5000]
    finally:
        sandbox.kill()
        scratch.cleanup()
    if sandbox.notes:
        for r in results:
            r.feedback = "\n".join(sandbox.notes) + ("\n" + r.feedback if r.feedback else "")
    return results


# ---------------------------------------------------------------------------------------------
# Batch grading with nbgrader
# ---------------------------------------------------------------------------------------------

def _install_kernel(course: Path, limits: Limits) -> Path:
    """A kernelspec whose launcher sets the memory limit before ipykernel starts."""
    spec = course / "jupyter" / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "rnnbook.grading", "kernel", "--memory", str(int(limits.memory)), "--",
            "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({
        "argv": argv, "display_name": "rnnbook grading (limited)", "language": "python",
        "env": {"RNNBOOK_SMOKE": os.environ.get("RNNBOOK_SMOKE", "1"), "RNNBOOK_PROGRESS": "0",
                "MPLBACKEND": "Agg", "CUDA_VISIBLE_DEVICES": ""}}))
    return course / "jupyter"


def _kernel_main(memory: int, rest: list[str]) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # the kernel's own log lines would break the progress bar
    _preload()
    from ipykernel.kernelapp import launch_new_instance

    sys.argv = [sys.argv[0], *rest]
    launch_new_instance()


_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,99}$")


@dataclass
class GradeReport:
    """What `grade` wrote and how long it took."""

    rows: list[CheckResult] = field(default_factory=list)
    totals: dict[str, tuple[float, float]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    nbgrader_failed: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _kernel_scores(course: Path, notebook: str, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook, MissingEntry

    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        try:
            nb = gb.find_submission_notebook(notebook, notebook, student)
        except MissingEntry:
            return scores
        for grade in nb.grades:
            scores[grade.name] = grade.auto_score
    return scores


def _record_scores(course: Path, notebook: str, student: str, results: Sequence[CheckResult]) -> None:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for r in results:
            with contextlib.suppress(MissingEntry):
                grade = gb.find_grade(r.grade_id, notebook, notebook, student)
                grade.auto_score, grade.manual_score = r.score, None
        gb.db.commit()


def grade(submissions: Path, out: Path, limits: Limits = Limits(), notebook_dir: Path = NOTEBOOKS,
          show_progress: bool = True) -> GradeReport:
    """Grade dir/<student>/<notebook>.ipynb; write grades.csv, totals.csv, flags.csv and feedback/."""
    t0 = time.monotonic()
    # absolute paths: nbgrader changes the working folder while it converts a notebook
    submissions, out, notebook_dir = Path(submissions).resolve(), Path(out).resolve(), Path(notebook_dir).resolve()
    if not submissions.is_dir():
        raise ValueError(f"SUBMISSIONS={submissions}: not a folder; expected SUBMISSIONS/<student>/<notebook>.ipynb")
    checkers = _checkers()  # imported before any student code runs anywhere
    sources = {p.stem: p for p in sorted(Path(notebook_dir).glob("*.ipynb"))}
    course = out / "course"
    shutil.rmtree(course, ignore_errors=True)
    shutil.rmtree(out / "feedback", ignore_errors=True)
    saved = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(_install_kernel(course, limits)), saved]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nbgrader's and nbconvert's, once per student
            return _grade(submissions, out, limits, sources, checkers, course, t0, show_progress)
    finally:
        os.environ.pop("JUPYTER_PATH") if saved is None else os.environ.update(JUPYTER_PATH=saved)


def _grade(submissions: Path, out: Path, limits: Limits, sources: dict[str, Path], checkers: dict[str, Callable],
           course: Path, t0: float, show_progress: bool) -> GradeReport:
    exercises = {stem: exercises_in(read_notebook(p), stem) for stem, p in sources.items()}
    api = _nbgrader_api(course, limits)
    report = GradeReport()
    students = sorted(p for p in submissions.iterdir() if p.is_dir())
    for p in students:
        if not _SAFE_ID.match(p.name):
            report.skipped.append(f"{p.name}: not a usable student id (letters, digits, _.@+- only)")
    students = [p for p in students if _SAFE_ID.match(p.name)]
    wanted = sorted({f.stem for s in students for f in s.glob("*.ipynb") if f.stem in sources})
    for stem in wanted:
        _copy_source(sources[stem], course / "source" / stem / f"{stem}.ipynb")
        _check_api(api.generate_assignment(stem), f"register {stem}")
    from .progress import progress

    iterator = progress(students, desc="grading students") if show_progress else students
    course_nbs = {stem: read_notebook(p) for stem, p in sources.items()}
    # the clean room (a worker process) runs beside nbgrader's kernel: two processes, two cores
    with ThreadPoolExecutor(max_workers=1) as pool:
        for student_dir in iterator:
            student = student_dir.name
            for path in sorted(student_dir.iterdir()):
                if path.suffix != ".ipynb" or path.stem not in sources:
                    report.skipped.append(f"{student}/{path.name}: not a notebook of the course; ignored")
                    continue
                stem = path.stem
                try:
                    submission = read_notebook(path)
                except ValueError:
                    submission = None
                clean_room = pool.submit(verify_notebook, submission, stem, exercises[stem], limits, checkers,
                                         course_nbs[stem])
                target = course / "submitted" / student / stem / f"{stem}.ipynb"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)
                auto = api.autograde(stem, student)
                kernel = _kernel_scores(course, stem, student) if auto.get("success") else {}
                if not auto.get("success"):
                    errors = [ln.strip() for ln in auto.get("log", "").splitlines() if "Error" in ln]
                    report.nbgrader_failed.append(f"{student}/{stem}: {(errors or ['no log'])[-1][:200]}")
                results = clean_room.result()
                for r in results:
                    r.kernel_score, r.student = kernel.get(r.grade_id), student
                if auto.get("success"):
                    _record_scores(course, stem, student, results)
                    api.generate_feedback(stem, student)
                report.rows += results
                _write_feedback(out / "feedback" / student, stem, results, course, auto)
    _write_csvs(out, report, students)
    report.seconds = time.monotonic() - t0
    return report


def _write_feedback(folder: Path, notebook: str, results: Sequence[CheckResult], course: Path, auto: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    student = folder.name
    page = course / "feedback" / student / notebook / f"{notebook}.html"
    if page.exists():
        shutil.copy(page, folder / f"{notebook}.html")
    rows = "".join(
        f"<tr><td>{html.escape(r.exercise)}</td><td>{r.score:g}</td><td>{r.max_score:g}</td>"
        f"<td><pre>{html.escape(r.feedback)}</pre></td></tr>" for r in results)
    note = ("" if auto.get("success") else
            "<p>nbgrader could not execute this notebook (it crashed or is unreadable); the scores below come "
            "from the clean-room check alone.</p>")
    link = f'<p><a href="{notebook}.html">The executed notebook with nbgrader\'s feedback</a></p>' if page.exists() else ""
    with (folder / "index.html").open("a", encoding="utf-8") as f:
        f.write(f"<h2>{html.escape(notebook)}</h2>{note}{link}<table border=1><tr><th>exercise</th><th>score</th>"
                f"<th>max</th><th>what the checker said</th></tr>{rows}</table>\n")


def _write_csvs(out: Path, report: GradeReport, students: Iterable[Path]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "grades.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "notebook", "exercise", "score", "max_score"])
        for r in report.rows:
            w.writerow([r.student, r.notebook, r.exercise, f"{r.score:g}", f"{r.max_score:g}"])
    totals: dict[str, list[float]] = {s.name: [0.0, 0.0] for s in students}
    for r in report.rows:
        totals[r.student][0] += r.score
        totals[r.student][1] += r.max_score
    with (out / "totals.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "score", "max_score"])
        for student, (score, top) in sorted(totals.items()):
            w.writerow([student, f"{score:g}", f"{top:g}"])
            report.totals[student] = (score, top)
    with (out / "flags.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "notebook", "exercise", "kernel_score", "verified_score"])
        for r in report.rows:
            if r.kernel_score is None or abs(r.kernel_score - r.score) > 1e-6:
                w.writerow([r.student, r.notebook, r.exercise,
                            "" if r.kernel_score is None else f"{r.kernel_score:g}", f"{r.score:g}"])


def main(argv: Sequence[str] | None = None) -> int:
    """The command line behind `make student` and `make grade`."""
    parser = argparse.ArgumentParser(prog="python -m rnnbook.grading", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("student", help="student edition (nbgrader) + student HTML book + leak check")
    p.add_argument("--out", type=Path, default=ROOT / "_build" / "student")
    p.add_argument("--no-html", action="store_true", help="only the notebooks (and their leak check)")
    p = sub.add_parser("grade", help="grade SUBMISSIONS/<student>/<notebook>.ipynb")
    p.add_argument("submissions", type=Path)
    p.add_argument("--out", type=Path, default=ROOT / "_build" / "grades")
    p.add_argument("--timeout", type=float, default=Limits.cell_timeout, help="seconds per cell (default 60)")
    p.add_argument("--memory", default="4G", help="memory per notebook process (default 4G)")
    p.add_argument("--notebook-timeout", type=float, default=Limits.notebook_timeout,
                   help="seconds per notebook in the clean room (default 900)")
    p = sub.add_parser("leak-check", help="fail if a reference solution line appears under DIR")
    p.add_argument("directory", type=Path)
    p = sub.add_parser("kernel", help=argparse.SUPPRESS)
    p.add_argument("--memory", type=int, required=True)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    if args.command == "kernel":
        _kernel_main(args.memory, [a for a in args.rest if a != "--"])
    if args.command == "student":
        args.out = args.out.resolve()
        notebooks = make_student_edition(args.out)
        print(f"student edition: {len(notebooks)} notebooks in {args.out / 'notebooks'}")
        if not args.no_html:
            print(f"student book: {build_student_html(args.out, notebooks)}/index.html")
        args.directory = args.out
    if args.command in {"student", "leak-check"}:
        leaks = leak_check(args.directory)
        for leak in leaks[:50]:
            print("LEAK:", leak)
        print(f"leak check of {args.directory}: {'FAILED, ' + str(len(leaks)) + ' leaks' if leaks else 'no solution line found'}")
        return 1 if leaks else 0
    if args.command == "grade":
        limits = Limits(cell_timeout=args.timeout, memory=parse_bytes(args.memory),
                        notebook_timeout=args.notebook_timeout)
        report = grade(args.submissions, args.out, limits)
        for line in report.skipped:
            print("skipped:", line)
        for line in report.nbgrader_failed:
            print("nbgrader could not run (scored by the clean room alone):", line)
        print(f"graded {len(report.totals)} students in {report.seconds:.0f} s: {args.out / 'grades.csv'}, "
              f"{args.out / 'totals.csv'}, feedback in {args.out / 'feedback'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
