"""The installed package: its entry points load, and each component does its job."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import ablate
import pytest
import torch
from ablate import plugins, registry
from ablate.models import discover_slots, resolve_placement

from ablate_vggish.csvlog import COLUMNS
from ablate_vggish.schedule import warmup_cosine

TINY_RUN = {
    "model": "vggish",
    "dataset": "synthetic",
    "scheduler": "warmup-cosine",
    "placement": "vgg-late-bn",
    "epochs": 2,
    "train_size": 128,
    "test_size": 64,
    "batch_size": 32,
    "device": "cpu",
}


def test_entry_points_load_as_plugins() -> None:
    registry.collect_all()
    for name in ("vggish", "vggish-csv"):
        assert name in plugins.infos, f"plugin {name!r} did not load; is the package installed?"
        assert plugins.infos[name].source == "entry point"
    assert plugins.infos["vggish"].registers == {
        "models": ["vggish"],
        "placements": ["vgg-late-bn"],
        "schedulers": ["warmup-cosine"],
    }


def test_model_declares_four_slots() -> None:
    slots = discover_slots("vggish", in_channels=1, image_size=32)
    assert [(s.name, s.num_features, s.rank) for s in slots] == [
        ("block1", 16, 4),
        ("block2", 32, 4),
        ("block3", 64, 4),
        ("head", 64, 2),
    ]


def test_placement_puts_batchnorm_late() -> None:
    assert resolve_placement("vgg-late-bn").spelled() == "bn:block3+head"


def test_warmup_rises_then_cosine_falls() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = warmup_cosine(optimizer, epochs=4, steps_per_epoch=5, warmup_epochs=1)
    lrs = []
    for _ in range(20):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert all(a > b for a, b in itertools.pairwise(lrs[5:]))
    assert 0 < lrs[-1] < 0.05


def test_csv_logger_appends_a_row_per_epoch(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "logs" / "epochs.csv"
    monkeypatch.setenv("ABLATE_CSV", str(target))
    first = ablate.run(TINY_RUN)
    ablate.run(TINY_RUN, seed=1)
    assert first.status == "completed" and first.placement == "bn:block3+head"
    with target.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(COLUMNS)
    assert [(r["seed"], r["epoch"]) for r in rows] == [
        ("0", "1"),
        ("0", "2"),
        ("1", "1"),
        ("1", "2"),
    ]
    assert rows[0]["model"] == "vggish" and rows[0]["placement"] == "vgg-late-bn"
    assert float(rows[1]["val_acc"]) == pytest.approx(first.epochs[1].val_acc)


def test_csv_logger_is_a_no_op_when_unset(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("ABLATE_CSV", raising=False)
    monkeypatch.chdir(tmp_path)
    result = ablate.run(TINY_RUN, epochs=1)
    assert result.status == "completed"
    assert list(tmp_path.iterdir()) == []
