"""The target store on disk: `<target>/patterns.sqlite` (system of record, vec0 mirror, ledger,
quarantine, history tables) and `<target>/patterns.usearch` (derived HNSW index)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import apsw
import numpy as np
from usearch.index import Index

from .db import fill, open_target, sql
from .errors import TargetError
from .models import Pattern
from .stores.usearch_index import (IndexSettings, check_index_file, load_index, rebuild_from_mirror,
                                   save_index)

DB_NAME = "patterns.sqlite"
INDEX_NAME = "patterns.usearch"
SCHEMA_VERSION = "1"
VEC_PLACEHOLDER = "unknown"  # vec0 metadata columns refuse NULL


@dataclass(frozen=True)
class TargetPaths:
    root: Path

    @property
    def db(self) -> Path:
        return self.root / DB_NAME

    @property
    def index(self) -> Path:
        return self.root / INDEX_NAME

    def exists(self) -> bool:
        return self.db.exists()


def remove_files(where: TargetPaths, *, remove_root: bool) -> None:
    """Delete a target's files (used when a brand-new target's first migration fails)."""
    for path in (where.db, where.index, where.index.with_name(INDEX_NAME + ".tmp"),
                 where.db.with_name(DB_NAME + "-journal"), where.db.with_name(DB_NAME + "-wal"),
                 where.db.with_name(DB_NAME + "-shm")):
        path.unlink(missing_ok=True)
    if remove_root:
        try:
            where.root.rmdir()
        except OSError:
            pass  # not empty: something else lives there, leave it


def paths(target: str | Path) -> TargetPaths:
    return TargetPaths(Path(target))


def read_meta(conn: apsw.Connection) -> dict[str, str]:
    try:
        return dict(conn.execute("SELECT key, value FROM vecmigrate_meta").fetchall())
    except apsw.SQLError:
        return {}


def write_meta(conn: apsw.Connection, values: dict[str, str]) -> None:
    conn.executemany("INSERT INTO vecmigrate_meta(key, value) VALUES (?, ?) "
                     "ON CONFLICT(key) DO UPDATE SET value = excluded.value", list(values.items()))


def create_schema(conn: apsw.Connection, settings: IndexSettings, embedder: str) -> None:
    """Create every table of a new target (in the caller's transaction)."""
    conn.execute(fill(sql("target_schema"), dimension=int(settings.dimension),
                      distance_metric=settings.vec0_metric))
    write_meta(conn, {**settings.to_meta(), "embedder": embedder, "schema_version": SCHEMA_VERSION})


def open_existing(target: str | Path, *, readonly: bool = True) -> tuple[TargetPaths, apsw.Connection, dict]:
    """Open a target that must already exist; its meta must say it is a vecmigrate store."""
    where = paths(target)
    if not where.exists():
        raise TargetError(f"no vecmigrate target at {where.root} (run `vecmigrate migrate` first)")
    conn = open_target(where.db, readonly=readonly)
    meta = read_meta(conn)
    if "dimension" not in meta:
        raise TargetError(f"{where.db} is not a vecmigrate target (no vecmigrate_meta settings)")
    return where, conn, meta


def settings_of(meta: dict[str, str]) -> IndexSettings:
    return IndexSettings.from_meta(meta)


def vector_count(conn: apsw.Connection) -> int:
    return conn.execute("SELECT count(*) FROM patterns_vec").fetchall()[0][0]


def existing_keys(conn: apsw.Connection, ids: list[str]) -> dict[str, int]:
    return dict(conn.execute(sql("keys_for_ids"), {"ids": json.dumps(ids)}).fetchall())


def next_key(conn: apsw.Connection) -> int:
    return (conn.execute("SELECT max(key) FROM patterns").fetchall()[0][0] or 0) + 1


def write_patterns(conn: apsw.Connection, keys: list[int], patterns: list[Pattern], vectors: np.ndarray,
                   replaced: list[int]) -> None:
    """Rows into `patterns` and vectors into `patterns_vec` (in the caller's transaction).

    `replaced` are keys that already exist: their vec0 rows are deleted first (no upsert in vec0).
    """
    if replaced:
        conn.execute(sql("delete_vectors"), {"keys": json.dumps(replaced)})
    conn.executemany(sql("upsert_pattern"), [_pattern_row(k, p) for k, p in zip(keys, patterns)])
    conn.executemany(sql("insert_vector"), [
        {"key": k, "embedding": vectors[i].tobytes(), "type": p.type or VEC_PLACEHOLDER,
         "domain": p.domain or VEC_PLACEHOLDER, "framework": p.framework or VEC_PLACEHOLDER}
        for i, (k, p) in enumerate(zip(keys, patterns))])


def _pattern_row(key: int, p: Pattern) -> dict:
    return {"key": key, "id": p.id, "type": p.type, "domain": p.domain, "content": p.content,
            "framework": p.framework, "coverage": p.coverage, "flakiness_score": p.flakiness_score,
            "verdict": p.verdict, "created_at": p.created_at, "last_used": p.last_used,
            "usage_count": p.usage_count, "metadata": json.dumps(p.metadata, ensure_ascii=False, sort_keys=True)}


def save_checked_index(conn: apsw.Connection, index: Index, where: TargetPaths) -> str:
    """Save the index crash-safely and record its checksum and count (in the caller's transaction)."""
    checksum = save_index(index, where.index)
    write_meta(conn, {"index_checksum": checksum, "index_count": str(len(index))})
    return checksum


def open_index(conn: apsw.Connection, where: TargetPaths, meta: dict[str, str]) -> tuple[Index, str | None]:
    """The target's USearch index, checked against what SQLite recorded.

    Returns (index, problem): when the file cannot be trusted, the index is rebuilt in memory
    from the vec0 mirror and `problem` says why (the caller tells the user).
    """
    settings = settings_of(meta)
    count = vector_count(conn)
    recorded = meta.get("index_count")
    problem = check_index_file(where.index, settings, meta.get("index_checksum"),
                               int(recorded) if recorded is not None else None)
    if problem is None and int(recorded) != count:
        problem = f"index file {where.index} holds {recorded} vectors but the vec0 mirror holds {count}"
    if problem is None:
        return load_index(where.index, settings), None
    return rebuild_from_mirror(conn, settings), problem
