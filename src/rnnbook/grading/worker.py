"""The student's process in the clean room: it runs the student's cells, then calls their functions on request,
watched for shortcuts (rnnbook.exercises._guard)."""

from __future__ import annotations
import contextlib
import os
import struct

from .wire import _encode, _pack, _write_frame


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

    from ..exercises import _guard

    # the watch's own state, taken before any student code runs and put back before every call,
    # so that a cell that patches the guard module (or its classes) changes nothing
    guard_state = dict(vars(_guard))
    class_state = {cls: dict(vars(cls)) for cls in (_guard._Watch, _guard.Policy)}
    call_watched, shortcut = _guard.call_watched, _guard.Shortcut

    def restore_guard() -> None:
        vars(_guard).update(guard_state)
        for cls, state in class_state.items():
            for key, value in state.items():
                if key not in ("__dict__", "__weakref__") and vars(cls).get(key) is not value:
                    setattr(cls, key, value)
        _guard._Watch._verdicts.clear()

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
                _, name, args, kwargs, policy = message
                func = shell.user_ns.get(name)
                if func is None:
                    raise NameError(f"name {name!r} is not defined (was its cell changed or deleted?)")
                restore_guard()
                try:
                    value = call_watched(func, args, kwargs, policy, enforce=True)
                except shortcut as exc:
                    _write_frame(replies, _pack({"ok": False, "shortcut": str(exc.name)[:300]}, []))
                    continue
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
