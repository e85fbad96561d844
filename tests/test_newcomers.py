"""rnnbook.newcomers: the resumable training script of chapter 14's Transformer and selective model."""
import pytest
import torch

from rnnbook import newcomers
from rnnbook.checkpoint import load_model_file

CHARS = "abcdefgh"


def tiny(model):
    return newcomers.TrainConfig(model=model, dim=16, layers=1, heads=2, state=2, expand=1,
                                 dropout=0.0, batch=4, seq_len=16, eval_every=3,
                                 eval_windows=2, lr=1e-2)


def ids(n, seed):
    return torch.randint(0, len(CHARS), (n,), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("model", newcomers.MODELS)
def test_resuming_gives_the_same_parameters_as_an_uninterrupted_run(model, tmp_path):
    train_ids, val_ids = ids(500, 0), ids(100, 1)
    quiet = lambda msg: None
    newcomers.train(tiny(model), train_ids, val_ids, CHARS, tmp_path / "a.pt", max_steps=6,
                    device="cpu", log=quiet)
    newcomers.train(tiny(model), train_ids, val_ids, CHARS, tmp_path / "b.pt", max_steps=4,
                    device="cpu", log=quiet)
    extra = newcomers.train(tiny(model), train_ids, val_ids, CHARS, tmp_path / "b.pt",
                            tmp_path / "b_out.pt", max_steps=6, resume=True, device="cpu",
                            log=quiet)
    a = torch.load(tmp_path / "a.pt", weights_only=False)
    b = torch.load(tmp_path / "b.pt", weights_only=False)
    assert a["step"] == b["step"] == 6
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    assert [r["val"] for r in a["extra"]["val_log"]] == [r["val"] for r in extra["val_log"]]
    weights, config, meta = load_model_file(tmp_path / "b_out.pt")
    rebuilt = newcomers.build_model(tiny(model), len(CHARS))
    assert config == rebuilt.config and meta["shipped_step"] in (3, 6)
    rebuilt.load_state_dict(weights)


def test_bad_configurations_and_state_paths_are_refused(tmp_path):
    with pytest.raises(ValueError, match="model must be one of"):
        newcomers.TrainConfig(model="lstm")
    with pytest.raises(ValueError, match="seq_len must be a positive"):
        newcomers.TrainConfig(seq_len=0)
    with pytest.raises(FileNotFoundError, match="--resume"):
        newcomers.train(tiny("selective"), ids(200, 0), ids(100, 1), CHARS, tmp_path / "x.pt",
                        max_steps=1, resume=True, device="cpu", log=lambda m: None)


def test_the_command_line_parses_its_options(capsys):
    with pytest.raises(SystemExit) as stop:
        newcomers._main(["train", "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "--state-size" in out and "--state STATE" in out and "--resume" in out


def test_the_cosine_schedule_warms_up_decays_to_min_lr_and_survives_a_resume(tmp_path):
    cfg = newcomers.TrainConfig(lr=2e-3, min_lr=1e-4, schedule="cosine", warmup=10,
                                cosine_steps=110)
    rates = [newcomers.learning_rate(cfg, s) for s in range(1, 131)]
    assert rates[0] == pytest.approx(2e-4) and rates[9] == pytest.approx(2e-3)
    assert all(a < b for a, b in zip(rates[:10], rates[1:10]))        # warm-up rises
    assert all(a > b for a, b in zip(rates[9:110], rates[10:110]))    # then falls
    assert rates[59] == pytest.approx(0.5 * (2e-3 + 1e-4))             # half-way down at step 60
    assert rates[109] == pytest.approx(1e-4) and rates[-1] == pytest.approx(1e-4)
    assert newcomers.learning_rate(newcomers.TrainConfig(lr=3e-3), 50) == 3e-3
    with pytest.raises(ValueError, match="warmup < cosine_steps"):
        newcomers.TrainConfig(schedule="cosine", warmup=5, cosine_steps=5)
    with pytest.raises(ValueError, match="schedule must be"):
        newcomers.TrainConfig(schedule="linear")
    # the rate is a function of the step, so a stopped and resumed run is the uninterrupted one
    c = dict(tiny("transformer").__dict__, schedule="cosine", warmup=2, cosine_steps=6)
    train_ids, val_ids, quiet = ids(500, 0), ids(100, 1), (lambda msg: None)
    newcomers.train(newcomers.TrainConfig(**c), train_ids, val_ids, CHARS, tmp_path / "a.pt",
                    max_steps=6, device="cpu", log=quiet)
    newcomers.train(newcomers.TrainConfig(**c), train_ids, val_ids, CHARS, tmp_path / "b.pt",
                    max_steps=4, device="cpu", log=quiet)
    extra = newcomers.train(newcomers.TrainConfig(**c), train_ids, val_ids, CHARS,
                            tmp_path / "b.pt", max_steps=6, resume=True, device="cpu", log=quiet)
    a = torch.load(tmp_path / "a.pt", weights_only=False)
    b = torch.load(tmp_path / "b.pt", weights_only=False)
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    cfg6 = newcomers.TrainConfig(**c)
    assert [r["lr"] for r in extra["val_log"]] == [newcomers.learning_rate(cfg6, 3),
                                                   newcomers.learning_rate(cfg6, 6)]
