"""``ablate run`` and ``ablate.run``: results, reproducibility, errors, every component."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ablate
from ablate import registry
from ablate.cli import build_parser
from ablate.config import RunConfig

QUICK = ("--dataset", "synthetic", "--epochs", "1")


def test_defaults_follow_the_seed_protocol() -> None:
    config = RunConfig()
    assert (config.model, config.dataset, config.image_size) == ("lenet5", "fashion-mnist", 32)
    assert (config.optimizer, config.lr, config.scheduler) == ("adam", 1e-3, "step")
    assert (config.batch_size, config.epochs, config.device) == (64, 30, "auto")


def test_run_trains_on_fashion_mnist_files(idx_dir: Path) -> None:
    result = ablate.run(data_dir=idx_dir, epochs=3, placement="seed", batch_size=32)
    assert result.status == "completed" and len(result.epochs) == 3
    assert result.epochs[-1].train_loss < result.epochs[0].train_loss
    assert result.final_val_acc > 0.5
    assert result.environment["torch"] and result.environment["ablate"] == ablate.__version__
    assert result.config.placement == "seed" and result.placement == "input+bn:conv2+fc1"


def test_same_seed_gives_identical_metrics() -> None:
    a = ablate.run(dataset="synthetic", epochs=2, seed=3, placement="bn")
    b = ablate.run(dataset="synthetic", epochs=2, seed=3, placement="bn")
    c = ablate.run(dataset="synthetic", epochs=2, seed=4, placement="bn")
    strip = lambda r: [m.model_dump(exclude={"seconds", "images_per_s"}) for m in r.epochs]  # noqa: E731
    assert strip(a) == strip(b)
    assert strip(a) != strip(c)


def test_train_and_test_size_take_the_first_images(idx_dir: Path) -> None:
    result = ablate.run(data_dir=idx_dir, epochs=1, train_size=100, test_size=20, batch_size=50)
    assert result.epochs[0].images_per_s > 0
    assert result.config.train_size == 100


def test_diverging_run_ends_as_diverged_not_a_crash(cli) -> None:
    out = cli(
        "run",
        *QUICK,
        "--epochs",
        "3",
        "--optimizer",
        "sgd",
        "--lr",
        "1e12",
        "--scheduler",
        "none",
        "--json",
    )
    assert out.code == 0, out.err
    result = json.loads(out.out)
    assert result["status"] == "diverged"
    assert "epoch 1" in result["reason"] and "nan" in result["reason"].lower()


def test_json_prints_one_object_and_nothing_else(cli) -> None:
    out = cli("run", *QUICK, "--json")
    assert out.code == 0
    result = json.loads(out.out)  # fails if anything else reached stdout
    assert set(result) >= {
        "config",
        "status",
        "epochs",
        "final_val_acc",
        "best_val_acc",
        "best_epoch",
        "wall_time_s",
        "environment",
    }
    assert "epoch 1/1" in out.err  # progress went to stderr


def test_summary_table_lists_final_best_epoch_and_time(cli) -> None:
    out = cli("run", *QUICK, "--placement", "bn:conv1")
    assert out.code == 0
    for label in ("final val acc", "best val acc", "best epoch", "wall time", "bn:conv1"):
        assert label in out.out


def test_config_file_with_flag_overrides(tmp_path: Path, cli) -> None:
    (tmp_path / "run.toml").write_text(
        'dataset = "synthetic"\nepochs = 2\nlr = 0.01\nplacement = "bn:fc1"\n'
    )
    out = json.loads(cli("run", "--config", "run.toml", "--epochs", "1", "--json").out)
    assert out["config"]["lr"] == 0.01 and out["config"]["placement"] == "bn:fc1"
    assert len(out["epochs"]) == 1


BAD_INPUTS = [
    (("--model", "lenet"), "did you mean 'lenet5'"),
    (("--placement", "sed"), "did you mean 'seed'"),
    (("--placement", "bn:conv7"), "conv7"),
    (("--scheduler", "cosin"), "did you mean 'cosine'"),
    (("--optimizer", "adamm"), "known: adam, adamw, sgd"),
    (("--dataset", "cifar"), "unknown dataset 'cifar'"),
    (("--epochs", "0"), "at least 1"),
    (("--batch-size", "-3"), "at least 1"),
    (("--lr", "0"), "above 0"),
    (("--lr", "abc"), "expected a number"),
    (("--seed", "x"), "whole number"),
    (("--device", "gpu"), "cuda"),
    (("--device", "cuda:7"), "not available"),
    (("--config", "missing.toml"), "not found"),
    (("--train-size", "0"), "at least 1"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS)
def test_bad_input_is_one_clear_line_and_exit_2(args, message, cli) -> None:
    out = cli("run", "--dataset", "synthetic", *args)
    assert out.code == 2
    assert message in out.err
    assert out.err.strip().count("\n") == 0 and "Traceback" not in out.err
    assert out.out == ""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("epochs = ", "malformed TOML"),
        ('epochs = 2\ncolour = "red"\n', "unknown key colour"),
        ("epochs = 0\n", "epochs=0: Input should be greater than or equal to 1"),
        ('lr = "fast"\n', "lr='fast'"),
    ],
)
def test_bad_config_files_are_refused(tmp_path: Path, content: str, message: str, cli) -> None:
    (tmp_path / "bad.toml").write_text(content)
    out = cli("run", "--config", "bad.toml", "--dataset", "synthetic")
    assert out.code == 2 and message in out.err and out.err.count("\n") == 1


def _commands(parser) -> dict:
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sub.choices


def test_every_command_has_help_text(cli) -> None:
    parser = build_parser()
    for name, command in _commands(parser).items():
        assert command.description, f"'ablate {name}' has no description"
        out = cli(name, "--help")
        assert out.code == 0 and "usage: ablate" in out.out
        for action in command._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"ablate {name} {action.option_strings[0]} lacks help"


def test_run_has_every_documented_flag() -> None:
    flags = {s for a in _commands(build_parser())["run"]._actions for s in a.option_strings}
    for flag in (
        "--model",
        "--placement",
        "--scheduler",
        "--optimizer",
        "--lr",
        "--epochs",
        "--batch-size",
        "--seed",
        "--device",
        "--dataset",
        "--data-dir",
        "--download",
        "--train-size",
        "--test-size",
        "--json",
        "--config",
    ):
        assert flag in flags


@pytest.mark.parametrize(
    "kind", ["models", "placements", "schedulers", "optimizers", "datasets", "studies"]
)
def test_list_every_kind(kind: str, cli) -> None:
    out = cli("list", kind)
    assert out.code == 0
    for name in registry.REGISTRIES[kind].names():
        assert name in out.out


def _registered(kind: str) -> list[str]:
    return registry.REGISTRIES[kind].names()


@pytest.mark.parametrize("model", _registered("models"))
@pytest.mark.parametrize("placement", ["none", "both", "gn:conv1+ln:fc1"])
def test_every_model_trains_a_step(model: str, placement: str) -> None:
    result = ablate.run(
        model=model,
        placement=placement,
        dataset="synthetic",
        epochs=1,
        train_size=128,
        test_size=32,
    )
    assert result.status == "completed"


@pytest.mark.parametrize("placement", _registered("placements"))
def test_every_placement_trains_a_step(placement: str) -> None:
    assert (
        ablate.run(
            placement=placement, dataset="synthetic", epochs=1, train_size=128, test_size=32
        ).status
        == "completed"
    )


@pytest.mark.parametrize("scheduler", _registered("schedulers"))
def test_every_scheduler_trains_a_step(scheduler: str) -> None:
    result = ablate.run(
        scheduler=scheduler, dataset="synthetic", epochs=2, train_size=128, test_size=32
    )
    assert result.status == "completed" and all(m.lr > 0 for m in result.epochs)


@pytest.mark.parametrize("optimizer", _registered("optimizers"))
def test_every_optimizer_trains_a_step(optimizer: str) -> None:
    assert (
        ablate.run(
            optimizer=optimizer, dataset="synthetic", epochs=1, train_size=128, test_size=32
        ).status
        == "completed"
    )


@pytest.mark.parametrize("dataset", _registered("datasets"))
def test_every_dataset_trains_a_step(dataset: str, tmp_path: Path) -> None:
    data_dir = None
    if dataset != "synthetic":
        from conftest import make_idx_dir

        data_dir = make_idx_dir(tmp_path / dataset, n_train=64, n_test=16)
    assert ablate.run(dataset=dataset, data_dir=data_dir, epochs=1).status == "completed"


def test_step_scheduler_is_the_seeds_steplr(idx_dir: Path) -> None:
    result = ablate.run(data_dir=idx_dir, epochs=6, batch_size=64, train_size=128, test_size=16)
    assert [round(m.lr, 8) for m in result.epochs] == [1e-3] * 5 + [1e-4]
