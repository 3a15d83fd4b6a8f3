"""Built-in LR schedulers, stepped after every optimizer step.

Epoch-based schedules are converted with ``steps_per_epoch``.
"""

from __future__ import annotations

from torch.optim.lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LRScheduler,
    OneCycleLR,
    StepLR,
)

from ablate import hookimpl


def constant(optimizer, *, epochs: int, steps_per_epoch: int) -> LRScheduler:
    return LambdaLR(optimizer, lambda step: 1.0)


def step(
    optimizer, *, epochs: int, steps_per_epoch: int, step_epochs: int = 5, gamma: float = 0.1
) -> LRScheduler:
    """The seed's StepLR(5, 0.1): lr x gamma every ``step_epochs`` epochs."""
    return StepLR(optimizer, step_size=step_epochs * steps_per_epoch, gamma=gamma)


def cosine(optimizer, *, epochs: int, steps_per_epoch: int, eta_min: float = 0.0) -> LRScheduler:
    return CosineAnnealingLR(optimizer, T_max=max(1, epochs * steps_per_epoch), eta_min=eta_min)


def onecycle(
    optimizer, *, epochs: int, steps_per_epoch: int, pct_start: float = 0.3
) -> LRScheduler:
    max_lr = [group["lr"] for group in optimizer.param_groups]
    return OneCycleLR(
        optimizer, max_lr=max_lr, total_steps=max(2, epochs * steps_per_epoch), pct_start=pct_start
    )


def exponential(optimizer, *, epochs: int, steps_per_epoch: int, gamma: float = 0.9) -> LRScheduler:
    """lr x ``gamma`` per epoch, applied smoothly per step."""
    return ExponentialLR(optimizer, gamma=gamma ** (1.0 / steps_per_epoch))


@hookimpl
def register_schedulers(register) -> None:
    register("none", constant, "constant learning rate")
    register("step", step, "StepLR: lr x 0.1 every 5 epochs (the seed's)")
    register("cosine", cosine, "cosine annealing to 0 over the run")
    register("onecycle", onecycle, "one-cycle: warm up to lr, then anneal")
    register("exponential", exponential, "lr x 0.9 per epoch, per step")
