"""rnnbook.parallel: runs side by side in forked processes give exactly the plain loop's results."""
import os

import pytest
import torch

from rnnbook import parallel


def _seeded_training(seed: int) -> tuple[torch.nn.Module, list[float]]:
    # a small model trained from its own seed, as the chapters' training functions are
    torch.manual_seed(seed)
    model = torch.nn.GRU(3, 5)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(20):
        out, _ = model(torch.randn(7, 4, 3))
        loss = out.square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model, losses


@pytest.fixture
def two_workers(monkeypatch):
    monkeypatch.setenv("RNNBOOK_WORKERS", "2")


@pytest.mark.skipif(not parallel._can_fork("cpu"), reason="forking is used on Linux only")
def test_parallel_runs_equal_the_plain_loop_bit_for_bit(two_workers):
    seeds = [3, 0, 2, 1, 4]
    got = parallel.run_parallel(_seeded_training, seeds)
    want = [_seeded_training(s) for s in seeds]
    for (m_got, l_got), (m_want, l_want) in zip(got, want):
        assert l_got == l_want
        for a, b in zip(m_got.parameters(), m_want.parameters()):
            assert torch.equal(a, b)


@pytest.mark.skipif(not parallel._can_fork("cpu"), reason="forking is used on Linux only")
def test_runs_happen_in_other_processes_and_closures_work(two_workers):
    offset = 10                                  # a closure could not be pickled to a worker
    got = parallel.run_parallel(lambda k: (k + offset, os.getpid()), range(4))
    assert [value for value, _ in got] == [10, 11, 12, 13]
    assert os.getpid() not in {pid for _, pid in got}


@pytest.mark.skipif(not parallel._can_fork("cpu"), reason="forking is used on Linux only")
def test_workers_run_one_thread_without_progress_bars(two_workers):
    got = parallel.run_parallel(
        lambda _: (torch.get_num_threads(), os.environ.get("RNNBOOK_PROGRESS")), range(2))
    assert got == [(1, "0"), (1, "0")]


@pytest.mark.skipif(not parallel._can_fork("cpu"), reason="forking is used on Linux only")
def test_an_exception_in_a_run_reaches_the_caller(two_workers):
    def fail(k):
        if k == 1:
            raise ValueError("run 1 failed")
        return k
    with pytest.raises(ValueError, match="run 1 failed"):
        parallel.run_parallel(fail, range(3))


def test_one_worker_or_a_gpu_device_runs_the_plain_loop_here(monkeypatch):
    monkeypatch.setenv("RNNBOOK_WORKERS", "1")
    assert parallel.run_parallel(lambda k: os.getpid(), range(3)) == [os.getpid()] * 3
    monkeypatch.setenv("RNNBOOK_WORKERS", "2")
    # no fork once a GPU is in use: CUDA does not survive it
    assert parallel.run_parallel(lambda k: os.getpid(), range(3), device="cuda") == [
        os.getpid()] * 3
    assert parallel.run_parallel(lambda k: k, []) == []


def test_bad_worker_counts_are_refused_with_the_fix(monkeypatch):
    monkeypatch.setenv("RNNBOOK_WORKERS", "many")
    with pytest.raises(ValueError, match="positive integer"):
        parallel.available_workers()
    monkeypatch.setenv("RNNBOOK_WORKERS", "0")
    with pytest.raises(ValueError, match="RNNBOOK_WORKERS"):
        parallel.run_parallel(lambda k: k, range(2))
    monkeypatch.delenv("RNNBOOK_WORKERS")
    assert parallel.available_workers() >= 1
    with pytest.raises(ValueError, match="workers"):
        parallel.run_parallel(lambda k: k, range(2), workers=0)
    with pytest.raises(TypeError, match="callable"):
        parallel.run_parallel(3, range(2))
