"""The change log: every change to a pattern appends (seq, key, pattern_id, op, origin, at) to
`vecmigrate_changes` in the same transaction as the change.

A USearch index is a cache of the log: it knows the last seq it applied, and catching up
means re-reading from the vec0 mirror the keys changed after it (a key whose vec0 row is gone
leaves the index). The saved index file records its seq (`vecmigrate_meta.index_seq`), so
several processes can write one target and each one's index (and each reader's) stays right.
A generation records the seq it went live at (`live_seq`): the changes after it are the
writes a rollback would lose.
"""

from __future__ import annotations

import contextlib
import time
from typing import Iterator, Sequence

import apsw

UPSERT, DELETE, USAGE = "upsert", "delete", "usage"
MIGRATE, STORE, ROLLBACK, RECONCILE = "migrate", "store", "rollback", "reconcile"
REPAIR = "repair"  # puts back what a pattern was (its vector, its row, its log entry): never a new value


def sync_origin(source: str) -> str:
    return f"sync {source}"


def append(conn: apsw.Connection, keys: Sequence[int], ids: Sequence[str | None], op: str, origin: str) -> None:
    """Log one change per key (in the caller's transaction)."""
    at = int(time.time() * 1000)
    conn.executemany("INSERT INTO vecmigrate_changes(key, pattern_id, op, origin, at) VALUES (?, ?, ?, ?, ?)",
                     [(int(k), i, op, origin, at) for k, i in zip(keys, ids)])


def position(conn: apsw.Connection) -> int:
    """The seq of the last change (0 when none)."""
    return conn.execute("SELECT coalesce(max(seq), 0) FROM vecmigrate_changes").fetchall()[0][0]


def next_key(conn: apsw.Connection) -> int:
    """A key above every key the target holds or ever held: keys are never reused, so a change
    logged for a key always means the same pattern."""
    row = conn.execute("SELECT max(coalesce((SELECT max(key) FROM patterns), 0),"
                       " coalesce((SELECT max(key) FROM vecmigrate_changes), 0))").fetchall()[0]
    return row[0] + 1


def vector_keys_changed(conn: apsw.Connection, after: int, upto: int) -> list[int]:
    """Keys whose vector may have changed in (after, upto] (usage changes touch no vector)."""
    return [r[0] for r in conn.execute("SELECT DISTINCT key FROM vecmigrate_changes WHERE seq > ? AND seq <= ?"
                                       " AND op != 'usage' ORDER BY key", (after, upto))]


def written_since(conn: apsw.Connection, key: int, seq: int, *, usage: bool = False) -> bool:
    """Was pattern `key` written or deleted after `seq`? (Usage counts are not writes, unless
    `usage`; nor is what `repair` put back as it was.)"""
    ops = "" if usage else " AND op != 'usage'"
    return bool(conn.execute(f"SELECT 1 FROM vecmigrate_changes WHERE key = ? AND seq > ?{ops} AND origin != ? LIMIT 1",
                             (key, seq, REPAIR)).fetchall())


def writes_since(conn: apsw.Connection, seq: int) -> dict[str, int]:
    """Changes after `seq`, counted by origin (the most first)."""
    return dict(conn.execute("SELECT origin, count(*) FROM vecmigrate_changes WHERE seq > ?"
                             " GROUP BY origin ORDER BY 2 DESC, 1", (seq,)).fetchall())


def changed_ids_since(conn: apsw.Connection, seq: int) -> list[str]:
    """Pattern ids changed after `seq`, in the order of their last change."""
    return [r[0] for r in conn.execute("SELECT pattern_id FROM vecmigrate_changes WHERE seq > ? AND pattern_id"
                                       " IS NOT NULL GROUP BY pattern_id ORDER BY max(seq)", (seq,))]


@contextlib.contextmanager
def reading(conn: apsw.Connection) -> Iterator[apsw.Connection]:
    """One consistent read (a read transaction), or the caller's transaction if it has one."""
    if not conn.get_autocommit():
        yield conn
        return
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        if not conn.get_autocommit():
            conn.execute("COMMIT")


def describe_writes(writes: dict[str, int]) -> str:
    """'1 write (from store)', '12 writes (9 from store, 3 from sync /data/a.db)'."""
    total = sum(writes.values())
    if len(writes) == 1:
        return f"{total} write{'s' if total != 1 else ''} (from {next(iter(writes))})"
    return f"{total} writes (" + ", ".join(f"{n} from {origin}" for origin, n in writes.items()) + ")"
