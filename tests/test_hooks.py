"""Every hookspec has a test named after it, and registration rules hold."""

from __future__ import annotations

import inspect
import sys
import textwrap
from pathlib import Path

import pytest
from torch import nn

import ablate
from ablate import hookimpl, hookspecs, plugins, registry
from ablate.errors import AblateError
from ablate.placement import Placement

HOOKS = [
    name
    for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)
    if hasattr(_, "ablate_spec")
]


class Inline:
    """Registers a plugin object for one test, and always removes it."""

    def __init__(self, obj: object, name: str) -> None:
        self.obj, self.name = obj, name

    def __enter__(self) -> str:
        return ablate.register_plugin(self.obj, name=self.name)

    def __exit__(self, *exc: object) -> None:
        ablate.unregister_plugin(self.name)


def tiny_model(norm, *, in_channels, num_classes, image_size):
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(in_channels * image_size**2, 16),
        norm("hidden", 16),
        nn.ReLU(),
        nn.Linear(16, num_classes),
    )


def test_every_hookspec_has_a_test_named_after_it() -> None:
    names = {name for name in globals() if name.startswith("test_")}
    missing = [hook for hook in HOOKS if f"test_{hook}" not in names]
    assert HOOKS and not missing


def test_every_hookspec_is_documented_with_its_signature() -> None:
    docs = (Path(__file__).parent.parent / "docs" / "plugins.md").read_text()
    for hook in HOOKS:
        params = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
        assert f"## `{hook}({params})`" in docs, f"docs/plugins.md lacks a heading for {hook}"


def test_register_models(cli) -> None:
    class P:
        @hookimpl
        def register_models(self, register):
            register("tiny", tiny_model, "a two-layer MLP")

    with Inline(P(), "tiny-plugin"):
        from ablate.models import discover_slots

        assert [s.name for s in discover_slots("tiny")] == ["hidden"]
        listing = cli("list", "models")
        assert "tiny" in listing.out and "hidden(16)" in listing.out
        result = ablate.run(model="tiny", dataset="synthetic", epochs=1, placement="bn:hidden")
        assert result.status == "completed" and result.slots == {"hidden": "batch"}


def test_register_placements() -> None:
    class P:
        @hookimpl
        def register_placements(self, register):
            register("late", "bn:fc1+fc2", "BN only in the classifier")
            register("early-obj", Placement(slots={"conv1": "group"}))

    with Inline(P(), "placement-plugin"):
        assert "late" in registry.placements.names()
        result = ablate.run(dataset="synthetic", epochs=1, placement="late")
        assert result.placement == "bn:fc1+fc2"
        assert (
            ablate.run(dataset="synthetic", epochs=1, placement="early-obj").placement == "gn:conv1"
        )


def test_register_schedulers() -> None:
    from torch.optim.lr_scheduler import LambdaLR

    class P:
        @hookimpl
        def register_schedulers(self, register):
            register(
                "halve",
                lambda opt, *, epochs, steps_per_epoch: LambdaLR(
                    opt, lambda step: 0.5 ** (step // steps_per_epoch)
                ),
                "halve every epoch",
            )

    with Inline(P(), "sched-plugin"):
        result = ablate.run(dataset="synthetic", epochs=2, scheduler="halve", lr=0.01)
        assert result.epochs[0].lr == pytest.approx(0.01)
        assert result.epochs[1].lr == pytest.approx(0.005)


def test_register_optimizers() -> None:
    import torch

    class P:
        @hookimpl
        def register_optimizers(self, register):
            register(
                "rmsprop", lambda params, *, lr, **kw: torch.optim.RMSprop(params, lr=lr, **kw)
            )

    with Inline(P(), "opt-plugin"):
        result = ablate.run(dataset="synthetic", epochs=1, optimizer="rmsprop", lr=1e-3)
        assert result.status == "completed"


def test_register_datasets() -> None:
    from ablate_plugins.datasets import synthetic

    class P:
        @hookimpl
        def register_datasets(self, register):
            register("tiny-set", lambda **kw: synthetic(train=100, test=40))

    with Inline(P(), "data-plugin"):
        result = ablate.run(dataset="tiny-set", epochs=1, batch_size=50)
        assert result.status == "completed"
        assert result.epochs[0].images_per_s > 0


def test_register_studies(cli) -> None:
    from ablate.study import Param, Study

    class P:
        @hookimpl
        def register_studies(self, register):
            register(
                "lr-only",
                lambda: Study(
                    name="lr-only", space=[Param(name="lr", type="logfloat", low=1e-4, high=1e-2)]
                ),
                "just the lr",
            )

    with Inline(P(), "study-plugin"):
        out = cli("studies").out
        assert "lr-only" in out and "logfloat [0.0001, 0.01]" in out


def test_on_run_start() -> None:
    seen = []

    class P:
        @hookimpl
        def on_run_start(self, config, model):
            seen.append((config.seed, sum(p.numel() for p in model.parameters())))

    with Inline(P(), "start-plugin"):
        ablate.run(dataset="synthetic", epochs=1, seed=5)
    assert seen and seen[0][0] == 5 and seen[0][1] > 0


def test_on_epoch_end() -> None:
    class StopAfterTwo:
        @hookimpl
        def on_epoch_end(self, config, epoch, metrics):
            assert 0 <= metrics["val_acc"] <= 1
            return epoch >= 2

    with Inline(StopAfterTwo(), "early-stop"):
        result = ablate.run(dataset="synthetic", epochs=5)
    assert result.status == "stopped" and len(result.epochs) == 2
    assert "early-stop" in result.reason


def test_on_run_end() -> None:
    ends = []

    class P:
        @hookimpl
        def on_run_end(self, config, result):
            ends.append(result.status)

    with Inline(P(), "end-plugin"):
        ablate.run(dataset="synthetic", epochs=1)
    assert ends == ["completed"]


def test_duplicate_name_names_both_plugins() -> None:
    class Dupe:
        @hookimpl
        def register_models(self, register):
            register("lenet5", tiny_model)

    with Inline(Dupe(), "copycat"), pytest.raises(AblateError) as info:
        registry.models.names()
    message = str(info.value)
    assert "'lenet5'" in message and "'copycat'" in message


def test_plugin_that_raises_is_reported_and_others_still_load(cli) -> None:
    class Broken:
        @hookimpl
        def register_models(self, register):
            raise RuntimeError("kaput")

    with Inline(Broken(), "broken"), pytest.warns(plugins.PluginLoadWarning, match="broken"):
        names = registry.models.names()
    assert "lenet5" in names


def _fake_distribution(tmp_path: Path, module_source: str, name: str = "extra") -> Path:
    """A dist-info with an ``ablate`` entry point, as pip would install it."""
    site = tmp_path / "site"
    (site / f"{name}_plugin.py").parent.mkdir(parents=True, exist_ok=True)
    (site / f"{name}_plugin.py").write_text(textwrap.dedent(module_source))
    dist = site / f"ablate_{name}-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: ablate-{name}\nVersion: 1.2.3\n")
    (dist / "entry_points.txt").write_text(f"[ablate]\n{name} = {name}_plugin\n")
    return site


MLP_PLUGIN = """
    from torch import nn
    from ablate import hookimpl

    def mlp(norm, *, in_channels, num_classes, image_size):
        return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size ** 2, 32),
                             norm("h1", 32), nn.ReLU(), nn.Linear(32, num_classes))

    @hookimpl
    def register_models(register):
        register("ep-mlp", mlp, "from an entry point")
"""


def test_entry_point_plugin_loads_like_builtins(tmp_path, monkeypatch, fresh_plugins, cli):
    site = _fake_distribution(tmp_path, MLP_PLUGIN)
    monkeypatch.syspath_prepend(str(site))
    shown = cli("plugins")
    assert shown.code == 0
    assert "extra" in shown.out and "1.2.3" in shown.out and "entry point" in shown.out
    assert "built-in" in shown.out
    assert "ep-mlp" in cli("list", "models").out
    run = cli("run", "--model", "ep-mlp", "--dataset", "synthetic", "--epochs", "1", "--json")
    assert run.code == 0, run.err


def test_plugin_that_fails_to_import_warns_and_rest_works(
    tmp_path, monkeypatch, fresh_plugins, cli
):
    site = _fake_distribution(tmp_path, "raise ImportError('missing dependency zork')", "bad")
    monkeypatch.syspath_prepend(str(site))
    result = cli("list", "models")
    assert result.code == 0 and "lenet5" in result.out
    assert "plugin 'bad' failed" in result.err and "zork" in result.err
    assert "Traceback" not in result.err


def test_allow_list_and_disable_list(monkeypatch, fresh_plugins, cli):
    monkeypatch.setenv("ABLATE_DISABLE_PLUGINS", "lenet5")
    assert "lenet5" not in cli("list", "models").out
    plugins.reset_for_tests()
    monkeypatch.delenv("ABLATE_DISABLE_PLUGINS")
    monkeypatch.setenv("ABLATE_PLUGINS", "lenet5,datasets")
    out = cli("plugins").out
    assert "lenet5" in out and "schedulers" not in out


def test_trace_shows_hook_calls(cli, fresh_plugins) -> None:
    result = cli("plugins", "--trace")
    assert "register_models -> lenet5" in result.err


def test_hookimpl_is_exported_from_package_root() -> None:
    assert ablate.hookimpl is hookspecs.hookimpl
    assert "ablate" in sys.modules


def test_plugins_new_writes_a_skeleton(tmp_path, cli) -> None:
    out = cli("plugins", "new", "my-net", "--dest", tmp_path)
    assert out.code == 0 and (tmp_path / "ablate-my-net" / "pyproject.toml").exists()
    again = cli("plugins", "new", "my-net", "--dest", tmp_path)
    assert again.code == 2 and again.err.count("\n") == 1
    bad = cli("plugins", "new", "My_Net")
    assert bad.code == 2 and "invalid plugin name" in bad.err
