"""Errors that the CLI turns into one clear line and exit code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class AblateError(Exception):
    """A user-facing error: its message is the whole story, no traceback needed."""


class UnknownComponentError(AblateError, KeyError):
    """A component name that no plugin registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listing = ", ".join(known) if known else "none registered"
        super().__init__(f"unknown {kind} {name!r} (known: {listing}){hint}")
        self.kind, self.name = kind, name

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DataError(AblateError):
    """Missing, truncated or corrupt data files."""


class ConfigError(AblateError):
    """A config or study that does not validate."""
