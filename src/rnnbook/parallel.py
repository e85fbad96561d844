"""Independent training runs on every CPU core: one single-threaded process per run.

The chapters train many small models whose matrices are too small for a second thread to help
inside one run, so one thread per run is both the fastest setting and the reproducible one.
`run_parallel` keeps that setting and puts the idle cores to work on *other* runs: it forks one
worker process per core, each with one torch thread, hands each a run, and returns the results
in order. A run's numbers do not depend on where it ran: every run must seed its own generators
(as the chapters' training functions do), and then the results are bit for bit those of
`[fn(item) for item in items]`, which is also what runs when forking is not safe or not useful
(not Linux, a GPU device, a single core, inside a worker process) or RNNBOOK_WORKERS=1.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")

# The function and items of the call in progress. Forked workers inherit them, so only an index
# travels to a worker and only the result travels back: `fn` may be a lambda, a closure or a
# function defined in a notebook, none of which could be pickled for a worker.
_TASK: tuple[Callable[[Any], Any], Sequence[Any]] | None = None


def available_workers() -> int:
    """The number of worker processes `run_parallel` would use: $RNNBOOK_WORKERS, else the cores."""
    value = os.environ.get("RNNBOOK_WORKERS", "").strip()
    if value:
        try:
            workers = int(value)
        except ValueError:
            workers = 0
        if workers < 1:
            raise ValueError(f"RNNBOOK_WORKERS={value!r} is not understood; use a positive "
                             "integer (1 runs everything in this process)")
        return workers
    try:
        return len(os.sched_getaffinity(0))     # the cores this process may use
    except AttributeError:                       # not on Linux
        return os.cpu_count() or 1


def _can_fork(device: torch.device | str | None) -> bool:
    # fork is the only start method that passes notebook-defined functions to a worker; it is
    # safe on Linux (macOS's system libraries are not fork-safe) and only before CUDA or MPS
    # are initialised; a daemonic worker (a grading sandbox, say) may not fork at all.
    if sys.platform != "linux" or "fork" not in multiprocessing.get_all_start_methods():
        return False
    if device is not None and torch.device(device).type != "cpu":
        return False
    if torch.cuda.is_initialized():
        return False
    return not multiprocessing.current_process().daemon


def _start_worker() -> None:
    torch.set_num_threads(1)
    os.environ["RNNBOOK_PROGRESS"] = "0"        # bars from several processes would interleave


def _run_one(index: int) -> Any:
    fn, items = _TASK
    return fn(items[index])


def run_parallel(fn: Callable[[T], R], items: Sequence[T], *,
                 device: torch.device | str | None = "cpu",
                 workers: int | None = None) -> list[R]:
    """`[fn(item) for item in items]`, computed by up to `workers` forked single-thread processes.

    List the longest runs first: workers take the items in order, each the next one free.
    Results must be picklable (tensors, modules, numbers, lists); exceptions are re-raised here.
    Falls back to the plain loop where forking is unsafe (see the module docstring).
    """
    global _TASK
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ValueError(f"workers must be a positive integer or None, got {workers!r}")
    items = list(items)
    n = min(available_workers() if workers is None else workers, len(items))
    if n < 2 or not _can_fork(device):
        return [fn(item) for item in items]
    if _TASK is not None:
        raise RuntimeError("run_parallel was called from inside a run of run_parallel; "
                           "parallelise the outer loop only")
    # The first optimiser a process makes imports torch._dynamo and its kin (seconds of work):
    # done once here, every worker inherits it instead of importing it again.
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    _TASK = (fn, items)
    try:
        with multiprocessing.get_context("fork").Pool(n, initializer=_start_worker) as pool:
            return pool.map(_run_one, range(len(items)), chunksize=1)
    finally:
        _TASK = None
