import random

import numpy as np
import pytest
import torch

import rnnbook
from rnnbook.device import get_device, seed_everything


def test_auto_is_the_default_and_falls_back_to_cpu_without_a_gpu(monkeypatch):
    monkeypatch.delenv("RNNBOOK_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else None
    device = get_device()
    if expected:
        assert device.type == expected
    else:
        assert device.type in {"cpu", "mps"}


def test_cpu_is_always_available(monkeypatch):
    monkeypatch.setenv("RNNBOOK_DEVICE", "CPU ")
    assert get_device() == torch.device("cpu")


def test_unknown_device_name_lists_the_valid_ones(monkeypatch):
    monkeypatch.setenv("RNNBOOK_DEVICE", "tpu")
    with pytest.raises(ValueError) as err:
        get_device()
    for name in ("auto", "cpu", "cuda", "mps", "'tpu'"):
        assert name in str(err.value)


def test_asking_for_cuda_without_it_says_how_to_fall_back(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="RNNBOOK_DEVICE=cpu"):
        get_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_is_chosen_when_asked_and_present():
    assert get_device("cuda").type == "cuda"


def test_seed_everything_makes_every_generator_repeat():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    seed_everything(123)
    first = draw()
    seed_everything(123)
    assert draw() == first
    seed_everything(124)
    assert draw() != first


def test_seed_everything_rejects_non_integers():
    with pytest.raises(TypeError):
        seed_everything(1.5)


def test_package_exports_the_helpers():
    for name in ("budget", "get_device", "seed_everything", "progress", "environment_report"):
        assert callable(getattr(rnnbook, name))
