"""Crash-safe trials and many workers: checkpoints, heartbeats, presence, Ctrl-C, pools.

- ``FileCheckpoint`` saves a trial's state after every epoch, so a trial that is re-queued
  (its worker was killed, its machine vanished, or Ctrl-C) resumes from its last finished
  epoch instead of from zero. Files load with ``torch.load(weights_only=True)``.
- ``Heartbeat`` keeps Optuna's heartbeat of the running trial and this worker's presence
  record (shown by ``ablate status``) fresh from a background thread.
- ``interrupt_handling`` turns the first Ctrl-C (or SIGTERM) into a clean stop that
  re-queues the running trial; a second one exits at once.
- ``run_pool`` starts local worker processes that share one storage.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import optuna
import torch

WORKER_ATTR_PREFIX = "ablate:worker:"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class FileCheckpoint:
    """One trial's checkpoint file, named by its configuration and seed (not its trial
    number), so the retry of a trial finds what the original saved."""

    def __init__(self, directory: Path, study_name: str, config_key: str, seed: int) -> None:
        digest = hashlib.sha256(f"{study_name}\n{config_key}\n{seed}".encode()).hexdigest()
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in study_name)
        self.path = Path(directory) / safe / f"{digest[:20]}.pt"

    def load(self) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        try:
            return torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a torn or foreign file: start this trial afresh
            sys.stderr.write(
                f"ablate: warning: ignoring unreadable checkpoint {self.path}: "
                f"{type(exc).__name__}\n"
            )
            return None

    def save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        torch.save(state, tmp)
        os.replace(tmp, self.path)  # atomic: a kill never leaves half a checkpoint

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class Presence:
    """This worker's record in the study (host, pid, device, trial, last seen)."""

    def __init__(self, study: optuna.Study, device: str) -> None:
        self.study = study
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.key = f"{WORKER_ATTR_PREFIX}{self.host}:{self.pid}"
        self.info: dict[str, Any] = {
            "host": self.host,
            "pid": self.pid,
            "device": device,
            "started": now_iso(),
            "trial": None,
            "state": "idle",
        }

    def update(self, **changes: Any) -> None:
        self.info.update(changes, last_seen=now_iso())
        with contextlib.suppress(Exception):  # best effort: the storage may be restarting
            self.study.set_user_attr(self.key, dict(self.info))


class Heartbeat:
    """Background thread: records the running trial's heartbeat and this worker's presence."""

    def __init__(self, study: optuna.Study, presence: Presence, interval: float) -> None:
        self.study, self.presence, self.interval = study, presence, max(0.5, interval)
        self.trial_ids: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ablate-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.presence.update(state="idle")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.presence.update(state="stopped", trial=None)

    def track(self, trial_ids: set[int]) -> None:
        """Beat for these trials from now on, starting with one beat right away: a trial
        without any heartbeat would never be seen as stale if its worker died at once."""
        self.trial_ids = set(trial_ids)
        storage = self.study._storage
        for trial_id in trial_ids:
            with contextlib.suppress(Exception):
                if hasattr(storage, "record_heartbeat"):
                    storage.record_heartbeat(trial_id)

    def _loop(self) -> None:
        storage = self.study._storage
        while not self._stop.wait(self.interval):
            for trial_id in list(self.trial_ids):
                with contextlib.suppress(Exception):  # the storage may be restarting
                    if hasattr(storage, "record_heartbeat"):
                        storage.record_heartbeat(trial_id)
            self.presence.update()


def heartbeat_enabled(study: optuna.Study) -> bool:
    get = getattr(study._storage, "get_heartbeat_interval", None)
    return bool(get and get())


@contextlib.contextmanager
def interrupt_handling() -> Iterator[None]:
    """First Ctrl-C/SIGTERM: KeyboardInterrupt (the trial is re-queued); second: exit now."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def first(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, second)
        signal.signal(signal.SIGTERM, second)
        sys.stderr.write(
            "ablate: stopping: the running trial is re-queued (Ctrl-C again to quit at once)\n"
        )
        raise KeyboardInterrupt

    def second(signum: int, frame: Any) -> None:
        sys.stderr.write("ablate: quitting at once\n")
        sys.stderr.flush()
        os._exit(130)

    previous = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    signal.signal(signal.SIGINT, first)
    signal.signal(signal.SIGTERM, first)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])


# ----------------------------------------------------------------------- pools


def default_workers(device: torch.device) -> tuple[int, int]:
    """(workers, threads per worker) that this machine runs best.

    Small convolutions use several cores poorly, so a CPU gets one single-threaded worker
    per core; a GPU machine gets one worker per GPU. ``$ABLATE_WORKERS`` overrides.
    """
    cores = os.cpu_count() or 1
    if os.environ.get("ABLATE_WORKERS"):
        workers = max(1, int(os.environ["ABLATE_WORKERS"]))
        return workers, max(1, cores // workers)
    if device.type == "cuda":
        return max(1, torch.cuda.device_count()), max(1, cores // max(1, torch.cuda.device_count()))
    if device.type == "mps":
        return 1, cores
    return min(cores, 16), 1


def _worker_entry(
    study_spec: Any, overrides: dict[str, Any], device: str | None, threads: int
) -> None:
    """Body of one pool worker process: plan, open the shared study, run trials."""
    from ablate.errors import AblateError
    from ablate.sweeps import SweepRunner, open_study, plan_sweep

    torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        plan = plan_sweep(study_spec, **{**overrides, "device": device or overrides.get("device")})
        study, _ = open_study(plan)
        runner = SweepRunner(plan, study, display=None, may_queue=False)
        runner.fuse = 1 if plan.fuse == "auto" else int(plan.fuse)
        runner.run()
    except KeyboardInterrupt:
        sys.exit(130)
    except AblateError as exc:
        sys.stderr.write(f"ablate: error: worker {os.getpid()}: {exc}\n")
        sys.exit(2)


def run_pool(
    study_spec: Any,
    overrides: dict[str, Any],
    *,
    workers: int,
    threads: int,
    devices: list[str] | None,
    watch: Any = None,
) -> list[int]:
    """Run ``workers`` local processes on one storage until the budget is spent.

    ``watch()`` is called about once a second while they run (for progress). Returns the
    workers' exit codes.
    """
    ctx = multiprocessing.get_context("spawn")
    procs = []
    for index in range(workers):
        device = devices[index % len(devices)] if devices else None
        proc = ctx.Process(
            target=_worker_entry,
            args=(study_spec, overrides, device, threads),
            name=f"ablate-worker-{index}",
        )
        proc.start()
        procs.append(proc)
    try:
        while any(p.is_alive() for p in procs):
            if watch is not None:
                watch()
            for p in procs:
                p.join(timeout=1.0 / max(1, len(procs)))
    except KeyboardInterrupt:
        # Children in our process group got the same Ctrl-C; give them time to re-queue
        # their trials, and pass it on to any that did not (e.g. `kill -INT` on us alone).
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and any(p.is_alive() for p in procs):
            time.sleep(0.1)
        for p in procs:
            if p.is_alive() and p.pid is not None:
                os.kill(p.pid, signal.SIGINT)
        for p in procs:
            p.join(timeout=60)
        raise
    if watch is not None:
        watch()
    return [p.exitcode if p.exitcode is not None else 1 for p in procs]
