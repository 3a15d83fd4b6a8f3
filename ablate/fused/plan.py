"""The layer plan of a fusable model: a flat ``nn.Sequential`` read once on the meta device.

A model fuses when every layer has a stacked form: ``Conv2d`` becomes one grouped
convolution, ``Linear`` one batched matmul, a normalisation slot one BatchNorm over all
trials' channels, and stateless activations and pools run on the stacked tensor as is.
LeNet-5 is such a model; anything else is refused with the layer that stops it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import torch
from torch import nn

from ablate import registry

OpKind = Literal["conv", "linear", "slot", "spatial", "pointwise", "flatten"]

# Stateless and per-element: identical on one trial's tensor or on K trials side by side.
POINTWISE = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.Hardswish,
    nn.Mish,
    nn.Identity,
)
# Per-channel over (H, W): identical on grouped (N, K*C, H, W) activations.
SPATIAL = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


class Unfusable(Exception):
    """Why a model (or a group of configs) has no fused path."""


@dataclass(frozen=True)
class Op:
    """One layer of the plan, at ``index`` in the model's ``nn.Sequential``."""

    kind: OpKind
    index: int
    slot: str = ""
    width: int = 0


class _SlotMarker(nn.Identity):
    def __init__(self, slot: str, width: int) -> None:
        super().__init__()
        self.slot, self.width = slot, width


def _classify(model: nn.Module, name: str) -> tuple[Op, ...]:
    if type(model) is not nn.Sequential:
        raise Unfusable(f"model {name!r} is a {type(model).__name__}, not a flat nn.Sequential")
    ops: list[Op] = []
    flat = False  # after Flatten, activations are (N, K, F) and only Linear/pointwise apply
    for index, layer in enumerate(model):
        where = f"layer {index} ({type(layer).__name__}) of model {name!r}"
        if isinstance(layer, _SlotMarker):
            ops.append(Op("slot", index, layer.slot, layer.width))
        elif type(layer) is nn.Conv2d:
            if flat or layer.groups != 1 or layer.padding_mode != "zeros":
                raise Unfusable(f"{where} has no grouped form (groups, padding mode or position)")
            ops.append(Op("conv", index))
        elif type(layer) is nn.Linear:
            if not flat:
                raise Unfusable(f"{where} comes before any Flatten")
            ops.append(Op("linear", index))
        elif type(layer) is nn.Flatten:
            if flat or layer.start_dim != 1 or layer.end_dim != -1:
                raise Unfusable(f"{where} is not a single Flatten(1, -1)")
            flat = True
            ops.append(Op("flatten", index))
        elif isinstance(layer, SPATIAL) and not flat:
            if getattr(layer, "return_indices", False):
                raise Unfusable(f"{where} returns indices")
            ops.append(Op("spatial", index))
        elif isinstance(layer, POINTWISE):
            ops.append(Op("pointwise", index))
        else:
            raise Unfusable(f"{where} has no fused form")
    if not flat:
        raise Unfusable(f"model {name!r} never flattens to (N, features)")
    return tuple(ops)


@lru_cache(maxsize=16)
def _plan(name: str, generation: int, in_channels: int, num_classes: int, image_size: int):
    factory = registry.models.get(name).factory

    def norm(slot: str, num_features: int) -> nn.Module:
        return _SlotMarker(slot, int(num_features))

    try:
        with torch.device("meta"):
            model = factory(
                norm, in_channels=in_channels, num_classes=num_classes, image_size=image_size
            )
    except Exception as exc:
        raise Unfusable(f"model {name!r} could not be built: {exc}") from None
    return _classify(model, name)


def layer_plan(
    name: str, *, in_channels: int = 1, num_classes: int = 10, image_size: int = 32
) -> tuple[Op, ...]:
    """The fused plan of registered model ``name``; raises :class:`Unfusable` with why not."""
    from ablate import plugins

    return _plan(name, plugins.generation(), in_channels, num_classes, image_size)
