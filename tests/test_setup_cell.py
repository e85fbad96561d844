"""Every chapter opens with the same set-up cell: on Colab it installs rnnbook, locally it reports."""
import subprocess
import sys
import types

import pytest
import yaml

from notebook_tools import ROOT, load, notebooks

REPO_URL = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]

SETUP_CELL = f'''# Set-up, the same first cell in every chapter. On Google Colab it installs the course's
# helper package from the repository; on your own machine it only reports versions.
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    "rnnbook @ git+{REPO_URL}"],
                   check=True)

import rnnbook

rnnbook.print_environment()'''


def first_code_cell(path):
    cell = next(c for c in load(path)["cells"] if c["cell_type"] == "code")
    return "".join(cell["source"])


@pytest.mark.parametrize("path", notebooks(), ids=[p.stem for p in notebooks()])
def test_every_notebook_opens_with_the_same_setup_cell(path):
    assert first_code_cell(path) == SETUP_CELL, (
        f"{path.name}: the first code cell must be the course's set-up cell, exactly "
        "(see tests/test_setup_cell.py); chapter imports go in the next cell")


def run_setup_cell(monkeypatch, on_colab: bool):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: calls.append((args, kwargs)))
    if on_colab:
        google = types.ModuleType("google")
        colab = types.ModuleType("google.colab")
        google.colab = colab
        monkeypatch.setitem(sys.modules, "google", google)
        monkeypatch.setitem(sys.modules, "google.colab", colab)
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(SETUP_CELL, "<setup cell>", "exec"), {"__name__": "__main__"})
    return calls


def test_on_colab_the_setup_cell_installs_rnnbook_from_the_configured_repository(monkeypatch, capsys):
    calls = run_setup_cell(monkeypatch, on_colab=True)
    assert len(calls) == 1
    (command,), kwargs = calls[0]
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    assert f"rnnbook @ git+{REPO_URL}" in command and kwargs == {"check": True}
    assert "torch" in capsys.readouterr().out


def test_locally_the_setup_cell_installs_nothing_and_prints_versions_and_device(monkeypatch, capsys):
    monkeypatch.setenv("RNNBOOK_DEVICE", "cpu")
    assert run_setup_cell(monkeypatch, on_colab=False) == []
    out = capsys.readouterr().out
    assert "python" in out and "torch" in out and "device: cpu" in out
