"""Live sweep output: a bar over trials with ETA, the current trial's epochs, and the
best configurations so far. Plain lines when the output is not a terminal."""

from __future__ import annotations

from typing import Any

import optuna
from rich.console import Console, Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ablate.display import format_seconds, make_console, pct
from ablate.records import records
from ablate.result import EpochMetrics, RunResult
from ablate.storage import mask
from ablate.summary import best_configs_table
from ablate.trainer import Observer


def describe_params(params: dict[str, Any], placement: str = "") -> str:
    parts = [placement] if placement else []
    for key, value in params.items():
        if key.startswith("placement"):
            continue
        parts.append(f"{key}={value:.1e}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)


class _TrialEpochs(Observer):
    def __init__(self, display: SweepDisplay, number: int, label: str) -> None:
        self.display, self.number, self.label = display, number, label

    def on_start(self, result: RunResult, *, steps_per_epoch: int, train_images: int) -> None:
        self.display.begin_trial(
            self.number, f"{result.placement} {self.label}", result.config.epochs * steps_per_epoch
        )

    def on_step(self, epoch: int, step: int, steps: int) -> None:
        self.display.step()

    def on_epoch(self, result: RunResult, metrics: EpochMetrics) -> None:
        self.display.epoch(metrics, result.config.epochs)


class SweepDisplay:
    """Everything a sweep shows while it runs; progress goes to stderr."""

    def __init__(self, plan: Any, console: Console | None = None, workers: int = 1) -> None:
        self.plan = plan
        self.workers = workers
        self.seen: set[int] = set()
        self.console = console or make_console(stderr=True)
        self.live_mode = self.console.is_terminal
        self.trials = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self.epochs = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            TextColumn("{task.fields[stats]}"),
            console=self.console,
        )
        self.trial_task = None
        self.epoch_task = None
        self.best: Any = None
        self.live: Live | None = None
        self.done_at_start = 0

    def _group(self) -> Group:
        parts: list[Any] = [self.trials, self.epochs]
        if self.best is not None and self.best.rows:
            parts.append(self.best.rich())
        return Group(*parts)

    def start(self, study: optuna.Study) -> None:
        plan = self.plan
        finished = [
            r
            for r in records(study)
            if r.state in ("complete", "pruned", "failed") and r.status != "interrupted"
        ]
        self.done_at_start = len(finished)
        self.seen = {r.number for r in finished}
        self.console.print(
            f"[bold]sweep {plan.name}[/] · {plan.sampler} sampler · {plan.pruner} pruner · "
            f"device {plan.device}" + (f" · {self.workers} workers" if self.workers > 1 else "")
        )
        self.console.print(
            f"{plan.n_trials} trials ({plan.seeds} seeds each) · {plan.protocol.epochs} epochs"
        )
        self.console.print(
            f"storage {mask(plan.storage)}"
            + (
                f" · resuming: {self.done_at_start} trials already done"
                if self.done_at_start
                else ""
            ),
            soft_wrap=True,
        )
        for note in plan.notes:
            self.console.print(f"note: {note}", soft_wrap=True)
        self.trial_task = self.trials.add_task(
            "trials", total=plan.n_trials, completed=min(self.done_at_start, plan.n_trials)
        )
        self.best = best_configs_table(
            [r for r in records(study) if r.state == "complete" and r.value is not None],
            plan.study.metric,
        )
        if self.live_mode:
            self.live = Live(
                self._group(), console=self.console, refresh_per_second=4, transient=True
            )
            self.live.start()

    def poll(self, study: optuna.Study) -> None:
        """Pool mode: read the storage and show trials that other processes finished."""
        every = records(study)
        finished = [
            r
            for r in every
            if r.state in ("complete", "pruned", "failed") and r.status != "interrupted"
        ]
        for r in finished:
            if r.number in self.seen:
                continue
            self.seen.add(r.number)
            value = r.curves.get("val_acc", [None])[-1] if r.curves.get("val_acc") else None
            line = (
                f"trial {r.number} {describe_params(r.params, r.placement)} seed={r.seed}: "
                f"{r.status}, val {pct(value)} after {len(r.curves.get('val_acc', []))} "
                f"epochs"
            )
            (self.live.console if self.live is not None else self.console).print(
                line, style="dim" if self.live is not None else None, soft_wrap=True
            )
        if self.trial_task is not None:
            self.trials.update(self.trial_task, completed=min(len(finished), self.plan.n_trials))
        running = sum(1 for r in every if r.state == "running")
        if self.epoch_task is None:
            self.epoch_task = self.epochs.add_task("", total=None, stats="")
        self.epochs.update(self.epoch_task, description=f"{running} trials running", stats="")
        done = [r for r in every if r.state == "complete" and r.value is not None]
        self.best = best_configs_table(done, self.plan.study.metric)
        if self.live is not None:
            self.live.update(self._group())

    def trial_observer(self, number: int, params: dict[str, Any], seed: int) -> Observer:
        return _TrialEpochs(self, number, f"{describe_params(params)} seed={seed}".strip())

    def begin_trial(self, number: int, label: str, total_steps: int) -> None:
        if self.epoch_task is not None:
            self.epochs.remove_task(self.epoch_task)
        self.epoch_task = self.epochs.add_task(
            f"trial {number}: {label}"[:60], total=total_steps, stats=""
        )

    def step(self) -> None:
        if self.live_mode and self.epoch_task is not None:
            self.epochs.advance(self.epoch_task)

    def epoch(self, metrics: EpochMetrics, epochs: int) -> None:
        if self.epoch_task is not None:
            self.epochs.update(
                self.epoch_task,
                stats=f"epoch {metrics.epoch}/{epochs} val {pct(metrics.val_acc, 1)}",
            )

    def trial_done(self, study: optuna.Study, number: int, result: RunResult | None) -> None:
        if self.trial_task is not None:
            self.trials.advance(self.trial_task)
        if result is not None:
            frozen = study.get_trials(deepcopy=False)[number]
            status = result.status + (f" ({result.reason})" if result.status == "diverged" else "")
            line = (
                f"trial {number} {describe_params(frozen.params, result.placement)} "
                f"seed={frozen.user_attrs.get('seed')}: {status}, val {pct(result.final_val_acc)}"
                f" after {len(result.epochs)} epochs, {format_seconds(result.wall_time_s)}"
            )
            if self.live is not None:
                self.live.console.print(line, style="dim", soft_wrap=True)
            else:
                self.console.print(line, soft_wrap=True)
        done = [r for r in records(study) if r.state == "complete" and r.value is not None]
        self.best = best_configs_table(done, self.plan.study.metric)
        if self.live is not None:
            self.live.update(self._group())

    def trial_failed(self, number: int, reason: str) -> None:
        self.console.print(f"trial {number} failed: {reason}", soft_wrap=True)

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
