"""Search backends over one target: USearch (HNSW, fast) and sqlite-vec (exact, in SQL)."""

from __future__ import annotations

from pathlib import Path

from .. import target as tgt
from ..errors import UsageError
from .base import StoreBase
from .sqlite_vec_store import SqliteVecStore
from .usearch_store import USearchStore

BACKENDS = ("usearch", "sqlite-vec")


def open_store(target: str | Path, backend: str = "usearch") -> StoreBase:
    """Open a migrated target for search. A USearch file that does not match what SQLite
    recorded is not used: the index is rebuilt in memory from the vec0 mirror and
    `store.notices` says so."""
    if backend not in BACKENDS:
        raise UsageError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    where, conn, meta = tgt.open_existing(target, readonly=True)
    if backend == "sqlite-vec":
        return SqliteVecStore(conn, meta, where)
    index, notes = tgt.open_index(conn, where, meta)
    store = USearchStore(conn, meta, where, index)
    store.notices.extend(f"{note} (in memory; the files were not changed)" for note in notes)
    return store


__all__ = ["open_store", "BACKENDS", "StoreBase", "SqliteVecStore", "USearchStore"]
