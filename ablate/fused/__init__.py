"""Train many configurations as one model, so GPU sweeps are not launch-bound.

``train_fused`` trains K configs of one model family (LeNet-5 and similar flat conv nets)
in one forward/backward per step: parameters stacked per trial, grouped convolutions and
batched matmuls, per-trial BatchNorm masks (so all batch-norm placements share a step),
per-trial optimizers and schedules. ``supports_fusion`` says whether a group fuses;
``choose_fuse`` times plain vs fused training on a device and picks the group size.
"""

from __future__ import annotations

from ablate.fused.auto import choose_fuse
from ablate.fused.group import FusedGroup
from ablate.fused.support import supports_fusion
from ablate.fused.trainer import build_group, train_fused

__all__ = ["FusedGroup", "build_group", "choose_fuse", "supports_fusion", "train_fused"]
