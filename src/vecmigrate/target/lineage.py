"""Where each pattern came from, and what changed in its source since.

A target records each source it was fed from (`vecmigrate_sources`: path, layout, tables,
identity) and every source row it read (`vecmigrate_lineage`: source, table, rowid, a hash
of the row's values, the pattern it became or NULL when it was quarantined, and the
change-log seq of the last write from the source).

`scan` compares a source snapshot with that record: rows new or changed (by hash), unchanged,
and gone. `Applier` applies what `scan` found, batch by batch, in the caller's transaction,
for `migrate` (into a new generation) and `sync` (into the live one), never overwriting
silently:
- a pattern of another source with the same id is refused (or kept apart with a namespace);
- a pattern written through a store since the source last wrote it is a conflict, settled by
  the rule (`source` overwrites it, `target` keeps it, `fail` refuses), and listed. A write
  that left the pattern equal to what the source now says is no conflict.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

import apsw
import numpy as np

from ..errors import TargetError, UsageError
from ..models import ChangeCounts, Pattern, SourceRow
from ..sources import GenericMapping, Plan, SourceReader, Variant
from ..sources.reverse import encode_image, filled, says_same
from . import changelog
from . import database as tgt
from .ledger import now_ms

RULES = ("source", "target", "fail")
MAX_LISTED = 20


class ConflictError(TargetError):
    """Writes made through a store would be overwritten, or two sources share pattern ids."""

    def __init__(self, message: str, conflicts: list["Conflict"]) -> None:
        super().__init__(message)
        self.conflicts = conflicts


@dataclass(frozen=True)
class Conflict:
    id: str
    source_table: str
    source_rowid: int
    what: str                 # what happened on each side
    resolution: str = ""      # what the rule did


def row_hash(row: SourceRow) -> str:
    """A hash of a source row's values in column order (types count: 1, 1.0 and '1' differ)."""
    return values_hash(tuple(row.values.values()))


def values_hash(values: tuple) -> str:
    """Values are what SQLite gives (None, int, float, str, bytes): their pickle is exact."""
    return hashlib.blake2b(pickle.dumps(values, protocol=4), digest_size=16).hexdigest()


# -- sources ------------------------------------------------------------------------------
def source_identity(mapping: GenericMapping | None, namespace: str | None) -> dict[str, Any]:
    """What, besides its path and tables, makes a source the same one: its mapping and namespace."""
    return {"mapping": mapping.to_dict() if mapping else None, "namespace": namespace}


SOURCE_COLUMNS = ("source_id", "path", "layout", "tables", "identity", "history", "first_at", "synced_at",
                  "snapshot_at", "state")


def find_source(conn: apsw.Connection, path: Path, tables: list[str]) -> dict[str, Any] | None:
    row = conn.execute(f"SELECT {', '.join(SOURCE_COLUMNS)} FROM vecmigrate_sources WHERE path = ? AND tables = ?",
                       (str(path), ",".join(tables))).fetchall()
    return dict(zip(SOURCE_COLUMNS, row[0])) if row else None


def sources(conn: apsw.Connection) -> list[dict[str, Any]]:
    """Every source the target was fed from, with its patterns and quarantined rows."""
    rows = conn.execute(f"SELECT {', '.join('s.' + c for c in SOURCE_COLUMNS)}, "
                        "(SELECT count(l.key) FROM vecmigrate_lineage l JOIN patterns p ON p.key = l.key"
                        " WHERE l.source_id = s.source_id), (SELECT count(*) FROM vecmigrate_lineage l"
                        " WHERE l.source_id = s.source_id AND l.key IS NULL)"
                        " FROM vecmigrate_sources s ORDER BY s.source_id").fetchall()
    return [dict(zip((*SOURCE_COLUMNS, "patterns", "quarantined"), r)) for r in rows]


def register_source(conn: apsw.Connection, path: Path, plan: Plan, identity: dict[str, Any],
                    schema: dict[str, str] | None = None) -> int:
    """The source's id in this target, recorded now if it is new (in the caller's transaction),
    with the CREATE TABLE statements of its tables (`schema`, from `source_schema`). A source
    fed before with another namespace or mapping is refused: its patterns would change ids."""
    source_id = _register(conn, path, plan, identity)
    for name, statement in (schema or {}).items():
        conn.execute("INSERT INTO vecmigrate_source_schema(source_id, name, sql) VALUES (?, ?, ?) ON CONFLICT DO "
                     "UPDATE SET sql = excluded.sql", (source_id, name, statement))
    return source_id


def source_schema(source: apsw.Connection, plan: Plan) -> dict[str, str]:
    """The CREATE statements of the plan's tables and their side tables, and of their indexes
    (UNIQUE ones say how the application upserts), as the source has them."""
    names = [n for p in plan.parts for n in (p.table, p.embedding_table.table if p.embedding_table else None) if n]
    schema = {name: statement for name, statement in source.execute(
        "SELECT name, sql FROM sqlite_master WHERE type IN ('table', 'index') AND tbl_name IN "
        "(SELECT value FROM json_each(?)) AND sql IS NOT NULL ORDER BY type DESC", (json.dumps(names),))}
    if source.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchall():
        # AUTOINCREMENT's high-water mark: ids of deleted rows are never handed out again
        schema.update({f"sqlite_sequence:{name}": str(seq) for name, seq in source.execute(
            "SELECT name, seq FROM sqlite_sequence WHERE name IN (SELECT value FROM json_each(?))",
            (json.dumps(names),)) if isinstance(seq, int)})
    return schema


def _register(conn: apsw.Connection, path: Path, plan: Plan, identity: dict[str, Any]) -> int:
    known = find_source(conn, path, plan.tables)
    if known is not None:
        if json.loads(known["identity"]) != identity:
            was = json.loads(known["identity"])
            raise UsageError(f"{path} (tables {','.join(plan.tables)}) was fed into this target with "
                             f"namespace {was.get('namespace')!r} and mapping {was.get('mapping')}; this run asks for "
                             f"namespace {identity.get('namespace')!r} and mapping {identity.get('mapping')}: "
                             f"use the same, or a new --target")
        return known["source_id"]
    conn.execute("INSERT INTO vecmigrate_sources(path, layout, tables, identity, first_at) VALUES (?, ?, ?, ?, ?)",
                 (str(path), plan.layout, ",".join(plan.tables), json.dumps(identity, sort_keys=True), now_ms()))
    return conn.last_insert_rowid()


def mark_synced(conn: apsw.Connection, source_id: int, state: dict[str, Any], snapshot_at: int) -> None:
    conn.execute("UPDATE vecmigrate_sources SET synced_at = ?, snapshot_at = ?, state = ? WHERE source_id = ?",
                 (now_ms(), snapshot_at, json.dumps(state, sort_keys=True), source_id))


def in_step(source: dict[str, Any], state: dict[str, Any]) -> bool:
    """Is a source's file (its `state` now: db.source_state) as its last pass read it?"""
    return bool(source["state"]) and json.loads(source["state"]) == json.loads(json.dumps(state))


def history_names(conn: apsw.Connection, source_id: int, tables: Iterable[str]) -> dict[str, str]:
    """Where each history table of this source goes: its own name, unless another source's
    history already has that name (then `<name>__source<id>`). Recorded in vecmigrate_sources."""
    taken: set[str] = set()
    mine: dict[str, str] = {}
    for sid, history in conn.execute("SELECT source_id, history FROM vecmigrate_sources"):
        names = json.loads(history or "{}")
        if sid == source_id:
            mine = names
        else:
            taken |= set(names.values())
    chosen = {t: mine.get(t) or (t if t not in taken else f"{t}__source{source_id}") for t in tables}
    conn.execute("UPDATE vecmigrate_sources SET history = ? WHERE source_id = ?",
                 (json.dumps({**mine, **chosen}, sort_keys=True), source_id))
    return chosen


# -- what changed --------------------------------------------------------------------------
@dataclass
class Diff:
    """What a source snapshot holds that the target's lineage does not say (per table)."""

    changed: dict[str, set[int]] = field(default_factory=dict)   # rowids new or changed (and `retry`)
    rows: dict[str, dict[int, SourceRow]] | None = None  # those rows, when kept (few enough)
    gone: dict[str, list[tuple[int, int | None]]] = field(default_factory=dict)  # (rowid, key) no longer there
    ids: dict[tuple[str, int], str | None] = field(default_factory=dict)  # the id each changed row makes now
    retry: dict[str, dict[int, SourceRow]] = field(default_factory=dict)  # quarantined rows, unchanged: tried again
    new: int = 0
    modified: int = 0
    unchanged: int = 0

    @property
    def deleted(self) -> int:
        return sum(1 for rows in self.gone.values() for _, key in rows if key is not None)

    @property
    def empty(self) -> bool:
        """Nothing new, changed or gone (quarantined rows tried again do not count)."""
        return (all(rowids <= set(self.retry.get(t, {})) for t, rowids in self.changed.items())
                and not any(self.gone.values()))


def lineage_of(conn: apsw.Connection, source_id: int, table: str) -> dict[int, tuple[int | None, str]]:
    return {r[0]: (r[1], r[2]) for r in conn.execute(
        "SELECT source_rowid, key, row_hash FROM vecmigrate_lineage WHERE source_id = ? AND source_table = ?",
        (source_id, table))}


KEEP_ROWS = 20_000  # changed rows a scan keeps for a sync pass (more: the pass reads them again)


def scan(readers: list[SourceReader], conn: apsw.Connection, source_id: int, batch_size: int = 5000, *,
         keep_rows: bool = False, namespace: str | None = None) -> Diff:
    """Compare every row of the snapshot with the lineage `conn`'s target records for the source.
    `keep_rows`: keep the changed rows read (up to KEEP_ROWS), so they need not be read again.
    Quarantined rows are tried again (an option may have changed); the id each changed row
    makes now is worked out (so a pass knows which rows still make an id, in any order)."""
    diff = Diff(rows={} if keep_rows else None)
    with changelog.reading(conn):
        for reader in readers:
            known = lineage_of(conn, source_id, reader.table)
            try:
                found = _scan_table(reader, reader.raw_rows(), dict(known), diff, namespace)
            except UnicodeDecodeError:  # text that is not UTF-8: read row by row (slower, exact)
                rows = ((row.rowid, row) for batch in reader.batches(batch_size) for row in batch)
                found = _scan_table(reader, rows, dict(known), diff, namespace)
            changed, left, counts = found
            diff.new, diff.modified, diff.unchanged = (diff.new + counts[0], diff.modified + counts[1],
                                                      diff.unchanged + counts[2])
            diff.changed[reader.table] = changed
            diff.gone[reader.table] = sorted((rowid, key) for rowid, (key, _) in left.items())
    return diff


def _scan_table(reader: SourceReader, rows, known: dict, diff: Diff, namespace: str | None
                ) -> tuple[set[int], dict, tuple[int, int, int]]:
    """(changed rowids, lineage rows not seen, (new, modified, unchanged)); keeps changed rows in `diff.rows`."""
    changed: set[int] = set()
    new = modified = unchanged = 0
    kept = sum(len(r) for r in diff.rows.values()) if diff.rows is not None else 0
    if diff.rows is not None:
        diff.rows.pop(reader.table, None)
    diff.retry.pop(reader.table, None)
    for rowid, values in rows:
        row = values if isinstance(values, SourceRow) else None
        digest = row_hash(row) if row is not None else values_hash(values)
        was = known.pop(rowid, None)
        retry = was is not None and was[1] == digest and was[0] is None
        if was is not None and was[1] == digest and not retry:
            unchanged += 1
            continue
        row = row or reader.make_row(rowid, values)
        changed.add(rowid)
        diff.ids[(reader.table, rowid)] = _id_of(reader, row, namespace)
        if retry:
            unchanged += 1
            diff.retry.setdefault(reader.table, {})[rowid] = row
        elif was is None:
            new += 1
        else:
            modified += 1
        if diff.rows is not None:
            kept += 1
            if kept > KEEP_ROWS:
                diff.rows = None
            else:
                diff.rows.setdefault(reader.table, {})[rowid] = row
    return changed, known, (new, modified, unchanged)


def _id_of(reader: SourceReader, row: SourceRow, namespace: str | None) -> str | None:
    """The pattern id a row makes (None when it cannot be mapped: it will be quarantined)."""
    if row.defect is not None:
        return None
    try:
        pattern_id = reader.variant.finish(reader.variant.map_row(row.values)).id
    except Exception:  # noqa: BLE001 - a row the mapping refuses, for any reason: quarantined when applied
        return None
    return f"{namespace}/{pattern_id}" if namespace else pattern_id


# -- applying it ---------------------------------------------------------------------------
@dataclass
class Applied(ChangeCounts):
    """Counts, plus what the index must be told: keys written (with their vectors) and removed."""

    keys: list[int] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)     # keys whose old vectors go (replaced or deleted)

    def add(self, other: "Applied") -> None:
        for name in ("inserted", "updated", "unchanged", "deleted", "kept_deleted", "deferred"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.quarantined += other.quarantined
        self.conflicts += other.conflicts


class Applier:
    """Writes what changed in one source into one target connection (in the caller's
    transactions), keeping lineage and the change log.

    A pattern is the source's while a lineage row points at it. A row that now makes another
    id, or is gone, *releases* its pattern (recorded in `vecmigrate_released`, in the same
    transaction, so a resumed run still knows); `collect` deletes the released patterns no row
    took over, once every row is applied. So a row that moved (INSERT OR REPLACE, a table
    rebuilt with new rowids, two ids swapped) keeps its pattern, whatever order rows come in."""

    def __init__(self, conn: apsw.Connection, source_id: int, *, rule: str, origin: str,
                 namespace: str | None = None, diff: Diff | None = None, plan: Plan | None = None,
                 snapshot_at: int | None = None) -> None:
        if rule not in RULES:
            raise UsageError(f"--on-conflict must be one of {', '.join(RULES)}, got {rule!r}")
        self.conn = conn
        self.source_id = source_id
        self.rule = rule
        self.origin = origin
        self.namespace = namespace
        # source rows the target held that the snapshot no longer has, and the ids changed rows make now
        self.gone = {t: {rowid for rowid, _ in rows} for t, rows in diff.gone.items()} if diff else {}
        self.ids = diff.ids if diff else {}
        self.variants = {p.table: p for p in plan.parts} if plan is not None else {}
        # a sync pass (`snapshot_at`: when it began reading): a store write since (a dual write
        # whose other half the snapshot cannot show yet) is no conflict yet: looked at again next pass
        self.snapshot_at = snapshot_at

    def named(self, pattern: Pattern) -> Pattern:
        if not self.namespace:
            return pattern
        return replace(pattern, id=f"{self.namespace}/{pattern.id}",
                       metadata={**pattern.metadata, "sourceId": pattern.metadata.get("sourceId", pattern.id)})

    def apply(self, table: str, rows: dict[int, SourceRow], patterns: list[Pattern], rowids: list[int],
              vectors: np.ndarray, quarantined: list[dict[str, Any]]) -> Applied:
        """One prepared batch of source table `table`: `patterns[i]` (vector `vectors[i]`) came
        from source row `rowids[i]`; `quarantined` rows are recorded in the lineage with no pattern."""
        conn = self.conn
        done = Applied()
        by_id = tgt.existing_keys(conn, [p.id for p in patterns])      # id -> key already in the target
        owners = self._owners(list(by_id.values()))                     # key -> its lineage row
        released = self._released(list(by_id.values()))                 # key -> synced_seq, let go earlier
        mine = self._lineage_rows(table, [*rowids, *(e["source_rowid"] for e in quarantined)])
        write: list[int] = []
        synced: list[tuple[int, int]] = []   # (i, key): the target already holds what the source says
        refill: list[tuple[Pattern, np.ndarray]] = []  # store writes to complete from their write-back rows
        for i, (pattern, rowid) in enumerate(zip(patterns, rowids)):
            key = by_id.get(pattern.id)
            owner = owners.get(key) if key is not None else None
            if owner is not None and owner[0] != self.source_id:
                raise ConflictError(
                    f"pattern id {pattern.id!r} (source row {table}:{rowid}) is already in the target from another "
                    f"source ({self._source_name(owner[0])}); vecmigrate never overwrites one source's patterns with "
                    f"another's: pass --namespace NAME to keep this source's ids apart",
                    [Conflict(pattern.id, table, rowid, "held by another source")])
            if owner is not None and (owner[1], owner[2]) != (table, rowid):
                if self._still_holds(owner, pattern.id):
                    quarantined.append(_duplicate(rows[rowid], pattern, owner))
                    continue
                self._drop_lineage(owner[1], owner[2])  # that row moved here, or makes another id now
                if owner[1] == table:
                    mine.pop(owner[2], None)
            before = mine.get(rowid)  # (key, synced_seq) this row made before
            if key is not None:
                ours = owner is not None or key in released  # this source wrote it (its row moved, or let it go)
                since = owner[3] if owner is not None else released.get(key)
                what = ("changed in the source and written through a store since" if ours
                        else "written through a store, and now also in the source")
            elif before is not None and before[0] is not None and self._deleted_as(before[0]) == pattern.id:
                key, since, what = None, before[1], "changed in the source, deleted through a store since"
            else:
                since, what = None, ""
            store_key = key if key is not None else (before[0] if what else None)
            dirty = bool(what) and self._dirty(store_key, since)
            same = key is not None and (dirty or owner is not None or key in released) and \
                self._same(key, pattern, vectors[i], self.variants.get(table), rows[rowid])
            if same:
                synced.append((i, key))  # the target holds this already (a moved row, a store's equal write)
                if isinstance(same, tuple):
                    refill.append(same)  # (a write-back of a store's write: what it left empty, from the row)
                self._took(owners, mine, table, rowid, key, before)
                continue
            if dirty and self._written_after_snapshot(store_key):
                done.deferred += 1
                continue
            if dirty:
                if self.rule == "fail":
                    done.conflicts.append(Conflict(pattern.id, table, rowid, what, "refused"))
                    continue
                if self.rule == "target":
                    done.conflicts.append(Conflict(pattern.id, table, rowid, what, "kept the target's"))
                    self._set_lineage(table, rowid, store_key, rows[rowid], vectors[i], keep_seq=True)
                    self._took(owners, mine, table, rowid, store_key, before)
                    done.unchanged += 1  # (the target's pattern, or its absence, stays as it is)
                    continue
                done.conflicts.append(Conflict(pattern.id, table, rowid, what, "took the source's"))
            self._took(owners, mine, table, rowid, key, before)
            write.append(i)
            if key is None:
                done.inserted += 1
            else:
                done.updated += 1
        if done.conflicts and self.rule == "fail":
            raise _refusal(done.conflicts)
        if write:
            chosen = [patterns[i] for i in write]
            keys, replaced, _ = tgt.assign_keys(conn, [p.id for p in chosen], tgt.next_key(conn))
            tgt.write_patterns(conn, keys, chosen, vectors[write], replaced, self.origin)
            done.keys, done.vectors, done.removed = keys, [vectors[write]], replaced
            seq = changelog.position(conn)
            for key, i in zip(keys, write):
                self._set_lineage(table, rowids[i], key, rows[rowids[i]], vectors[i], seq=seq)
        for pattern, vector in refill:
            keys, replaced, _ = tgt.assign_keys(conn, [pattern.id], tgt.next_key(conn))
            tgt.write_patterns(conn, keys, [pattern], vector.reshape(1, -1), replaced, self.origin)
            done.keys += keys
            done.vectors.append(vector.reshape(1, -1))
            done.removed += replaced
        for i, key in synced:
            self._set_lineage(table, rowids[i], key, rows[rowids[i]], vectors[i], seq=changelog.position(conn))
            done.unchanged += 1
        for entry in quarantined:
            rowid = entry["source_rowid"]
            before = mine.get(rowid)
            if before is not None and before[0] is not None:
                self._release(before[0], before[1])  # it made a pattern; now it makes none
            self._set_lineage(table, rowid, None, rows.get(rowid), None)
        done.quarantined = quarantined
        return done

    def remove_gone(self, table: str, gone: list[tuple[int, int | None]], keep: bool) -> Applied:
        """Source rows gone from the snapshot: their lineage goes (unless `keep`: --keep-deleted)
        and their patterns are released. Read from the lineage as it is now: a row that moved
        in this pass took its pattern over already."""
        done = Applied()
        current = self._lineage_rows(table, [rowid for rowid, _ in gone])
        for rowid, (key, synced_seq) in current.items():
            if key is not None and keep and self._exists(key):
                done.kept_deleted += 1
                continue
            self._drop_lineage(table, rowid)
            if key is not None:
                self._release(key, synced_seq)
        return done

    def collect(self, keep: bool = False) -> Applied:
        """Delete the released patterns no source row took over (after every row is applied):
        a pattern written through a store since is a conflict, settled by the rule. `keep`
        (--keep-deleted): they stay, as patterns of no source (their row's rowid makes another
        pattern now, or the row is gone)."""
        conn = self.conn
        done = Applied()
        doomed: list[int] = []
        settled: list[int] = []
        for key, synced_seq in conn.execute("SELECT key, synced_seq FROM vecmigrate_released WHERE source_id = ?",
                                            (self.source_id,)).fetchall():
            row = conn.execute("SELECT id FROM patterns WHERE key = ?", (key,)).fetchall()
            taken = conn.execute("SELECT 1 FROM vecmigrate_lineage WHERE key = ?", (key,)).fetchall()
            if not row or taken:
                settled.append(key)
                continue
            if keep:
                done.kept_deleted += 1
                settled.append(key)
                continue
            if self._dirty(key, synced_seq):
                what = "its source row is gone or makes another id now; written through a store since"
                if self.rule == "fail":
                    done.conflicts.append(Conflict(row[0][0], "", 0, what, "refused"))
                    continue
                if self.rule == "target":  # the store's pattern stays, as a pattern of no source
                    done.conflicts.append(Conflict(row[0][0], "", 0, what, "kept the target's"))
                    settled.append(key)
                    continue
                done.conflicts.append(Conflict(row[0][0], "", 0, what, "took the source's"))
            doomed.append(key)
        if done.conflicts and self.rule == "fail":
            raise _refusal(done.conflicts)
        tgt.delete_patterns(conn, doomed, self.origin)
        conn.executemany("DELETE FROM vecmigrate_released WHERE source_id = ? AND key = ?",
                         [(self.source_id, k) for k in [*doomed, *settled]])
        done.deleted = len(doomed)
        done.removed = doomed
        return done

    # -- helpers ---------------------------------------------------------------------------
    def _took(self, owners: dict, mine: dict, table: str, rowid: int, key: int | None,
              before: tuple[int | None, int] | None) -> None:
        """Row `rowid` holds `key` from now on (what later rows of the batch see): the pattern it
        held before, if another, is let go."""
        if before is not None and before[0] is not None and before[0] != key:
            self._release(before[0], before[1])
            owners.pop(before[0], None)
        if key is not None:
            owners[key] = (self.source_id, table, rowid, before[1] if before is not None else 0)
        mine[rowid] = (key, before[1] if before is not None else 0)

    def _released(self, keys: list[int]) -> dict[int, int]:
        if not keys:
            return {}
        return dict(self.conn.execute("SELECT key, synced_seq FROM vecmigrate_released WHERE source_id = ? AND key IN"
                                      " (SELECT value FROM json_each(?))", (self.source_id, json.dumps(keys))).fetchall())

    def _still_holds(self, owner: tuple, pattern_id: str) -> bool:
        """Does the row that made `pattern_id` still make it (it is there, and unchanged or
        changed to make the same id)?"""
        _, table, rowid, _ = owner
        if rowid in self.gone.get(table, ()):
            return False
        return self.ids.get((table, rowid), pattern_id) == pattern_id

    def _lineage_rows(self, table: str, rowids: list[int]) -> dict[int, tuple[int | None, int]]:
        if not rowids:
            return {}
        return {r[0]: (r[1], r[2]) for r in self.conn.execute(
            "SELECT source_rowid, key, synced_seq FROM vecmigrate_lineage WHERE source_id = ? AND source_table = ?"
            " AND source_rowid IN (SELECT value FROM json_each(?))", (self.source_id, table, json.dumps(rowids)))}

    def _owners(self, keys: list[int]) -> dict[int, tuple[int, str, int, int]]:
        if not keys:
            return {}
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in self.conn.execute(
            "SELECT key, source_id, source_table, source_rowid, synced_seq FROM vecmigrate_lineage"
            " WHERE key IN (SELECT value FROM json_each(?))", (json.dumps(keys),))}

    def _dirty(self, key: int, synced_seq: int | None) -> bool:
        """Did someone other than this source write the pattern since the source last did?
        (`synced_seq` None: a pattern of no source, which counts when a store ever wrote it.)
        Usage counts are not writes that conflict: the source's counters win."""
        if synced_seq is None:
            return bool(self.conn.execute(
                "SELECT 1 FROM vecmigrate_changes WHERE key = ? AND op != 'usage' AND origin NOT IN ('upgrade', "
                "'migrate', ?) LIMIT 1", (key, changelog.REPAIR)).fetchall())
        return changelog.written_since(self.conn, key, synced_seq)

    def _written_after_snapshot(self, key: int | None) -> bool:
        """Was `key` written by someone else since this pass began reading its snapshot? Then the
        source row may not show it yet. (Usage counts are no such write: a pattern in use at
        every pass would wait forever.)"""
        if self.snapshot_at is None or key is None:
            return False
        return bool(self.conn.execute("SELECT 1 FROM vecmigrate_changes WHERE key = ? AND origin != ? AND at >= ? "
                                      "AND op != 'usage' LIMIT 1", (key, self.origin, self.snapshot_at)).fetchall())

    def _deleted_as(self, key: int) -> str | None:
        """The id of the pattern `key` was, if it was deleted (None if it is there)."""
        if self._exists(key):
            return None
        row = self.conn.execute("SELECT pattern_id FROM vecmigrate_changes WHERE key = ? ORDER BY seq DESC LIMIT 1",
                                (key,)).fetchall()
        return row[0][0] if row else None

    def _same(self, key: int, pattern: Pattern, vector: np.ndarray, variant: Variant | None = None,
              row: SourceRow | None = None) -> bool | tuple[Pattern, np.ndarray]:
        """Does the target hold what the source row says: the same pattern and vector (True), or
        the row is the write-back of the target's pattern (a dual write into the legacy database:
        both give the same row, and the same vector when the row keeps one)? Then the answer is
        the target's pattern with what it left empty filled from the row, and its vector, when
        that differs from what the target holds (else True)."""
        stored = tgt.read_stored(self.conn, key=key)
        if stored is None:
            return False
        same_vector = stored.vector.tobytes() == np.asarray(vector, dtype="<f4").tobytes()
        if tgt._pattern_row(key, stored.pattern) == tgt._pattern_row(key, pattern) and same_vector:
            return True
        if variant is None or variant.to_row is None or row is None or not (same_vector or row.embedding is None):
            return False
        try:  # (usage counts aside: the source's win, as ever, and the next pass brings them)
            mine = replace(stored.pattern, usage_count=pattern.usage_count, last_used=pattern.last_used)
            if not says_same(variant.to_row(mine), variant.to_row(pattern), row.values):
                return False
        except Exception:  # noqa: BLE001 - a pattern the reverse mapping cannot write is no echo
            return False
        complete = filled(stored.pattern, pattern)
        return True if complete == stored.pattern else (complete, stored.vector)

    def _exists(self, key: int) -> bool:
        return bool(self.conn.execute("SELECT 1 FROM patterns WHERE key = ?", (key,)).fetchall())

    def _release(self, key: int, synced_seq: int) -> None:
        self.conn.execute("INSERT INTO vecmigrate_released(source_id, key, synced_seq) VALUES (?, ?, ?)"
                          " ON CONFLICT DO NOTHING", (self.source_id, key, synced_seq))

    def _drop_lineage(self, table: str, rowid: int) -> None:
        for name in ("vecmigrate_lineage", "vecmigrate_source_rows"):
            self.conn.execute(f"DELETE FROM {name} WHERE source_id = ? AND source_table = ? AND source_rowid = ?",
                              (self.source_id, table, rowid))

    def _set_lineage(self, table: str, rowid: int, key: int | None, row: SourceRow | None,
                     vector: np.ndarray | None, *, seq: int = 0, keep_seq: bool = False) -> None:
        """Row `rowid` made `key` (None: quarantined); its hash, and its values (an image) when it made a pattern."""
        digest = row_hash(row) if row is not None else ""
        if key is None or row is None:
            self.conn.execute("DELETE FROM vecmigrate_source_rows WHERE source_id = ? AND source_table = ? AND "
                              "source_rowid = ?", (self.source_id, table, rowid))
        else:
            self.conn.execute("INSERT INTO vecmigrate_source_rows(source_id, source_table, source_rowid, image) "
                              "VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET image = excluded.image",
                              (self.source_id, table, rowid, encode_image(row.values, vector)))
        if keep_seq:
            self.conn.execute("UPDATE vecmigrate_lineage SET row_hash = ?, key = ? WHERE source_id = ? AND "
                              "source_table = ? AND source_rowid = ?", (digest, key, self.source_id, table, rowid))
            if self.conn.changes():
                return
        self.conn.execute("INSERT INTO vecmigrate_lineage(source_id, source_table, source_rowid, key, row_hash, "
                          "synced_seq) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET key = excluded.key, "
                          "row_hash = excluded.row_hash, synced_seq = excluded.synced_seq",
                          (self.source_id, table, rowid, key, digest, seq))

    def _source_name(self, source_id: int) -> str:
        row = self.conn.execute("SELECT path, tables FROM vecmigrate_sources WHERE source_id = ?",
                                (source_id,)).fetchall()
        return f"{row[0][0]} ({row[0][1]})" if row else f"source {source_id}"


def _duplicate(row: SourceRow, pattern: Pattern, owner: tuple[int, str, int]) -> dict[str, Any]:
    from ..sources.batch import quarantine_entry
    return quarantine_entry(row, pattern, f"duplicate id {pattern.id!r} (source row {owner[1]}:{owner[2]} has it)")


def _refusal(conflicts: list[Conflict]) -> ConflictError:
    listed = "; ".join(f"{c.id} ({c.source_table}:{c.source_rowid}: {c.what})" for c in conflicts[:MAX_LISTED])
    more = f" and {len(conflicts) - MAX_LISTED} more" if len(conflicts) > MAX_LISTED else ""
    return ConflictError(f"{len(conflicts)} pattern(s) were written through a store since the source last wrote "
                         f"them, and the source changed them too: {listed}{more}. Nothing was written; choose "
                         f"--on-conflict source (the source's values win) or target (the store's writes stay)",
                         conflicts)
