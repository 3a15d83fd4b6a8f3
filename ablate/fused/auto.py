"""``--fuse auto``: time plain vs fused steps on this device once, and remember the choice.

Fusion pays off where one small model cannot fill the device (a GPU launching kernels
for LeNet-5); on a CPU it may not. So the choice is measured, per trial, and cached per
device, model, batch size and torch version in the user cache dir.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F

from ablate.config import RunConfig
from ablate.data import user_cache_dir
from ablate.environment import device_name, resolve_device

CACHE_FILE = "fuse-choices.json"
WARMUP_STEPS = 2
# Timing groups alternate the config's placement with BatchNorm everywhere, as a mixed
# placement sweep does (the masks cost a little).
TIMING_PLACEMENTS = ("input+bn",)


def cache_path() -> Path:
    return user_cache_dir() / CACHE_FILE


def _cache_key(config: RunConfig, device: torch.device) -> str:
    return (
        f"{device_name(device)} | {config.model} | batch {config.batch_size} | "
        f"torch {torch.__version__}"
    )


def _load_cache() -> dict[str, dict]:
    try:
        data = json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_cache(cache: dict[str, dict]) -> None:
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache, indent=2, sort_keys=True))
        tmp.replace(path)
    except OSError:
        pass  # a read-only cache only costs a re-measurement next time


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_plain(config: RunConfig, device: torch.device, steps: int) -> float:
    from ablate.engine import build_run

    parts = build_run(
        config.model_copy(update={"device": str(device)}), steps_per_epoch=steps + WARMUP_STEPS
    )
    model, optimizer, scheduler = parts.model.train(), parts.optimizer, parts.scheduler
    x_all, y_all = parts.data.train_x, parts.data.train_y
    order = torch.randperm(len(y_all)).to(device)
    start = 0.0
    for step in range(WARMUP_STEPS + steps):
        if step == WARMUP_STEPS:
            _sync(device)
            start = time.perf_counter()
        idx = order[_window(step, config.batch_size, len(order))]
        loss = F.cross_entropy(model(x_all[idx]), y_all[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
    _sync(device)
    return (time.perf_counter() - start) / steps


def _window(step: int, batch_size: int, n: int) -> slice:
    """The step's batch, wrapping around a dataset smaller than the timed steps."""
    start = (step * batch_size) % max(1, n - batch_size + 1)
    return slice(start, start + batch_size)


def _time_fused(config: RunConfig, device: torch.device, fuse: int, steps: int) -> float:
    from ablate.engine import prepared_data
    from ablate.fused.trainer import build_group

    placements = (config.placement, *TIMING_PLACEMENTS)
    configs = [
        config.model_copy(
            update={"seed": config.seed + i, "placement": placements[i % len(placements)]}
        )
        for i in range(fuse)
    ]
    group = build_group(configs, device=device, steps_per_epoch=steps + WARMUP_STEPS)
    data = prepared_data(config, device)
    order = torch.stack([torch.randperm(len(data.train_y)) for _ in range(fuse)], 1).to(device)
    alive = torch.ones(fuse, dtype=torch.bool, device=device)
    start = 0.0
    for step in range(WARMUP_STEPS + steps):
        if step == WARMUP_STEPS:
            _sync(device)
            start = time.perf_counter()
        idx = order[_window(step, config.batch_size, len(order))]
        group.train_step(data.train_x[idx], data.train_y[idx], alive)
    _sync(device)
    return (time.perf_counter() - start) / steps


def _time_steps(config: RunConfig, device: torch.device, fuse: int, steps: int) -> float:
    """Seconds per training step: the plain trainer for ``fuse == 1``, else a fused group."""
    if fuse == 1:
        return _time_plain(config, device, steps)
    return _time_fused(config, device, fuse, steps)


def choose_fuse(
    config: RunConfig,
    device: torch.device | str,
    *,
    candidates: Sequence[int] = (8, 32),
    steps: int = 5,
) -> tuple[int, str]:
    """How many trials to fuse per group on ``device``: 1 (plain) unless fusing is faster.

    Times ``steps`` training steps (after a warm-up) of the plain trainer and of fused
    groups of each candidate size, compares time per trial, and caches the choice. Never
    returns a group size that is slower per trial than plain training.
    """
    from ablate.fused.support import supports_fusion

    device = resolve_device(device) if isinstance(device, str) else device
    ok, why = supports_fusion([config])
    if not ok:
        return 1, f"plain trainer: {why}"
    key = _cache_key(config, device)
    cache = _load_cache()
    if key in cache and isinstance(cache[key].get("fuse"), int):
        return cache[key]["fuse"], f"{cache[key].get('why', '')} (cached in {cache_path()})"
    plain = _time_steps(config, device, 1, steps)
    per_trial: dict[int, float] = {}
    notes = [f"plain {plain * 1e3:.2f} ms/step"]
    for k in sorted({int(c) for c in candidates if int(c) > 1}):
        try:
            per_trial[k] = _time_steps(config, device, k, steps) / k
        except torch.cuda.OutOfMemoryError:
            notes.append(f"fused {k}: out of memory")
            continue
        notes.append(
            f"fused {k}: {per_trial[k] * 1e3:.2f} ms/step per trial ({plain / per_trial[k]:.1f}x)"
        )
    best = min(per_trial, key=per_trial.__getitem__, default=1)
    choice = best if best > 1 and per_trial[best] < plain else 1
    verdict = f"fuse {choice}" if choice > 1 else "plain trainer (fusing is not faster here)"
    why = (
        f"{device_name(device)}, {config.model}, batch {config.batch_size}: "
        + "; ".join(notes)
        + f" -> {verdict}"
    )
    cache[key] = {
        "fuse": choice,
        "why": why,
        "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _save_cache(cache)
    return choice, why
