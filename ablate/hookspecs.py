"""The plugin contract: every hook a plugin may implement.

Registration hooks receive a ``register(name, factory, description="")`` callable and
call it once per component. Lifecycle hooks observe runs and may ask them to stop.
pluggy passes only the arguments an implementation names, so adding an argument later
keeps old plugins working.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT_NAME = "ablate"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

Register = Callable[..., None]


# ---------------------------------------------------------------- components


@hookspec
def register_models(register: Register) -> None:
    """Register model factories: ``factory(norm, *, in_channels, num_classes, image_size)``."""


@hookspec
def register_placements(register: Register) -> None:
    """Register named placements: a spelled placement string or a ``Placement``."""


@hookspec
def register_schedulers(register: Register) -> None:
    """Register LR schedulers: ``factory(optimizer, *, epochs, steps_per_epoch, **params)``."""


@hookspec
def register_optimizers(register: Register) -> None:
    """Register optimizers: ``factory(params, *, lr, **params) -> torch.optim.Optimizer``."""


@hookspec
def register_datasets(register: Register) -> None:
    """Register datasets: ``factory(*, data_dir, download) -> ImageData``."""


@hookspec
def register_studies(register: Register) -> None:
    """Register sweep studies: a ``Study`` or a zero-argument callable returning one."""


# ----------------------------------------------------------------- lifecycle


@hookspec
def on_run_start(config: Any, model: Any) -> None:
    """Called once a run's model and data are ready, before the first epoch."""


@hookspec
def on_epoch_end(config: Any, epoch: int, metrics: dict[str, float]) -> bool | None:
    """Called after each epoch's evaluation; return True to stop the run early."""


@hookspec
def on_run_end(config: Any, result: Any) -> None:
    """Called once with the finished ``RunResult``, whatever its status."""
