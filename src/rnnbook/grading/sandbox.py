"""The clean room's handle on the student's process: limits, start-up, requests with time-outs,
crashes.
"""

from __future__ import annotations
import contextlib
import os
import re
import select
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
import numpy as np

from ..exercises._guard import REMOTE_TYPES, Shortcut, make_policy
from .wire import RemoteError, _decode, _pack, _unpack, _write_frame


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
        code = f"from rnnbook.grading.worker import _worker_main; _worker_main({write_fd}, {int(self.limits.memory)})"
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

    def call(self, name: str, args: tuple, kwargs: dict, timeout: float, policy: Any = None) -> Any:
        """Call the student's function `name` in the worker, watched by `policy` (what the exercise
        forbids, see rnnbook.exercises._guard); raise what it raised, or return its value."""
        if timeout <= 0:
            raise TimeoutError(f"no time left of the {self.limits.cell_timeout:g} s limit for this check")
        if not self.alive:
            raise RemoteError("the notebook's process had already stopped (a crash or time-out before)")
        if policy is None:
            policy = make_policy()
        reply = self._request(("call", name, tuple(args), dict(kwargs), policy), timeout)
        if "shortcut" in reply and not reply.get("ok"):
            raise Shortcut(str(reply["shortcut"]))
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

    def call_with_policy(self, policy: Any, args: tuple, kwargs: dict) -> Any:
        """A checker's watched call (rnnbook.exercises._guard.call_watched): the policy goes along."""
        return self.sandbox.call(self.name, args, kwargs, self.deadline - time.monotonic(), policy)


REMOTE_TYPES.add(_RemoteFunction)  # the checkers' watched calls are forwarded, not watched here
