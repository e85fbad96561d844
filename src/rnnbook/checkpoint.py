"""Resumable training state and small shipped model files.

A long training run (a script, never a notebook cell) is stopped and restarted many times: a
session ends, a GPU call lasts ten minutes. `save_state` therefore writes everything that decides
what happens next — weights, optimiser and scheduler state, the random number generators of
Python, NumPy and torch, the step count, the time spent so far and any extra bookkeeping such as
the data position — and `load_state` puts all of it back, so that a run stopped and resumed
takes the same steps as one that never stopped. Writes are atomic (a temporary file, then
`os.replace`), so a run killed while saving leaves the previous state intact.

`export_model` writes the small file that ships in `data/`: weights only (optionally in half
precision), the configuration needed to rebuild the model, and free-form metadata for the card.
"""
from __future__ import annotations

import os
import random
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["TrainState", "save_state", "load_state", "SaveTimer", "RunClock", "export_model",
           "load_model_file", "model_from_file"]


@dataclass
class TrainState:
    """What `load_state` gives back besides the restored objects."""

    step: int = 0
    elapsed_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _atomic_save(obj: Any, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        # mkstemp creates the file as 0600; give it the mode a plain open() would (umask applied).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _rng_states() -> dict[str, Any]:
    states = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"].cpu())
    # A state saved on a GPU machine and resumed on a CPU one just loses the CUDA generators.
    if "cuda" in states and torch.cuda.is_available():
        cuda = states["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


def save_state(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None,
               scheduler: Any = None, step: int = 0, elapsed_s: float = 0.0,
               extra: dict[str, Any] | None = None) -> None:
    """Write a resumable training state to `path` atomically."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    state = {
        "format": "rnnbook-train-state-1",
        "model": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "step": int(step),
        "elapsed_s": float(elapsed_s),
        "extra": dict(extra or {}),
        "rng": _rng_states(),
    }
    _atomic_save(state, path)


def load_state(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None,
               scheduler: Any = None, map_location: str | torch.device = "cpu",
               restore_rng: bool = True) -> TrainState:
    """Restore a state written by `save_state` into `model` (and optimiser, scheduler, RNGs)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no training state at {path}; start without --resume to create one")
    state = torch.load(path, map_location=map_location, weights_only=False)
    if not isinstance(state, dict) or state.get("format") != "rnnbook-train-state-1":
        raise ValueError(f"{path} is not a training state written by rnnbook.checkpoint.save_state")
    model.load_state_dict(state["model"])
    if optimizer is not None:
        if state["optimizer"] is None:
            raise ValueError(f"{path} holds no optimiser state, but an optimiser was given")
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        if state["scheduler"] is None:
            raise ValueError(f"{path} holds no scheduler state, but a scheduler was given")
        scheduler.load_state_dict(state["scheduler"])
    if restore_rng:
        _set_rng_states(state["rng"])
    return TrainState(step=state["step"], elapsed_s=state["elapsed_s"], extra=state["extra"])


class SaveTimer:
    """Says when it is time to save again: every `seconds` of wall-clock time."""

    def __init__(self, seconds: float = 300.0) -> None:
        if seconds <= 0:
            raise ValueError(f"seconds must be positive, got {seconds}")
        self.seconds = float(seconds)
        self._last = time.monotonic()

    def should_save(self) -> bool:
        """True (and the clock restarts) once `seconds` have passed since the last True."""
        now = time.monotonic()
        if now - self._last >= self.seconds:
            self._last = now
            return True
        return False


class RunClock:
    """When one call of a resumable run must stop, and how much time the whole run has used.

    Wall and CPU seconds are counted from the clock's creation and added to the totals of the
    earlier calls (`elapsed0`, `cpu0`, read from the saved state). Used as a context manager (in
    the main thread, with `handle_signals`), it turns SIGTERM and SIGINT into a flag, so that the
    loop finishes its step and saves instead of dying in the middle of a write.
    """

    def __init__(self, minutes: float | None = None, max_steps: int | None = None,
                 elapsed0: float = 0.0, cpu0: float = 0.0, handle_signals: bool = True) -> None:
        if minutes is None and max_steps is None:
            raise ValueError("give minutes or max_steps (or both) to say when to stop")
        self.minutes, self.max_steps = minutes, max_steps
        self.elapsed0, self.cpu0 = float(elapsed0), float(cpu0)
        self.handle_signals = handle_signals
        self.signalled = False
        self._wall, self._cpu = time.monotonic(), time.process_time()
        self._old: dict[int, Any] = {}

    def elapsed(self) -> float:
        """Wall-clock seconds of the whole run, this call included."""
        return self.elapsed0 + time.monotonic() - self._wall

    def cpu(self) -> float:
        """CPU seconds of the whole run (this process's, summed over the calls)."""
        return self.cpu0 + time.process_time() - self._cpu

    def stop_reason(self, step: int) -> str | None:
        """Why this call must stop before taking step `step + 1`, or None to go on."""
        if self.max_steps is not None and step >= self.max_steps:
            return f"reached step {self.max_steps}"
        if self.minutes is not None and time.monotonic() - self._wall >= self.minutes * 60:
            return f"{self.minutes:g} minutes are up"
        if self.signalled:
            return "signal received: saving and stopping"
        return None

    def _on_signal(self, signum, frame) -> None:
        self.signalled = True

    def __enter__(self) -> "RunClock":
        if self.handle_signals and threading.current_thread() is threading.main_thread():
            self._old = {s: signal.signal(s, self._on_signal)
                         for s in (signal.SIGTERM, signal.SIGINT)}
        return self

    def __exit__(self, *exc) -> bool:
        for s, handler in self._old.items():
            signal.signal(s, handler)
        self._old = {}
        return False


def track_plateau(extra: dict[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                  step: int, value: float, patience: int, min_lr: float,
                  min_gain: float = 0.002) -> None:
    """After an evaluation: keep the best weights, and halve the learning rate on a plateau.

    `extra` is the run's saved dictionary: "best" (step, val, weights; None before the first
    evaluation), "best_val" and "bad_evals". The learning rate is halved, down to `min_lr`, once
    `patience` evaluations in a row have not beaten "best_val" by `min_gain`.
    """
    if extra.get("best") is None or value < extra["best"]["val"]:
        extra["best"] = {"step": step, "val": value, "weights": {
            k: t.detach().cpu().clone() for k, t in model.state_dict().items()}}
    if value < extra["best_val"] - min_gain:
        extra["best_val"], extra["bad_evals"] = value, 0
        return
    extra["bad_evals"] += 1
    lr = optimizer.param_groups[0]["lr"]
    if extra["bad_evals"] >= patience and lr > min_lr:
        for group in optimizer.param_groups:
            group["lr"] = max(lr * 0.5, min_lr)
        extra["bad_evals"] = 0


def best_model(model: torch.nn.Module, extra: dict[str, Any]) -> tuple[torch.nn.Module, int | None]:
    """(a copy of `model` holding the best weights of `extra`, their step), or (model, None)
    before any evaluation; the model's class is rebuilt from its `config`."""
    if extra.get("best") is None:
        return model, None
    ship = type(model)(**model.config)
    ship.load_state_dict(extra["best"]["weights"])
    return ship, extra["best"]["step"]


def check_state_path(state_path: str | Path, resume: bool) -> None:
    """Refuse to resume from a missing state, or to start afresh over an existing one."""
    if resume and not Path(state_path).exists():
        raise FileNotFoundError(f"--resume was given but there is no state at {state_path}; "
                                "start without --resume to create it")
    if not resume and Path(state_path).exists():
        raise FileExistsError(f"a training state already exists at {state_path}; pass --resume to "
                              "continue it, or delete it to start again from scratch")


def shipped_file(path: str | Path, module: str, card: str) -> Path:
    """`path` as a Path if the file exists, else a FileNotFoundError saying how to train it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; train it with `python -m rnnbook.{module} train "
                                f"--minutes M --out {path} --state STATE` (see data/{card})")
    return path


def export_model(path: str | Path, model: torch.nn.Module, config: dict[str, Any],
                 meta: dict[str, Any] | None = None, half: bool = False) -> None:
    """Write the small shipped file: weights (float16 if `half`), the config and metadata."""
    weights = {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu()
        if half and tensor.is_floating_point():
            tensor = tensor.half()
        weights[name] = tensor.clone()
    _atomic_save({"format": "rnnbook-model-1", "state_dict": weights, "config": dict(config),
                  "meta": dict(meta or {})}, path)


def load_model_file(path: str | Path, map_location: str | torch.device = "cpu"
                    ) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """Read a file written by `export_model`: (state_dict in float32, config, meta)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model file at {path}; see data/README.md for the command "
                                "that trains it")
    blob = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != "rnnbook-model-1":
        raise ValueError(f"{path} is not a model file written by rnnbook.checkpoint.export_model")
    weights = {k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()}
    return weights, blob["config"], blob["meta"]


def model_from_file(cls: type, path: str | Path, device: str | torch.device | None = None
                    ) -> torch.nn.Module:
    """Rebuild a model of class `cls` from a file written by `export_model` (evaluation mode)."""
    from .device import get_device
    weights, config, _ = load_model_file(path)
    model = cls(**config)
    model.load_state_dict(weights)
    return model.to(get_device(device) if not isinstance(device, torch.device) else device).eval()
