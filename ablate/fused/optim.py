"""Adam, AdamW and SGD for K trials at once, with per-trial hyperparameters.

The update follows ``torch.optim``'s single-tensor implementations operation by operation,
with each scalar (lr, betas, weight decay, ...) replaced by a per-trial column, so a trial
trained fused takes the steps it would take alone. The learning rate and beta1 (Adam) or
momentum (SGD) arrive per step from the schedule tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from ablate.fused.net import FusedNet
from ablate.fused.plan import Unfusable


@dataclass(frozen=True)
class OptimSpec:
    """One trial's static optimizer settings, read off the torch optimizer it would use."""

    kind: Literal["adam", "sgd"]
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    decoupled: bool = False  # AdamW
    dampening: float = 0.0
    nesterov: bool = False


def read_optimizer(optimizer: torch.optim.Optimizer) -> OptimSpec:
    """The fused equivalent of ``optimizer``; raises :class:`Unfusable` if there is none."""
    kind = type(optimizer)
    name = kind.__name__
    if kind not in (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD):
        raise Unfusable(f"optimizer {name} has no fused form (Adam, AdamW and SGD have)")
    if len(optimizer.param_groups) != 1:
        raise Unfusable(f"optimizer {name} uses {len(optimizer.param_groups)} param groups")
    group = optimizer.param_groups[0]
    if group.get("maximize") or group.get("amsgrad") or group.get("differentiable"):
        raise Unfusable(f"optimizer {name}: maximize, amsgrad and differentiable do not fuse")
    if any(isinstance(v, torch.Tensor) for v in group.values() if v is not group["params"]):
        raise Unfusable(f"optimizer {name} has tensor-valued hyperparameters")
    if kind is torch.optim.SGD:
        return OptimSpec(
            "sgd",
            weight_decay=float(group["weight_decay"]),
            dampening=float(group["dampening"]),
            nesterov=bool(group["nesterov"]),
        )
    return OptimSpec(
        "adam",
        beta2=float(group["betas"][1]),
        eps=float(group["eps"]),
        weight_decay=float(group["weight_decay"]),
        decoupled=bool(group.get("decoupled_weight_decay", kind is torch.optim.AdamW)),
    )


class FusedOptimizer:
    """Steps every trial of a :class:`FusedNet`; frozen (dead) trials are zeroed, not updated."""

    def __init__(
        self, net: FusedNet, specs: Sequence[OptimSpec], *, momentum_never_zero: bool = True
    ) -> None:
        self.net = net
        self.specs = list(specs)
        self.kinds = {s.kind for s in self.specs}
        # SGD skips its momentum buffer while momentum is 0; only then is the masked path needed
        self.momentum_never_zero = momentum_never_zero
        self.steps = 0
        flat = net.flat
        self.exp_avg = torch.zeros_like(flat) if "adam" in self.kinds else None
        self.exp_avg_sq = torch.zeros_like(flat) if "adam" in self.kinds else None
        self.buf = torch.zeros_like(flat) if "sgd" in self.kinds else None
        self.buf_started = torch.zeros(net.k, dtype=torch.bool, device=flat.device)
        self._columns()

    def _columns(self) -> None:
        device = self.net.flat.device

        def column(values: list[float]) -> torch.Tensor:
            return torch.tensor(values, dtype=torch.float64, device=device)

        specs = self.specs
        adam = [s.kind == "adam" for s in specs]
        self.is_adam = torch.tensor(adam, device=device)
        self.beta2 = column([s.beta2 for s in specs])
        self.eps = column([s.eps for s in specs])
        # Adam adds weight decay to the gradient, AdamW shrinks the weights, SGD as Adam
        coupled = [s.weight_decay if s.kind == "adam" and not s.decoupled else 0.0 for s in specs]
        decoupled = [s.weight_decay if s.kind == "adam" and s.decoupled else 0.0 for s in specs]
        sgd_decay = [s.weight_decay if s.kind == "sgd" else 0.0 for s in specs]
        self.coupled_wd, self.decoupled_wd = column(coupled), column(decoupled)
        self.sgd_wd = column(sgd_decay)
        self.dampening = column([s.dampening for s in specs])
        self.nesterov = torch.tensor([s.nesterov for s in specs], device=device)
        self.flags = {
            "coupled": any(coupled),
            "decoupled": any(decoupled),
            "sgd_wd": any(sgd_decay),
            "nesterov": any(s.nesterov for s in specs),
        }

    def zero_grad(self) -> None:
        self.net.grad.zero_()

    @torch.no_grad()
    def step(self, lr: torch.Tensor, momentum: torch.Tensor, alive: torch.Tensor) -> None:
        """One update with per-trial ``lr`` and beta1/momentum ``(K,)``; ``alive`` masks trials."""
        p, g = self.net.flat, self.net.grad
        dtype = p.dtype

        def col(values: torch.Tensor) -> torch.Tensor:
            return values.to(dtype).view(1, -1)

        self.steps += 1
        new = None
        if "adam" in self.kinds:
            new = self._adam(p, g, lr, momentum, col)
        if "sgd" in self.kinds:
            stepped = self._sgd(p, g, lr, momentum, col)
            new = stepped if new is None else torch.where(self.is_adam.view(1, -1), new, stepped)
        assert new is not None
        p.copy_(torch.where(alive.view(1, -1), new, 0))

    def _adam(self, p, g, lr, beta1, col) -> torch.Tensor:
        step = self.steps
        if self.flags["coupled"]:
            g = g + col(self.coupled_wd) * p
        if self.flags["decoupled"]:
            p = p * col(1 - lr * self.decoupled_wd)
        assert self.exp_avg is not None and self.exp_avg_sq is not None
        self.exp_avg.lerp_(g, col(1 - beta1))
        self.exp_avg_sq.mul_(col(self.beta2)).addcmul_(g, g * col(1 - self.beta2))
        step_size = lr / (1 - beta1**step)
        bias_correction2_sqrt = (1 - self.beta2**step).sqrt()
        denom = (self.exp_avg_sq.sqrt() / col(bias_correction2_sqrt)).add_(col(self.eps))
        return p + self.exp_avg / denom * col(-step_size)

    def _sgd(self, p, g, lr, momentum, col) -> torch.Tensor:
        assert self.buf is not None
        if self.flags["sgd_wd"]:
            g = g + col(self.sgd_wd) * p
        if self.momentum_never_zero:
            if self.steps == 1:
                self.buf.copy_(g)
            else:
                self.buf.mul_(col(momentum)).add_(g * col(1 - self.dampening))
        else:  # the buffer starts at a trial's first step with momentum, as in torch
            update = self.buf * col(momentum) + g * col(1 - self.dampening)
            use = momentum != 0
            fresh = use & ~self.buf_started
            started = torch.where(fresh.view(1, -1), g, update)
            self.buf.copy_(torch.where(use.view(1, -1), started, self.buf))
            self.buf_started |= use
        direction = self.buf
        if self.flags["nesterov"]:
            direction = torch.where(
                self.nesterov.view(1, -1), g + col(momentum) * self.buf, self.buf
            )
        if not self.momentum_never_zero:
            direction = torch.where((momentum != 0).view(1, -1), direction, g)
        return p + direction * col(-lr)

    def select(self, keep: torch.Tensor) -> None:
        """Keep only trials ``keep``; call after :meth:`FusedNet.select`."""
        for name in ("exp_avg", "exp_avg_sq", "buf"):
            state = getattr(self, name)
            if state is not None:
                setattr(self, name, state[:, keep].contiguous())
        self.buf_started = self.buf_started[keep]
        self.specs = [self.specs[i] for i in keep.tolist()]
        self._columns()
