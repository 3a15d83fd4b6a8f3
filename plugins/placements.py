"""Built-in placements; any other combination can be spelled, e.g. ``input+bn:conv1``."""

from __future__ import annotations

from ablate import hookimpl
from ablate.placement import Placement


@hookimpl
def register_placements(register) -> None:
    register("none", Placement(), "no normalisation at all")
    register("input", Placement(input=True), "standardise the input ((x - 0.5) / 0.5)")
    register("bn", Placement(slots={"*": "batch"}), "BatchNorm at every slot")
    register(
        "both",
        Placement(input=True, slots={"*": "batch"}),
        "input standardisation plus BatchNorm at every slot",
    )
    register(
        "seed",
        Placement(
            input=True, input_mean=0.5, input_std=0.5, slots={"conv2": "batch", "fc1": "batch"}
        ),
        "the lecture's model: input (0.5, 0.5), BatchNorm after conv2 and fc1",
    )
