"""Which groups of configs can train as one fused model, and why not when they cannot."""

from __future__ import annotations

from collections.abc import Sequence

from ablate.config import RunConfig
from ablate.errors import AblateError
from ablate.fused.optim import read_optimizer
from ablate.fused.plan import Unfusable, layer_plan
from ablate.fused.schedule import dummy_optimizer
from ablate.models import discover_slots, resolve_placement
from ablate.placement import SHORT_NAMES

# Every trial of a group sees the same data in the same batches (only the order differs).
SHARED_FIELDS = (
    "model",
    "dataset",
    "data_dir",
    "image_size",
    "train_size",
    "test_size",
    "batch_size",
    "eval_batch_size",
    "device",
)


def _check(configs: Sequence[RunConfig]) -> str:
    """The names of the optimizers the group uses; raises Unfusable with the first problem."""
    from ablate.engine import check_components  # the engine may one day import this module

    if not configs:
        raise Unfusable("no configs to fuse")
    first = configs[0]
    for field in SHARED_FIELDS:
        values = {str(getattr(c, field)) for c in configs}
        if len(values) > 1:
            raise Unfusable(f"configs differ in {field} ({', '.join(sorted(values))})")
    for config in configs:
        check_components(config)
    layer_plan(first.model, image_size=first.image_size)
    slots = [s.name for s in discover_slots(first.model, image_size=first.image_size)]
    optimizers: set[str] = set()
    for config in configs:
        placement = resolve_placement(config.placement).resolve(slots, first.model)
        other = {slot: kind for slot, kind in placement.slots.items() if kind != "batch"}
        if other:
            slot, kind = next(iter(other.items()))
            raise Unfusable(
                f"placement {placement.spelled()!r} puts {kind} norm ({SHORT_NAMES[kind]}) at "
                f"{slot}; only BatchNorm placements fuse, so it trains with the plain trainer"
            )
        read_optimizer(dummy_optimizer(config))
        optimizers.add(config.optimizer)
    return ", ".join(sorted(optimizers))


def supports_fusion(configs: Sequence[RunConfig]) -> tuple[bool, str]:
    """Whether ``configs`` can train as one fused group; the string says why (not)."""
    try:
        optimizers = _check(configs)
    except (Unfusable, AblateError) as exc:
        return False, str(exc)
    first = configs[0]
    return True, (
        f"{len(configs)} configs of {first.model} on {first.dataset} fuse "
        f"(batch {first.batch_size}; optimizers: {optimizers})"
    )
