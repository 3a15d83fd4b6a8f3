"""One fused training step for K trials: stacked model, optimizer, schedules, inputs.

``FusedGroup.train_step`` is everything a trial's step is in the plain trainer (input
standardisation, forward, cross-entropy, backward, optimizer and scheduler step), done
for every trial at once, with no host synchronisation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ablate.fused.net import FusedNet
from ablate.fused.optim import FusedOptimizer, OptimSpec
from ablate.fused.plan import Op
from ablate.fused.schedule import Schedule
from ablate.placement import Placement

Standardise = tuple[bool, float, float]  # (on, mean, std) of a trial's input


class _Inputs:
    """Per-trial input standardisation, applied per batch exactly as ``standardised`` does."""

    def __init__(self, keys: Sequence[Standardise], device: torch.device, dtype) -> None:
        self.keys = list(keys)
        self.uniform = self.keys[0] if len(set(self.keys)) == 1 else None

        def column(i: int, kind: torch.dtype) -> torch.Tensor:
            values = [key[i] for key in self.keys]
            return torch.tensor(values, device=device, dtype=kind).view(1, -1, 1, 1, 1)

        self.use, self.mean, self.std = column(0, torch.bool), column(1, dtype), column(2, dtype)

    @staticmethod
    def key(placement: Placement) -> Standardise:
        if not placement.input:
            return (False, 0.0, 1.0)
        return (True, placement.input_mean, placement.input_std)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` shared or ``(N, K, C, H, W)`` per trial; the same layout back,
        except that a shared input only some trials standardise becomes per trial."""
        if self.uniform is not None:
            use, mean, std = self.uniform
            return (x - mean) / std if use else x
        if x.dim() == 4:
            x = x.unsqueeze(1).expand(x.shape[0], len(self.keys), *x.shape[1:])
        return torch.where(self.use, (x - self.mean) / self.std, x)

    def select(self, keep: list[int]) -> _Inputs:
        return _Inputs([self.keys[i] for i in keep], self.mean.device, self.mean.dtype)


def _table(values: Sequence[list[float]], device: torch.device) -> torch.Tensor:
    """``(steps, K)``: each trial's column, its last value repeated past its own end."""
    length = max(len(v) for v in values)
    padded = [v + [v[-1]] * (length - len(v)) for v in values]
    return torch.tensor(padded, dtype=torch.float64, device=device).t().contiguous()


class FusedGroup:
    """The stacked model, optimizer and schedules of some trials; one ``train_step`` for all."""

    def __init__(
        self,
        plan: Sequence[Op],
        models: Sequence[torch.nn.Sequential],
        placements: Sequence[Placement],
        specs: Sequence[OptimSpec],
        schedules: Sequence[Schedule],
        *,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        self.net = FusedNet(plan, models, device=device, dtype=dtype)
        sgd_momenta = [
            m
            for spec, s in zip(specs, schedules, strict=True)
            if spec.kind == "sgd"
            for m in s.momentum
        ]
        self.opt = FusedOptimizer(self.net, specs, momentum_never_zero=all(sgd_momenta))
        self.lr = _table([s.lr for s in schedules], device)
        self.momentum = _table([s.momentum for s in schedules], device)
        self.inputs = _Inputs([_Inputs.key(p) for p in placements], device, dtype)

    @property
    def k(self) -> int:
        return self.net.k

    def train_step(
        self, x: torch.Tensor, y: torch.Tensor, alive: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step for every trial: per-trial mean losses and correct counts, ``(K,)``.

        ``x`` is ``(N, C, H, W)`` (one batch for all) or ``(N, K, C, H, W)``; ``y`` is
        ``(N,)`` or ``(N, K)``. Trials whose loss is not finite are cleared from ``alive``.
        """
        out = self.net.forward(self.inputs(x), training=True)
        n, k = out.shape[0], out.shape[1]
        target = y.unsqueeze(1).expand(n, k) if y.dim() == 1 else y
        losses = (
            F.cross_entropy(out.reshape(n * k, -1), target.reshape(-1), reduction="none")
            .view(n, k)
            .mean(0)
        )
        self.opt.zero_grad()
        losses.sum().backward()  # trials share no parameters: each gets its own gradient
        losses = losses.detach()
        alive &= torch.isfinite(losses)
        row = min(self.opt.steps, self.lr.shape[0] - 1)
        self.opt.step(self.lr[row], self.momentum[row], alive)
        return losses, (out.detach().argmax(2) == target).sum(0)

    @torch.no_grad()
    def evaluate(
        self, x: torch.Tensor, y: torch.Tensor, batch_size: int
    ) -> tuple[list[float], list[float]]:
        """Per-trial mean loss and accuracy in eval mode (running statistics)."""
        loss = torch.zeros(self.k, device=x.device, dtype=torch.float64)
        correct = torch.zeros(self.k, device=x.device, dtype=torch.long)
        for start in range(0, len(y), batch_size):
            out = self.net.forward(self.inputs(x[start : start + batch_size]), training=False)
            n = out.shape[0]
            target = y[start : start + batch_size].unsqueeze(1).expand(n, self.k)
            flat = F.cross_entropy(
                out.reshape(n * self.k, -1), target.reshape(-1), reduction="none"
            )
            loss += flat.view(n, self.k).sum(0).double()
            correct += (out.argmax(2) == target).sum(0)
        total = max(1, len(y))
        return [v / total for v in loss.tolist()], [c / total for c in correct.tolist()]

    def select(self, keep: list[int]) -> None:
        index = torch.tensor(keep, device=self.net.flat.device)
        self.net.select(index)
        self.opt.select(index)
        self.lr, self.momentum = self.lr[:, index], self.momentum[:, index]
        self.inputs = self.inputs.select(keep)
