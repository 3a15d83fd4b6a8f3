"""Contract test suites for plugin authors, in the manner of Optuna's sampler test cases.

Subclass one per component, set a class attribute, and pytest runs the whole contract:

.. code-block:: python

    from ablate.testing import ModelContract, SchedulerContract

    class TestMyNet(ModelContract):
        model = "my-net"

    class TestWarmup(SchedulerContract):
        scheduler = "warmup"
        params = {"warmup_epochs": 2}

The base classes carry no ``Test`` prefix, so pytest collects only your subclasses. Every
check is CPU-only, seeded and small, so a plugin's suite stays fast and deterministic.
Components are looked up in ablate's registries, so the plugin must be installed (its
entry point declared) or registered with ``ablate.register_plugin`` before the tests run.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ablate import registry
from ablate.data import ImageData, prepare
from ablate.models import Slot, build_model, discover_slots
from ablate.placement import KIND_ALIASES, Placement, make_norm, parse_placement

__all__ = ["DatasetContract", "ModelContract", "SchedulerContract"]

NORM_KINDS = ("batch", "group", "layer", "instance")
# Words the spelled placement form reserves; a slot named like one could not be targeted.
RESERVED_SLOT_NAMES = frozenset({*KIND_ALIASES, "none", "input", "*"})


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch inside a forked RNG, so a contract never disturbs the caller's stream."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class _Contract:
    """What every contract shares: tiny tensors run fastest on one thread."""

    @pytest.fixture(autouse=True)
    def _one_torch_thread(self) -> Iterator[None]:
        # Many threads on tiny batches mostly contend, worst on a busy CI machine.
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(before)


# ---------------------------------------------------------------------- models


class ModelContract(_Contract):
    """What every registered model must do. Set ``model``; the rest are optional.

    Checks: slot names are unique and spellable; the model builds and runs under every
    norm kind at every slot (instance norm only where the slot sees ``(N, C, H, W)``),
    plus ``none`` and ``input``; the norm layers it asks for end up in the model; logits
    are ``(N, num_classes)``; and a few optimizer steps on a fixed batch lower the loss.
    """

    model: ClassVar[str] = ""
    image_size: ClassVar[int] = 32
    in_channels: ClassVar[int] = 1
    num_classes: ClassVar[int] = 10
    batch_size: ClassVar[int] = 16
    train_steps: ClassVar[int] = 5
    lr: ClassVar[float] = 1e-3
    seed: ClassVar[int] = 0

    # ------------------------------------------------------------------ helpers

    def _name(self) -> str:
        assert self.model, f"{type(self).__name__} must set the class attribute `model`"
        return self.model

    def batch(self, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A fixed random batch in [0, 1], the same on every call."""
        n = n or self.batch_size
        g = torch.Generator().manual_seed(1234)
        x = torch.rand(n, self.in_channels, self.image_size, self.image_size, generator=g)
        y = torch.arange(n) % self.num_classes
        return x, y

    def slots(self) -> list[Slot]:
        return discover_slots(
            self._name(),
            in_channels=self.in_channels,
            num_classes=self.num_classes,
            image_size=self.image_size,
        )

    def build(self, placement: Placement) -> tuple[nn.Module, Placement]:
        with _seeded(self.seed):
            return build_model(
                self._name(),
                placement,
                in_channels=self.in_channels,
                num_classes=self.num_classes,
                image_size=self.image_size,
            )

    def placements_for(self, kind: str) -> list[Placement]:
        """``none``/``input``, or ``kind`` at each slot alone and then at all that take it."""
        if kind == "none":
            return [Placement()]
        if kind == "input":
            return [Placement(input=True)]
        fits = [s.name for s in self.slots() if kind != "instance" or s.rank == 4]
        if not fits:
            return []
        single = [Placement(slots={slot: kind}) for slot in fits]
        return [*single, Placement(slots=dict.fromkeys(fits, kind))] if len(fits) > 1 else single

    def check_logits(self, out: object, n: int, what: str) -> None:
        assert isinstance(out, torch.Tensor), f"{what}: model returned {type(out).__name__}"
        assert tuple(out.shape) == (n, self.num_classes), (
            f"{what}: logits have shape {tuple(out.shape)}, expected ({n}, {self.num_classes})"
        )
        assert out.is_floating_point(), f"{what}: logits are {out.dtype}, not floating point"
        assert torch.isfinite(out).all(), f"{what}: logits are not all finite"

    # -------------------------------------------------------------------- tests

    def test_is_registered(self) -> None:
        assert self._name() in registry.models, (
            f"model {self.model!r} is not registered (known: {', '.join(registry.models.names())})"
        )

    def test_slot_names_are_unique_and_spellable(self) -> None:
        seen: list[str] = []

        def norm(slot: str, num_features: int) -> nn.Module:
            assert isinstance(slot, str) and slot, f"slot name {slot!r} is not a string"
            assert slot not in seen, f"model {self.model!r} declares slot {slot!r} twice"
            assert int(num_features) > 0, f"slot {slot!r} has {num_features} features"
            seen.append(slot)
            return nn.Identity()

        factory = registry.models.get(self._name()).factory
        with _seeded(self.seed), torch.device("meta"):
            factory(
                norm,
                in_channels=self.in_channels,
                num_classes=self.num_classes,
                image_size=self.image_size,
            )
        for slot in seen:
            assert slot not in RESERVED_SLOT_NAMES, (
                f"slot {slot!r} clashes with a word of the placement syntax; rename it"
            )
            assert parse_placement(f"bn:{slot}").slots == {slot: "batch"}, (
                f"slot {slot!r} cannot be spelled in a placement"
            )
        assert [s.name for s in self.slots()] == seen

    def test_forward_gives_logits_per_class(self) -> None:
        model, _ = self.build(Placement())
        x, _ = self.batch(2)
        model.train()
        self.check_logits(model(x), 2, "train mode")
        model.eval()
        with torch.no_grad():
            self.check_logits(model(x[:1]), 1, "eval mode, batch of one")

    @pytest.mark.parametrize("kind", ["none", "input", *NORM_KINDS])
    def test_builds_and_runs_under_every_norm_kind(self, kind: str) -> None:
        placements = self.placements_for(kind)
        if not placements:
            pytest.skip(f"no slot of {self.model!r} sees (N, C, H, W) inputs")
        x, _ = self.batch(4)
        for placement in placements:
            model, resolved = self.build(placement)
            what = f"placement {resolved.spelled()!r}"
            inputs = (x - resolved.input_mean) / resolved.input_std if resolved.input else x
            model.train()
            self.check_logits(model(inputs), len(x), f"{what}, train mode")
            model.eval()
            with torch.no_grad():
                self.check_logits(model(inputs), len(x), f"{what}, eval mode")

    def test_uses_the_norm_layers_it_asks_for(self) -> None:
        handed_out: dict[str, nn.Module] = {}

        def norm(slot: str, num_features: int) -> nn.Module:
            handed_out[slot] = make_norm("batch", num_features)
            return handed_out[slot]

        factory = registry.models.get(self._name()).factory
        with _seeded(self.seed):
            model = factory(
                norm,
                in_channels=self.in_channels,
                num_classes=self.num_classes,
                image_size=self.image_size,
            )
        assert isinstance(model, nn.Module), f"factory returned {type(model).__name__}"
        inside = {id(m) for m in model.modules()}
        unused = [slot for slot, layer in handed_out.items() if id(layer) not in inside]
        assert not unused, f"model {self.model!r} drops the layer norm() gave for {unused}"

    def test_a_few_steps_lower_the_loss(self) -> None:
        model, _ = self.build(Placement())
        x, y = self.batch()
        with _seeded(self.seed):
            optimizer = torch.optim.Adam(model.parameters(), lr=self.lr)
            model.train()
            before = F.cross_entropy(model(x), y).item()
            for _ in range(self.train_steps):
                loss = F.cross_entropy(model(x), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            after = F.cross_entropy(model(x), y).item()
        assert math.isfinite(after), f"loss became {after}"
        assert after < before, (
            f"{self.train_steps} Adam steps (lr {self.lr}) on a fixed batch did not lower "
            f"the loss: {before:.4f} -> {after:.4f}"
        )


# ------------------------------------------------------------------ schedulers


class SchedulerContract(_Contract):
    """What every registered LR scheduler must do. Set ``scheduler``; ``params`` optional.

    Checks: the factory returns an ``LRScheduler``; every lr the run trains with
    (``epochs * steps_per_epoch`` optimizer steps) is finite and > 0; and ``state_dict()``
    round-trips: a fresh scheduler loading it continues with identical lrs.
    """

    scheduler: ClassVar[str] = ""
    params: ClassVar[dict[str, Any]] = {}
    epochs: ClassVar[int] = 3
    steps_per_epoch: ClassVar[int] = 4
    lr: ClassVar[float] = 1e-3

    def make(self) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        """An SGD-with-momentum optimizer on one parameter and the scheduler under test."""
        assert self.scheduler, f"{type(self).__name__} must set the class attribute `scheduler`"
        optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=self.lr, momentum=0.9)
        factory = registry.schedulers.get(self.scheduler).factory
        scheduler = factory(
            optimizer, epochs=self.epochs, steps_per_epoch=self.steps_per_epoch, **self.params
        )
        return optimizer, scheduler

    @staticmethod
    def lrs(optimizer: torch.optim.Optimizer) -> list[float]:
        return [float(group["lr"]) for group in optimizer.param_groups]

    def walk(
        self,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        steps: int,
    ) -> Iterator[list[float]]:
        """Yield the lrs each of ``steps`` optimizer steps trains with, as the engine steps."""
        for _ in range(steps):
            yield self.lrs(optimizer)
            optimizer.step()
            scheduler.step()

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    def test_returns_an_lr_scheduler(self) -> None:
        _, scheduler = self.make()
        assert isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler), (
            f"scheduler {self.scheduler!r} returned {type(scheduler).__name__}, not LRScheduler"
        )

    def test_lr_stays_finite_and_positive(self) -> None:
        optimizer, scheduler = self.make()
        for step, lrs in enumerate(self.walk(optimizer, scheduler, self.total_steps)):
            for lr in lrs:
                assert math.isfinite(lr) and lr > 0, (
                    f"scheduler {self.scheduler!r} gives lr {lr} at step {step} of "
                    f"{self.total_steps}"
                )
        for lr in self.lrs(optimizer):  # after the last step: never used, but still sane
            assert math.isfinite(lr) and lr >= 0, f"lr {lr} after the last step"

    def test_state_dict_round_trips(self) -> None:
        half = self.total_steps // 2
        optimizer, scheduler = self.make()
        list(self.walk(optimizer, scheduler, half))
        saved_optimizer, saved_scheduler = optimizer.state_dict(), scheduler.state_dict()

        fresh_optimizer, fresh_scheduler = self.make()
        fresh_optimizer.load_state_dict(saved_optimizer)
        try:
            fresh_scheduler.load_state_dict(saved_scheduler)
        except Exception as exc:
            raise AssertionError(
                f"scheduler {self.scheduler!r} cannot load its own state_dict: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

        rest = self.total_steps - half
        expected = list(self.walk(optimizer, scheduler, rest))
        resumed = list(self.walk(fresh_optimizer, fresh_scheduler, rest))
        assert resumed == expected, (
            f"scheduler {self.scheduler!r} resumed from its state_dict at step {half} gives "
            f"lrs {resumed}, expected {expected}"
        )


# -------------------------------------------------------------------- datasets


class DatasetContract(_Contract):
    """What every registered dataset must do. Set ``dataset``; ``num_classes`` optional.

    Where the data lives: set ``data_dir``, or override the ``dataset_dir`` fixture (it may
    use ``tmp_path`` to generate small files). Checks: uint8 ``(N, C, H, W)`` images and
    int64 labels below ``num_classes`` in both splits; a class name per class; loading is
    deterministic; ``ablate.data.prepare(..., train_size=16)`` takes the first 16 images.
    """

    dataset: ClassVar[str] = ""
    data_dir: ClassVar[Path | None] = None
    num_classes: ClassVar[int | None] = None

    @pytest.fixture
    def dataset_dir(self) -> Path | None:
        """Where the dataset's files are; override to generate them."""
        return self.data_dir

    def load(self, data_dir: Path | None) -> ImageData:
        """Call the factory directly: bypasses the engine's cache, so loads are independent."""
        assert self.dataset, f"{type(self).__name__} must set the class attribute `dataset`"
        factory = registry.datasets.get(self.dataset).factory
        data = factory(data_dir=data_dir, download=False)
        assert isinstance(data, ImageData), (
            f"dataset {self.dataset!r} returned {type(data).__name__}, not ImageData"
        )
        return data

    @pytest.fixture
    def image_data(self, dataset_dir: Path | None) -> ImageData:
        return self.load(dataset_dir)

    def test_images_are_uint8_nchw(self, image_data: ImageData) -> None:
        shapes = []
        for split in ("train", "test"):
            images = getattr(image_data, f"{split}_images")
            assert isinstance(images, torch.Tensor), f"{split}_images is not a tensor"
            assert images.dtype == torch.uint8, f"{split}_images are {images.dtype}, not uint8"
            assert images.dim() == 4, f"{split}_images have shape {tuple(images.shape)}, not NCHW"
            assert len(images) > 0, f"the {split} split is empty"
            assert all(d > 0 for d in images.shape[1:]), f"{split}_images: empty C, H or W"
            shapes.append(tuple(images.shape[1:]))
        assert shapes[0] == shapes[1], f"train images are {shapes[0]}, test images {shapes[1]}"
        assert image_data.in_channels == shapes[0][0]

    def test_labels_are_int64_and_in_range(self, image_data: ImageData) -> None:
        for split in ("train", "test"):
            images = getattr(image_data, f"{split}_images")
            labels = getattr(image_data, f"{split}_labels")
            assert labels.dtype == torch.int64, f"{split}_labels are {labels.dtype}, not int64"
            assert labels.dim() == 1, f"{split}_labels have shape {tuple(labels.shape)}"
            assert len(labels) == len(images), (
                f"{len(images)} {split} images but {len(labels)} labels"
            )
            low, high = int(labels.min()), int(labels.max())
            assert low >= 0 and high < image_data.num_classes, (
                f"{split} labels span {low}..{high}, outside 0..{image_data.num_classes - 1}"
            )

    def test_class_count(self, image_data: ImageData) -> None:
        assert image_data.num_classes >= 2, f"num_classes is {image_data.num_classes}"
        if self.num_classes is not None:
            assert image_data.num_classes == self.num_classes, (
                f"dataset {self.dataset!r} has {image_data.num_classes} classes, "
                f"expected {self.num_classes}"
            )
        if image_data.classes:
            assert len(image_data.classes) == image_data.num_classes, (
                f"{len(image_data.classes)} class names for {image_data.num_classes} classes"
            )

    def test_loading_is_deterministic(
        self, image_data: ImageData, dataset_dir: Path | None
    ) -> None:
        again = self.load(dataset_dir)
        for split in ("train", "test"):
            first = getattr(image_data, f"{split}_images")[:32]
            assert torch.equal(first, getattr(again, f"{split}_images")[:32]), (
                f"loading {self.dataset!r} twice gives different {split} images"
            )
            labels = getattr(image_data, f"{split}_labels")[:32]
            assert torch.equal(labels, getattr(again, f"{split}_labels")[:32]), (
                f"loading {self.dataset!r} twice gives different {split} labels"
            )

    def test_subset_is_the_first_images(self, image_data: ImageData) -> None:
        height, width = image_data.train_images.shape[-2:]
        size = int(height) if height == width else 32  # native size: no resampling to compare
        prepared = prepare(
            image_data, image_size=size, device=torch.device("cpu"), train_size=16, test_size=8
        )
        n_train = min(16, len(image_data.train_labels))
        n_test = min(8, len(image_data.test_labels))
        assert len(prepared.train_x) == n_train and len(prepared.test_x) == n_test
        assert torch.equal(prepared.train_y, image_data.train_labels[:n_train])
        assert torch.equal(prepared.test_y, image_data.test_labels[:n_test])
        assert tuple(prepared.train_x.shape[1:]) == (image_data.in_channels, size, size)
        if height == width:
            expected = image_data.train_images[:n_train].float() / 255.0
            assert torch.equal(prepared.train_x, expected), "train_size=16 is not the first 16"
        assert float(prepared.train_x.min()) >= 0.0 and float(prepared.train_x.max()) <= 1.0
