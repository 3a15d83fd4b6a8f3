"""Linear warm-up, then cosine decay to zero: a per-step schedule for ``LambdaLR``."""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler


@dataclass
class WarmupCosine:
    """The lr factor at each optimizer step.

    A callable object rather than a closure, so ``LambdaLR.state_dict()`` saves its
    settings along with the step count.
    """

    warmup_steps: int
    total_steps: int

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        decay = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / decay)
        return 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_cosine(
    optimizer: Optimizer, *, epochs: int, steps_per_epoch: int, warmup_epochs: float = 1
) -> LRScheduler:
    """Warm up linearly for ``warmup_epochs`` epochs, then anneal to 0 by the run's end.

    The warm-up is capped at the whole run, so a one-epoch run is all warm-up.
    """
    if warmup_epochs < 0:
        raise ValueError(f"warmup_epochs must be >= 0, got {warmup_epochs}")
    total = max(1, epochs * steps_per_epoch)
    warm = min(total, round(warmup_epochs * steps_per_epoch))
    return LambdaLR(optimizer, WarmupCosine(warm, total))
