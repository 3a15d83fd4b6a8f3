"""Opening Optuna storages with clear, password-free errors.

``sqlite:///file.db`` (the default, one process), ``journal:path.log`` or a ``.log``
path (a journal file, safe for several local processes), and any SQLAlchemy URL such as
``postgresql://user:pass@host/db`` for many machines.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import optuna

from ablate.errors import AblateError

DEFAULT_STORAGE = "sqlite:///ablate.db"
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
    url = url or DEFAULT_STORAGE
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
    if heartbeat_interval:
        kwargs.update(
            heartbeat_interval=heartbeat_interval,
            grace_period=2 * heartbeat_interval,
            heartbeat_stale_trial_callback=(
                optuna.storages.RetryFailedTrialCallback(max_retry=3) if retry_failed else None
            ),
        )
    if url.startswith("sqlite"):
        # Several local processes share one file: wait for locks instead of failing.
        engine = {"connect_args": {"timeout": 120}}
    else:
        # Survive a database restart: test pooled connections before use.
        engine = {"pool_pre_ping": True}
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine, **kwargs)
    except Exception as exc:  # sqlalchemy raises many kinds; all mean "cannot use it"
        raise AblateError(f"cannot open storage {mask(url)}: {_first_line(exc)}") from None


def is_storage_error(exc: BaseException) -> bool:
    """Whether ``exc`` means the storage went away (connection lost, database down)."""
    try:
        from sqlalchemy import exc as sa_exc
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.DBAPIError)
