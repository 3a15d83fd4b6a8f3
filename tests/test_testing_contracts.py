"""The ``ablate.testing`` contracts pass for every built-in, and fail for broken plugins."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from torch import nn

import ablate
from ablate import hookimpl, registry
from ablate.testing import DatasetContract, ModelContract, SchedulerContract
from conftest import make_idx_dir

# ------------------------------------------------------------- built-ins pass


class TestLenet5(ModelContract):
    model = "lenet5"


class TestLenet5ThreeChannels(ModelContract):
    model = "lenet5"
    in_channels = 3
    num_classes = 4
    image_size = 28


class TestNoneScheduler(SchedulerContract):
    scheduler = "none"


class TestStepScheduler(SchedulerContract):
    scheduler = "step"
    # Decay every epoch, so the run crosses steps rather than ending before the first.
    params: ClassVar[dict[str, Any]] = {"step_epochs": 1, "gamma": 0.5}


class TestCosineScheduler(SchedulerContract):
    scheduler = "cosine"


class TestOnecycleScheduler(SchedulerContract):
    scheduler = "onecycle"


class TestOnecycleOneStep(SchedulerContract):
    scheduler = "onecycle"
    epochs = 1
    steps_per_epoch = 1


class TestExponentialScheduler(SchedulerContract):
    scheduler = "exponential"


class TestSyntheticDataset(DatasetContract):
    dataset = "synthetic"
    num_classes = 10


class TestFashionMnistDataset(DatasetContract):
    dataset = "fashion-mnist"
    num_classes = 10

    @pytest.fixture
    def dataset_dir(self, tmp_path: Path) -> Path:
        return make_idx_dir(tmp_path / "fmnist", n_train=48, n_test=40)


def test_every_builtin_scheduler_has_a_contract_test() -> None:
    builtin = {c.name for c in registry.schedulers.all() if c.plugin == "schedulers"}
    module = sys.modules[__name__]
    tested = {
        cls.scheduler
        for cls in vars(module).values()
        if isinstance(cls, type)
        and issubclass(cls, SchedulerContract)
        and cls.__name__.startswith("Test")
    }
    assert builtin and builtin <= tested, f"untested: {sorted(builtin - tested)}"


# -------------------------------------------------------- broken plugins fail


def _flat(in_channels: int, image_size: int) -> int:
    return in_channels * image_size**2


def duplicate_slots(norm, *, in_channels, num_classes, image_size):
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(_flat(in_channels, image_size), 8),
        norm("hidden", 8),
        nn.Linear(8, 8),
        norm("hidden", 8),
        nn.Linear(8, num_classes),
    )


def wrong_shape(norm, *, in_channels, num_classes, image_size):
    return nn.Sequential(
        nn.Flatten(), nn.Linear(_flat(in_channels, image_size), 8), norm("h", 8), nn.ReLU(),
        nn.Linear(8, num_classes + 1),
    )  # fmt: skip


def drops_norm(norm, *, in_channels, num_classes, image_size):
    norm("h", 8)  # asks for a layer, then never uses it
    return nn.Sequential(nn.Flatten(), nn.Linear(_flat(in_channels, image_size), num_classes))


def reserved_slot(norm, *, in_channels, num_classes, image_size):
    return nn.Sequential(
        nn.Flatten(), nn.Linear(_flat(in_channels, image_size), 8), norm("bn", 8), nn.ReLU(),
        nn.Linear(8, num_classes),
    )  # fmt: skip


class FrozenNet(nn.Module):
    """Never learns: its only parameter reaches the logits multiplied by zero."""

    def __init__(self, norm: Callable[[str, int], nn.Module], num_classes: int) -> None:
        super().__init__()
        self.unused = nn.Linear(1, 1)
        self.norm = norm("h", 1)
        self.num_classes = num_classes

    def forward(self, x: Any) -> Any:
        return x.flatten(1)[:, : self.num_classes] + 0 * self.unused.weight


def frozen(norm, *, in_channels, num_classes, image_size):
    return FrozenNet(norm, num_classes)


BROKEN_MODELS = {
    "dup-slots": (duplicate_slots, "test_slot_names_are_unique_and_spellable", "twice"),
    "wrong-shape": (wrong_shape, "test_forward_gives_logits_per_class", "shape"),
    "drops-norm": (drops_norm, "test_uses_the_norm_layers_it_asks_for", "drops"),
    "reserved-slot": (reserved_slot, "test_slot_names_are_unique_and_spellable", "clashes"),
    "frozen": (frozen, "test_a_few_steps_lower_the_loss", "did not lower"),
}


@pytest.fixture
def broken_models() -> Iterator[None]:
    class Broken:
        @hookimpl
        def register_models(self, register):
            for name, (factory, _, _) in BROKEN_MODELS.items():
                register(name, factory)

    name = ablate.register_plugin(Broken(), name="broken-models")
    yield
    ablate.unregister_plugin(name)


@pytest.mark.parametrize("model", sorted(BROKEN_MODELS))
def test_model_contract_catches_a_broken_model(model: str, broken_models: None) -> None:
    _, failing_test, message = BROKEN_MODELS[model]

    class Contract(ModelContract):
        pass

    Contract.model = model
    with pytest.raises(AssertionError, match=message):
        getattr(Contract(), failing_test)()


def test_contract_without_a_name_says_so() -> None:
    with pytest.raises(AssertionError, match="must set the class attribute `model`"):
        ModelContract().test_is_registered()


def test_scheduler_contract_catches_zero_lr_and_lost_state() -> None:
    from torch.optim.lr_scheduler import LambdaLR

    def dies(optimizer, *, epochs, steps_per_epoch):
        return LambdaLR(optimizer, lambda step: 1.0 if step < 2 else 0.0)

    class Forgetful(LambdaLR):
        def state_dict(self) -> dict[str, Any]:
            state = super().state_dict()
            del state["last_epoch"]  # a resumed run would restart the schedule
            return state

    def forgetful(optimizer, *, epochs, steps_per_epoch):
        return Forgetful(optimizer, lambda step: 0.5**step)

    class Bad:
        @hookimpl
        def register_schedulers(self, register):
            register("dies", dies)
            register("forgetful", forgetful)

    class Contract(SchedulerContract):
        pass

    name = ablate.register_plugin(Bad(), name="bad-schedulers")
    try:
        Contract.scheduler = "dies"
        with pytest.raises(AssertionError, match="lr 0.0 at step 2"):
            Contract().test_lr_stays_finite_and_positive()
        Contract.scheduler = "forgetful"
        with pytest.raises(AssertionError, match="resumed from its state_dict"):
            Contract().test_state_dict_round_trips()
    finally:
        ablate.unregister_plugin(name)


def test_dataset_contract_catches_bad_labels() -> None:
    from ablate_plugins.datasets import synthetic

    def bad_labels(*, data_dir=None, download=False):
        data = synthetic(train=40, test=20)
        data.train_labels = data.train_labels.int()  # int32, and one label out of range
        data.test_labels[0] = data.num_classes
        return data

    class Bad:
        @hookimpl
        def register_datasets(self, register):
            register("bad-labels", bad_labels)

    class Contract(DatasetContract):
        dataset = "bad-labels"

    name = ablate.register_plugin(Bad(), name="bad-dataset")
    try:
        data = Contract().load(None)
        with pytest.raises(AssertionError, match="int64"):
            Contract().test_labels_are_int64_and_in_range(data)
        data.train_labels = data.train_labels.long()
        with pytest.raises(AssertionError, match="test labels span 0..10"):
            Contract().test_labels_are_int64_and_in_range(data)
    finally:
        ablate.unregister_plugin(name)
