"""Fused training: each trial of a fused group must match its solo ``ablate.run``.

Equivalence is checked in float64 on tiny synthetic data, for a group that mixes
placements, learning rates, schedulers and optimizers, and survives pruning, a diverging
trial and an out-of-memory split.
"""

from __future__ import annotations

import json

import pytest
import torch

import ablate
from ablate.config import RunConfig
from ablate.fused import FusedGroup, auto, choose_fuse, supports_fusion, train_fused
from ablate.fused.schedule import trial_schedule
from ablate.fused.trainer import build_group
from ablate.models import build_model, resolve_placement
from ablate.result import RunResult
from ablate.trainer import Observer, StopRun

BASE = dict(
    dataset="synthetic", train_size=128, test_size=32, batch_size=32, epochs=3, device="cpu"
)
MIXED = [
    dict(
        placement="none",
        optimizer="adam",
        lr=1e-3,
        scheduler="step",
        seed=0,
        scheduler_params={"step_epochs": 1},
    ),
    dict(placement="seed", optimizer="adam", lr=3e-3, scheduler="cosine", seed=1),
    dict(placement="bn", optimizer="sgd", lr=3e-3, scheduler="none", seed=2),
    dict(
        placement="input+bn:conv1",
        optimizer="adamw",
        lr=1e-3,
        scheduler="onecycle",
        seed=3,
        epochs=2,
    ),
]
REL = 1e-6
_solo: dict[str, RunResult] = {}


def configs(*specs: dict) -> list[RunConfig]:
    return [RunConfig(**{**BASE, **spec}) for spec in specs]


def solo(config: RunConfig) -> RunResult:
    """The plain trainer's float64 result (cached across tests)."""
    key = config.model_dump_json()
    if key not in _solo:
        _solo[key] = ablate.run(config, dtype=torch.float64)
    return _solo[key]


def assert_matches(fused: RunResult, alone: RunResult, epochs: int | None = None) -> None:
    expected = alone.epochs[:epochs] if epochs is not None else alone.epochs
    assert (fused.placement, fused.slots, fused.num_params) == (
        alone.placement,
        alone.slots,
        alone.num_params,
    )
    assert len(fused.epochs) == len(expected)
    for got, want in zip(fused.epochs, expected, strict=True):
        assert got.epoch == want.epoch
        for key in ("train_loss", "val_loss", "lr"):
            assert getattr(got, key) == pytest.approx(getattr(want, key), rel=REL), key
        assert (got.train_acc, got.val_acc) == (want.train_acc, want.val_acc)


class Recorder(Observer):
    """Records what a trial's observer sees; optionally prunes it after an epoch."""

    def __init__(self, prune_after: int | None = None) -> None:
        self.prune_after = prune_after
        self.starts, self.steps, self.epochs, self.ends = 0, 0, [], []

    def on_start(self, result, *, steps_per_epoch, train_images) -> None:
        self.starts += 1

    def on_step(self, epoch, step, steps) -> None:
        self.steps += 1

    def on_epoch(self, result, metrics) -> None:
        self.epochs.append(metrics.epoch)
        if metrics.epoch == self.prune_after:
            raise StopRun("pruned", f"pruned after epoch {metrics.epoch}")

    def on_end(self, result) -> None:
        self.ends.append(result.status)


def test_init_of_any_bn_placement_matches_the_plain_init() -> None:
    """Identity and BatchNorm slots draw no random numbers: conv/linear weights agree."""
    weights = {}
    for spec in ("none", "bn", "seed"):
        torch.manual_seed(5)
        model, _ = build_model(
            "lenet5", resolve_placement(spec), in_channels=1, num_classes=10, image_size=32
        )
        weights[spec] = [
            m.weight for m in model if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)
        ]
    for spec in ("bn", "seed"):
        assert all(torch.equal(a, b) for a, b in zip(weights["none"], weights[spec], strict=True))


def test_mixed_group_matches_solo_runs() -> None:
    group = configs(*MIXED)
    recorders = [[Recorder()] for _ in group]
    results = train_fused(group, observers=recorders, dtype=torch.float64)
    for config, result, (recorder,) in zip(group, results, recorders, strict=True):
        assert result.status == "completed" and result.config == config
        assert_matches(result, solo(config))
        assert recorder.starts == 1 and recorder.ends == ["completed"]
        assert recorder.epochs == list(range(1, config.epochs + 1))
        assert recorder.steps == 4 * config.epochs  # 128 images / batch 32
        assert result.environment["fused_group"] == len(group)
        assert result.final_val_acc is not None and result.wall_time_s > 0


def test_pruned_trial_stops_and_others_are_untouched() -> None:
    group = configs(*MIXED)
    recorders = [[Recorder(prune_after=1 if i == 1 else None)] for i in range(len(group))]
    results = train_fused(group, observers=recorders, dtype=torch.float64)
    assert results[1].status == "pruned" and results[1].reason == "pruned after epoch 1"
    assert recorders[1][0].epochs == [1] and recorders[1][0].ends == ["pruned"]
    assert_matches(results[1], solo(group[1]), epochs=1)
    for i in (0, 2, 3):
        assert results[i].status == "completed"
        assert_matches(results[i], solo(group[i]))


def test_diverging_trial_is_isolated() -> None:
    group = configs(
        MIXED[0],
        dict(placement="bn", optimizer="sgd", lr=1e200, scheduler="none", seed=9),
        MIXED[2],
    )
    results = train_fused(group, dtype=torch.float64)
    alone = solo(group[1])
    assert alone.status == "diverged"
    assert results[1].status == "diverged"
    assert results[1].reason == alone.reason == "training loss became nan in epoch 1"
    assert results[1].epochs == [] and results[1].final_val_acc is None
    assert_matches(results[0], solo(group[0]))
    assert_matches(results[2], solo(group[2]))


class StopOnStep(Observer):
    def on_step(self, epoch, step, steps) -> None:
        if (epoch, step) == (2, 1):
            raise StopRun("stopped", "stopped in epoch 2")


def test_stop_from_on_step_ends_only_that_trial_as_the_plain_trainer_does() -> None:
    group = configs(MIXED[0], MIXED[2])
    results = train_fused(group, observers=[[StopOnStep()], []], dtype=torch.float64)
    alone = ablate.run(group[0], observers=[StopOnStep()], dtype=torch.float64)
    assert results[0].status == alone.status == "stopped"
    assert_matches(results[0], alone)
    assert_matches(results[1], solo(group[1]))


def test_a_nan_trial_leaves_the_others_finite() -> None:
    """No shared kernel (grouped conv, batched matmul, BatchNorm) mixes trials."""
    group = configs(MIXED[0], MIXED[1], MIXED[2])
    fused = build_group(group, device=torch.device("cpu"), dtype=torch.float64)
    data = torch.rand(8, 3, 1, 32, 32, dtype=torch.float64)
    fused.net.flat[:, 1] = float("nan")
    alive = torch.ones(3, dtype=torch.bool)
    losses, _ = fused.train_step(data, torch.randint(0, 10, (8, 3)), alive)
    assert alive.tolist() == [True, False, True]
    assert torch.isnan(losses[1]) and torch.isfinite(losses[[0, 2]]).all()
    assert torch.isfinite(fused.net.grad[:, [0, 2]]).all()
    assert torch.isfinite(fused.net.flat).all()  # the dead trial was zeroed, not stepped
    assert (fused.net.flat[:, 1] == 0).all()


def test_out_of_memory_splits_the_group_and_loses_no_trial(monkeypatch) -> None:
    group = configs(*MIXED)
    train_step = FusedGroup.train_step
    calls = {"big": 0}

    def flaky(self, x, y, alive):
        if self.k > 2:
            calls["big"] += 1
            if calls["big"] > 6:  # in epoch 2, after observers saw epoch 1
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return train_step(self, x, y, alive)

    monkeypatch.setattr(FusedGroup, "train_step", flaky)
    events: list[str] = []
    recorders = [[Recorder()] for _ in group]
    results = train_fused(group, observers=recorders, dtype=torch.float64, on_event=events.append)
    assert len(events) == 1 and "out of device memory" in events[0] and "2 and 2" in events[0]
    for config, result, (recorder,) in zip(group, results, recorders, strict=True):
        assert_matches(result, solo(config))
        assert recorder.epochs == list(range(1, config.epochs + 1))  # each epoch once
        assert recorder.starts == 1 and recorder.ends == ["completed"]


def test_shared_order_matches_solo_runs_of_the_shared_seed() -> None:
    group = configs(
        dict(placement="none", seed=4, scheduler="none"),
        dict(placement="input+bn", seed=4, scheduler="none", lr=2e-3),
    )
    fused = train_fused(group, dtype=torch.float64, shared_order=True)
    for config, result in zip(group, fused, strict=True):
        assert_matches(result, solo(config))


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_builtin_schedules_in_closed_form_match_the_schedulers(optimizer: str) -> None:
    for name in ("none", "step", "cosine", "exponential", "onecycle"):
        config = RunConfig(optimizer=optimizer, scheduler=name, epochs=7, lr=3e-3)
        closed = trial_schedule(config, 13)[1]
        simulated = trial_schedule(config, 13, simulate=True)[1]
        assert closed.how.startswith("closed form") and simulated.how.startswith("simulated")
        assert closed.lr == pytest.approx(simulated.lr, rel=1e-12)
        assert closed.momentum == pytest.approx(simulated.momentum, rel=1e-12)


def test_supports_fusion_accepts_batch_norm_placements_only() -> None:
    ok, why = supports_fusion(configs(*MIXED))
    assert ok, why
    ok, why = supports_fusion(configs(dict(placement="bn"), dict(placement="gn:conv1")))
    assert not ok and "group norm" in why and "plain trainer" in why
    ok, why = supports_fusion(configs(dict(batch_size=32), dict(batch_size=64)))
    assert not ok and "batch_size" in why
    with pytest.raises(ablate.errors.ConfigError, match="do not fuse"):
        train_fused(configs(dict(placement="ln")))


def test_choose_fuse_never_picks_a_slower_path_and_caches(monkeypatch) -> None:
    config = RunConfig(dataset="synthetic")
    slower = lambda config, device, fuse, steps: 1.0 if fuse == 1 else 2.0 * fuse  # noqa: E731
    monkeypatch.setattr(auto, "_time_steps", slower)
    fuse, why = choose_fuse(config, "cpu")
    assert fuse == 1 and "plain trainer" in why
    cached = json.loads(auto.cache_path().read_text())
    assert [entry["fuse"] for entry in cached.values()] == [1]

    def unused(*args):
        raise AssertionError("a cached choice must not be measured again")

    monkeypatch.setattr(auto, "_time_steps", unused)
    assert choose_fuse(config, "cpu")[0] == 1

    faster = lambda config, device, fuse, steps: 1.0 if fuse == 1 else fuse**0.5  # noqa: E731
    monkeypatch.setattr(auto, "_time_steps", faster)
    fuse, why = choose_fuse(RunConfig(dataset="synthetic", batch_size=32), "cpu")
    assert fuse == 32 and "fuse 32" in why


def test_choose_fuse_times_real_steps() -> None:
    fuse, why = choose_fuse(
        RunConfig(dataset="synthetic", placement="seed"), "cpu", candidates=(2,), steps=1
    )
    assert fuse in (1, 2) and "plain" in why and "fused 2" in why
