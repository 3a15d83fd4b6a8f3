"""ablate's contract suites, run against this package's components."""

from __future__ import annotations

from typing import Any, ClassVar

from ablate.testing import ModelContract, SchedulerContract


class TestVggish(ModelContract):
    model = "vggish"


class TestVggishRgb(ModelContract):
    model = "vggish"
    in_channels = 3
    num_classes = 100


class TestWarmupCosine(SchedulerContract):
    scheduler = "warmup-cosine"


class TestWarmupCosineLongWarmup(SchedulerContract):
    scheduler = "warmup-cosine"
    params: ClassVar[dict[str, Any]] = {"warmup_epochs": 2}
    epochs = 5


class TestWarmupCosineNoWarmup(SchedulerContract):
    scheduler = "warmup-cosine"
    params: ClassVar[dict[str, Any]] = {"warmup_epochs": 0}
