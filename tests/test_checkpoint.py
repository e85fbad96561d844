"""Resumable states: a run stopped and resumed takes exactly the steps of one that never stopped."""
import os
import signal

import numpy as np
import pytest
import torch

from rnnbook.checkpoint import (RunClock, SaveTimer, best_model, export_model, load_model_file,
                                load_state, model_from_file, save_state, track_plateau)


def _setup(seed: int):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Dropout(0.3), torch.nn.Linear(7, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    return model, opt, sched


def _steps(model, opt, sched, n: int) -> None:
    # Randomness from torch (dropout, data) and NumPy (noise) so that every generator matters.
    for _ in range(n):
        x = torch.randn(4, 5)
        y = torch.from_numpy(np.random.standard_normal((4, 2))).float()
        loss = ((model(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()


def test_resumed_run_takes_exactly_the_steps_of_an_uninterrupted_one(tmp_path):
    seed = int(np.random.SeedSequence().entropy % 2**31)
    np.random.seed(seed)
    model, opt, sched = _setup(seed)
    _steps(model, opt, sched, 10)
    reference = [p.detach().clone() for p in model.parameters()]

    np.random.seed(seed)
    model, opt, sched = _setup(seed)
    _steps(model, opt, sched, 4)
    save_state(tmp_path / "s.pt", model, opt, sched, step=4, elapsed_s=1.5, extra={"pos": 17})
    _steps(model, opt, sched, 3)  # work after the save is lost, as when a run is killed

    model, opt, sched = _setup(seed + 1)  # fresh objects with other weights
    state = load_state(tmp_path / "s.pt", model, opt, sched)
    assert (state.step, state.elapsed_s, state.extra) == (4, 1.5, {"pos": 17})
    _steps(model, opt, sched, 6)
    for p, q in zip(model.parameters(), reference):
        assert torch.equal(p, q)
    assert not [f for f in tmp_path.iterdir() if f.name.endswith(".tmp")]


def test_exported_model_round_trips_in_half_precision(tmp_path):
    model = torch.nn.Linear(6, 3)
    export_model(tmp_path / "m.pt", model, {"inputs": 6}, {"loss": 1.25}, half=True)
    weights, config, meta = load_model_file(tmp_path / "m.pt")
    assert config == {"inputs": 6} and meta == {"loss": 1.25}
    assert weights["weight"].dtype == torch.float32
    torch.testing.assert_close(weights["weight"], model.weight.detach(), atol=2e-3, rtol=1e-3)
    assert not torch.equal(weights["weight"], model.weight.detach())  # really stored as float16


def test_missing_or_foreign_files_give_clear_errors(tmp_path):
    model = torch.nn.Linear(2, 2)
    with pytest.raises(FileNotFoundError, match="without --resume"):
        load_state(tmp_path / "none.pt", model)
    torch.save({"x": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a training state"):
        load_state(tmp_path / "other.pt", model)
    with pytest.raises(ValueError, match="not a model file"):
        load_model_file(tmp_path / "other.pt")
    save_state(tmp_path / "s.pt", model)
    with pytest.raises(ValueError, match="no optimiser state"):
        load_state(tmp_path / "s.pt", model, torch.optim.SGD(model.parameters(), lr=0.1))


def test_save_timer_fires_only_after_its_interval(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("rnnbook.checkpoint.time.monotonic", lambda: now[0])
    timer = SaveTimer(60)
    now[0] = 159.0
    assert not timer.should_save()
    now[0] = 160.0
    assert timer.should_save()
    assert not timer.should_save()
    with pytest.raises(ValueError):
        SaveTimer(0)


def test_written_files_get_the_usual_permissions_not_mkstemps_0600(tmp_path):
    import os
    export_model(tmp_path / "m.pt", torch.nn.Linear(2, 2), {})
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "m.pt").stat().st_mode & 0o777 == 0o666 & ~umask


def test_run_clock_stops_at_the_step_or_minute_budget_and_adds_earlier_calls(monkeypatch):
    now, cpu = [1000.0], [50.0]
    monkeypatch.setattr("rnnbook.checkpoint.time.monotonic", lambda: now[0])
    monkeypatch.setattr("rnnbook.checkpoint.time.process_time", lambda: cpu[0])
    clock = RunClock(minutes=2, max_steps=10, elapsed0=30.0, cpu0=7.0)
    assert clock.stop_reason(9) is None
    assert "step 10" in clock.stop_reason(10)
    now[0], cpu[0] = 1119.0, 52.5
    assert clock.stop_reason(3) is None
    assert (clock.elapsed(), clock.cpu()) == (149.0, 9.5)
    now[0] = 1120.0
    assert "minutes" in clock.stop_reason(3)
    assert RunClock(max_steps=5).stop_reason(4) is None       # no time limit
    with pytest.raises(ValueError, match="minutes or max_steps"):
        RunClock()


def test_run_clock_turns_sigterm_into_a_flag_and_restores_the_old_handler():
    before = signal.getsignal(signal.SIGTERM)
    with RunClock(max_steps=100) as clock:
        assert signal.getsignal(signal.SIGTERM) != before
        os.kill(os.getpid(), signal.SIGTERM)            # would end the test run if not caught
        assert clock.signalled and "signal" in clock.stop_reason(0)
    assert signal.getsignal(signal.SIGTERM) == before
    with RunClock(max_steps=1, handle_signals=False):
        assert signal.getsignal(signal.SIGTERM) == before


def test_model_from_file_rebuilds_the_class_from_its_config(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    export_model(tmp_path / "m.pt", model, {"in_features": 4, "out_features": 3})
    again = model_from_file(torch.nn.Linear, tmp_path / "m.pt", "cpu")
    assert not again.training
    x = torch.randn(5, 4)
    assert torch.equal(again(x), model(x))


class _Tiny(torch.nn.Linear):
    def __init__(self, n: int = 2) -> None:
        super().__init__(n, 1)
        self.config = {"n": n}


def test_track_plateau_keeps_the_best_weights_and_halves_the_rate_after_patience_flat_evaluations():
    model = _Tiny()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    extra = {"best": None, "best_val": float("inf"), "bad_evals": 0}
    assert best_model(model, extra) == (model, None)  # nothing evaluated yet
    # a gain smaller than min_gain (0.002) counts as flat, but the best weights still follow it
    values = [3.0, 2.0, 1.999, 2.5, 1.9, 1.899, 1.8985, 1.95, 1.96, 1.97, 1.98]
    rates, best_steps = [], []
    for step, v in enumerate(values, start=1):
        with torch.no_grad():
            model.weight.fill_(float(step))  # the weights say which step they are from
        track_plateau(extra, model, opt, step, v, patience=2, min_lr=0.3)
        rates.append(opt.param_groups[0]["lr"])
        best_steps.append(extra["best"]["step"])
    assert rates == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3, 0.3, 0.3]  # never below min_lr
    assert best_steps == [1, 2, 3, 3, 5, 6, 7, 7, 7, 7, 7]
    shipped, step = best_model(model, extra)
    assert step == 7 and shipped is not model
    assert shipped.weight.flatten().tolist() == [7.0, 7.0] and model.weight[0, 0] == 11.0


def test_a_missing_shipped_model_says_which_command_trains_it(tmp_path):
    from rnnbook import charlm, condlm, sentiment

    for module in (charlm, condlm, sentiment):
        missing = tmp_path / f"{module.__name__}.pt"
        with pytest.raises(FileNotFoundError,
                           match=rf"missing; train it with `python -m {module.__name__} train "):
            module.load_pretrained("cpu", path=missing)


def test_training_refuses_to_resume_nothing_or_to_overwrite_a_state(tmp_path):
    from rnnbook.checkpoint import check_state_path

    state = tmp_path / "state.pt"
    check_state_path(state, resume=False)  # a fresh start: fine
    with pytest.raises(FileNotFoundError, match="start without --resume"):
        check_state_path(state, resume=True)
    state.write_bytes(b"")
    check_state_path(state, resume=True)  # resuming an existing state: fine
    with pytest.raises(FileExistsError, match="pass --resume"):
        check_state_path(state, resume=False)
