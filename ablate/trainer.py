"""The plain trainer: one model, whole dataset as device tensors, batches by index.

No DataLoader and no per-sample work: each epoch draws a seeded ``torch.randperm`` and
slices it into batches. Losses and accuracies accumulate on the device, so a GPU is
synchronised once per epoch, not once per step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from ablate.data import PreparedData
from ablate.result import EpochMetrics, RunResult, Status


class StopRun(Exception):
    """Raised by an observer to end a run early with a status (pruned, stopped)."""

    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class Checkpoint(Protocol):
    """Where a run saves its state after each epoch, and resumes from."""

    def load(self) -> dict[str, Any] | None: ...

    def save(self, state: dict[str, Any]) -> None: ...


class Observer:
    """Watches a run. Every method is optional; ``on_epoch`` may raise ``StopRun``."""

    def on_start(self, result: RunResult, *, steps_per_epoch: int, train_images: int) -> None:
        """Called before the first epoch."""

    def on_step(self, epoch: int, step: int, steps: int) -> None:
        """Called after each optimizer step."""

    def on_epoch(self, result: RunResult, metrics: EpochMetrics) -> None:
        """Called after each epoch's evaluation."""

    def on_end(self, result: RunResult) -> None:
        """Called once at the end, whatever the status."""


def batches(perm: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Index slices of ``perm``; a final batch of one is dropped (BatchNorm needs two)."""
    chunks = list(perm.split(batch_size))
    if len(chunks) > 1 and len(chunks[-1]) < 2:
        chunks.pop()
    return chunks


@torch.no_grad()
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int
) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` in eval mode."""
    model.eval()
    loss = torch.zeros((), device=x.device, dtype=torch.float64)
    correct = torch.zeros((), device=x.device, dtype=torch.long)
    for start in range(0, len(y), batch_size):
        out = model(x[start : start + batch_size])
        target = y[start : start + batch_size]
        loss += F.cross_entropy(out, target, reduction="sum").double()
        correct += (out.argmax(1) == target).sum()
    n = max(1, len(y))
    return loss.item() / n, correct.item() / n


def snapshot(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    shuffle: torch.Generator,
    result: RunResult,
) -> dict[str, Any]:
    """Everything needed to resume after the last finished epoch (tensors and plain data,
    so it loads with ``torch.load(weights_only=True)``)."""
    return {
        "epoch": result.epochs[-1].epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "shuffle_rng": shuffle.get_state(),
        "torch_rng": torch.get_rng_state(),
        "epochs": [m.model_dump() for m in result.epochs],
    }


def train(
    model: nn.Module,
    data: PreparedData,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    result: RunResult,
    *,
    epochs: int,
    batch_size: int,
    eval_batch_size: int,
    seed: int,
    observers: Sequence[Observer] = (),
    checkpoint: Checkpoint | None = None,
) -> RunResult:
    """Train ``model`` for ``epochs``, filling ``result``; never raises for divergence."""
    shuffle = torch.Generator().manual_seed(seed)
    n = len(data.train_y)
    steps_per_epoch = len(batches(torch.arange(n), batch_size))
    first_epoch = 1
    state = checkpoint.load() if checkpoint is not None else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        shuffle.set_state(state["shuffle_rng"])
        torch.set_rng_state(state["torch_rng"])
        result.epochs = [EpochMetrics(**m) for m in state["epochs"]]
        first_epoch = int(state["epoch"]) + 1
        result.resumed_from_epoch = int(state["epoch"])
    for obs in observers:
        obs.on_start(result, steps_per_epoch=steps_per_epoch, train_images=n)
    started = time.perf_counter()
    try:
        for epoch in range(first_epoch, epochs + 1):
            tick = time.perf_counter()
            model.train()
            epoch_lr = optimizer.param_groups[0]["lr"]  # the lr this epoch starts with
            perm = torch.randperm(n, generator=shuffle).to(data.train_x.device)
            loss_sum = torch.zeros((), device=data.train_x.device, dtype=torch.float64)
            correct = torch.zeros((), device=data.train_x.device, dtype=torch.long)
            seen = 0
            for step, idx in enumerate(batches(perm, batch_size), 1):
                xb, yb = data.train_x[idx], data.train_y[idx]
                out = model(xb)
                loss = F.cross_entropy(out, yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                loss_sum += loss.detach().double() * len(idx)
                correct += (out.detach().argmax(1) == yb).sum()
                seen += len(idx)
                for obs in observers:
                    obs.on_step(epoch, step, steps_per_epoch)
            train_loss = loss_sum.item() / max(1, seen)
            train_seconds = time.perf_counter() - tick
            if not math.isfinite(train_loss):
                result.status = "diverged"
                result.reason = f"training loss became {train_loss} in epoch {epoch}"
                break
            val_loss, val_acc = evaluate(model, data.test_x, data.test_y, eval_batch_size)
            metrics = EpochMetrics(
                epoch=epoch,
                train_loss=train_loss,
                train_acc=correct.item() / max(1, seen),
                val_loss=val_loss,
                val_acc=val_acc,
                lr=epoch_lr,
                seconds=time.perf_counter() - tick,
                images_per_s=seen / train_seconds if train_seconds > 0 else 0.0,
            )
            result.epochs.append(metrics)
            if checkpoint is not None:
                checkpoint.save(snapshot(model, optimizer, scheduler, shuffle, result))
            if not math.isfinite(val_loss):
                result.status = "diverged"
                result.reason = f"validation loss became {val_loss} in epoch {epoch}"
                break
            for obs in observers:
                obs.on_epoch(result, metrics)
    except StopRun as stop:
        result.status, result.reason = stop.status, stop.reason
    result.wall_time_s = time.perf_counter() - started
    result.finish()
    for obs in observers:
        obs.on_end(result)
    return result
