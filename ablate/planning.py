"""Planning a sweep: a study plus every override, resolved before anything runs.

Budgets (including the shorter CPU budget), the protocol's overrides and what they cut,
the sampler and pruner, and how many trials to train as one fused model.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import torch

from ablate.config import RunConfig
from ablate.engine import check_components
from ablate.environment import resolve_device
from ablate.errors import ConfigError
from ablate.storage import default_storage
from ablate.study import Study, get_study


@dataclass
class SweepPlan:
    """A study with every override applied: what will run, where, and for how long."""

    study: Study
    protocol: RunConfig
    name: str
    storage: str
    sampler: str
    pruner: str
    seeds: int
    n_trials: int
    timeout: float | None
    device: torch.device
    notes: list[str] = field(default_factory=list)
    heartbeat: int = 30
    artifacts: Path = Path("ablate-artifacts")
    fuse: int | str = "auto"


def _protocol_notes(study: Study, protocol: RunConfig, on_cpu_budget: bool) -> list[str]:
    base = study.protocol
    changes = []
    if protocol.epochs < base.epochs:
        changes.append(f"{protocol.epochs} epochs instead of {base.epochs}")
    if protocol.train_size and (base.train_size is None or protocol.train_size < base.train_size):
        changes.append(f"the first {protocol.train_size:,} training images")
    if protocol.test_size and (base.test_size is None or protocol.test_size < base.test_size):
        changes.append(f"the first {protocol.test_size:,} test images")
    if not changes:
        return []
    why = "CPU budget" if on_cpu_budget else "overrides"
    hint = "; pass --full for the full protocol" if on_cpu_budget else ""
    return [f"protocol shortened ({why}): {', '.join(changes)}{hint}"]


def plan_sweep(
    study: Study | str | Path,
    *,
    name: str | None = None,
    storage: str | None = None,
    sampler: str | None = None,
    pruner: str | None = None,
    n_trials: int | None = None,
    timeout: float | None = None,
    seeds: int | None = None,
    epochs: int | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
    device: str | None = None,
    data_dir: Path | None = None,
    download: bool | None = None,
    dataset: str | None = None,
    full: bool = False,
    heartbeat: int | None = None,
    artifacts: Path | None = None,
    fuse: int | str | None = None,
) -> SweepPlan:
    """Resolve a study and overrides into a :class:`SweepPlan` (nothing runs yet)."""
    spec = get_study(study)
    if sampler not in (None, "tpe", "random", "grid"):
        raise ConfigError(f"unknown sampler {sampler!r} (known: tpe, random, grid)")
    if pruner not in (None, "median", "hyperband", "none"):
        raise ConfigError(f"unknown pruner {pruner!r} (known: median, hyperband, none)")
    if seeds is not None:
        spec = spec.model_copy(update={"seeds": seeds})
    values = spec.protocol.model_dump(exclude_unset=False)
    for key, override in (("device", device), ("dataset", dataset)):
        if override is not None:
            values[key] = override
    if data_dir is not None:
        values["data_dir"] = data_dir
    if download is not None:
        values["download"] = download
    resolved_device = resolve_device(values["device"])
    cpu_budget = spec.cpu_budget if resolved_device.type == "cpu" and not full else None
    budget = cpu_budget or spec.budget
    for key, override in (("epochs", epochs), ("train_size", train_size), ("test_size", test_size)):
        chosen = override if override is not None else getattr(budget, key)
        if chosen is not None:
            values[key] = chosen
    protocol = RunConfig(**values)
    check_components(protocol)
    chosen_sampler = sampler or spec.sampler
    grid_size = len(spec.grid()) if chosen_sampler == "grid" else None
    if n_trials is None:
        n_trials = budget.n_trials or (grid_size * spec.seeds if grid_size else 20 * spec.seeds)
    notes = _protocol_notes(spec, protocol, cpu_budget is not None)
    rounded = math.ceil(n_trials / spec.seeds) * spec.seeds
    if rounded != n_trials:
        notes.append(
            f"n_trials {n_trials} rounded up to {rounded} "
            f"({rounded // spec.seeds} configurations x {spec.seeds} seeds)"
        )
    if grid_size is not None and rounded > grid_size * spec.seeds:
        rounded = grid_size * spec.seeds
    if cpu_budget is not None and n_trials == cpu_budget.n_trials:
        notes.append(
            f"CPU budget: {rounded} trials ({rounded // spec.seeds} configurations x "
            f"{spec.seeds} seeds); on a GPU the default is the full protocol"
        )
    return SweepPlan(
        study=spec,
        protocol=protocol,
        name=name or spec.name,
        storage=storage or default_storage(),
        sampler=chosen_sampler,
        pruner=pruner or spec.pruner,
        seeds=spec.seeds,
        n_trials=rounded,
        timeout=timeout if timeout is not None else budget.timeout,
        device=resolved_device,
        notes=notes,
        heartbeat=heartbeat or int(os.environ.get("ABLATE_HEARTBEAT", "30")),
        artifacts=Path(artifacts) if artifacts else Path("ablate-artifacts"),
        fuse=parse_fuse(fuse if fuse is not None else os.environ.get("ABLATE_FUSE", "auto")),
    )


def parse_fuse(value: int | str) -> int | str:
    """``auto`` or a group size of at least 1."""
    if value == "auto":
        return "auto"
    try:
        size = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"--fuse takes 'auto' or a whole number, not {value!r}") from None
    if size < 1:
        raise ConfigError(f"--fuse must be at least 1, got {size}")
    return size


def resolve_fuse(plan: SweepPlan) -> tuple[int, str]:
    """The group size this process trains with, and why (measured for ``auto``)."""
    from ablate.fused import choose_fuse, supports_fusion

    ok, why = supports_fusion([plan.protocol])
    if plan.fuse == "auto":
        if not ok:
            return 1, f"plain trainer ({why})"
        candidates = (32, 64, 128, 256) if plan.device.type == "cuda" else (8, 32)
        size, reason = choose_fuse(plan.protocol, plan.device, candidates=candidates)
        return size, f"--fuse auto chose {size}: {reason}"
    if int(plan.fuse) > 1 and not ok:
        return 1, f"plain trainer, not fused: {why}"
    return int(plan.fuse), f"--fuse {plan.fuse}"


def make_sampler(kind: str, seed: int) -> optuna.samplers.BaseSampler:
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    # grid: every trial is queued with fixed params, so the sampler never has to choose.
    return optuna.samplers.RandomSampler(seed=seed)


def make_pruner(kind: str, plan_epochs: int, seeds: int) -> optuna.pruners.BasePruner:
    if kind == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=max(5, 2 * seeds), n_warmup_steps=max(2, plan_epochs // 4)
        )
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=plan_epochs, reduction_factor=3
        )
    return optuna.pruners.NopPruner()
