"""Source backups with SQLite's online backup API (a plain file copy of a WAL database can
lose committed transactions still in the -wal file)."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import apsw

from ..db import copy_database, describe
from ..errors import SourceError
from ..files import fsync_dir


def backup_path_for(source: Path, when: datetime | None = None) -> Path:
    stamp = (when or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H-%M-%SZ")
    candidate = source.with_name(f"{source.stem}.backup-{stamp}.db")
    n = 1
    # a name nothing holds, not even a link (writing through one would write outside the folder)
    while os.path.lexists(candidate) or os.path.lexists(candidate.with_name(candidate.name + ".tmp")):
        candidate = source.with_name(f"{source.stem}.backup-{stamp}-{n}.db")
        n += 1
    return candidate


def list_backups(source: Path) -> list[str]:
    return sorted(str(p) for p in source.parent.glob(f"{source.stem}.backup-*.db"))


def backup_source(conn: apsw.Connection, source: Path) -> Path:
    """Copy the database open on `conn` beside `source`; written to a temp name, then renamed."""
    final = backup_path_for(source)
    temp = final.with_name(final.name + ".tmp")
    try:
        copy_database(conn, temp)
        os.replace(temp, final)
        fsync_dir(final.parent)
    except (apsw.Error, OSError) as exc:
        for leftover in (temp, temp.with_name(temp.name + "-journal")):
            try:
                leftover.unlink(missing_ok=True)
            except OSError:  # e.g. a read-only disk, where nothing was made either
                pass
        raise SourceError(f"cannot write the source backup {final}: {describe(exc)} "
                          f"(pass --no-backup to skip it)") from None
    return final
