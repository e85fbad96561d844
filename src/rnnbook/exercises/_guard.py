"""No shortcuts: while a reader's function runs, a profile hook watches every call it makes.

An exercise asks for code the course already has (rnnbook's reference) or torch already has
(`torch.nn.LSTMCell`, `F.ctc_loss`). A name check is easy to get round (an alias, `importlib`,
`getattr`), so this module looks at what *runs*: `sys.setprofile` sees every Python function
that starts (its code object says where it lives) and every C function called from Python code.
A call into the rnnbook package (except the exercise's allowed helpers, and what the checker
hands the function as an argument, such as a `step` callable or a layer object) or into one of
the exercise's forbidden torch functions marks the attempt; the checker then awards 0 with
"implement this yourself: calling X is not allowed here".

Also marked: starting threads or processes, or touching the profiler, from the reader's code
(the reference could run there unseen). What it cannot see: code copied from the course's
source into the answer, and code that rewrites the interpreter's own state (ctypes). The
clean-room grader (rnnbook.grading) runs the same watch in the student's process, where the
policy arrives as plain data resolved by the trusted process.

The course's own tests check the checkers with the package's reference as the answer; they
run inside `trusted()`, which the in-process checker honours and the clean room never does.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import os
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

# as the import system spells paths (code objects' co_filename), so neither is resolved
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PACKAGE_PREFIX = PACKAGE_DIR + os.sep
_CHECKERS_PREFIX = os.path.dirname(os.path.abspath(__file__)) + os.sep
_LIBRARY_PREFIXES = tuple(sorted({f(p) + os.sep for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)
                                  for f in (os.path.abspath, os.path.realpath)}))

# What every exercise allows and forbids (a checker adds its own with `allow=` and `forbid=`).
DEFAULT_ALLOW = ("rnnbook.runtime", "rnnbook.progress", "rnnbook.device")
DEFAULT_FORBID = ("torch.nn.RNN", "torch.nn.LSTM", "torch.nn.GRU", "torch.nn.RNNCell",
                  "torch.nn.LSTMCell", "torch.nn.GRUCell", "torch.nn.modules.rnn",
                  "torch.lstm_cell", "torch.gru_cell", "torch.rnn_tanh_cell", "torch.rnn_relu_cell",
                  "torch.lstm", "torch.gru", "torch.rnn_tanh", "torch.rnn_relu")

# What an exercise that asks for a softmax forbids.
SOFTMAX_FUNCTIONS = ("torch.softmax", "torch.nn.functional.softmax", "torch.nn.functional.log_softmax",
                     "scipy.special.softmax")

# C functions that would let the reference run where the hook cannot see it, by module.
_TAMPER_C = {"sys": {"setprofile", "settrace", "_setprofileallthreads", "_settraceallthreads"},
             "_thread": {"start_new_thread", "start_new", "start_joinable_thread"},
             "posix": {"fork", "forkpty", "system", "execv", "execve", "posix_spawn", "posix_spawnp"},
             "nt": {"system", "execv", "execve", "spawnv", "spawnve"},
             "_posixsubprocess": {"fork_exec"}}
_TAMPER_C_NAMES = frozenset(n for names in _TAMPER_C.values() for n in names)
# Standard-library code for threads, processes and messages between them, when the reader's
# own code calls it (the library's internal use, e.g. ipykernel's output thread, is fine).
_TAMPER_FILES = ("multiprocessing" + os.sep, "concurrent" + os.sep + "futures" + os.sep,
                 os.sep + "subprocess.py", os.sep + "queue.py", os.sep + "threading.py",
                 os.sep + "socket.py", "asyncio" + os.sep)

# Standard-library functions in those files that start nothing: numpy's random generators
# (np.random.default_rng, RandomState) call threading.RLock from C code to make their lock.
_HARMLESS_TAMPER = frozenset({"RLock"})

_ALLOWED = "allowed"


class Shortcut(Exception):
    """The reader's function called something the exercise asks them to write themselves."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


@dataclass(frozen=True)
class Policy:
    """What a checked function may not run, as plain data (it travels to the clean room).

    `allow` and `forbid_code` hold (file, qualified name, label) triples, a qualified name ""
    meaning the whole file; `forbid_c` holds (C function name, label) pairs.
    """

    allow: tuple = ()
    forbid_code: tuple = ()
    forbid_c: tuple = ()

    def classify(self, code: types.CodeType) -> Any:
        """None (fine), _ALLOWED (an allowed helper), or ('kind', label) for a code object."""
        filename, qualname = code.co_filename, getattr(code, "co_qualname", code.co_name)
        for file, name, _ in self.allow:
            if filename == file and _qualname_matches(qualname, name):
                return _ALLOWED
        for file, name, label in self.forbid_code:
            if (filename == file or file.endswith(os.sep) and filename.startswith(file)) \
                    and _qualname_matches(qualname, name):
                return ("forbidden", label or _label(code))
        if filename.startswith(_PACKAGE_PREFIX):
            # importing a module of the package is not a shortcut; what its body calls is checked
            return None if code.co_name == "<module>" else ("forbidden", _label(code))
        if any(part in filename for part in _TAMPER_FILES) and code.co_name not in _HARMLESS_TAMPER:
            return ("tamper", _label(code))
        return None


def _qualname_matches(qualname: str, name: str) -> bool:
    return not name or qualname == name or qualname.startswith(name + ".")


def _label(code: types.CodeType) -> str:
    """'rnnbook.scratch.rnn_step' or 'torch.nn.modules.rnn.LSTM.forward' for a code object."""
    path, qualname = Path(code.co_filename), getattr(code, "co_qualname", code.co_name)
    parts = list(path.with_suffix("").parts)
    for anchor in ("rnnbook", "site-packages"):
        if anchor in parts:
            parts = parts[len(parts) - parts[::-1].index(anchor) - (anchor == "rnnbook"):]
            break
    else:
        parts = parts[-1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts + [qualname])


def _resolve(spec: str) -> list[tuple]:
    """A dotted name -> [('code', file, qualname, label)] or [('c', name, label)]."""
    if spec.startswith("rnnbook"):
        # the course's own names resolve by file, never by looking up an attribute (which a
        # reader's code could have replaced with something else)
        parts = spec.split(".")[1:]
        for i in range(len(parts), 0 if parts else -1, -1):
            base = Path(PACKAGE_DIR, *parts[:i])
            for file in (base.with_suffix(".py") if i else None, base / "__init__.py"):
                if file is not None and file.is_file():
                    return [("code", str(file), ".".join(parts[i:]), spec)]
        raise ValueError(f"allow/forbid {spec!r}: no such module in the rnnbook package")
    located = _locate_module(spec)
    if located is not None:
        return [("code", located, "", spec)]
    module_name, obj = spec, None
    while module_name:
        with contextlib.suppress(ImportError):
            obj = importlib.import_module(module_name)
            break
        module_name = module_name.rpartition(".")[0]
    if obj is None:  # a library that is not installed cannot be called either
        return []
    for attr in spec[len(module_name):].split(".")[1:]:
        obj = getattr(obj, attr, None)
        if obj is None:
            raise ValueError(f"allow/forbid {spec!r}: {module_name} has no {attr!r}")
    if isinstance(obj, types.ModuleType):
        # a package forbids every module in its folder (the file name ends with a separator)
        folder = os.path.dirname(obj.__file__) + os.sep if hasattr(obj, "__path__") else obj.__file__
        return [("code", folder, "", spec)]
    if isinstance(obj, (types.BuiltinFunctionType, types.BuiltinMethodType)):
        return [("c", obj.__name__, spec)]
    target = inspect.unwrap(obj)
    members = vars(target).values() if isinstance(target, type) else [target]
    code = next((getattr(inspect.unwrap(m), "__code__", None) for m in members
                 if hasattr(inspect.unwrap(m), "__code__")), None)
    if code is None:
        raise ValueError(f"allow/forbid {spec!r}: neither Python code nor a C function")
    return [("code", code.co_filename, target.__qualname__, spec)]


def _locate_module(spec: str) -> str | None:
    """The file (or, for a package, the folder) of a module, found without importing it."""
    top, *rest = spec.split(".")
    try:
        found = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if found is None or not found.origin or not found.origin.endswith(".py"):
        return None
    path = Path(found.origin).parent if found.submodule_search_locations else Path(found.origin)
    for part in rest:
        if (path / part / "__init__.py").is_file():
            path = path / part
        elif (path / f"{part}.py").is_file():
            return str(path / f"{part}.py") if part == rest[-1] else None
        else:
            return None
    return str(path) + os.sep if path.is_dir() else str(path)


_POLICIES: dict[tuple, Policy] = {}


def make_policy(allow: tuple = (), forbid: tuple = ()) -> Policy:
    """The Policy of an exercise: the defaults plus its own allowed helpers and forbidden names."""
    key = (tuple(allow), tuple(forbid))
    if key not in _POLICIES:
        allowed = [r for spec in DEFAULT_ALLOW + key[0] for r in _resolve(spec)]
        forbidden = [r for spec in DEFAULT_FORBID + key[1] for r in _resolve(spec)]
        allowed_c = {r[1] for r in allowed if r[0] == "c"}  # e.g. torch.lstm for an experiment
        # a default the exercise allows (torch.nn.GRU for an experiment) is not listed as forbidden
        _POLICIES[key] = Policy(tuple(r[1:] for r in allowed if r[0] == "code"),
                                tuple(r[1:] for r in forbidden
                                      if r[0] == "code" and r[-1] not in key[0]),
                                tuple(r[1:] for r in forbidden if r[0] == "c" and r[1] not in allowed_c))
    return _POLICIES[key]


def _method_of(cls: type, code: types.CodeType) -> bool:
    """True when `code` is the code of a method `cls` has (its own or inherited)."""
    for klass in cls.__mro__:
        member = vars(klass).get(code.co_name)
        if member is None:
            continue
        member = getattr(member, "__func__", member)  # classmethod, staticmethod
        if getattr(inspect.unwrap(member), "__code__", None) is code:
            return True
    return False


def _is_library(filename: str) -> bool:
    return filename.startswith(_LIBRARY_PREFIXES) or filename.startswith(("<frozen", _PACKAGE_PREFIX))


class _Watch:
    """The profile hook of one call: it records the first forbidden call, never raises."""

    _verdicts: dict[tuple, dict] = {}

    def __init__(self, policy: Policy, args: tuple, kwargs: dict, entry: types.FrameType,
                 driver: types.CodeType | None = None):
        self.policy, self.entry, self.found, self.driver = policy, entry, None, driver
        self.verdicts = self._verdicts.setdefault(policy, {})
        self.c_names = {name: label for name, label in policy.forbid_c}
        self.codes: set = set()
        self.owners: dict[int, type] = {}  # id of a handed-over object -> its class
        for value in list(args) + list(kwargs.values()):
            self._hand_over(value, 0)

    def _hand_over(self, value: Any, depth: int) -> None:
        """What the checker passes in (a step function, a layer) may run whatever it runs."""
        if depth > 3 or value is None or isinstance(value, (bool, int, float, str, bytes)):
            return
        if isinstance(value, (list, tuple)):
            for v in value[:50]:
                self._hand_over(v, depth + 1)
        elif isinstance(value, dict):
            for v in list(value.values())[:50]:
                self._hand_over(v, depth + 1)
        elif isinstance(value, types.FunctionType):
            self.codes.add(value.__code__)
        elif isinstance(value, types.MethodType):
            self._hand_over(value.__func__, depth + 1)
            owner = value.__self__
            self.owners[id(owner)] = owner if isinstance(owner, type) else type(owner)
        elif hasattr(value, "func") and hasattr(value, "args"):  # functools.partial
            self._hand_over(value.func, depth + 1)
            self._hand_over(value.args, depth + 1)
        elif callable(value) and not isinstance(value, type):  # a layer, a model, a step object
            self.owners[id(value)] = type(value)

    def _excused(self, frame: types.FrameType | None) -> bool:
        """True when `frame` or a caller below the checked function is a handed-over callable."""
        while frame is not None and frame is not self.entry:
            code = frame.f_code
            if code in self.codes or self.verdicts.get(code) is _ALLOWED:
                return True
            if code.co_argcount and self.owners:
                # a method of a handed-over object, run on that object (its `self`)
                with contextlib.suppress(Exception):
                    cls = self.owners.get(id(frame.f_locals.get(code.co_varnames[0])))
                    if cls is not None and _method_of(cls, code):
                        return True
            frame = frame.f_back
        return False

    def hook(self, frame: types.FrameType, event: str, arg: Any) -> None:
        if self.found is not None:
            return
        if event == "call":
            code = frame.f_code
            if code is self.driver:
                return
            verdict = self.verdicts.get(code, self)
            if verdict is self:
                verdict = self.verdicts[code] = self.policy.classify(code)
            if verdict is None or verdict is _ALLOWED:
                return
            kind, label = verdict
            if kind == "forbidden" and not self._excused(frame):
                self.found = label
            elif kind == "tamper" and frame.f_back is not None and not _is_library(
                    frame.f_back.f_code.co_filename) and frame.f_back is not self.entry:
                self.found = label
            if self.found is not None:
                _setprofile(None)  # the verdict is in: the rest of the call runs at full speed
        elif event == "c_call" and frame is not self.entry:
            name = getattr(arg, "__name__", None)
            if name in self.c_names:
                module = getattr(arg, "__module__", None) or ""
                qualname = getattr(arg, "__qualname__", "") or ""
                if (module.startswith("torch") or qualname.startswith(("Tensor.", "TensorBase."))) \
                        and not self._excused(frame):
                    self.found = self.c_names[name]
            elif name in _TAMPER_C_NAMES and getattr(arg, "__module__", None) in _TAMPER_C:
                if name in _TAMPER_C[arg.__module__]:
                    self.found = f"{arg.__module__}.{name}"
            if self.found is not None:
                _setprofile(None)


_setprofile, _getprofile = sys.setprofile, sys.getprofile
_trust_depth = 0


@contextlib.contextmanager
def trusted() -> Iterator[None]:
    """Within this block the in-process checkers accept the course's own reference as an answer
    (the test suite checks the checkers with it); the clean-room grader ignores it."""
    global _trust_depth
    _trust_depth += 1
    try:
        yield
    finally:
        _trust_depth -= 1


# What the clean-room grader hands a checker instead of the student's function registers its
# type here: its calls are watched in the student's process, with `call_with_policy`.
REMOTE_TYPES: set[type] = set()


def call_watched(func: Callable, args: tuple, kwargs: dict, policy: Policy,
                 enforce: bool = False) -> Any:
    """func(*args, **kwargs), raising Shortcut if it ran something `policy` forbids."""
    if type(func) in REMOTE_TYPES:
        return func.call_with_policy(policy, args, kwargs)
    if _trust_depth and not enforce:
        return func(*args, **kwargs)
    # A checker may hand run_checks a driver of its own that calls the answer (one position at a
    # time, say): the driver's own code is the checker's, what it calls is watched as usual.
    code = getattr(func, "__code__", None)
    # Only a closure the checker made counts (never a module-level function of the checkers).
    driver = code if code is not None and code.co_filename.startswith(_CHECKERS_PREFIX) \
        and "<locals>" in getattr(code, "co_qualname", "") else None
    watch = _Watch(policy, args, kwargs, sys._getframe(), driver)
    hook = watch.hook  # one bound method, so that `is` can tell whether it is still installed
    previous = _getprofile()
    _setprofile(hook)
    try:
        result = func(*args, **kwargs)
    except BaseException:
        intact = _getprofile() is hook or watch.found is not None
        _setprofile(previous)
        if watch.found is not None or not intact:
            raise Shortcut(watch.found or "sys.setprofile") from None
        raise
    intact = _getprofile() is hook or watch.found is not None
    _setprofile(previous)
    if watch.found is not None or not intact:
        raise Shortcut(watch.found or "sys.setprofile")
    return result
