"""The one resumable training run that every training script of the package uses.

A script (`python -m rnnbook.charlm train`, `rnnbook.g2p`, ...) keeps what a reader should study
in its own module: the model, the data, the evaluation and the visible training step (forward,
loss, backward, clip, optimiser step). Everything around that step is here, written once, so that
every script behaves alike:

- the guard: without `--resume` an existing state is never overwritten; with it a missing state is
  an error; a resumed run uses the configuration stored in its state (`Run.stored_config`);
- the clock: a call stops after `--minutes` of its own wall time or once the run has reached
  `--max-steps` steps in total, and on SIGTERM/SIGINT it finishes the step, saves and stops; the
  time budget is checked after a step, so every call takes at least one step (progress is never
  lost to a tiny budget);
- saving: every `save_every_s` seconds, at the end, and on a signal, never in a `finally` (a crash
  in the middle of a step must not overwrite the last good state); wall and CPU seconds add up
  over the calls;
- evaluation counted in steps (the module decides when, always as a function of the step, never of
  a wall clock), so that a run stopped and resumed takes exactly the steps of one that never
  stopped; `Run.evaluated` logs a score, keeps the best weights and, if asked, halves the learning
  rate on a plateau (`rnnbook.checkpoint.track_plateau`);
- the small shipped file (best weights in half precision) rewritten at every save;
- the common command-line flags (`common_flags`).

The state file is `rnnbook.checkpoint`'s (its format did not change, so states written before this
module existed resume). This module must not hold any model, data set or training step.
"""
from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterator
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import torch

from .checkpoint import (RunClock, SaveTimer, best_model, check_state_path, export_model,
                         load_state, save_state, track_plateau)

__all__ = ["Run", "EpochRun", "common_flags", "config_flags", "config_from", "command_of"]


class Run:
    """One call of a resumable training run: guard, clock, saving, evaluation log, shipping.

    Use: `run = Run(...)`, `cfg = run.stored_config(TrainConfig, cfg)`, build the model and
    optimiser, `extra = run.begin(model, opt, extra, device)`, then `for step in run.steps():`
    take one training step (`step` is its number, counted from 1 over the whole run). Without a
    `state_path` nothing is written (a live run in a notebook).
    """

    def __init__(self, state_path: str | Path | None, out_path: str | Path | None = None, *,
                 minutes: float | None = None, max_steps: int | None = None,
                 resume: bool = False, save_every_s: float = 300.0,
                 log: Callable[[str], None] = print, progress: Callable | None = None,
                 desc: str | None = None) -> None:
        if minutes is None and max_steps is None:
            raise ValueError("give minutes or max_steps (or both) to say when to stop")
        if state_path is not None:
            check_state_path(state_path, resume)
        elif resume:
            raise ValueError("resume needs a state_path")
        self.state_path = None if state_path is None else Path(state_path)
        self.out_path = None if out_path is None else Path(out_path)
        self.minutes, self.max_steps, self.resume = minutes, max_steps, resume
        self.save_every_s, self.log = save_every_s, log
        self.progress, self.desc = progress, desc  # a bar (rnnbook.progress) over the steps
        self.stored: dict[str, Any] | None = None  # the saved `extra` of a resumed run
        if resume:
            self.stored = torch.load(self.state_path, map_location="cpu", weights_only=False)["extra"]
        self.step = 0
        self.extra: dict[str, Any] = {}
        self.pack: Callable[[], None] | None = None   # puts loop variables into extra before a save
        self.ship: Callable[[], tuple] | None = None  # (model, meta[, config]) to export
        self._running, self._n_run = 0.0, 0

    # ------------------------------------------------------------------ set-up

    def stored_config(self, cls: type, cfg: Any, key: str = "config") -> Any:
        """`cfg`, or on resume the configuration stored in the state (command-line values ignored)."""
        if self.stored is None:
            return cfg
        saved = self.stored[key]
        if saved != _as_dict(cfg):
            self.log(f"resuming with the stored configuration {saved} (command-line values ignored)")
        return cls(**saved) if cls is not dict else dict(saved)

    def begin(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
              extra: dict[str, Any], device: str | torch.device = "cpu",
              scheduler: Any = None) -> dict[str, Any]:
        """Restore a resumed run into `model`/`optimizer` (else keep `extra`); start the clock."""
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        extra.setdefault("cpu_s", 0.0)
        elapsed0 = 0.0
        if self.resume:
            st = load_state(self.state_path, model, optimizer, scheduler, map_location=device)
            self.step, elapsed0, extra = st.step, st.elapsed_s, st.extra
            extra.setdefault("cpu_s", 0.0)
            epoch = f"epoch {extra['epoch']}, " if "epoch" in extra else ""
            self.log(f"resumed at step {self.step} ({epoch}{elapsed0 / 60:.1f} min so far)")
        self.extra = extra
        self.clock = RunClock(self.minutes, self.max_steps, elapsed0, extra["cpu_s"],
                              handle_signals=self.state_path is not None)
        self.timer = SaveTimer(self.save_every_s)
        return extra

    def elapsed(self) -> float:
        """Wall-clock seconds of the whole run (all calls)."""
        return self.clock.elapsed()

    def cpu(self) -> float:
        """CPU seconds of the whole run (all calls)."""
        return self.clock.cpu()

    # ------------------------------------------------------------------ the loop

    def stop_reason(self, taken: int) -> str | None:
        """Why the call must stop before the next step (`taken` steps done in this call), or None."""
        if self.max_steps is not None and self.step >= self.max_steps:
            return f"reached step {self.max_steps}"
        if self.clock.signalled:
            return "signal received: saving and stopping"
        if taken and self.minutes is not None and \
                self.clock.elapsed() - self.clock.elapsed0 >= self.minutes * 60:
            return f"{self.minutes:g} minutes are up"
        return None

    def steps(self) -> Iterator[int]:
        """The numbers of the steps this call takes; saves on the timer, on a signal and at the end.

        Let the loop run out (no `break`): the final save happens when the generator is exhausted.
        """
        bar = None
        if self.progress is not None and self.max_steps is not None:
            bar = self.progress(total=self.max_steps - self.step, desc=self.desc)
        taken = 0
        with self.clock:
            while (reason := self.stop_reason(taken)) is None:
                self.step += 1
                yield self.step
                taken += 1
                if bar is not None:
                    bar.update(1)
                if self.timer.should_save():
                    self.save()
            if bar is not None:
                bar.close()
            if self.clock.signalled:
                self.log(reason)
            self.save()
        if self.state_path is not None:
            self.log(f"saved state at step {self.step} ({self.elapsed() / 60:.1f} min in total) "
                     f"to {self.state_path}")

    def train_loss(self, loss: float, every: int, **fields: Any) -> None:
        """Add one step's training loss; every `every` steps log their mean in extra["train_log"]."""
        self._running += loss
        self._n_run += 1
        if self.step % every == 0:
            self.extra["train_log"].append({"step": self.step, **fields,
                                            "wall_s": round(self.elapsed(), 1),
                                            "cpu_s": round(self.cpu(), 1),
                                            "train": self._running / self._n_run})
            self._running, self._n_run = 0.0, 0

    def last_train_loss(self) -> float:
        """The most recent logged mean training loss (NaN before the first)."""
        log = self.extra.get("train_log") or []
        return log[-1]["train"] if log else math.nan

    def evaluated(self, value: float, *, key: str = "val", higher_is_better: bool = False,
                  patience: int | None = None, min_lr: float = 0.0, **fields: Any) -> None:
        """Log a validation score in extra["val_log"] and keep the best weights in extra["best"].

        With `patience`, lower is better and the learning rate halves on a plateau
        (`track_plateau`; the entry then records the rate the evaluated weights were trained at).
        """
        entry = {"step": self.step, **fields, "wall_s": round(self.elapsed(), 1),
                 "cpu_s": round(self.cpu(), 1), key: value}
        if patience is not None:
            entry["lr"] = self.optimizer.param_groups[0]["lr"]
            self.extra["val_log"].append(entry)
            track_plateau(self.extra, self.model, self.optimizer, self.step, value, patience, min_lr)
            return
        self.extra["val_log"].append(entry)
        best = self.extra.get("best")
        if best is None or (value > best[key] if higher_is_better else value < best[key]):
            self.extra["best"] = {"step": self.step, key: value, "weights": {
                k: t.detach().cpu().clone() for k, t in self.model.state_dict().items()}}

    # ------------------------------------------------------------------ saving and shipping

    def save(self) -> None:
        """Write the state (and the shipped file, if any); nothing without a state path."""
        if self.state_path is None:
            return
        if self.pack is not None:
            self.pack()
        self.extra["cpu_s"] = self.cpu()
        save_state(self.state_path, self.model, self.optimizer, self.scheduler, step=self.step,
                   elapsed_s=self.elapsed(), extra=self.extra)
        if self.out_path is not None and self.ship is not None:
            model, meta, *config = self.ship()  # (model, meta[, config]): config is model.config
            export_model(self.out_path, model, config[0] if config else model.config, meta,
                         half=True)

    def best(self) -> tuple[torch.nn.Module, int]:
        """(a model holding the best weights so far, their step); the current ones before any."""
        ship, best_step = best_model(self.model, self.extra)
        return ship, self.step if best_step is None else best_step

    def meta(self, meta: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """The shipped file's metadata: `meta`, the step, the time used, `fields`, the val log."""
        m = dict(meta or {})
        m.update(step=self.step, train_minutes=round(self.elapsed() / 60, 2),
                 cpu_minutes=round(self.cpu() / 60, 2), **fields)
        return m


class EpochRun:
    """The guard and the clock of a trainer whose step is an epoch (word2vec's and GloVe's kernels).

    Their states are `.npz` files of their own, saved after every epoch; this holds the rules they
    share with `Run`: the overwrite/resume guard, and stopping after the epoch under way once
    `minutes` of this call are up or on SIGTERM/SIGINT (used as a context manager).
    """

    def __init__(self, state_path: str | Path | None, resume: bool, minutes: float | None,
                 epochs: int, log: Callable[[str], None] = print) -> None:
        if state_path is not None:
            check_state_path(state_path, resume)
        elif resume:
            raise ValueError("--resume needs --state")
        self.minutes, self.epochs, self.log = minutes, epochs, log
        self.clock = RunClock(minutes, epochs)

    def __enter__(self) -> "EpochRun":
        self.clock.__enter__()
        return self

    def __exit__(self, *exc) -> bool:
        if self.clock.signalled:
            self.log("signal received: saved after the epoch under way, stopping")
        return self.clock.__exit__(*exc)

    def stop_after_epoch(self, epochs_done: int) -> bool:
        """After an epoch (and its save): True if this call must stop."""
        return epochs_done >= self.epochs or self.clock.signalled or (
            self.minutes is not None and self.clock.elapsed() >= 60 * self.minutes)


# ---------------------------------------------------------------------- command line

def common_flags(p: argparse.ArgumentParser, *, minutes_required: bool = True,
                 out_required: bool = True, state_required: bool = True,
                 save_every: float | None = 300.0, torch_flags: bool = True,
                 device: str | None = None, seed: int | None = None,
                 max_steps: bool = True) -> argparse.ArgumentParser:
    """Add the flags every training script shares: --minutes --max-steps --out --state --resume
    --save-every --threads --device (and --seed when the script has no config field for it;
    `torch_flags=False` leaves out --threads and --device for the NumPy trainers)."""
    p.add_argument("--minutes", type=float, required=minutes_required, default=None,
                   help="wall-clock minutes for this call (it saves and stops after them)")
    if max_steps:
        p.add_argument("--max-steps", type=int, default=None,
                       help="stop once the run has taken this many steps in total")
    p.add_argument("--out", required=out_required, default=None,
                   help="small shipped file, rewritten at every save")
    p.add_argument("--state", required=state_required,
                   help="resumable training state (keep it out of git)")
    p.add_argument("--resume", action="store_true", help="continue from --state")
    if save_every is not None:
        p.add_argument("--save-every", type=float, default=save_every, help="seconds between saves")
    if torch_flags:
        p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
        p.add_argument("--device", default=device, help="cpu, cuda, mps or auto "
                       f"(default: {device or '$RNNBOOK_DEVICE, else auto'})")
    if seed is not None:
        p.add_argument("--seed", type=int, default=seed, help="random seed of a fresh run")
    return p


def config_flags(p: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = (),
                 rename: dict[str, str] | None = None) -> argparse.ArgumentParser:
    """One flag per field of the dataclass `cls` (a bool field is a switch; `rename` maps a field
    name to another flag name, e.g. when it would clash with a common flag)."""
    rename = rename or {}
    for f in fields(cls):
        if f.name in skip:
            continue
        flag = "--" + rename.get(f.name, f.name).replace("_", "-")
        dest = rename.get(f.name, f.name).replace("-", "_")
        default = f.default if f.default is not MISSING else f.default_factory()
        if isinstance(default, bool):  # type=bool would read "False" as true
            p.add_argument(flag, dest=dest, action="store_true")
        else:
            p.add_argument(flag, dest=dest, type=type(default), default=default)
    return p


def config_from(a: argparse.Namespace, cls: type, skip: tuple[str, ...] = (),
                rename: dict[str, str] | None = None, **given: Any) -> Any:
    """The `cls` instance that the flags of `config_flags` parsed into `a` describe."""
    rename = rename or {}
    values = {f.name: getattr(a, rename.get(f.name, f.name).replace("-", "_"))
              for f in fields(cls) if f.name not in skip}
    return cls(**values, **given)


def command_of(module: str, argv: list[str] | None) -> dict[str, Any]:
    """The metadata every shipped file records: the command line, torch's version."""
    return {"command": f"python -m rnnbook.{module} " + " ".join(argv if argv is not None
                                                                  else sys.argv[1:]),
            "torch": str(torch.__version__)}


def _as_dict(cfg: Any) -> dict[str, Any]:
    from dataclasses import asdict, is_dataclass
    return asdict(cfg) if is_dataclass(cfg) else dict(cfg)
