"""`repair`: bring one target back to consistency, patterns ⇄ vec0 ⇄ index ⇄ change log, without
a second copy, and say what could not be recovered. Nothing it finds is thrown away.

- A pattern with no usable vector in the vec0 mirror (none, or NaN/Inf/zero) gets it back
  from the first place that holds *that pattern's* vector:
  - the USearch index file: only when it is exact (f32), the file is the one SQLite recorded,
    and nothing changed the key's vector after the file was saved (its `index_seq`);
  - the source (`--source`, a source this target was fed from): only the row the lineage
    names, unchanged since the target read it (same row hash), and only when no store wrote
    the pattern since the source last did;
  - the target's own model: only for a pattern whose vector that model made.
  Else it is listed as unrecoverable and left as it is (exit 3).
- A vec0 vector with no pattern row gets its row back from the source row the lineage names
  (with `--source`); else it is moved out of vec0 into `vecmigrate_orphan_vectors` (kept,
  no longer searched) and listed.
- vec0's filter columns are made to say what the pattern row says.
- The change log gets an entry for every key whose last entry no longer tells the truth.
- The index is compared with vec0 (keys, and vectors: byte for byte for f32, cosine ≥ 0.99
  for lossy dtypes); when they differ it is rebuilt from vec0, and the old file is kept
  beside it (`patterns.usearch.before-repair-<seq>`), since it may hold what vec0 lacks.

vec0, patterns and the log are mended in one transaction and committed before the index is
saved, so a kill at any moment leaves either the target as it was or the mended rows (a
second run then finishes the index). It holds the target's lock alone, as a migration does.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import apsw
import numpy as np

from ..codec import decode
from ..db import atomic, open_source_snapshot, sql
from ..embed.embedders import embed, load_embedder, spec_for_model, unavailable
from ..errors import RowRejected, SourceError, TargetError, UsageError, VecmigrateError
from ..files import fsync_dir
from ..models import Pattern, RepairReport
from ..sources import SourceReader, Variant, detect, layout_parts, stored_embedding
from ..target import changelog
from ..target import database as tgt
from ..target.generations import Layout, recover
from ..target.index_file import load_checked, rebuild_from_mirror
from ..target.lineage import row_hash
from ..target.lock import TargetLock
from .verify import mirror_vectors

REPAIR = changelog.REPAIR
MAX_LISTED = 50


def repair(target: str | Path, *, source: str | Path | None = None) -> RepairReport:
    started = time.time()
    layout = Layout(Path(target))
    if not layout.exists():
        raise TargetError(f"no vecmigrate target at {layout.root}")
    with TargetLock(layout.root, what="repair"):
        recover(layout)
        where, conn, meta = tgt.open_existing(target, readonly=False)
        try:
            return _repair(conn, where, meta, _checked_source(conn, source), started, str(target))
        finally:
            conn.close()


def _checked_source(conn: apsw.Connection, source: str | Path | None) -> tuple[Path, int] | None:
    """(path, source id) of a `--source` this target was fed from; anything else is a usage error."""
    if source is None:
        return None
    path = Path(source)
    if not path.is_file():
        raise UsageError(f"--source {path}: no such database file")
    fed = conn.execute("SELECT source_id FROM vecmigrate_sources WHERE path = ?", (str(path.resolve()),)).fetchall()
    if not fed:
        known = [r[0] for r in conn.execute("SELECT path FROM vecmigrate_sources ORDER BY source_id")]
        raise UsageError(f"--source {path} was never fed into this target (its sources: {', '.join(known) or 'none'})"
                         ": repair takes lost vectors only from the source they came from")
    try:
        with open_source_snapshot(path) as source_conn:
            detect(source_conn, survey_rest=False)
    except SourceError as exc:
        raise UsageError(f"--source {path} cannot be read ({exc})") from None
    return path, fed[0][0]


def _repair(conn: apsw.Connection, where, meta: dict[str, str], source: tuple[Path, int] | None, started: float,
            target: str) -> RepairReport:
    settings = tgt.settings_of(meta)
    index, problem = load_checked(where.index, settings, meta)
    notes = [f"{problem}: not read"] if problem else []
    restored: list[dict] = []
    unrecoverable: list[dict] = []
    with atomic(conn):   # vec0, patterns and the log: committed before the index is touched
        rescuer = _Rescuer(conn, meta, index, source)
        try:
            for key, pattern_id, why_lost in _without_vectors(conn, settings.dimension):
                found, origin, why = rescuer.vector(key)
                if found is None:
                    unrecoverable.append({"id": pattern_id, "key": key, "what": why_lost, "why": why})
                    continue
                conn.execute(sql("delete_vectors"), {"key": key})
                _put_vector(conn, key, found)
                restored.append({"id": pattern_id, "key": key, "what": f"vector restored ({why_lost})", "from": origin})
            for key, blob, in_vec0 in _orphans(conn):
                pattern, why = rescuer.pattern(key)
                if pattern is None:
                    if in_vec0:
                        _set_aside(conn, key, blob)
                    unrecoverable.append({"id": None, "key": key, "what": "a vector with no pattern row",
                                          "why": why + " (the vector is kept in vecmigrate_orphan_vectors)"})
                    continue
                vector = np.frombuffer(blob, dtype="<f4").reshape(1, -1).copy()
                tgt.write_patterns(conn, [key], [pattern], vector, [key] if in_vec0 else [], REPAIR)
                conn.execute("DELETE FROM vecmigrate_orphan_vectors WHERE key = ?", (key,))
                restored.append({"id": pattern.id, "key": key, "what": "pattern row restored", "from": "source"})
        finally:
            rescuer.close()
        refiltered = _refilter(conn)
        logged = _mend_log(conn, [r["key"] for r in restored])
    with atomic(conn):
        index_state = _mend_index(conn, where, settings, index, changelog.position(conn), problem, notes)
    if refiltered:
        notes.append(f"{refiltered} vec0 row(s) had filter columns (type, domain, framework, kind) that disagreed "
                     f"with their pattern; rewritten")
    return RepairReport(target=target, generation=where.number, restored=restored[:MAX_LISTED],
                        restored_count=len(restored), unrecoverable=unrecoverable[:MAX_LISTED],
                        unrecoverable_count=len(unrecoverable), log_entries_added=logged, index=index_state,
                        notes=notes, duration_ms=round((time.time() - started) * 1000, 1))


def _without_vectors(conn: apsw.Connection, dimension: int) -> list[tuple[int, str, str]]:
    """(key, id, what is wrong) of patterns whose vec0 vector is missing or unusable."""
    missing = [(k, i, "no vector in the vec0 mirror") for k, i in conn.execute(
        "SELECT p.key, p.id FROM patterns p WHERE NOT EXISTS (SELECT 1 FROM patterns_vec v WHERE v.rowid = p.key)")]
    broken = []
    for key, pattern_id, blob in conn.execute("SELECT p.key, p.id, v.embedding FROM patterns p JOIN patterns_vec v "
                                              "ON v.rowid = p.key"):
        vector = np.frombuffer(blob, dtype="<f4")
        if vector.size != dimension or not np.all(np.isfinite(vector)) or not np.any(vector):
            broken.append((key, pattern_id, "its vec0 vector is not finite, or zero"))
    return sorted(missing + broken)


def _usable(vector: np.ndarray, dimension: int) -> bool:
    return vector.size == dimension and bool(np.all(np.isfinite(vector))) and bool(np.any(vector))


class _Rescuer:
    """Where a lost vector, or a lost pattern row, can still be found."""

    def __init__(self, conn: apsw.Connection, meta: dict[str, str], index, source: tuple[Path, int] | None) -> None:
        self.conn = conn
        self.meta = meta
        self.dimension = int(meta["dimension"])
        self.index = index if index is not None and meta.get("dtype", "f32") == "f32" else None
        self.index_seq = int(meta.get("index_seq") or 0)
        self.source, self.source_id = source if source is not None else (None, None)
        self._snapshot = None
        self._source_conn = None
        self._plan = None
        self._embedders: dict[str, object] = {}

    def close(self) -> None:
        if self._snapshot is not None:
            self._snapshot.__exit__(None, None, None)

    def vector(self, key: int) -> tuple[np.ndarray | None, str, str]:
        """(that pattern's vector, where it came from, or why none could be trusted)."""
        tried = [self._from_index_why(key)]
        if not tried[0]:
            found = np.asarray(self.index.get(key, dtype=np.float32), dtype=np.float32).reshape(-1)
            if _usable(found, self.dimension):
                return found, "usearch index", ""
            tried = ["the index file's vector for it is not finite"]
        if self.source is not None:
            found, why = self._from_source(key)
            if found is not None:
                return found, "source", ""
            tried.append(why)
        else:
            tried.append("no --source given")
        found, why = self._embed(key)
        if found is not None:
            return found, "re-embedded by the model that made it", ""
        tried.append(why)
        return None, "", "; ".join(tried)

    def _from_index_why(self, key: int) -> str:
        """'' when the index file holds this pattern's current vector exactly; else why not."""
        if self.index is None:
            return ("the index file is lossy (dtype " + self.meta.get("dtype", "?") + ")"
                    if self.meta.get("dtype", "f32") != "f32" else "the index file cannot be trusted")
        if not bool(self.index.contains(key)):
            return "the index file does not hold it"
        if changelog.written_since(self.conn, key, self.index_seq):
            return "its vector changed after the index file was saved"
        return ""

    def _from_source(self, key: int) -> tuple[np.ndarray | None, str]:
        origin = self._lineage(key)
        if origin is None:
            return None, f"the source {self.source} did not give it"
        table, rowid, digest, synced = origin
        if changelog.written_since(self.conn, key, synced):
            return None, "a store wrote it after the source last did (the source's vector is not its vector)"
        row, why = self._row(table, rowid, digest)
        if row is None:
            return None, why
        try:
            blob = stored_embedding(row)
            if blob is None:
                return None, "its source row stores no vector"
            found = decode(blob, self.dimension)
        except (RowRejected, VecmigrateError) as exc:
            return None, f"its source row's vector cannot be read ({exc})"
        return (found, "") if _usable(found, self.dimension) else (None, "its source row's vector is not usable")

    def pattern(self, key: int) -> tuple[Pattern | None, str]:
        if self.source is None:
            return None, "no --source given to restore it from"
        origin = self._lineage(key)
        if origin is None:
            return None, f"the source {self.source} did not give it"
        table, rowid, digest, _ = origin
        row, why = self._row(table, rowid, digest)
        if row is None:
            return None, why
        part = self._part(table)
        try:
            pattern = part.finish(part.map_row(row.values))
        except Exception as exc:  # noqa: BLE001 - a row the mapping refuses now
            return None, f"its source row cannot be mapped ({exc})"
        namespace = self._namespace()
        if namespace:   # (as the run that fed it named its ids)
            pattern = Pattern(**{**pattern.__dict__, "id": f"{namespace}/{pattern.id}",
                                 "metadata": {**pattern.metadata, "sourceId": pattern.metadata.get("sourceId",
                                                                                                   pattern.id)}})
        return pattern, ""

    def _embed(self, key: int) -> tuple[np.ndarray | None, str]:
        """The vector again, when vecmigrate itself made it (its source row stored none) with a
        built-in embedder it can run, and nobody wrote the pattern since: the same text through
        the same embedder gives the same vector."""
        stored = tgt.read_pattern(self.conn, key)
        if stored is None:
            return None, "its pattern row is gone"
        made, why = self._made_here(key)
        if not made:
            return None, why
        spec = spec_for_model(stored.embedding_model)
        if spec is None or unavailable(spec):
            return None, f"its vector was made by {stored.embedding_model}, which cannot be run here"
        if spec not in self._embedders:
            self._embedders[spec] = load_embedder(spec, self.dimension)
        return np.asarray(embed(self._embedders[spec], [stored.content], self.dimension)[0], dtype=np.float32), ""

    def _made_here(self, key: int) -> tuple[bool, str]:
        rows = self.conn.execute(
            "SELECT l.source_table, l.synced_seq, s.layout, s.identity, r.image FROM vecmigrate_lineage l "
            "JOIN vecmigrate_sources s USING (source_id) LEFT JOIN vecmigrate_source_rows r USING (source_id, "
            "source_table, source_rowid) WHERE l.key = ?", (key,)).fetchall()
        if not rows:
            return False, "it was written through a store (its vector came from the caller, not from a model here)"
        table, synced, layout, identity, image = rows[0]
        written_elsewhere = self.conn.execute(
            "SELECT origin FROM vecmigrate_changes WHERE key = ? AND op = 'upsert' AND origin NOT IN "
            "('migrate', 'upgrade', 'repair') AND origin NOT LIKE 'sync %' LIMIT 1", (key,)).fetchall()
        if written_elsewhere or changelog.written_since(self.conn, key, synced):
            who = written_elsewhere[0][0] if written_elsewhere else "a store"
            return False, f"{who} wrote it at some point (its vector may be the caller's, not a model's here)"
        variant = _variant(layout, table, identity)
        if variant is None or variant.embedding_column is None:
            return variant is not None, "" if variant is not None else f"its source's layout {layout} is unknown"
        if image is None:
            return False, "the target kept no copy of its source row, to tell who made its vector"
        if json.loads(image).get(variant.embedding_column) is not None:
            return False, "its vector came from its source row (give --source to take it from there)"
        return True, ""

    # -- the source ---------------------------------------------------------------------------
    def _lineage(self, key: int) -> tuple[str, int, str, int] | None:
        rows = self.conn.execute("SELECT source_table, source_rowid, row_hash, synced_seq FROM vecmigrate_lineage "
                                 "WHERE key = ? AND source_id = ?", (key, self.source_id)).fetchall()
        return rows[0] if rows else None

    def _namespace(self) -> str | None:
        identity = self.conn.execute("SELECT identity FROM vecmigrate_sources WHERE source_id = ?",
                                     (self.source_id,)).fetchall()
        return json.loads(identity[0][0]).get("namespace") if identity else None

    def _part(self, table: str) -> Variant:
        if self._source_conn is None:
            self._snapshot = open_source_snapshot(self.source)
            self._source_conn = self._snapshot.__enter__()
            self._plan = detect(self._source_conn, survey_rest=False)
        return next((p for p in self._plan.parts if p.table == table), self._plan.parts[0])

    def _row(self, table: str, rowid: int, digest: str):
        """The source row the lineage names, if it is still as the target read it (else None, why)."""
        try:
            part = self._part(table)
            row = SourceReader(self._source_conn, part).at(rowid)
        except (VecmigrateError, apsw.Error) as exc:
            return None, f"the source cannot be read ({exc})"
        if row is None:
            return None, f"its source row ({table}:{rowid}) is gone"
        if row_hash(row) != digest:
            return None, f"its source row ({table}:{rowid}) changed since the target read it"
        return row, ""


def _variant(layout: str, table: str, identity: str) -> Variant | None:
    """The mapping a recorded source was read with, for one of its tables."""
    parts = layout_parts(layout, json.loads(identity).get("mapping"))
    return next((p for p in parts if p.table == table), parts[0] if len(parts) == 1 else None)


def _put_vector(conn: apsw.Connection, key: int, vector: np.ndarray) -> None:
    pattern = tgt.read_pattern(conn, key)
    conn.execute(sql("insert_vector"), {
        "key": key, "embedding": np.asarray(vector, dtype="<f4").tobytes(),
        "type": pattern.type or tgt.VEC_PLACEHOLDER, "domain": pattern.domain or tgt.VEC_PLACEHOLDER,
        "framework": pattern.framework or tgt.VEC_PLACEHOLDER, "kind": pattern.kind or tgt.VEC_PLACEHOLDER})


def _orphans(conn: apsw.Connection) -> list[tuple[int, bytes, bool]]:
    """(key, vector, in vec0?) of vectors with no pattern row: in vec0, or set aside by an earlier repair."""
    in_vec0 = [(k, b, True) for k, b in conn.execute(
        "SELECT rowid, embedding FROM patterns_vec WHERE rowid NOT IN (SELECT key FROM patterns)")]
    aside = [(k, b, False) for k, b in conn.execute(
        "SELECT key, embedding FROM vecmigrate_orphan_vectors WHERE key NOT IN (SELECT key FROM patterns)")]
    return sorted(in_vec0 + aside)


def _set_aside(conn: apsw.Connection, key: int, blob: bytes) -> None:
    """A vec0 vector with no pattern: out of vec0 (no search finds a hit without a row), kept."""
    conn.execute("INSERT INTO vecmigrate_orphan_vectors(key, embedding, at) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET "
                 "embedding = excluded.embedding, at = excluded.at", (key, blob, int(time.time() * 1000)))
    conn.execute(sql("delete_vectors"), {"key": key})


def _refilter(conn: apsw.Connection) -> int:
    """Rewrite vec0 rows whose filter columns disagree with their pattern row (delete and insert)."""
    u = tgt.VEC_PLACEHOLDER
    wrong = [(key, blob) for key, blob, *pair in conn.execute(
        "SELECT p.key, v.embedding, v.type, p.type, v.domain, p.domain, v.framework, p.framework, v.kind, p.kind "
        "FROM patterns p JOIN patterns_vec v ON v.rowid = p.key")
        if any(pair[i] != (pair[i + 1] or u) for i in (0, 2, 4, 6))]
    for key, blob in wrong:
        conn.execute(sql("delete_vectors"), {"key": key})
        _put_vector(conn, key, np.frombuffer(blob, dtype="<f4"))
    if wrong:
        changelog.append(conn, [k for k, _ in wrong], [None] * len(wrong), changelog.UPSERT, REPAIR)
    return len(wrong)


def _mend_log(conn: apsw.Connection, restored: list[int]) -> int:
    """Entries for keys whose last change-log entry no longer tells the truth, and for restored keys."""
    live = conn.execute(
        "SELECT p.key, p.id FROM patterns p WHERE p.key IN (SELECT value FROM json_each(:restored)) OR "
        "coalesce((SELECT c.op FROM vecmigrate_changes c WHERE c.key = p.key AND c.op != 'usage' "
        "ORDER BY c.seq DESC LIMIT 1), '') != 'upsert'", {"restored": json.dumps(restored)}).fetchall()
    gone = conn.execute(
        "SELECT c.key, c.pattern_id FROM vecmigrate_changes c WHERE c.op = 'upsert' AND c.seq = (SELECT max(seq) "
        "FROM vecmigrate_changes d WHERE d.key = c.key AND d.op != 'usage') AND c.key NOT IN (SELECT key FROM patterns)"
    ).fetchall()
    changelog.append(conn, [k for k, _ in live], [i for _, i in live], changelog.UPSERT, REPAIR)
    changelog.append(conn, [k for k, _ in gone], [i for _, i in gone], changelog.DELETE, REPAIR)
    return len(live) + len(gone)


def _mend_index(conn: apsw.Connection, where, settings, index, seq: int, problem: str | None,
                notes: list[str]) -> str:
    """Compare the index with vec0; rebuild and save it when they differ (or it could not be
    read), keeping the old file beside it."""
    if index is not None:
        vec_keys = [r[0] for r in conn.execute("SELECT rowid FROM patterns_vec ORDER BY rowid")]
        index_keys = set(np.asarray(index.keys, dtype=np.int64).tolist()) if len(index) else set()
        missing = [k for k in vec_keys if k not in index_keys]
        extra = index_keys - set(vec_keys)
        present = [k for k in vec_keys if k in index_keys]
        stale = 0
        for start in range(0, len(present), 4096):
            chunk = present[start:start + 4096]
            mine = np.asarray(index.get(np.asarray(chunk, dtype=np.uint64), dtype=np.float32),
                              dtype=np.float32).reshape(len(chunk), -1)
            exact = mirror_vectors(conn, chunk)
            theirs = np.frombuffer(b"".join(exact[k] for k in chunk), dtype="<f4").reshape(len(chunk), -1)
            if settings.dtype == "f32":
                stale += int(np.sum(np.any(mine != theirs, axis=1)))
            else:  # lossy: within 1 % (cosine), as verify checks
                norms = np.linalg.norm(mine, axis=1) * np.linalg.norm(theirs, axis=1)
                cosine = np.sum(mine * theirs, axis=1) / np.where(norms == 0, 1, norms)
                stale += int(np.sum(~(cosine >= 0.99)))
        if not missing and not extra and not stale:
            tgt.save_checked_index(conn, index, where, seq)  # (the log may have grown: record where it is)
            return "consistent with vec0"
        why = f"{len(missing)} missing, {len(extra)} extra, {stale} stale vector(s)"
    else:
        why = problem or "no index file"
    if where.index.exists() and not where.index.is_symlink():
        kept = where.index.with_name(f"{where.index.name}.before-repair-{seq}")
        os.replace(where.index, kept)
        fsync_dir(where.index.parent)
        notes.append(f"the index file before the repair is kept as {kept} (it may hold what vec0 lacked): remove it "
                     f"once you are satisfied")
    tgt.save_checked_index(conn, rebuild_from_mirror(conn, settings), where, seq)
    return f"rebuilt from vec0 ({why})"
