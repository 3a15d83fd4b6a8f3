"""``train_fused``: K configs of one model family trained as one model, one step for all.

Each trial keeps what makes it itself: its seed's initial weights (built exactly as
``ablate.run`` builds them), its own shuffling generator, placement, optimizer settings,
learning-rate schedule, BatchNorm statistics and observers. A trial that is pruned,
stopped, diverges or reaches its last epoch leaves the group at the epoch's end; one whose
loss turns non-finite is frozen (zeroed) at once, so its NaNs never reach the others.
"""

from __future__ import annotations

import gc
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ablate import plugins
from ablate.config import RunConfig
from ablate.data import PreparedData
from ablate.environment import environment, resolve_device
from ablate.errors import ConfigError
from ablate.fused.group import FusedGroup
from ablate.fused.optim import OptimSpec
from ablate.fused.plan import Op, layer_plan
from ablate.fused.schedule import Schedule, trial_schedule
from ablate.fused.support import supports_fusion
from ablate.placement import Placement
from ablate.result import EpochMetrics, RunResult
from ablate.trainer import Observer, StopRun, batches

log = logging.getLogger("ablate.fused")
EventCallback = Callable[[str], None]


def _emit(on_event: EventCallback | None, message: str) -> None:
    log.info(message)
    if on_event is not None:
        on_event(message)


@dataclass
class Trial:
    """One config inside a fused run: its model init, schedule, observers and result."""

    config: RunConfig
    placement: Placement
    model: nn.Sequential
    spec: OptimSpec
    schedule: Schedule
    observers: list[Observer]
    result: RunResult
    started_at: float | None = None
    reported: int = 0  # epochs observers have seen; a retried trial replays them silently
    done: bool = False
    stop: StopRun | None = None  # raised in on_step, applied at the epoch's end
    watches_steps: bool = field(init=False)

    def __post_init__(self) -> None:
        self.watches_steps = any(
            type(obs).on_step is not Observer.on_step for obs in self.observers
        )

    def start(self, steps_per_epoch: int, train_images: int) -> None:
        if self.started_at is None:
            self.started_at = time.perf_counter()
            for obs in self.observers:
                obs.on_start(
                    self.result, steps_per_epoch=steps_per_epoch, train_images=train_images
                )

    def on_step(self, epoch: int, step: int, steps: int) -> bool:
        """Forward a step; False once an observer has stopped the trial."""
        if self.stop is not None:
            return False
        if epoch > self.reported:
            try:
                for obs in self.observers:
                    obs.on_step(epoch, step, steps)
            except StopRun as stop:
                self.stop = stop
                return False
        return True

    def on_epoch(self, metrics: EpochMetrics) -> None:
        if metrics.epoch > self.reported:
            self.reported = metrics.epoch
            for obs in self.observers:
                obs.on_epoch(self.result, metrics)

    def finish(self, status: str | None = None, reason: str = "") -> None:
        if status is not None:
            self.result.status, self.result.reason = status, reason  # type: ignore[assignment]
        self.done = True
        self.result.wall_time_s = time.perf_counter() - (self.started_at or time.perf_counter())
        self.result.finish()
        for obs in self.observers:
            obs.on_end(self.result)

    def restart(self) -> None:
        """Forget this attempt's epochs (after an out-of-memory split); observers keep theirs."""
        self.result.epochs = []
        self.result.status, self.result.reason = "completed", ""
        self.stop = None


@dataclass
class _Setup:
    data: PreparedData
    plan: tuple[Op, ...]
    device: torch.device
    dtype: torch.dtype
    batch_size: int
    eval_batch_size: int
    shared_seed: int | None  # one shuffling order for all trials, from this seed

    @classmethod
    def create(
        cls, first: RunConfig, device: torch.device, dtype: torch.dtype, shared_order: bool
    ) -> _Setup:
        """The data (cached, as ``ablate.run`` prepares it) and plan for a group."""
        from ablate.engine import prepared_data

        data = prepared_data(first, device, dtype)
        plan = layer_plan(
            first.model,
            in_channels=data.in_channels,
            num_classes=data.num_classes,
            image_size=data.image_size,
        )
        return cls(
            data=data,
            plan=plan,
            device=device,
            dtype=dtype,
            batch_size=first.batch_size,
            eval_batch_size=first.eval_batch_size,
            shared_seed=first.seed if shared_order else None,
        )

    @property
    def spans(self) -> list[tuple[int, int]]:
        chunks = batches(torch.arange(len(self.data.train_y)), self.batch_size)
        return [(int(c[0]), int(c[0]) + len(c)) for c in chunks]


def _train_group(trials: list[Trial], setup: _Setup) -> None:
    """Train ``trials`` together from their initial weights until each is done."""
    data, spans = setup.data, setup.spans
    n = len(data.train_y)
    group = _group(trials, setup)
    seeds = (
        [setup.shared_seed] if setup.shared_seed is not None else [t.config.seed for t in trials]
    )
    shuffles = [torch.Generator().manual_seed(s) for s in seeds]
    live = list(trials)
    for trial in live:
        trial.start(len(spans), n)
    device = data.train_x.device
    for epoch in range(1, max(t.config.epochs for t in live) + 1):
        tick = time.perf_counter()
        perms = [torch.randperm(n, generator=g) for g in shuffles]
        order = (perms[0] if len(perms) == 1 else torch.stack(perms, 1)).to(device)
        first_step = group.opt.steps
        loss_sum = torch.zeros(group.k, device=device, dtype=torch.float64)
        correct = torch.zeros(group.k, device=device, dtype=torch.long)
        alive = torch.ones(group.k, device=device, dtype=torch.bool)
        seen = 0
        watchers = [(k, t) for k, t in enumerate(live) if t.watches_steps]
        for step, (start, stop) in enumerate(spans, 1):
            idx = order[start:stop]
            losses, right = group.train_step(data.train_x[idx], data.train_y[idx], alive)
            loss_sum += losses.double() * (stop - start)
            correct += right
            seen += stop - start
            for k, trial in watchers:
                if trial.stop is None and not trial.on_step(epoch, step, len(spans)):
                    alive[k] = False
        train_seconds = time.perf_counter() - tick
        train_loss = [v / max(1, seen) for v in loss_sum.tolist()]
        train_acc = [c / max(1, seen) for c in correct.tolist()]
        val_loss, val_acc = group.evaluate(data.test_x, data.test_y, setup.eval_batch_size)
        seconds = time.perf_counter() - tick
        for k, trial in enumerate(live):
            if trial.stop is not None:
                trial.finish(trial.stop.status, trial.stop.reason)
                continue
            if not math.isfinite(train_loss[k]):
                trial.finish("diverged", f"training loss became {train_loss[k]} in epoch {epoch}")
                continue
            metrics = EpochMetrics(
                epoch=epoch,
                train_loss=train_loss[k],
                train_acc=train_acc[k],
                val_loss=val_loss[k],
                val_acc=val_acc[k],
                lr=trial.schedule.lr[min(first_step, len(trial.schedule.lr) - 1)],
                seconds=seconds,
                images_per_s=seen / train_seconds if train_seconds > 0 else 0.0,
            )
            trial.result.epochs.append(metrics)
            if not math.isfinite(val_loss[k]):
                trial.finish("diverged", f"validation loss became {val_loss[k]} in epoch {epoch}")
                continue
            try:
                trial.on_epoch(metrics)
            except StopRun as stop:
                trial.finish(stop.status, stop.reason)
                continue
            if epoch >= trial.config.epochs:
                trial.finish()
        keep = [k for k, t in enumerate(live) if not t.done]
        if not keep:
            return
        if len(keep) < len(live):
            group.select(keep)
            live = [live[k] for k in keep]
            if setup.shared_seed is None:
                shuffles = [shuffles[k] for k in keep]


def _release_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _train_all(trials: list[Trial], setup: _Setup, on_event: EventCallback | None) -> None:
    """Train every trial; a group that runs out of memory is split in half and retried."""
    pending: deque[list[Trial]] = deque([trials])
    while pending:
        group = [t for t in pending.popleft() if not t.done]
        if not group:
            continue
        try:
            _train_group(group, setup)
            continue
        except torch.cuda.OutOfMemoryError:
            if len(group) == 1:
                raise
        _release_memory()
        left = [t for t in group if not t.done]
        half = (len(left) + 1) // 2
        _emit(
            on_event,
            f"fused group of {len(group)} trials ran out of device memory; retrying its "
            f"{len(left)} unfinished trials from scratch as groups of {half} and "
            f"{len(left) - half}",
        )
        for trial in left:
            trial.restart()
        pending.extendleft([left[half:], left[:half]])


def _make_trial(
    config: RunConfig,
    observers: Sequence[Observer],
    setup: _Setup,
    steps_per_epoch: int,
    group_size: int,
    *,
    hooks: bool = True,
) -> Trial:
    """Build the trial's model exactly as ``ablate.run`` does: seed, then ``build_model``.

    ``hooks`` adds the plugins' lifecycle hooks (off when only timing steps)."""
    from ablate.engine import LifecycleHooks, new_result, seeded_model

    model, resolved = seeded_model(config, setup.data)
    model = model.to(device=setup.device, dtype=setup.dtype)
    spec, schedule = trial_schedule(config, steps_per_epoch)
    env = environment(setup.device)
    env.update(fused_group=group_size, lr_schedule=schedule.how)
    result = new_result(config, resolved, model, env)
    if hooks:
        plugins.call_each("on_run_start", config=config, model=model)
        observers = [*observers, LifecycleHooks(config)]
    return Trial(
        config=config,
        placement=resolved,
        model=model.cpu(),  # the initial weights, kept off the device for retries
        spec=spec,
        schedule=schedule,
        observers=list(observers),
        result=result,
    )


def _group(trials: Sequence[Trial], setup: _Setup) -> FusedGroup:
    return FusedGroup(
        setup.plan,
        [t.model for t in trials],
        [t.placement for t in trials],
        [t.spec for t in trials],
        [t.schedule for t in trials],
        device=setup.device,
        dtype=setup.dtype,
    )


def build_group(
    configs: Sequence[RunConfig],
    *,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    steps_per_epoch: int | None = None,
) -> FusedGroup:
    """A fused group for ``configs`` with no observers or plugin hooks (timing, tests)."""
    setup = _Setup.create(configs[0], device, dtype, shared_order=False)
    steps = steps_per_epoch or len(setup.spans)
    trials = [_make_trial(c, (), setup, steps, len(configs), hooks=False) for c in configs]
    return _group(trials, setup)


def train_fused(
    configs: Sequence[RunConfig],
    *,
    observers: Sequence[Sequence[Observer]] | None = None,
    dtype: torch.dtype = torch.float32,
    shared_order: bool = False,
    on_event: EventCallback | None = None,
) -> list[RunResult]:
    """Train ``configs`` as one fused model; one :class:`RunResult` per config, in order.

    Each trial's metrics match ``ablate.run(config, dtype=dtype)`` up to rounding.
    ``observers[i]`` watch config ``i`` (``on_step`` is called once per fused step).
    ``shared_order=True`` shuffles every trial with the first config's seed (one batch
    for all, cheaper), so only trials with that seed match their solo runs. ``on_event``
    receives one line whenever the group is split after running out of device memory.
    """
    configs = list(configs)
    ok, why = supports_fusion(configs)
    if not ok:
        raise ConfigError(f"these configs do not fuse: {why}")
    if observers is not None and len(observers) != len(configs):
        raise ValueError(f"{len(observers)} observer lists for {len(configs)} configs")
    device = resolve_device(configs[0].device)
    setup = _Setup.create(configs[0], device, dtype, shared_order)
    steps = len(setup.spans)
    trials = [
        _make_trial(c, observers[i] if observers else (), setup, steps, len(configs))
        for i, c in enumerate(configs)
    ]
    _train_all(trials, setup, on_event)
    return [t.result for t in trials]
