"""Placements: which normalisation slots get which norm layer, and input standardisation.

A placement is spelled as ``+``-joined parts, for example ``none``, ``input``,
``bn:conv2+fc1``, ``input+bn:conv1`` or ``bn:conv1+gn:fc1``. A part ``KIND:SLOT``
switches kind; a bare ``SLOT`` reuses the last kind; ``KIND`` alone means every slot.
"""

from __future__ import annotations

import re
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ablate.errors import ConfigError

NormKind = Literal["batch", "group", "layer", "instance"]
ALL_SLOTS = "*"

KIND_ALIASES: dict[str, NormKind] = {
    "bn": "batch",
    "batch": "batch",
    "gn": "group",
    "group": "group",
    "ln": "layer",
    "layer": "layer",
    "in": "instance",
    "instance": "instance",
}
SHORT_NAMES: dict[str, str] = {"batch": "bn", "group": "gn", "layer": "ln", "instance": "in"}
_SLOT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


class Placement(BaseModel):
    """Where a model is normalised. ``slots`` maps a slot name (or ``*``) to a norm kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: bool = False
    input_mean: float = 0.5
    input_std: float = Field(0.5, gt=0)
    slots: dict[str, NormKind] = Field(default_factory=dict)

    @field_validator("slots")
    @classmethod
    def _slot_names(cls, value: dict[str, NormKind]) -> dict[str, NormKind]:
        for slot in value:
            if slot != ALL_SLOTS and not _SLOT_NAME.match(slot):
                raise ValueError(f"bad slot name {slot!r}")
        return value

    def resolve(self, model_slots: list[str], model_name: str = "model") -> Placement:
        """Expand ``*`` to the model's slots and reject slots the model lacks."""
        slots: dict[str, NormKind] = {}
        if ALL_SLOTS in self.slots:
            slots = {slot: self.slots[ALL_SLOTS] for slot in model_slots}
        for slot, kind in self.slots.items():
            if slot == ALL_SLOTS:
                continue
            if slot not in model_slots:
                have = ", ".join(model_slots) or "none"
                raise ConfigError(
                    f"placement {self.spelled()!r} names slot {slot!r}, "
                    f"but model {model_name!r} has slots: {have}"
                )
            slots[slot] = kind
        ordered = {slot: slots[slot] for slot in model_slots if slot in slots}
        return self.model_copy(update={"slots": ordered})

    def spelled(self) -> str:
        """The canonical spelling, e.g. ``input+bn:conv2+fc1``."""
        parts: list[str] = ["input"] if self.input else []
        last_kind = None
        for slot, kind in self.slots.items():
            short = SHORT_NAMES[kind]
            if slot == ALL_SLOTS:
                parts.append(short)
                last_kind = None
            elif kind == last_kind:
                parts.append(slot)
            else:
                parts.append(f"{short}:{slot}")
                last_kind = kind
        return "+".join(parts) or "none"


def parse_placement(text: str) -> Placement:
    """Parse the spelled form; raises ``ConfigError`` with the offending part."""
    text = text.strip()
    if not text:
        raise ConfigError("empty placement (try 'none', 'input', 'bn:conv1+fc1')")
    use_input = False
    slots: dict[str, NormKind] = {}
    kind: NormKind | None = None
    for raw in text.split("+"):
        part = raw.strip()
        if part == "none":
            continue
        if part == "input":
            use_input = True
            continue
        if ":" in part:
            kind_name, _, slot = part.partition(":")
            if kind_name not in KIND_ALIASES:
                raise ConfigError(
                    f"unknown norm kind {kind_name!r} in placement {text!r} "
                    f"(known: {', '.join(sorted(KIND_ALIASES))})"
                )
            kind = KIND_ALIASES[kind_name]
        elif part in KIND_ALIASES:
            slots[ALL_SLOTS] = KIND_ALIASES[part]
            kind = None
            continue
        else:
            if kind is None:
                raise ConfigError(
                    f"placement {text!r}: slot {part!r} needs a norm kind first, e.g. 'bn:{part}'"
                )
            slot = part
        if not _SLOT_NAME.match(slot):
            raise ConfigError(f"placement {text!r}: bad slot name {slot!r}")
        slots[slot] = kind
    return Placement(input=use_input, slots=slots)


class BatchNorm(_BatchNorm):
    """BatchNorm that takes ``(N, C)`` and ``(N, C, ...)`` alike, so models need not care."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")


def _groups_for(num_features: int) -> int:
    """The largest divisor of ``num_features`` up to 32 that leaves 2+ channels per group."""
    best = 1
    for groups in range(1, min(32, num_features // 2) + 1):
        if num_features % groups == 0:
            best = groups
    return best


def make_norm(kind: NormKind, num_features: int) -> nn.Module:
    """The layer for one slot; every kind accepts any input rank of 2 or more."""
    if kind == "batch":
        return BatchNorm(num_features)
    if kind == "group":
        return nn.GroupNorm(_groups_for(num_features), num_features)
    if kind == "layer":
        return nn.GroupNorm(1, num_features)
    if kind == "instance":
        return nn.GroupNorm(num_features, num_features)
    raise ConfigError(f"unknown norm kind {kind!r}")
