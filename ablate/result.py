"""What a run produces: per-epoch metrics, its status, and where it ran."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ablate.config import RunConfig

Status = Literal["completed", "diverged", "pruned", "stopped"]


class EpochMetrics(BaseModel):
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    seconds: float
    images_per_s: float


class RunResult(BaseModel):
    """The full record of one run; ``--json`` prints exactly this."""

    config: RunConfig
    placement: str
    slots: dict[str, str] = Field(default_factory=dict)
    status: Status = "completed"
    reason: str = ""
    epochs: list[EpochMetrics] = Field(default_factory=list)
    final_val_acc: float | None = None
    best_val_acc: float | None = None
    best_epoch: int | None = None
    wall_time_s: float = 0.0
    resumed_from_epoch: int | None = None
    num_params: int = 0
    environment: dict[str, Any] = Field(default_factory=dict)

    def finish(self) -> RunResult:
        """Fill the summary fields from the per-epoch metrics."""
        if self.epochs:
            self.final_val_acc = self.epochs[-1].val_acc
            best = max(self.epochs, key=lambda m: m.val_acc)
            self.best_val_acc, self.best_epoch = best.val_acc, best.epoch
        return self
