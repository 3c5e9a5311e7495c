"""`reconcile`: make the two sides of a dual write equal again. Replays the journal of failed
secondary writes, then repairs every remaining difference in ids or vectors in either
direction (the primary wins where both have an id), and rebuilds an index that disagrees
with its own vec0 mirror."""

from __future__ import annotations

import os
import time
from pathlib import Path

import apsw
import numpy as np

from ..db import atomic
from ..errors import RowRejected, TargetError, UsageError, VecmigrateError
from ..models import ReconcileReport
from ..stores import open_store
from ..stores.base import StoreBase
from ..stores.legacy import LegacyStore
from ..target.changelog import RECONCILE
from .verify import Checks, check_consistency

BATCH = 1000


def _rows(store: StoreBase) -> dict[str, tuple]:
    """id -> (vector bytes, payload columns) of every pattern."""
    cursor = store.conn.execute(
        "SELECT p.id, v.embedding, p.type, p.domain, p.content, p.framework, p.coverage, p.flakiness_score,"
        " p.verdict, p.created_at, p.last_used, p.usage_count, p.metadata"
        " FROM patterns p JOIN patterns_vec v ON v.rowid = p.key")
    return {row[0]: (row[1], row[2:]) for row in cursor}


def _copy(ids: list[str], source: StoreBase, dest: StoreBase) -> int:
    for start in range(0, len(ids), BATCH):
        found = [source.get(i) for i in ids[start:start + BATCH]]
        found = [f for f in found if f is not None]
        if found:
            dest.store_batch([f.pattern for f in found], np.stack([f.vector for f in found]))
    return len(ids)


def reconcile(primary: str | Path, secondary: str | Path, *, primary_backend: str = "usearch",
              secondary_backend: str = "sqlite-vec") -> ReconcileReport:
    started = time.perf_counter()
    for flag, path in (("--primary", primary), ("--secondary", secondary)):
        if not os.path.lexists(path):  # nothing is created for a path that names nothing
            raise TargetError(f"{flag} {path}: no such target or database; reconcile repairs the two sides "
                              f"of a dual write that both exist")
    if os.path.realpath(primary) == os.path.realpath(secondary):
        raise UsageError(f"--primary and --secondary are the same ({primary}): reconcile repairs two copies")
    if Path(secondary).is_file():
        return _reconcile_legacy(primary, secondary, primary_backend, started)
    with open_store(primary, primary_backend, writable=True, origin=RECONCILE) as first, \
            open_store(secondary, secondary_backend, writable=True, origin=RECONCILE) as second:
        journal = first.conn.execute("SELECT jid, operation, pattern_id FROM dual_write_journal"
                                     " WHERE resolved_at IS NULL ORDER BY jid").fetchall()
        deleted = 0
        for _, operation, pattern_id in journal:
            if operation == "clear":
                second.clear()
            elif pattern_id is not None and first.get(pattern_id) is None and second.delete(pattern_id):
                deleted += 1
        # what the journal names, and anything else that differs, is repaired by comparison
        mine, theirs = _rows(first), _rows(second)
        to_secondary = sorted(mine.keys() - theirs.keys())
        to_primary = sorted(theirs.keys() - mine.keys())
        changed = sorted(i for i in mine.keys() & theirs.keys() if mine[i] != theirs[i])
        _copy(to_secondary, first, second)
        _copy(to_primary, second, first)
        _copy(changed, first, second)
        with atomic(first.conn):
            first.conn.execute("UPDATE dual_write_journal SET resolved_at = ? WHERE resolved_at IS NULL",
                               (int(time.time() * 1000),))
        rebuilt = [str(path) for path, store in ((primary, first), (secondary, second)) if _repair_index(store)]
    return ReconcileReport(journal_replayed=len(journal), copied_to_secondary=len(to_secondary),
                           copied_to_primary=len(to_primary), updated_in_secondary=len(changed),
                           deleted_from_secondary=deleted, indexes_rebuilt=rebuilt,
                           duration_ms=int((time.perf_counter() - started) * 1000))


def _repair_index(store: StoreBase) -> bool:
    """Rebuild a store's index when it disagrees with its vec0 mirror (True if it did)."""
    index = getattr(store, "index", None)
    if index is None:
        return False
    checks = Checks()
    check_consistency(checks, store.conn, store.settings, index, sample=None, k=10, queries=0, min_recall=0.0)
    if checks.ok:
        return False
    store.build_index()
    return True


def _reconcile_legacy(primary: str | Path, secondary: str | Path, backend: str, started: float) -> ReconcileReport:
    """A legacy database as the secondary: each journaled write is done again from the primary
    as it is now (written back, or deleted when the primary no longer has the pattern). The
    legacy rows themselves come back into the target through `sync`."""
    copied = deleted = 0
    with open_store(primary, backend, writable=True, origin=RECONCILE) as first:
        legacy = LegacyStore(secondary, model=first.meta.get("model"))
        try:
            journal = first.conn.execute("SELECT jid, operation, pattern_id FROM dual_write_journal"
                                         " WHERE resolved_at IS NULL ORDER BY jid").fetchall()
            done, failed = [], []
            for jid, operation, pattern_id in journal:
                try:
                    if operation == "clear":
                        legacy.clear()
                    elif pattern_id is not None and (found := first.get(pattern_id)) is None:
                        deleted += legacy.delete(pattern_id)
                    elif pattern_id is not None:
                        legacy.store(found.pattern, found.vector)
                        copied += 1
                    done.append(jid)
                except (VecmigrateError, RowRejected, apsw.Error) as exc:  # this one stays journaled; the others go on
                    failed.append(f"{pattern_id}: {exc}")
            with atomic(first.conn):
                first.conn.executemany("UPDATE dual_write_journal SET resolved_at = ? WHERE jid = ?",
                                       [(int(time.time() * 1000), jid) for jid in done])
        finally:
            legacy.close()
    return ReconcileReport(journal_replayed=len(done), copied_to_secondary=copied, copied_to_primary=0,
                           updated_in_secondary=0, deleted_from_secondary=deleted, indexes_rebuilt=[],
                           duration_ms=int((time.perf_counter() - started) * 1000), still_failing=failed)
