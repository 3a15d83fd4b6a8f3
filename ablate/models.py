"""Building registered models under a placement, and discovering their slots.

A model declares its normalisation slots simply by calling ``norm(slot, num_features)``
while it is built. The engine builds each model once on the meta device (no memory, no
compute) with a recording ``norm`` to learn the slots, their widths and input ranks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import nn

from ablate import registry
from ablate.errors import AblateError, ConfigError
from ablate.placement import Placement, make_norm


@dataclass(frozen=True)
class Slot:
    """One normalisation slot: its name, width, and the rank of what flows through it."""

    name: str
    num_features: int
    rank: int | None  # 2 for (N, C), 4 for (N, C, H, W); None if the probe could not tell


class _Probe(nn.Identity):
    def __init__(self, record: dict[str, int]) -> None:
        super().__init__()
        self._record = record
        self.slot = ""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._record[self.slot] = x.dim()
        return x


@lru_cache(maxsize=64)
def _discover(
    name: str, generation: int, in_channels: int, num_classes: int, image_size: int
) -> tuple[Slot, ...]:
    factory = registry.models.get(name).factory
    widths: dict[str, int] = {}
    ranks: dict[str, int] = {}

    def norm(slot: str, num_features: int) -> nn.Module:
        if slot in widths:
            raise AblateError(f"model {name!r} declares slot {slot!r} twice")
        widths[slot] = int(num_features)
        probe = _Probe(ranks)
        probe.slot = slot
        return probe

    with torch.device("meta"):
        model = factory(
            norm, in_channels=in_channels, num_classes=num_classes, image_size=image_size
        )
        try:
            model(torch.zeros(2, in_channels, image_size, image_size))
        except Exception:  # a model the meta device cannot run still has its slots
            ranks.clear()
    return tuple(Slot(s, w, ranks.get(s)) for s, w in widths.items())


def discover_slots(
    name: str, *, in_channels: int = 1, num_classes: int = 10, image_size: int = 32
) -> list[Slot]:
    """The slots of a registered model, in the order the model declares them."""
    from ablate import plugins

    return list(_discover(name, plugins.generation(), in_channels, num_classes, image_size))


def build_model(
    name: str, placement: Placement, *, in_channels: int, num_classes: int, image_size: int
) -> tuple[nn.Module, Placement]:
    """Build model ``name`` with the norm layers ``placement`` puts at its slots.

    Returns the model and the placement resolved against the model's slots.
    """
    slots = discover_slots(
        name, in_channels=in_channels, num_classes=num_classes, image_size=image_size
    )
    resolved = placement.resolve([s.name for s in slots], name)
    for slot in slots:
        kind = resolved.slots.get(slot.name)
        if kind == "instance" and slot.rank == 2:
            raise ConfigError(
                f"instance norm needs spatial inputs, but slot {slot.name!r} of model "
                f"{name!r} sees (N, C) activations; use bn, gn or ln there"
            )

    def norm(slot: str, num_features: int) -> nn.Module:
        kind = resolved.slots.get(slot)
        return nn.Identity() if kind is None else make_norm(kind, num_features)

    factory = registry.models.get(name).factory
    model = factory(norm, in_channels=in_channels, num_classes=num_classes, image_size=image_size)
    if not isinstance(model, nn.Module):
        raise AblateError(f"model {name!r} factory returned {type(model).__name__}, not nn.Module")
    return model, resolved


def resolve_placement(spec: str | Placement) -> Placement:
    """A registered placement name, or the spelled form."""
    from ablate.placement import parse_placement

    if isinstance(spec, Placement):
        return spec
    if spec in registry.placements:
        value = registry.placements.get(spec).factory
        value = value() if callable(value) else value
        return value if isinstance(value, Placement) else parse_placement(str(value))
    from ablate.errors import UnknownComponentError
    from ablate.placement import KIND_ALIASES

    bare = ":" not in spec and "+" not in spec
    if bare and spec not in KIND_ALIASES and spec not in ("none", "input"):
        error = UnknownComponentError("placement", spec, registry.placements.names())
        raise ConfigError(f"{error}; or spell one, e.g. 'input+bn:conv2+fc1'") from None
    try:
        return parse_placement(spec)
    except ConfigError as exc:
        known = ", ".join(registry.placements.names())
        raise ConfigError(f"{exc}; registered placements: {known}") from None
