"""Pattern stores over one target: USearch (HNSW, fast) and sqlite-vec (exact, in SQL), the
write-back store over a legacy AgentDB-family database, the dual-write store over two, and the
factories that open or create them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import TargetError, UsageError, VecmigrateError
from ..target import changelog
from ..target import database as tgt
from ..target.generations import Layout, recover
from ..target.index_file import IndexSettings
from ..target.lock import TargetLock
from .base import StoreBase
from .dual_write import DualWriteStore
from .legacy import LegacyStore
from .protocol import PatternStore
from .sqlite_vec_store import SqliteVecStore
from .usearch_store import USearchStore
from .validate import validate_store

BACKENDS = ("usearch", "sqlite-vec")


def open_store(target: str | Path, backend: str = "usearch", *, writable: bool = False,
               metrics: bool = False, origin: str = changelog.STORE) -> StoreBase:
    """Open a migrated target. Read-only by default; `writable=True` shares the target with
    other writers (stores and `sync`, in this or other processes; not a migrate) until
    `close()`. Every write is logged as coming from `origin`. Any store sees the others' writes
    at its next query. A USearch file that does not match what SQLite recorded is not used:
    the index is rebuilt from the vec0 mirror and `store.notices` says so."""
    if backend not in BACKENDS:
        raise UsageError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    lock = None
    if writable:
        lock = TargetLock(Path(target), shared=True).__enter__()
    try:
        where, conn, meta = tgt.open_existing(target, readonly=not writable)
    except BaseException:
        if lock is not None:
            lock.__exit__(None, None, None)
        raise
    try:
        if backend == "sqlite-vec":
            return SqliteVecStore(conn, meta, where, lock=lock, metrics=metrics, origin=origin)
        index, notes, seq = tgt.open_index(conn, where, meta)
    except BaseException:
        conn.close()
        if lock is not None:
            lock.__exit__(None, None, None)
        raise
    store = USearchStore(conn, meta, where, index, seq, lock=lock, metrics=metrics, origin=origin)
    store.notices.extend(notes if writable else [f"{n} (in memory; the files were not changed)" for n in notes])
    store._dirty = writable and bool(notes)  # a writer saves the index it had to repair...
    lost = tgt.patterns_without_vectors(conn) if writable else 0
    if lost:  # ...unless the file it would overwrite may hold the only copy of vectors vec0 lost
        store.keep_index_file = True
        store.notices.append(f"{lost} pattern(s) have no vector in the vec0 mirror: the index file is kept as it is "
                             f"(it may hold their only copy) until `vecmigrate repair --target {target}` mends them")
    return store


@dataclass(frozen=True)
class CreatedStore:
    store: StoreBase
    backend: str
    created: bool
    notes: list[str]


def create_store(target: str | Path, *, backend: str = "auto", dimension: int = 384, metric: str = "cos",
                 dtype: str = "f32", connectivity: int = 16, expansion_add: int = 128, expansion_search: int = 64,
                 embedder: str = "lexical", metrics: bool = False) -> CreatedStore:
    """A writable store at `target`, created empty if it does not exist. `backend="auto"`
    prefers USearch and falls back to sqlite-vec when the index cannot be used, saying so."""
    if backend not in (*BACKENDS, "auto"):
        raise UsageError(f"backend must be usearch, sqlite-vec or auto, got {backend!r}")
    layout = Layout(Path(target))
    created = False
    if not layout.exists():
        settings = IndexSettings(dimension=dimension, metric=metric, dtype=dtype, connectivity=connectivity,
                                 expansion_add=expansion_add, expansion_search=expansion_search).check()
        with TargetLock(layout.root, creates=True, what="create_store"):
            recover(layout)
            if not layout.exists():
                tgt.create_empty(layout, settings, embedder)
                created = True
    if backend != "auto":
        return CreatedStore(open_store(target, backend, writable=True, metrics=metrics), backend, created, [])
    try:
        return CreatedStore(open_store(target, "usearch", writable=True, metrics=metrics), "usearch", created, [])
    except VecmigrateError:
        raise
    except Exception as exc:  # the index could not be loaded or rebuilt (memory, a USearch failure)
        note = f"USearch index unusable ({type(exc).__name__}: {exc}); using the exact sqlite-vec store"
        store = open_store(target, "sqlite-vec", writable=True, metrics=metrics)
        store.notices.append(note)
        return CreatedStore(store, "sqlite-vec", created, [note])


def create_dual_write(primary_target: str | Path, secondary_path: str | Path, *, backend: str = "usearch",
                      layout: str | None = None, table: str | None = None, shadow_rate: float = 0.0,
                      seed: int | None = None) -> DualWriteStore:
    """The guide's `createDualWriteProxy`: writes go to the target (primary) and to the legacy
    database (secondary) in its own schema, so the old application sees every pattern; a
    failed legacy write is journaled in the target for `vecmigrate reconcile`. A directory as
    `secondary_path` is another vecmigrate target instead."""
    primary = open_store(primary_target, backend, writable=True)
    try:
        if Path(secondary_path).is_dir():
            secondary = open_store(secondary_path, "sqlite-vec", writable=True)
        else:
            secondary = LegacyStore(secondary_path, layout=layout, table=table, model=primary.meta.get("model"))
    except BaseException:
        primary.close()
        raise
    return DualWriteStore(primary, secondary, shadow_rate=shadow_rate, seed=seed)


__all__ = ["open_store", "create_store", "create_dual_write", "LegacyStore", "validate_store", "CreatedStore", "BACKENDS", "PatternStore",
           "StoreBase", "SqliteVecStore", "USearchStore", "DualWriteStore", "TargetError"]
