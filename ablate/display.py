"""Rich terminal output: live progress for runs and the tables that end them.

Renderers return rich objects and the caller prints them. Progress goes to stderr, so
stdout carries only results (``--json`` output stays clean). When stderr is not a
terminal, progress becomes one plain line per epoch.
"""

from __future__ import annotations

import time

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ablate.result import EpochMetrics, RunResult
from ablate.trainer import Observer


def make_console(*, stderr: bool = False) -> Console:
    """A console that drops colour and live updates when not writing to a terminal."""
    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def format_seconds(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def epoch_line(result: RunResult, m: EpochMetrics) -> str:
    return (
        f"epoch {m.epoch}/{result.config.epochs} loss {m.train_loss:.4f} "
        f"train {pct(m.train_acc, 1)} val {pct(m.val_acc, 1)} lr {m.lr:.2g} "
        f"{m.images_per_s:,.0f} img/s"
    )


class RunProgress(Observer):
    """Epoch and step progress with loss, accuracies, lr, images/s and ETA."""

    def __init__(self, console: Console, label: str = "") -> None:
        self.console = console
        self.label = label
        self.live = console.is_terminal
        self.progress: Progress | None = None
        self.task = None
        self.total_steps = 0
        self.started = 0.0

    def on_start(self, result: RunResult, *, steps_per_epoch: int, train_images: int) -> None:
        self.total_steps = steps_per_epoch * result.config.epochs
        self.started = time.perf_counter()
        if not self.live:
            return
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=24),
            TaskProgressColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[stats]}"),
            console=self.console,
            transient=True,
        )
        self.progress.start()
        self.task = self.progress.add_task(
            self._description(1, result), total=self.total_steps, stats=""
        )

    def _description(self, epoch: int, result: RunResult) -> str:
        prefix = f"{self.label} " if self.label else ""
        return f"{prefix}epoch {epoch}/{result.config.epochs}"

    def on_step(self, epoch: int, step: int, steps: int) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task)

    def on_epoch(self, result: RunResult, metrics: EpochMetrics) -> None:
        if self.progress is not None and self.task is not None:
            stats = (
                f"loss {metrics.train_loss:.3f} train {pct(metrics.train_acc, 1)} "
                f"val {pct(metrics.val_acc, 1)} lr {metrics.lr:.2g} "
                f"{metrics.images_per_s:,.0f} img/s"
            )
            self.progress.update(
                self.task,
                stats=stats,
                description=self._description(metrics.epoch + 1, result)
                if metrics.epoch < result.config.epochs
                else self._description(metrics.epoch, result),
            )
            self.progress.console.print(epoch_line(result, metrics), style="dim")
        else:
            done = metrics.epoch / result.config.epochs
            elapsed = time.perf_counter() - self.started
            eta = elapsed / done - elapsed if done else 0.0
            prefix = f"{self.label} " if self.label else ""
            self.console.print(
                f"{prefix}{epoch_line(result, metrics)} ETA {format_seconds(eta)}", soft_wrap=True
            )

    def on_end(self, result: RunResult) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def run_table(result: RunResult) -> Table:
    """The summary that ends ``ablate run``."""
    cfg = result.config
    table = Table(title=f"{cfg.model} · {result.placement} · {cfg.dataset}", box=box.SIMPLE_HEAD)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("status", result.status + (f" ({result.reason})" if result.reason else ""))
    table.add_row("final val acc", pct(result.final_val_acc))
    table.add_row("best val acc", pct(result.best_val_acc))
    table.add_row("best epoch", str(result.best_epoch or "-"))
    table.add_row("epochs run", f"{len(result.epochs)}/{cfg.epochs}")
    table.add_row("wall time", format_seconds(result.wall_time_s))
    table.add_row("optimizer", f"{cfg.optimizer} lr={cfg.lr:g}, scheduler {cfg.scheduler}")
    table.add_row("batch / seed", f"{cfg.batch_size} / {cfg.seed}")
    table.add_row("device", str(result.environment.get("device_name", "")))
    return table
