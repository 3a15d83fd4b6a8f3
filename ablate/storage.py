"""Opening Optuna storages with clear, password-free errors.

``sqlite:///file.db`` (the default, one process), ``journal:path.log`` or a ``.log``
path (a journal file, safe for several local processes), and any SQLAlchemy URL such as
``postgresql://user:pass@host/db`` for many machines.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from pathlib import Path
from typing import Any

import optuna

from ablate.errors import AblateError

DEFAULT_STORAGE = "sqlite:///ablate.db"


def default_storage() -> str:
    """``$ABLATE_STORAGE`` if set, else an SQLite file in the working directory."""
    return os.environ.get("ABLATE_STORAGE") or DEFAULT_STORAGE


_PASSWORD = re.compile(r"(?P<head>[a-z0-9+]+://[^:/@\s]*:)(?P<pw>[^@\s]*)(?P<tail>@)", re.I)


def mask(text: str) -> str:
    """Replace any password in a URL (or a message quoting one) with ``***``."""
    return _PASSWORD.sub(lambda m: f"{m['head']}***{m['tail']}", str(text))


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return mask(text[0] if text else type(exc).__name__)


def open_storage(
    url: str | None, *, heartbeat_interval: int | None = None, retry_failed: bool = False
) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``url``; any failure is one ``AblateError`` line.

    With ``heartbeat_interval`` (RDB storages only) each running trial records a heartbeat;
    a trial whose worker died (SIGKILL, lost machine) goes stale after twice the interval
    and Optuna's ``RetryFailedTrialCallback`` queues it again.
    """
    url = url or default_storage()
    if url.startswith("journal:") or url.endswith(".log"):
        from optuna.storages.journal import JournalFileBackend

        path = Path(url.removeprefix("journal:"))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        except OSError as exc:
            raise AblateError(f"cannot open journal storage {path}: {exc}") from None
    if "://" not in url:
        raise AblateError(
            f"storage {mask(url)!r} is not a URL: use sqlite:///FILE.db, journal:FILE.log "
            f"or postgresql://USER@HOST/DB"
        )
    kwargs: dict[str, Any] = {}
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message=".*Heartbeat of storage.*")
    if heartbeat_interval:
        kwargs.update(
            heartbeat_interval=heartbeat_interval,
            grace_period=2 * heartbeat_interval,
            heartbeat_stale_trial_callback=(
                optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3)
                if retry_failed
                else None
            ),
        )
    if url.startswith("sqlite"):
        # Several local processes share one file: wait for locks instead of failing.
        engine = {"connect_args": {"timeout": 120}}
    else:
        # Survive a database restart: test pooled connections before use.
        engine = {"pool_pre_ping": True}
    for attempt in range(6):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # heartbeats are "experimental" in Optuna
                storage = optuna.storages.RDBStorage(url, engine_kwargs=engine, **kwargs)
            if url.startswith("sqlite"):
                _serialise_sqlite(storage.engine)
            return storage
        except Exception as exc:  # sqlalchemy raises many kinds; all mean "cannot use it"
            # Workers starting together race to create the schema: the losers retry.
            racing = any(
                s in str(exc)
                for s in (
                    "UNIQUE constraint",
                    "already exists",
                    "database is locked",
                    "duplicate key",
                )
            )
            if not racing or attempt == 5:
                raise AblateError(f"cannot open storage {mask(url)}: {_first_line(exc)}") from None
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _serialise_sqlite(engine: Any) -> None:
    """Make every SQLite transaction take the write lock when it begins.

    SQLite ignores ``SELECT ... FOR UPDATE``, so two processes could both see a queued
    trial as WAITING and both run it. ``BEGIN IMMEDIATE`` serialises the read-check-write
    of Optuna's pop, which makes one SQLite file safe for several local workers.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        # Write-ahead logging: short commits, so workers wait less for each other's locks.
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections made while creating the schema lack the hooks


def is_storage_error(exc: BaseException) -> bool:
    """Whether ``exc`` means the storage went away (connection lost, database down)."""
    try:
        from sqlalchemy import exc as sa_exc
    except ImportError:  # pragma: no cover
        return False
    kinds = (
        sa_exc.OperationalError,
        sa_exc.InterfaceError,
        sa_exc.DBAPIError,
        optuna.exceptions.StorageInternalError,
    )
    return isinstance(exc, kinds)
