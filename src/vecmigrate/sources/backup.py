"""Source backups with SQLite's online backup API (a plain file copy of a WAL database can
lose committed transactions still in the -wal file)."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import re
import stat
from datetime import datetime, timezone
from pathlib import Path

import apsw

from ..db import copy_database, describe
from ..errors import SourceError
from ..files import fsync_dir


def backup_path_for(source: Path, when: datetime | None = None, *, claim: bool = False) -> Path:
    """`<source file name>.backup-<UTC time>[-n].db` beside it: the whole name, so that `qe.db`
    and `qe.sqlite` (or a file `qe`) never share backups; `-n` above any taken that second, so
    that names sort in the order the backups were made. `claim`: the name is taken at once (an
    empty file made with O_EXCL), so that two runs in one second never pick the same one."""
    stamp = (when or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H-%M-%SZ")
    taken = [_parts(Path(p))[1] for p in _named_like_backups(source) if _parts(Path(p))[0] == stamp]
    n = max(taken, default=-1) + 1
    while True:
        candidate = source.with_name(f"{source.name}.backup-{stamp}{f'-{n}' if n else ''}.db")
        # a name nothing holds, not even a link (writing through one would write outside the folder)
        if not os.path.lexists(candidate) and not os.path.lexists(candidate.with_name(candidate.name + ".tmp")):
            if not claim:
                return candidate
            try:
                os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
                return candidate
            except FileExistsError:  # another run took it meanwhile
                pass
        n += 1


# what backup_path_for names (after the source's file name): ASCII digits, n without leading zeros
BACKUP_NAME = re.compile(r"\.backup-([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}-[0-9]{2}-[0-9]{2}Z)(?:-([1-9][0-9]*))?\.db",
                         re.ASCII)
SQLITE_HEADER = b"SQLite format 3\x00"


def _named_like_backups(source: Path, prefix: str | None = None) -> list[str]:
    prefix = source.name if prefix is None else prefix
    return [str(p) for p in source.parent.glob(f"{glob.escape(prefix)}.backup-*.db")
            if BACKUP_NAME.fullmatch(p.name[len(prefix):])]


_AT_THE_END = re.compile(BACKUP_NAME.pattern + r"\Z", re.ASCII)


def _parts(path: Path) -> tuple[str, int]:
    """The time and n of a backup's name (from its end: a source may be named like a backup)."""
    match = _AT_THE_END.search(path.name)
    return match.group(1), int(match.group(2) or 0)


def list_backups(source: Path, *, earlier: bool = False) -> list[str]:
    """The backups vecmigrate made of `source`, oldest first: files named as backup_path_for
    names them (ordered by that name: the time, then n), regular files (no links), SQLite
    databases. `earlier`: also those vecmigrate 0.1 named after the stem of a `.db` source
    (`qe.backup-….db`; listed by status, never pruned: a `qe.sqlite` beside it named its
    backups so too)."""
    found = [Path(p) for p in _named_like_backups(source)]
    if earlier and source.suffix == ".db":
        found += [Path(p) for p in _named_like_backups(source, source.stem)]
    found = [p for p in found if p.is_file() and not p.is_symlink() and _is_sqlite(p)]
    return [str(p) for p in sorted(found, key=_parts)]


def _is_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def prune_backups(source: Path, keep: int, *, made_now: Path | None = None) -> list[str]:
    """Remove the oldest backups of `source` vecmigrate made, keeping the newest `keep` (and
    always `made_now`, the one this run made, and any a run still under way holds: see
    holding); the paths removed. A file that cannot be removed stays (and is not listed)."""
    removed = []
    for path in list_backups(source)[:-keep] if keep > 0 else []:
        if made_now is not None and Path(path) == made_now:
            continue
        try:  # (never blocking: a FIFO may have been put in its place since it was listed)
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # (refused while another run holds it)
            os.unlink(path)
            removed.append(path)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


@contextlib.contextmanager
def holding(backup: Path | None):
    """Hold the backup this run made (a shared flock) while the run goes on, so that another
    run pruning the same source's backups meanwhile leaves it alone."""
    fd = None
    if backup is not None:
        try:
            fd = os.open(backup, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            fcntl.flock(fd, fcntl.LOCK_SH)
        except OSError:  # (unlocked, it is still kept by this run's own pruning)
            pass
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)


def backup_source(conn: apsw.Connection, source: Path) -> Path:
    """Copy the database open on `conn` beside `source`; written to a temp name, then renamed."""
    try:
        final = backup_path_for(source, claim=True)  # (an empty file of ours until the copy replaces it)
    except OSError as exc:  # a read-only folder, a full disk: nothing was made
        raise SourceError(f"cannot write the source backup beside {source}: {describe(exc)} "
                          f"(pass --no-backup to skip it)") from None
    temp = final.with_name(final.name + ".tmp")
    try:
        copy_database(conn, temp)
        os.replace(temp, final)
        fsync_dir(final.parent)
    except BaseException as exc:  # (Ctrl-C included: a failed command leaves nothing behind)
        for leftover in (temp, temp.with_name(temp.name + "-journal"), final):  # (final: the name we claimed)
            try:
                leftover.unlink(missing_ok=True)
            except OSError:  # e.g. a read-only disk, where nothing was made either
                pass
        if not isinstance(exc, (apsw.Error, OSError)):
            raise
        raise SourceError(f"cannot write the source backup {final}: {describe(exc)} "
                          f"(pass --no-backup to skip it)") from None
    return final
