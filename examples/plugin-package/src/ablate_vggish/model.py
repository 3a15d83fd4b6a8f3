"""A small VGG-style CNN whose every conv/linear is followed by a normalisation slot."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

Norm = Callable[[str, int], nn.Module]
WIDTHS = (16, 32, 64)
HEAD = 64


def vggish(
    norm: Norm, *, in_channels: int = 1, num_classes: int = 10, image_size: int = 32
) -> nn.Sequential:
    """Three conv blocks (16, 32, 64 channels; 3x3 conv, slot, ReLU, 2x2 max-pool), then a
    global average pool, a 64-wide hidden layer with its own slot, and the classifier.

    Slots: ``block1``, ``block2``, ``block3`` (see ``(N, C, H, W)``) and ``head`` (sees
    ``(N, C)``). Built for 32x32 inputs; the global pool accepts any size from 8x8 up.
    """
    if image_size < 8:
        raise ValueError(f"vggish needs images of at least 8x8, got {image_size}")
    layers: list[nn.Module] = []
    channels = in_channels
    for index, width in enumerate(WIDTHS, 1):
        layers += [
            nn.Conv2d(channels, width, kernel_size=3, padding=1),
            norm(f"block{index}", width),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]
        channels = width
    layers += [
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, HEAD),
        norm("head", HEAD),
        nn.ReLU(),
        nn.Linear(HEAD, num_classes),
    ]
    return nn.Sequential(*layers)
