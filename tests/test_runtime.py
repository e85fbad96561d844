import pytest

from rnnbook import budget, environment_report, progress, smoke_mode


@pytest.mark.parametrize("value", ["1", "true", "YES", "on"])
def test_budget_returns_the_smoke_value_in_smoke_mode(monkeypatch, value):
    monkeypatch.setenv("RNNBOOK_SMOKE", value)
    assert smoke_mode()
    assert budget(full=1000, smoke=3) == 3


@pytest.mark.parametrize("value", ["0", "", "false", "off"])
def test_budget_returns_the_full_value_otherwise(monkeypatch, value):
    monkeypatch.setenv("RNNBOOK_SMOKE", value)
    assert budget(full=1000, smoke=3) == 1000


def test_budget_is_full_when_the_variable_is_unset(monkeypatch):
    monkeypatch.delenv("RNNBOOK_SMOKE", raising=False)
    assert budget(full=(2, "epochs"), smoke=(1, "epoch")) == (2, "epochs")


def test_a_misspelt_smoke_value_is_an_error_not_a_silent_full_run(monkeypatch):
    monkeypatch.setenv("RNNBOOK_SMOKE", "yse")
    with pytest.raises(ValueError, match="RNNBOOK_SMOKE"):
        budget(1, 2)


def test_environment_report_names_versions_device_and_budget(monkeypatch):
    monkeypatch.setenv("RNNBOOK_SMOKE", "1")
    monkeypatch.setenv("RNNBOOK_DEVICE", "cpu")
    report = environment_report()
    assert report["device"] == "cpu"
    assert report["budget"].startswith("smoke")
    assert {"python", "torch", "numpy", "rnnbook"} <= set(report)


def test_progress_iterates_and_can_be_silenced(monkeypatch, capsys):
    monkeypatch.setenv("RNNBOOK_PROGRESS", "0")
    assert list(progress(range(5), desc="x")) == [0, 1, 2, 3, 4]
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
