"""One exception hierarchy. Every message is written for the user: one line, naming
the file, the row or the flag that is wrong. The CLI catches `VecmigrateError` once."""

from __future__ import annotations


class VecmigrateError(Exception):
    """Base of every error vecmigrate raises on purpose. `exit_code` is what the CLI returns."""

    exit_code = 1


class UsageError(VecmigrateError):
    """A flag or argument that cannot work (exit 2)."""

    exit_code = 2


class SourceError(VecmigrateError):
    """The source database is missing, unreadable, corrupt or has no known pattern table."""


class TargetError(VecmigrateError):
    """The target store is missing, locked, inconsistent or cannot be written."""


class EmbeddingError(VecmigrateError):
    """An embedder could not be loaded or returned vectors of the wrong shape."""


class EmbedderNameError(UsageError, EmbeddingError):
    """--embedder names no embedder vecmigrate can load (exit 2, like any other bad flag)."""


class StrictModeError(VecmigrateError):
    """`--strict` found bad rows; nothing was written."""

    def __init__(self, message: str, bad_rows: list) -> None:
        super().__init__(message)
        self.bad_rows = bad_rows


class RowRejected(ValueError):
    """One source row cannot be migrated; the message is its quarantine reason.

    Not a `VecmigrateError`: it never reaches the user as a failure, only as a quarantine
    entry (or, under `--strict`, inside the refusal's list).
    """
