"""APSW connections, sqlite-vec loading, named SQL files and transactions.

Nothing here depends on Python's `sqlite3` module: many builds compile it without
extension loading, so vecmigrate uses APSW everywhere.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import stat
import tempfile
from importlib import resources
from pathlib import Path
from typing import Iterator

import apsw
import sqlite_vec

from .errors import SourceError, TargetError, UsageError, VecmigrateError
from .files import fsync_file

BUSY_TIMEOUT_MS = 5000
TARGET_BUSY_TIMEOUT_MS = 60_000  # writers of one target wait for each other's transaction (a sync pass)
MMAP_BYTES = 1 << 30  # readers map target pages: search payload lookups skip read() copies


def quote_identifier(name: str) -> str:
    """The one way an identifier enters SQL text: double-quoted, inner quotes doubled."""
    if "\x00" in name:
        raise ValueError(f"identifier contains NUL: {name!r}")
    return '"' + name.replace('"', '""') + '"'


@functools.cache
def sql(name: str) -> str:
    """The text of `sql/<name>.sql`, shipped inside the package."""
    return resources.files("vecmigrate").joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


def fill(text: str, **values: str | int) -> str:
    """Fill `{name}` placeholders of a named SQL file with code-chosen fragments (never user input:
    values are validated integers, enum words or fixed clauses)."""
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text


def sql_files() -> list[str]:
    """Names of every shipped SQL file (without `.sql`)."""
    folder = resources.files("vecmigrate").joinpath("sql")
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".sql"))


def extension_path() -> str:
    """Path to the sqlite-vec loadable extension (what `.load` takes in the sqlite3 shell)."""
    return sqlite_vec.loadable_path()


def load_vec(conn: apsw.Connection) -> apsw.Connection:
    conn.enable_load_extension(True)
    conn.load_extension(sqlite_vec.loadable_path())
    conn.enable_load_extension(False)
    return conn


def check_source_file(path: Path) -> None:
    """A source must be a readable regular file (a FIFO or device would block or never end)."""
    if not path.exists():
        raise SourceError(f"source database not found: {path}")
    if path.is_dir():
        raise SourceError(f"source is a directory, not a SQLite file: {path}")
    if not stat.S_ISREG(path.stat().st_mode):
        raise SourceError(f"source {path} is not a regular file (a FIFO, socket or device): "
                          f"vecmigrate reads SQLite database files")
    if not os.access(path, os.R_OK):
        raise SourceError(f"source database is not readable (permission denied): {path}")


def open_source(path: str | os.PathLike) -> apsw.Connection:
    """Open a source database read-only and check that it really is a readable SQLite file."""
    path = Path(path)
    check_source_file(path)
    return _connect(path, apsw.SQLITE_OPEN_READONLY, SourceError, "source")


_ORIGINAL_NAMES: dict[str, str] = {}  # a temporary copy's filename -> the source file it copies


def source_name(conn: apsw.Connection) -> str:
    """The source file a connection reads (the original, when it reads a temporary copy)."""
    return _ORIGINAL_NAMES.get(conn.filename, conn.filename)


def is_wal_file(path: Path) -> bool:
    """The header says WAL mode (bytes 18 and 19 are 2)."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(20)
    except OSError:
        return False
    return len(header) == 20 and header[:16] == b"SQLite format 3\x00" and header[18] == header[19] == 2


def source_state(path: Path) -> dict[str, list[int]]:
    """What changes when anything writes the source: size, modification time and (main file) the
    header's change counter, of the file and its -wal. Taken before a run's snapshot and kept with
    the run, so that resuming over a changed source is noticed (never false the other way: a
    change between this and the snapshot only makes the resume start over)."""
    state: dict[str, list[int]] = {}
    if not path.name:  # ".", "/", "": a folder, which the snapshot refuses in one line
        return state
    for suffix in ("", "-wal"):
        beside = path.with_name(path.name + suffix)
        try:
            info = beside.stat()
        except OSError:
            continue
        counter = 0
        if suffix == "" and stat.S_ISREG(info.st_mode):
            try:
                with open(beside, "rb") as handle:
                    header = handle.read(28)
                counter = int.from_bytes(header[24:28], "big") if len(header) == 28 else 0
            except OSError:
                pass
        state[suffix or "db"] = [info.st_size, info.st_mtime_ns, counter]
    return state


class HotJournal(SourceError):
    """A rollback journal left by a writer that died mid-transaction (SQLite decides: no live
    writer holds it). Reading the database means rolling it back, which a read-only connection
    cannot do. A source's is rolled back in a private copy (the source is never written); a
    target's is rolled back in place (see open_target)."""


def needs_private_copy(path: Path) -> bool:
    """A WAL-mode source that SQLite cannot read in place without writing beside it. Reading
    it needs a -shm file (and its -wal, whose rows are part of the database), which SQLite
    creates, and leaves, beside the source when they are missing. They are missing when no
    process has the database open (a file as committed to a repository) or cannot be created
    (a read-only folder or file); a database in use has both, and is read in place."""
    if not is_wal_file(path):
        return False
    writable = os.access(path.parent, os.W_OK) and os.access(path, os.W_OK)
    return not writable or not path.with_name(path.name + "-shm").exists()


@contextlib.contextmanager
def open_source_snapshot(path: str | os.PathLike) -> Iterator[apsw.Connection]:
    """A read-only connection to a source, closed at the end. A WAL-mode source that cannot be
    opened in place without writing beside it (read-only folder or file), and a source with a dead
    writer's hot journal, are read from a private copy of the file and its -wal / -journal: the
    WAL's rows are read, the journal is rolled back in the copy, nothing is written beside the source."""
    path = Path(path)
    check_source_file(path)
    if not needs_private_copy(path):
        try:
            conn = open_source(path)
        except HotJournal:
            conn = None
        if conn is not None:
            try:
                yield conn
            finally:
                conn.close()
            return
    with tempfile.TemporaryDirectory(prefix="vecmigrate-source-") as folder:
        copy = Path(folder) / path.name
        try:
            shutil.copyfile(path, copy)
            os.chmod(copy, 0o600)  # in a private folder; SQLite writes it (a -shm, a rolled-back journal)
            for suffix in ("-wal", "-journal"):  # committed rows in a WAL; a hot journal's undo
                beside = path.with_name(path.name + suffix)
                if beside.exists():
                    shutil.copyfile(beside, copy.with_name(copy.name + suffix))
                    os.chmod(copy.with_name(copy.name + suffix), 0o600)
        except OSError as exc:
            raise SourceError(f"cannot read source database {path}: {describe(exc)}") from None
        # read-write, so that SQLite rolls a hot journal back (in the private copy only)
        conn = _connect(copy, apsw.SQLITE_OPEN_READWRITE, SourceError, "source")
        _ORIGINAL_NAMES[conn.filename] = str(path)
        try:
            yield conn
        finally:
            _ORIGINAL_NAMES.pop(conn.filename, None)
            conn.close()


# what a read-only connection would still write: another file (ATTACH, and VACUUM INTO, which
# attaches its output) or temporary tables (writes to its own file are refused by SQLite)
_WRITES = {apsw.SQLITE_ATTACH, apsw.SQLITE_DETACH} | {
    getattr(apsw, name) for name in dir(apsw) if name.startswith(("SQLITE_CREATE_TEMP_", "SQLITE_DROP_TEMP_"))}


def _read_only(action: int, name: str | None, detail: str | None, database: str | None, trigger: str | None) -> int:
    """SQLite authorizer of a reader: nothing that writes, anywhere. A read-only connection
    already refuses writes to its own file; this also refuses ATTACH (and so `VACUUM INTO`,
    which writes a copy wherever it is told) and temporary tables."""
    return apsw.SQLITE_DENY if action in _WRITES else apsw.SQLITE_OK


def guard_reader(conn: apsw.Connection) -> apsw.Connection:
    conn.authorizer = _read_only
    conn.limit(apsw.SQLITE_LIMIT_ATTACHED, 0)
    return conn


def open_target(path: str | os.PathLike, *, readonly: bool = False) -> apsw.Connection:
    """Open the target's patterns.sqlite with sqlite-vec loaded. A read-only connection writes
    nothing anywhere (see `guard_reader`)."""
    flags = apsw.SQLITE_OPEN_READONLY if readonly else apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
    try:
        conn = _connect(path, flags, TargetError, "target", vec=True)
    except HotJournal:
        # A writer (a store, reconcile) died mid-transaction. Its journal is rolled back as SQLite
        # does for any writer that opens the file (restoring the last commit; SQLite's own locks
        # make this safe beside other processes), then the file is read as asked.
        _connect(path, apsw.SQLITE_OPEN_READWRITE, TargetError, "target").close()
        conn = _connect(path, flags, TargetError, "target", vec=True)
    conn.set_busy_timeout(TARGET_BUSY_TIMEOUT_MS)
    if readonly:  # (a writer gains little from it, and mapped pages would count in its RSS)
        guard_reader(conn)
        conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
    else:
        conn.execute("PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF")
    return conn


def _connect(path: str | os.PathLike, flags: int, error: type[VecmigrateError], what: str, *,
             vec: bool = False) -> apsw.Connection:
    """Open and touch a database, turning what can go wrong into one line naming the file."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:  # SQLite takes file names as UTF-8 text
        raise (UsageError if what == "source" else error)(
            f"the {what} path {str(path)!r} is not valid UTF-8; rename it or use a path that is") from None
    conn = None
    try:
        conn = apsw.Connection(str(path), flags=flags)
        conn.set_busy_timeout(BUSY_TIMEOUT_MS)
        if vec:
            load_vec(conn)
        conn.execute("SELECT count(*) FROM sqlite_schema").fetchall()
    except apsw.Error as exc:
        if conn is not None:
            conn.close()
        raise _open_error(exc, path, error, what) from None
    return conn


def _open_error(exc: apsw.Error, path: str | os.PathLike, error: type[VecmigrateError], what: str) -> VecmigrateError:
    """The one-line error for a database that failed to open."""
    if isinstance(exc, apsw.NotADBError):
        return error(f"{what} is not a SQLite database: {path}")
    if isinstance(exc, apsw.CorruptError):
        return error(f"{what} database is corrupt: {path}")
    if isinstance(exc, apsw.ReadOnlyError) and Path(path).with_name(Path(path).name + "-journal").exists():
        return HotJournal(f"{what} {path} has a hot journal")
    if isinstance(exc, apsw.BusyError):
        return error(f"{what} database {path} stayed locked by a process writing it for "
                     f"{BUSY_TIMEOUT_MS // 1000} s: try again when that write is done")
    return error(f"cannot open {what} database {path}: {describe(exc)}")


def copy_database(source: apsw.Connection, dest: Path) -> None:
    """Copy the database open on `source` to `dest` with SQLite's backup API (consistent
    even for a WAL database or one with a hot journal, where a file copy may not be), fsynced."""
    out = apsw.Connection(str(dest))
    try:
        with out.backup("main", source, "main") as step:
            while not step.done:
                step.step(8192)
    finally:
        out.close()
    fsync_file(dest)


@contextlib.contextmanager
def reading_source(conn: apsw.Connection, what: str = "") -> Iterator[None]:
    """Turn corruption met while reading a source into a one-line SourceError naming the file."""
    try:
        yield
    except (apsw.CorruptError, apsw.NotADBError):
        where = f" ({what})" if what else ""
        raise SourceError(f"source database is corrupt: {conn.filename}{where}") from None
    except apsw.IOError as exc:
        raise SourceError(f"cannot read source database {conn.filename}: {describe(exc)}") from None


@contextlib.contextmanager
def atomic(conn: apsw.Connection) -> Iterator[apsw.Connection]:
    """One write transaction: BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if not conn.get_autocommit():
            conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


def table_columns(conn: apsw.Connection, table: str, schema: str = "main") -> list[str]:
    """The table's columns (generated ones included). A name that is not UTF-8 cannot be written in
    SQL text, so its values could not be read: the table is refused, naming it."""
    names = [r[0] for r in conn.execute("SELECT CAST(name AS BLOB) FROM pragma_table_xinfo(?, ?) "
                                        "WHERE hidden IN (0, 2, 3)", (table, schema))]
    try:
        return [n.decode("utf-8") for n in names]
    except UnicodeDecodeError:
        raise SourceError(f"table {table!r} has a column whose name is not valid UTF-8; vecmigrate cannot name it "
                          f"in SQL: rename it in a copy of the file") from None


def table_names(conn: apsw.Connection, *, internal: bool = False) -> list[str]:
    """The database's tables (sqlite_* ones only when `internal`). A table whose name is not
    UTF-8 cannot be named in SQL text: it is left out, as if absent."""
    rows = conn.execute("SELECT CAST(name AS BLOB) FROM sqlite_schema WHERE type = 'table'"
                        + ("" if internal else " AND name NOT LIKE 'sqlite_%'") + " ORDER BY name")
    return [name for (raw,) in rows if (name := _utf8(raw)) is not None]


def _utf8(raw: bytes | None) -> str | None:
    try:
        return raw.decode("utf-8") if raw is not None else None
    except UnicodeDecodeError:
        return None


def describe(exc: BaseException) -> str:
    """A one-line description of a low-level error, for users."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{type(exc).__name__}: {text}" if isinstance(exc, apsw.Error) else text
