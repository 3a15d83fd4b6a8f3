"""The seed's LeNet-5, with a normalisation slot between each layer and its activation."""

from __future__ import annotations

from torch import nn

from ablate import hookimpl


def lenet5(
    norm, *, in_channels: int = 1, num_classes: int = 10, image_size: int = 32
) -> nn.Sequential:
    """conv(6,5) → pool → conv(16,5) → pool → fc 120 → fc 84 → fc classes.

    Slots: ``conv1``, ``conv2``, ``fc1``, ``fc2``. Layers are created in the seed's
    order, so the same seed gives the same initial weights.
    """
    side = ((image_size - 4) // 2 - 4) // 2
    if side < 1:
        raise ValueError(f"lenet5 needs images of at least 16x16, got {image_size}")
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, kernel_size=5),
        norm("conv1", 6),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, kernel_size=5),
        norm("conv2", 16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * side * side, 120),
        norm("fc1", 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        norm("fc2", 84),
        nn.ReLU(),
        nn.Linear(84, num_classes),
    )


@hookimpl
def register_models(register) -> None:
    register("lenet5", lenet5, "LeNet-5 for 32x32 inputs, as in the seed lecture")
