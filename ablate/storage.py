"""Opening Optuna storages with clear, password-free errors.

``sqlite:///file.db`` (the default, one process), ``journal:path.log`` or a ``.log``
path (a journal file, safe for several local processes), and any SQLAlchemy URL such as
``postgresql://user:pass@host/db`` for many machines.
"""

from __future__ import annotations

import re
from pathlib import Path

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
    url: str | None, *, heartbeat_interval: int | None = None, grace_period: int | None = None
) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``url``; any failure is one ``AblateError`` line."""
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
    kwargs: dict = {}
    if heartbeat_interval:
        kwargs.update(
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            failed_trial_callback=None,
        )
    try:
        return optuna.storages.RDBStorage(url, **kwargs)
    except Exception as exc:  # sqlalchemy raises many kinds; all mean "cannot use it"
        raise AblateError(f"cannot open storage {mask(url)}: {_first_line(exc)}") from None
