"""Built-in optimizers."""

from __future__ import annotations

import torch

from ablate import hookimpl


def adam(params, *, lr: float, **kwargs) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, **kwargs)


def adamw(params, *, lr: float, **kwargs) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, **kwargs)


def sgd(params, *, lr: float, momentum: float = 0.9, **kwargs) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=momentum, **kwargs)


@hookimpl
def register_optimizers(register) -> None:
    register("adam", adam, "Adam (the seed's optimizer)")
    register("adamw", adamw, "AdamW, decoupled weight decay")
    register("sgd", sgd, "SGD with momentum 0.9")
