"""Source backups with SQLite's online backup API (a plain file copy of a WAL database can
lose committed transactions still in the -wal file)."""

from __future__ import annotations

import glob
import os
import re
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


BACKUP_NAME = re.compile(r"\.backup-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ(-\d+)?\.db")  # what backup_path_for names


def list_backups(source: Path) -> list[str]:
    """The backups vecmigrate made of `source` (named by backup_path_for), oldest first."""
    found = [p for p in source.parent.glob(f"{glob.escape(source.stem)}.backup-*.db")
             if BACKUP_NAME.fullmatch(p.name[len(source.stem):]) and p.is_file() and not p.is_symlink()]
    return [str(p) for p in sorted(found, key=_made_order)]


def _made_order(path: Path) -> tuple[int, str]:
    """When a backup was written (a name freed by pruning is taken again within one second, so
    the name alone does not order them)."""
    try:
        return path.stat().st_mtime_ns, path.name
    except OSError:
        return 0, path.name


def prune_backups(source: Path, keep: int) -> list[str]:
    """Remove the oldest backups of `source` vecmigrate made, keeping the newest `keep`; the
    paths removed. A file that cannot be removed stays (and is not listed)."""
    removed = []
    for path in list_backups(source)[:-keep] if keep > 0 else []:
        try:
            os.unlink(path)
            removed.append(path)
        except OSError:
            pass
    return removed


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
