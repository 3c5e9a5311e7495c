"""The target store's database: schema, settings, writes, and the USearch index it vouches for.

Files live in generations (see generations.py); everything here works on one generation's
`patterns.sqlite` and `patterns.usearch`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import apsw
import numpy as np
from usearch.index import Index

from ..db import atomic, fill, open_target, sql
from ..embed.embedders import model_of
from ..errors import TargetError
from ..models import Pattern, StoredPattern
from . import changelog, versions
from .generations import Generation, Layout, finish, new_generation
from .index_file import (
    DTYPES,
    METRICS,
    IndexSettings,
    load_checked,
    new_index,
    rebuild_from_mirror,
    remove_keys,
    save_index,
)
from .lock import holder

SCHEMA_VERSION = "4"  # 3: change log, sources, lineage; 4: source row images and schemas; 2: patterns.kind, patterns.embedding_model, patterns_vec.kind, per-table batches
#                      3: the change log, sources and lineage (a target of schema 2 is upgraded by its next writer)
VEC_PLACEHOLDER = "unknown"  # vec0 metadata columns refuse NULL


def read_meta(conn: apsw.Connection) -> dict[str, str]:
    try:
        return dict(conn.execute("SELECT key, value FROM vecmigrate_meta").fetchall())
    except apsw.SQLError:
        return {}


_META_INTEGERS = {"dimension": (1, 1 << 16), "connectivity": (2, 1 << 10), "expansion_add": (1, 1 << 20),
                  "expansion_search": (1, 1 << 20), "index_count": (0, 1 << 62)}


def check_meta(meta: dict[str, str], where: str) -> dict[str, str]:
    """The settings a target records, checked before anything relies on them: a hand-edited or
    damaged `vecmigrate_meta` is reported in one line naming the key, not met as a crash later."""
    def damaged(key: str, expected: str) -> TargetError:
        return TargetError(f"target {where} is damaged: vecmigrate_meta.{key} is {str(meta.get(key))[:40]!r}, "
                           f"expected {expected} (restore the file, or migrate the source again into a new --target)")
    for key, (low, high) in _META_INTEGERS.items():
        if key not in meta and key == "index_count":
            continue
        value = str(meta.get(key))
        if not (value.isascii() and value.isdigit() and low <= int(value) <= high):
            raise damaged(key, f"an integer from {low} to {high}")
    if meta.get("metric") not in METRICS:
        raise damaged("metric", " or ".join(METRICS))
    if meta.get("dtype") not in DTYPES:
        raise damaged("dtype", ", ".join(DTYPES))
    try:
        notes = json.loads(meta.get("model_notes") or "[]")
    except ValueError:
        notes = None
    if not isinstance(notes, list):
        raise damaged("model_notes", "a JSON list")
    return meta


def write_meta(conn: apsw.Connection, values: dict[str, str]) -> None:
    conn.executemany("INSERT INTO vecmigrate_meta(key, value) VALUES (?, ?) "
                     "ON CONFLICT(key) DO UPDATE SET value = excluded.value", list(values.items()))


def create_schema(conn: apsw.Connection, settings: IndexSettings, embedder: str, model: str | None = None) -> None:
    """Create every table of a new target (in the caller's transaction). `model` is the model of
    its vectors, `embedder` the built-in embedder for text queries and new rows ('' for none)."""
    conn.execute(fill(sql("target_schema"), dimension=int(settings.dimension),
                      distance_metric=settings.vec0_metric))
    write_meta(conn, {**settings.to_meta(), "embedder": embedder, "schema_version": SCHEMA_VERSION,
                      "model": model or model_of(embedder), "index_seq": "0", "live_seq": "0",
                      **versions.record(conn, embedder or None, created=True)})


def open_existing(target: str | Path, *, readonly: bool = True, older_ok: bool = False
                  ) -> tuple[Generation, apsw.Connection, dict]:
    """Open the live generation of a target; its meta must say it is a vecmigrate store.
    A writer upgrades a target of schema 2; a reader refuses one unless `older_ok` (it then
    reads only what schema 2 has: settings, patterns, runs).

    The generation is resolved once, so the database and index opened belong together even
    if a migration or rollback switches generations meanwhile."""
    layout = Layout(Path(target))
    generation = layout.current()
    if generation is None or not generation.db.exists():
        resumable = any(g.building for g in layout.generations())
        running = holder(layout.root) if resumable else None
        if running is not None:
            why = f" (a first migration is running: PID {running[0]}; wait for it to finish)"
        elif resumable:
            why = " (an interrupted first migration is there: run the same migrate command to resume it)"
        else:
            why = " (run `vecmigrate migrate` first)"
        raise TargetError(f"no vecmigrate target at {layout.root}{why}")
    conn = open_target(generation.db, readonly=readonly)
    meta = read_meta(conn)
    if "dimension" not in meta:
        conn.close()
        raise TargetError(f"{generation.db} is not a vecmigrate target (no vecmigrate_meta settings)")
    try:
        check_meta(meta, str(layout.root))
        versions.check_readable(meta, conn, str(layout.root))
    except TargetError:
        conn.close()
        raise
    if meta.get("schema_version") in ("2", "3") and not readonly:
        meta = upgrade(conn, meta)
    if meta.get("schema_version") == "3":
        return generation, conn, meta  # readable as it is: it lacks only tables export reads (and checks for)
    if meta.get("schema_version") == "2" and older_ok:
        return generation, conn, meta
    if meta.get("schema_version") != SCHEMA_VERSION:
        conn.close()
        if meta.get("schema_version") == "2":
            raise TargetError(f"{layout.root} was made by an earlier vecmigrate (target schema 2): its next writer "
                              f"upgrades it in place (`vecmigrate sync --source S --target {layout.root}` or "
                              f"`vecmigrate migrate`), then it reads again")
        raise TargetError(f"{layout.root} was made by another vecmigrate version (target schema "
                          f"{meta.get('schema_version', '?')}, this version reads {SCHEMA_VERSION}): "
                          f"migrate the source again into a new --target")
    return generation, conn, meta


def has_lineage(meta: dict[str, str]) -> bool:
    """Does the target record its sources and change log (schema 3 and later)?"""
    return meta.get("schema_version") in ("3", SCHEMA_VERSION)


def upgrade_if_older(conn: apsw.Connection) -> None:
    """Upgrade a generation's database of schema 2 or 3 (a writer about to write it)."""
    meta = read_meta(conn)
    if meta.get("schema_version") in ("2", "3"):
        upgrade(conn, meta)


def upgrade(conn: apsw.Connection, meta: dict[str, str]) -> dict[str, str]:
    """Bring a target of schema 2 or 3 to this version, step by step, each in one transaction."""
    if meta.get("schema_version") == "2":
        meta = upgrade_from_2(conn, meta)
    if meta.get("schema_version") == "3":
        with atomic(conn):  # schema 4 only adds tables: the row images and schemas of later passes
            conn.execute(fill(sql("target_schema"), dimension=int(meta["dimension"]),
                              distance_metric=settings_of(meta).vec0_metric))
            write_meta(conn, {"schema_version": SCHEMA_VERSION})
        meta = read_meta(conn)
    return meta


def upgrade_from_2(conn: apsw.Connection, meta: dict[str, str]) -> dict[str, str]:
    """Add what schema 3 has to a schema-2 target, in one transaction: the change log (the keys
    its index had pending become changes the next open replays), sources, lineage, counters."""
    with atomic(conn):
        if read_meta(conn).get("schema_version") == "2":
            for table, column in (("vecmigrate_batches", "inserted"), ("vecmigrate_batches", "unchanged"),
                                  ("vecmigrate_runs", "deleted")):
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")
            conn.execute(fill(sql("target_schema"), dimension=int(meta["dimension"]),
                              distance_metric=settings_of(meta).vec0_metric))
            pending = [r[0] for r in conn.execute("SELECT key FROM vecmigrate_index_pending")]
            changelog.append(conn, pending, [None] * len(pending), changelog.UPSERT, "upgrade")
            conn.execute("DROP TABLE vecmigrate_index_pending")
            write_meta(conn, {"schema_version": "3", "index_seq": "0", "live_seq": "0"})
    return read_meta(conn)


def create_empty(layout: Layout, settings: IndexSettings, embedder: str) -> Generation:
    """A new target holding no pattern yet (call with the target's lock held)."""
    generation = new_generation(layout)
    conn = open_target(generation.db)
    try:
        with atomic(conn):
            create_schema(conn, settings, embedder)
            save_checked_index(conn, new_index(settings), generation, 0)
    finally:
        conn.close()
    finish(layout, generation)
    return generation


def settings_of(meta: dict[str, str]) -> IndexSettings:
    return IndexSettings.from_meta(meta)


def vector_count(conn: apsw.Connection) -> int:
    return conn.execute("SELECT count(*) FROM patterns_vec").fetchall()[0][0]


def vectors_by_model(conn: apsw.Connection) -> dict[str, int]:
    """The target's vectors counted by the model that made them, the most common first."""
    return dict(conn.execute("SELECT coalesce(embedding_model, 'unknown'), count(*) FROM patterns"
                             " GROUP BY 1 ORDER BY 2 DESC, 1").fetchall())


def existing_keys(conn: apsw.Connection, ids: list[str]) -> dict[str, int]:
    return dict(conn.execute(sql("keys_for_ids"), {"ids": json.dumps(ids)}).fetchall())


next_key = changelog.next_key


def assign_keys(conn: apsw.Connection, ids: list[str], first_new: int) -> tuple[list[int], list[int], int]:
    """Keys for `ids` (in the caller's transaction): an id already stored keeps its key, a new
    one gets the next free key. Returns (keys, the existing keys among them, next free key)."""
    known = existing_keys(conn, ids)
    keys = []
    for pattern_id in ids:
        if pattern_id in known:
            keys.append(known[pattern_id])
        else:
            keys.append(first_new)
            first_new += 1
    return keys, list(known.values()), first_new


def write_patterns(conn: apsw.Connection, keys: list[int], patterns: list[Pattern], vectors: np.ndarray,
                   replaced: list[int], origin: str) -> None:
    """Rows into `patterns`, vectors into `patterns_vec`, one change per key into the change log
    (in the caller's transaction). `replaced` keys already exist: their vec0 rows go first
    (vec0 has no upsert)."""
    if replaced:
        conn.executemany(sql("delete_vectors"), [{"key": k} for k in replaced])
    conn.executemany(sql("upsert_pattern"), [_pattern_row(k, p) for k, p in zip(keys, patterns)])
    conn.executemany(sql("insert_vector"), [
        {"key": k, "embedding": vectors[i].tobytes(), "type": p.type or VEC_PLACEHOLDER,
         "domain": p.domain or VEC_PLACEHOLDER, "framework": p.framework or VEC_PLACEHOLDER,
         "kind": p.kind or VEC_PLACEHOLDER}
        for i, (k, p) in enumerate(zip(keys, patterns))])
    changelog.append(conn, keys, [p.id for p in patterns], changelog.UPSERT, origin)


def delete_patterns(conn: apsw.Connection, keys: list[int], origin: str) -> None:
    """Remove patterns and their vectors, logging each (in the caller's transaction)."""
    if not keys:
        return
    ids = dict(conn.execute("SELECT key, id FROM patterns WHERE key IN (SELECT value FROM json_each(?))",
                            (json.dumps(keys),)).fetchall())
    conn.execute("DELETE FROM patterns WHERE key IN (SELECT value FROM json_each(?))", (json.dumps(keys),))
    conn.executemany(sql("delete_vectors"), [{"key": k} for k in keys])
    changelog.append(conn, keys, [ids.get(k) for k in keys], changelog.DELETE, origin)


def _pattern_row(key: int, p: Pattern) -> dict:
    return {"key": key, "id": p.id, "type": p.type, "domain": p.domain, "content": p.content,
            "framework": p.framework, "coverage": p.coverage, "flakiness_score": p.flakiness_score,
            "verdict": p.verdict, "created_at": p.created_at, "last_used": p.last_used,
            "usage_count": p.usage_count, "metadata": json.dumps(p.metadata, ensure_ascii=False, sort_keys=True),
            "kind": p.kind or "pattern", "embedding_model": p.embedding_model}


def read_stored(conn: apsw.Connection, *, key: int | None = None, pattern_id: str | None = None
                ) -> StoredPattern | None:
    """One pattern (by key or by id) with its exact vec0 vector, or None (also when vec0 has
    no vector for it: see `read_pattern`)."""
    column, value = ("key", key) if key is not None else ("id", pattern_id)
    cursor = conn.execute(f"SELECT p.*, v.embedding AS __vec FROM patterns p JOIN patterns_vec v ON v.rowid = p.key"
                          f" WHERE p.{column} = ?", (value,))
    values = _fetch(cursor)
    if values is None:
        return None
    return StoredPattern(key=values["key"], pattern=_pattern(values),
                         vector=np.frombuffer(values["__vec"], dtype="<f4").copy())


def read_pattern(conn: apsw.Connection, key: int) -> Pattern | None:
    """One pattern row, whether or not vec0 holds its vector (for `repair`)."""
    values = _fetch(conn.execute("SELECT * FROM patterns WHERE key = ?", (key,)))
    return None if values is None else _pattern(values)


def _fetch(cursor) -> dict[str, Any] | None:
    row = cursor.fetchone()
    return None if row is None else dict(zip([d[0] for d in cursor.getdescription()], row))


def _pattern(values: dict[str, Any]) -> Pattern:
    fields = {k: v for k, v in values.items() if k in Pattern.__dataclass_fields__}
    fields["metadata"] = json.loads(fields.get("metadata") or "{}")
    return Pattern(**fields)


def save_checked_index(conn: apsw.Connection, index: Index, generation: Generation, seq: int,
                       crash_point_name: str = "index-temp-written") -> str:
    """Save the index crash-safely and record its checksum, count and the change-log position
    it holds (`seq`), in the caller's write transaction: writers in other processes save in turn."""
    checksum = save_index(index, generation.index, crash_point_name)
    write_meta(conn, {"index_checksum": checksum, "index_count": str(len(index)), "index_seq": str(seq)})
    return checksum


def open_index(conn: apsw.Connection, generation: Generation, meta: dict[str, str]
               ) -> tuple[Index, list[str], int]:
    """The generation's USearch index, made equal to the vec0 mirror, and the change-log seq it
    now reflects.

    The file is loaded only if its checksum and header match what SQLite recorded (a corrupt
    file can crash the process); the changes logged after its seq are then replayed from vec0.
    A file that cannot be trusted is not used: the index is rebuilt from vec0. Returns
    (index, notes, seq) — the notes say what was repaired, for the user."""
    settings = settings_of(meta)
    with changelog.reading(conn):
        meta = read_meta(conn)  # (a writer in another process may have saved since `meta` was read)
        index, problem = load_checked(generation.index, settings, meta)
        seq = changelog.position(conn)
        notes: list[str] = []
        if index is not None:
            catch_up(conn, index, int(meta.get("index_seq") or 0), settings.dimension)  # (the same read: up to seq)
            count = vector_count(conn)
            if len(index) == count:
                return index, notes, seq
            problem = f"index file {generation.index} holds {len(index)} vectors but the vec0 mirror holds {count}"
        notes.append(f"{problem}; the index was rebuilt from the vec0 mirror")
        return rebuild_from_mirror(conn, settings), notes, seq


def patterns_without_vectors(conn: apsw.Connection) -> int:
    """Patterns whose vector is missing from the vec0 mirror (a damaged target: `repair` mends it).
    Asked of vec0's own rowid table (`patterns_vec_rowids`, which vec0 keeps with every insert
    and delete): one indexed lookup per pattern, 0.02 s at 100k, where a lookup through the vec0
    module costs 0.46 s, and every writable store open asks."""
    return conn.execute("SELECT count(*) FROM patterns p WHERE NOT EXISTS "
                        "(SELECT 1 FROM patterns_vec_rowids v WHERE v.rowid = p.key)").fetchall()[0][0]


def catch_up(conn: apsw.Connection, index: Index, applied: int, dimension: int) -> int:
    """Replay the changes after `applied` into `index`; returns the seq it now reflects."""
    with changelog.reading(conn):
        seq = changelog.position(conn)
        if seq > applied:
            readd_from_mirror(conn, index, changelog.vector_keys_changed(conn, applied, seq), dimension)
    return seq


def readd_from_mirror(conn: apsw.Connection, index: Index, keys: list[int], dimension: int) -> None:
    """Replace the index's vectors of `keys` with vec0's (dropping keys vec0 no longer has)."""
    remove_keys(index, keys)
    found_keys, blobs = [], []
    for key in keys:
        row = conn.execute("SELECT embedding FROM patterns_vec WHERE rowid = ?", (key,)).fetchall()
        if row:
            found_keys.append(key)
            blobs.append(row[0][0])
    if found_keys:
        vectors = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(found_keys), dimension)
        index.add(np.asarray(found_keys, dtype=np.uint64), vectors, threads=0)


