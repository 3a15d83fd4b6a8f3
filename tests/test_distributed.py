"""Many workers on one storage: no duplicated work, crash-safe trials, Ctrl-C, restarts.

Each test runs on SQLite and, when ``$ABLATE_TEST_POSTGRES_URL`` is set (CI starts a real
server with ``.ci/postgres.sh``), on PostgreSQL. ``$ABLATE_REQUIRE_POSTGRES=1`` (set in CI)
turns a missing server into a failure instead of a skip.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

import optuna
import pytest
import sqlalchemy

from conftest import ablate_command, subprocess_env

POSTGRES_URL = os.environ.get("ABLATE_TEST_POSTGRES_URL")
REQUIRE_POSTGRES = os.environ.get("ABLATE_REQUIRE_POSTGRES") == "1"

GRID = """
name = "{name}"
seeds = 2
sampler = "grid"
pruner = "none"

[protocol]
dataset = "synthetic"
epochs = {epochs}
train_size = {train}
test_size = 64
batch_size = 32

[[space]]
name = "placement.input"
choices = [false, true]

[[space]]
name = "placement.fc1"
choices = [false, true]

[[space]]
name = "lr"
type = "logfloat"
low = 1e-4
high = 1e-1
grid = [1e-3, 3e-3, 1e-2]
"""


def _postgres_url() -> str:
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail("ABLATE_REQUIRE_POSTGRES=1 but ABLATE_TEST_POSTGRES_URL is not set")
        pytest.skip("needs PostgreSQL: CI starts one with .ci/postgres.sh")
    return POSTGRES_URL


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return _postgres_url()


def study_file(tmp_path: Path, epochs: int = 2, train: int = 256) -> tuple[Path, str]:
    name = f"dist-{uuid.uuid4().hex[:8]}"  # PostgreSQL is shared between tests
    path = tmp_path / f"{name}.toml"
    path.write_text(GRID.format(name=name, epochs=epochs, train=train))
    return path, name


def start_worker(path: Path, storage: str, tmp_path: Path, *extra: str) -> subprocess.Popen:
    command = [
        *ablate_command(),
        "worker",
        "--study",
        str(path),
        "--storage",
        storage,
        "--artifacts",
        str(tmp_path / "artifacts"),
        "--threads",
        "1",
        *extra,
    ]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
        cwd=tmp_path,
    )


def run_sweep(path: Path, storage: str, cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    """``ablate sweep`` of a study file in a real process, output captured."""
    command = [*ablate_command(), "sweep", "--study", str(path), "--storage", storage, *extra]
    return subprocess.run(
        command, capture_output=True, text=True, cwd=cwd, env=subprocess_env(), timeout=600
    )


def trials_of(storage: str, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=storage).get_trials()


def assert_each_point_complete_once(trials: list[optuna.trial.FrozenTrial], total: int) -> None:
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    points = Counter((json.dumps(t.params, sort_keys=True), t.user_attrs["seed"]) for t in complete)
    others = [
        (
            t.number,
            t.state.name,
            t.user_attrs.get("status"),
            t.user_attrs.get("reason"),
            t.system_attrs.get("failed_trial"),
            t.user_attrs.get("retry_of"),
        )
        for t in trials
        if t.state.name != "COMPLETE"
    ]
    assert len(points) == total, f"{len(points)} of {total} grid points complete: {others}"
    assert set(points.values()) == {1}, "a configuration and seed ran twice"
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]


def wait_for(predicate, timeout: float = 120, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (KeyError, sqlalchemy.exc.SQLAlchemyError):
            pass
        time.sleep(every)
    raise AssertionError("timed out waiting")


def test_three_workers_finish_a_24_trial_grid_exactly_once(storage, tmp_path) -> None:
    path, name = study_file(tmp_path)
    procs = [start_worker(path, storage, tmp_path) for _ in range(3)]
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    trials = trials_of(storage, name)
    assert len(trials) == 24 and all(t.state.name == "COMPLETE" for t in trials)
    assert_each_point_complete_once(trials, 24)
    assert sum("done after" in err for _, err in outputs) == 3


def test_sigkilled_workers_trial_is_resumed_from_its_checkpoint(storage, tmp_path) -> None:
    path, name = study_file(tmp_path, epochs=6, train=1024)
    victim = start_worker(path, storage, tmp_path, "--heartbeat", "1")
    study = None

    def victim_is_mid_trial() -> bool:
        nonlocal study
        study = study or optuna.load_study(study_name=name, storage=storage)
        running = [t for t in study.get_trials() if t.state.name == "RUNNING"]
        return bool(running) and len(running[0].intermediate_values) >= 2

    wait_for(victim_is_mid_trial)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    killed = next(t for t in trials_of(storage, name) if t.state.name == "RUNNING")
    reported = len(killed.intermediate_values)
    rescuer = start_worker(path, storage, tmp_path, "--heartbeat", "1")
    _, err = rescuer.communicate(timeout=600)
    assert rescuer.returncode == 0, err
    trials = trials_of(storage, name)
    assert trials[killed.number].state.name == "FAIL"  # marked stale, then retried
    retry = next(t for t in trials if t.system_attrs.get("failed_trial") == killed.number)
    assert retry.state.name == "COMPLETE"
    assert retry.user_attrs["seed"] == killed.user_attrs["seed"] and retry.params == killed.params
    # The checkpoint is written after each epoch, just before that epoch is reported.
    assert retry.user_attrs["resumed_from_epoch"] in (reported, reported + 1)
    assert retry.user_attrs["resumed_from_epoch"] >= 2
    assert sorted(retry.intermediate_values) == list(range(1, 7))
    assert_each_point_complete_once(trials, 24)


def test_first_ctrl_c_requeues_second_exits_at_once(storage, tmp_path) -> None:
    path, name = study_file(tmp_path, epochs=6, train=1024)
    worker = start_worker(path, storage, tmp_path)
    wait_for(
        lambda: any(
            t.state.name == "RUNNING" and t.intermediate_values for t in trials_of(storage, name)
        )
    )
    worker.send_signal(signal.SIGINT)
    _, err = worker.communicate(timeout=60)
    assert worker.returncode == 130 and "re-queued" in err and "Traceback" not in err
    trials = trials_of(storage, name)
    interrupted = [t for t in trials if t.user_attrs.get("status") == "interrupted"]
    assert len(interrupted) == 1 and interrupted[0].state.name == "FAIL"
    assert any(
        t.user_attrs.get("retry_of") == interrupted[0].number and t.state.name == "WAITING"
        for t in trials
    )
    assert not [t for t in trials if t.state.name == "RUNNING"]

    # Two Ctrl-C in a row: out at once, and the storage stays usable and consistent.
    worker = start_worker(path, storage, tmp_path, "--heartbeat", "1")
    wait_for(lambda: sum(t.state.name == "RUNNING" for t in trials_of(storage, name)) == 1)
    worker.send_signal(signal.SIGINT)
    worker.send_signal(signal.SIGINT)
    worker.communicate(timeout=60)
    assert worker.returncode == 130
    finisher = start_worker(path, storage, tmp_path, "--heartbeat", "1")
    _, err = finisher.communicate(timeout=600)
    assert finisher.returncode == 0, err
    assert_each_point_complete_once(trials_of(storage, name), 24)


@pytest.mark.postgres
def test_postgres_restart_loses_no_trial(tmp_path) -> None:
    url = _postgres_url()
    restart = os.environ.get("ABLATE_TEST_POSTGRES_RESTART")
    if not restart:
        pytest.fail("set ABLATE_TEST_POSTGRES_RESTART to the command that restarts the server")
    path, name = study_file(tmp_path, epochs=3, train=512)
    workers = [start_worker(path, url, tmp_path, "--heartbeat", "1") for _ in range(2)]
    wait_for(lambda: sum(t.state.name == "COMPLETE" for t in trials_of(url, name)) >= 2)
    subprocess.run(restart, shell=True, check=True, capture_output=True, timeout=120)
    outputs = [w.communicate(timeout=600) for w in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        # Either it reconnected and finished, or it stopped with one clear line.
        assert worker.returncode in (0, 2), err
        assert "Traceback" not in err
        if worker.returncode == 2:
            assert "lost the storage" in err or "cannot" in err
            assert url.split(":")[2].split("@")[0] not in err  # the password is masked
    # Whatever was left running is re-queued by the next worker and finished.
    finisher = start_worker(path, url, tmp_path, "--heartbeat", "1")
    _, err = finisher.communicate(timeout=600)
    assert finisher.returncode == 0, err
    assert_each_point_complete_once(trials_of(url, name), 24)


def test_sweep_with_two_local_workers_shares_the_grid(tmp_path) -> None:
    path, name = study_file(tmp_path)
    db = f"sqlite:///{tmp_path / 'pool.db'}"
    out = run_sweep(path, db, tmp_path, "--workers", "2", "--no-report")
    assert out.returncode == 0, out.stderr
    assert "2 workers" in out.stderr and "Per architecture" in out.stdout
    trials = trials_of(db, name)
    assert len(trials) == 24
    assert_each_point_complete_once(trials, 24)
    pids = {t.user_attrs["environment"]["device"] for t in trials}
    assert pids == {"cpu"}


def test_status_reads_only_the_storage(tmp_path, cli) -> None:
    path, name = study_file(tmp_path)
    db = f"sqlite:///{tmp_path / 'status.db'}"
    assert (
        cli(
            "sweep", "--study", path, "--storage", db, "--n-trials", "4", "--quiet", "--no-report"
        ).code
        == 0
    )
    out = cli("status", "--study", name, "--storage", db)
    assert out.code == 0
    assert "complete" in out.out and "4" in out.out and "workers" in out.out


def test_bad_database_url_is_one_masked_line(cli) -> None:
    out = cli(
        "worker",
        "--study",
        "seed",
        "--storage",
        "postgresql+psycopg2://bob:s3cr3t-pw@127.0.0.1:1/nope",
    )
    assert out.code == 2 and out.err.count("\n") == 1
    assert "s3cr3t-pw" not in out.err and "bob:***@" in out.err


@pytest.mark.postgres
def test_sweep_output_never_shows_the_password(tmp_path) -> None:
    url = _postgres_url()
    path, _ = study_file(tmp_path)
    out = run_sweep(path, url, tmp_path, "--n-trials", "2", "--no-report")
    assert out.returncode == 0, out.stderr
    password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert password not in out.stdout + out.stderr
    assert "***@" in out.stderr
