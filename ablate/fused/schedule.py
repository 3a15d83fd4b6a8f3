"""Per-trial learning-rate (and beta1/momentum) tables: one value per training step.

A fused group steps every trial with one kernel, so a trial's scheduler becomes a pure
function of the step number. The registered factories build each trial's real optimizer
and scheduler on a one-element dummy parameter; the built-in scheduler classes are then
read in closed form, and any other scheduler is simulated step by step to tabulate it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.optim import lr_scheduler as sched

from ablate import registry
from ablate.config import RunConfig
from ablate.errors import ConfigError
from ablate.fused.optim import OptimSpec, read_optimizer


@dataclass(frozen=True)
class Schedule:
    """What a trial's optimizer uses at each step ``0 .. epochs * steps_per_epoch - 1``."""

    lr: list[float]
    momentum: list[float]  # beta1 for Adam/AdamW, momentum for SGD
    how: str  # "closed form (StepLR)" or "simulated (MyScheduler)"


def _call(kind: str, name: str, factory: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return factory(*args, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"{kind} {name!r} rejected its parameters: {exc}") from None


def dummy_optimizer(config: RunConfig) -> torch.optim.Optimizer:
    """The optimizer ``config`` would train with, over one dummy parameter."""
    param = torch.nn.Parameter(torch.zeros(1))
    factory = registry.optimizers.get(config.optimizer).factory
    return _call(
        "optimizer", config.optimizer, factory, [param], lr=config.lr, **config.optimizer_params
    )


def _momentum(group: dict[str, Any]) -> float:
    return float(group["betas"][0] if "betas" in group else group.get("momentum", 0.0))


def _one_cycle(s: sched.OneCycleLR, group: dict[str, Any], total: int):
    anneal = getattr(s, "_anneal_func_type", None)
    if anneal not in ("cos", "linear"):
        return None

    def interpolate(start: float, end: float, pct: float) -> float:
        if anneal == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    lrs, moms = [], []
    fixed = _momentum(group)
    for t in range(total):
        start_step = 0.0
        phases = s._schedule_phases
        for i, phase in enumerate(phases):
            end_step = phase["end_step"]
            if t <= end_step or i == len(phases) - 1:
                pct = (t - start_step) / (end_step - start_step)
                lrs.append(interpolate(group[phase["start_lr"]], group[phase["end_lr"]], pct))
                if s.cycle_momentum:
                    start_m, end_m = group[phase["start_momentum"]], group[phase["end_momentum"]]
                    moms.append(interpolate(start_m, end_m, pct))
                else:
                    moms.append(fixed)
                break
            start_step = phase["end_step"]
    return lrs, moms


def _closed_form(s: sched.LRScheduler, total: int) -> tuple[list[float], list[float]] | None:
    """The lr of each step from the scheduler's own attributes; None if not a known class."""
    group = s.optimizer.param_groups[0]
    if s.last_epoch != 0 or isinstance(group["lr"], torch.Tensor):
        return None
    base = float(s.base_lrs[0])
    steps = range(total)
    kind = type(s)
    lr: Callable[[int], float]
    if kind is sched.LambdaLR:
        fn = s.lr_lambdas[0]
        lr = lambda t: base * fn(t)  # noqa: E731
    elif kind is sched.StepLR:
        lr = lambda t: base * s.gamma ** (t // s.step_size)  # noqa: E731
    elif kind is sched.ExponentialLR:
        lr = lambda t: base * s.gamma**t  # noqa: E731
    elif kind is sched.CosineAnnealingLR:
        lo, period = s.eta_min, s.T_max
        lr = lambda t: lo + (base - lo) * (1 + math.cos(math.pi * t / period)) / 2  # noqa: E731
    elif kind is sched.OneCycleLR:
        return _one_cycle(s, group, total)
    else:
        return None
    momentum = _momentum(group)
    return [float(lr(t)) for t in steps], [momentum] * total


def _simulate(
    optimizer: torch.optim.Optimizer, s: sched.LRScheduler, total: int
) -> tuple[list[float], list[float]]:
    lrs, moms = [], []
    for t in range(total):
        group = optimizer.param_groups[0]
        lrs.append(float(group["lr"]))
        moms.append(_momentum(group))
        if t + 1 < total:
            optimizer.step()  # no gradients: a no-op that keeps the scheduler's order check quiet
            s.step()
    return lrs, moms


def trial_schedule(
    config: RunConfig, steps_per_epoch: int, *, simulate: bool = False
) -> tuple[OptimSpec, Schedule]:
    """``config``'s fused optimizer settings and its per-step lr and beta1/momentum."""
    optimizer = dummy_optimizer(config)
    spec = read_optimizer(optimizer)
    factory = registry.schedulers.get(config.scheduler).factory
    scheduler = _call(
        "scheduler",
        config.scheduler,
        factory,
        optimizer,
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch,
        **config.scheduler_params,
    )
    total = config.epochs * steps_per_epoch
    name = type(scheduler).__name__
    table = None if simulate else _closed_form(scheduler, total)
    how = f"closed form ({name})"
    if table is None:
        table, how = _simulate(optimizer, scheduler, total), f"simulated ({name})"
    return spec, Schedule(lr=table[0], momentum=table[1], how=how)
