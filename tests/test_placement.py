"""Placements: spelling, resolution against a model's slots, and norm layers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ablate.errors import ConfigError
from ablate.models import build_model, discover_slots, resolve_placement
from ablate.placement import BatchNorm, Placement, make_norm, parse_placement


@pytest.mark.parametrize(
    ("text", "spelled"),
    [
        ("none", "none"),
        ("input", "input"),
        ("bn:conv2+fc1", "bn:conv2+fc1"),
        ("input+bn:conv1", "input+bn:conv1"),
        ("gn:conv1", "gn:conv1"),
        ("bn:conv1+gn:fc1+fc2", "bn:conv1+gn:fc1+fc2"),
        ("batch:conv1", "bn:conv1"),
        ("bn", "bn"),
    ],
)
def test_spelled_form_round_trips(text: str, spelled: str) -> None:
    assert parse_placement(text).spelled() == spelled
    assert parse_placement(spelled) == parse_placement(text)


@pytest.mark.parametrize("bad", ["", "xx:conv1", "conv1", "bn:", "bn:con v1"])
def test_bad_spellings_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        parse_placement(bad)


def test_lenet5_slots_are_discovered_on_the_meta_device() -> None:
    slots = discover_slots("lenet5")
    assert [(s.name, s.num_features, s.rank) for s in slots] == [
        ("conv1", 6, 4),
        ("conv2", 16, 4),
        ("fc1", 120, 2),
        ("fc2", 84, 2),
    ]


def test_placement_naming_a_missing_slot_is_rejected() -> None:
    with pytest.raises(ConfigError, match="conv9.*conv1, conv2, fc1, fc2"):
        build_model(
            "lenet5", parse_placement("bn:conv9"), in_channels=1, num_classes=10, image_size=32
        )


def test_instance_norm_on_a_flat_slot_is_rejected() -> None:
    with pytest.raises(ConfigError, match="instance norm"):
        build_model(
            "lenet5", parse_placement("in:fc1"), in_channels=1, num_classes=10, image_size=32
        )


def _seed_model() -> nn.Sequential:
    """The lecture's second model, written out layer by layer."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120),
        nn.BatchNorm1d(120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    )


def _layer_signature(module: nn.Module) -> list[tuple]:
    out = []
    for layer in module.children():
        if isinstance(layer, nn.Identity):
            continue
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            out.append(("BatchNorm", layer.num_features, layer.eps, layer.momentum, layer.affine))
        elif isinstance(layer, nn.Conv2d | nn.Linear):
            out.append((type(layer).__name__, tuple(layer.weight.shape)))
        else:
            out.append((type(layer).__name__,))
    return out


def test_seed_placement_builds_exactly_the_seeds_layer_stack() -> None:
    model, resolved = build_model(
        "lenet5", resolve_placement("seed"), in_channels=1, num_classes=10, image_size=32
    )
    assert _layer_signature(model) == _layer_signature(_seed_model())
    assert resolved.input and resolved.input_mean == 0.5 and resolved.input_std == 0.5


def test_seed_placement_initialises_like_the_seed_model() -> None:
    torch.manual_seed(3)
    ours, _ = build_model(
        "lenet5", resolve_placement("seed"), in_channels=1, num_classes=10, image_size=32
    )
    torch.manual_seed(3)
    theirs = _seed_model()
    x = torch.randn(8, 1, 32, 32)
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(x), theirs(x))


def test_none_placement_has_no_norm_layers() -> None:
    model, _ = build_model("lenet5", Placement(), in_channels=1, num_classes=10, image_size=32)
    assert not any(
        isinstance(m, nn.modules.batchnorm._BatchNorm | nn.GroupNorm) for m in model.modules()
    )


@pytest.mark.parametrize("kind", ["batch", "group", "layer", "instance"])
def test_norm_layers_take_flat_and_spatial_inputs(kind: str) -> None:
    layer = make_norm(kind, 16)
    assert layer(torch.randn(4, 16, 5, 5)).shape == (4, 16, 5, 5)
    if kind != "instance":
        assert layer(torch.randn(4, 16)).shape == (4, 16)


def test_batchnorm_matches_torch_batchnorm2d_and_1d() -> None:
    x4, x2 = torch.randn(8, 6, 4, 4), torch.randn(8, 6)
    torch.testing.assert_close(BatchNorm(6)(x4), nn.BatchNorm2d(6)(x4))
    torch.testing.assert_close(BatchNorm(6)(x2), nn.BatchNorm1d(6)(x2))
