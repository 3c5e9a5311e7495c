"""`repair`: bring one target back to consistency, patterns ⇄ vec0 ⇄ index ⇄ change log, without
a second copy, and say what could not be recovered.

- A pattern with no vector in the vec0 mirror gets it back from the first that has it: the
  USearch index file (only when it is exact: f32, and the file is the one SQLite recorded),
  the source (`--source`, the row the lineage names, or the row with the pattern's id), the
  target's own model (only when that model made this pattern's vector). Else it is listed as
  unrecoverable and left as it is.
- A vec0 row with no pattern gets its pattern back from the source row the lineage names
  (with `--source`), else it is listed and kept.
- vec0's filter columns are made to say what the pattern row says.
- The change log gets an entry for every key whose last entry no longer tells the truth (a
  live pattern without an upsert, a gone one without a delete).
- The index is compared with vec0 (keys, and vectors when f32) and rebuilt and saved when
  they differ, or when its file could not be trusted.

It holds the target's lock alone (as a migration does), and writes in one transaction.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import apsw
import numpy as np

from ..codec import decode
from ..db import atomic, open_source_snapshot, sql
from ..embed.embedders import EmbeddingError, embed, query_embedder, target_model
from ..errors import RowRejected, VecmigrateError
from ..models import Pattern, RepairReport
from ..sources import SourceReader, Variant, detect, stored_embedding
from ..target import changelog
from ..target import database as tgt
from ..target.generations import Layout, recover
from ..target.index_file import load_checked, rebuild_from_mirror
from ..target.lock import TargetLock

REPAIR = "repair"
MAX_LISTED = 50


def repair(target: str | Path, *, source: str | Path | None = None) -> RepairReport:
    started = time.time()
    layout = Layout(Path(target))
    with TargetLock(layout.root):
        recover(layout)
        where, conn, meta = tgt.open_existing(target, readonly=False)
        try:
            return _repair(conn, where, meta, Path(source) if source is not None else None, started, str(target))
        finally:
            conn.close()


def _repair(conn: apsw.Connection, where, meta: dict[str, str], source: Path | None, started: float,
            target: str) -> RepairReport:
    settings = tgt.settings_of(meta)
    index, problem = load_checked(where.index, settings, meta)
    notes = [f"{problem}: not read"] if problem else []
    restored: list[dict] = []
    unrecoverable: list[dict] = []
    with atomic(conn):
        rescuer = _Rescuer(conn, meta, index, source)
        try:
            for key, pattern_id in conn.execute(
                    "SELECT p.key, p.id FROM patterns p WHERE NOT EXISTS (SELECT 1 FROM patterns_vec v "
                    "WHERE v.rowid = p.key) ORDER BY p.key").fetchall():
                found, origin, why = rescuer.vector(key, pattern_id)
                if found is None:
                    unrecoverable.append({"id": pattern_id, "key": key, "what": "no vector in the vec0 mirror",
                                          "why": why})
                    continue
                _put_vector(conn, key, found)
                restored.append({"id": pattern_id, "key": key, "what": "vector restored to vec0", "from": origin})
            for (key,) in conn.execute("SELECT rowid FROM patterns_vec WHERE rowid NOT IN (SELECT key FROM patterns)"
                                       " ORDER BY rowid").fetchall():
                pattern, why = rescuer.pattern(key)
                if pattern is None:
                    unrecoverable.append({"id": None, "key": key, "what": "a vec0 vector with no pattern row",
                                          "why": why + " (the vector is kept)"})
                    continue
                tgt.write_patterns(conn, [key], [pattern], _vec0_vectors(conn, [key], settings.dimension),
                                   [key], REPAIR)
                restored.append({"id": pattern.id, "key": key, "what": "pattern row restored", "from": "source"})
        finally:
            rescuer.close()
        refiltered = _refilter(conn)
        logged = _mend_log(conn, [r["key"] for r in restored])
        seq = changelog.position(conn)
        index_state = _mend_index(conn, where, settings, index, seq, problem)
    if refiltered:
        notes.append(f"{refiltered} vec0 row(s) had filter columns (type, domain, framework, kind) that disagreed "
                     f"with their pattern; rewritten")
    return RepairReport(target=target, generation=where.number, restored=restored[:MAX_LISTED],
                        restored_count=len(restored), unrecoverable=unrecoverable[:MAX_LISTED],
                        unrecoverable_count=len(unrecoverable), log_entries_added=logged, index=index_state,
                        notes=notes, duration_ms=round((time.time() - started) * 1000, 1))


class _Rescuer:
    """Where a lost vector, or a lost pattern row, can still be found."""

    def __init__(self, conn: apsw.Connection, meta: dict[str, str], index, source: Path | None) -> None:
        self.conn = conn
        self.meta = meta
        self.dimension = int(meta["dimension"])
        self.index = index if index is not None and meta.get("dtype", "f32") == "f32" else None
        self.source = source
        self._snapshot = None
        self._source_conn = None
        self._plan = None
        self._embedder = None
        self._embedder_problem: str | None = None

    def close(self) -> None:
        if self._snapshot is not None:
            self._snapshot.__exit__(None, None, None)

    def vector(self, key: int, pattern_id: str) -> tuple[np.ndarray | None, str, str]:
        """(vector, where it came from, why not when None)."""
        if self.index is not None and bool(self.index.contains(key)):
            return np.asarray(self.index.get(key, dtype=np.float32), dtype=np.float32).reshape(-1), "usearch index", ""
        tried = ["the index file " + ("is not exact (dtype " + self.meta.get("dtype", "?") + ")"
                                      if self.meta.get("dtype", "f32") != "f32" else "does not hold it")]
        if self.source is not None:
            row, why = self._source_row(key, pattern_id)
            if row is not None:
                try:
                    blob = stored_embedding(row)
                    if blob is not None:
                        return decode(blob, self.dimension), "source", ""
                    tried.append("its source row stores no vector")
                except (RowRejected, VecmigrateError) as exc:
                    tried.append(f"its source row's vector cannot be read ({exc})")
            else:
                tried.append(why)
        else:
            tried.append("no --source given")
        stored = tgt.read_pattern(self.conn, key)
        vector, why = self._embed(stored)
        if vector is not None:
            return vector, f"re-embedded with the target's model ({self.meta.get('model')})", ""
        tried.append(why)
        return None, "", "; ".join(tried)

    def pattern(self, key: int) -> tuple[Pattern | None, str]:
        if self.source is None:
            return None, "no --source given to restore it from"
        row, why = self._source_row(key, None)
        if row is None:
            return None, why
        part = self._part_of(key)
        try:
            return part.finish(part.map_row(row.values)), ""
        except Exception as exc:  # noqa: BLE001 - a row the mapping refuses now
            return None, f"its source row cannot be mapped ({exc})"

    def _embed(self, stored: Pattern | None) -> tuple[np.ndarray | None, str]:
        model = target_model(self.meta)
        if stored is None:
            return None, "its pattern row is gone"
        if stored.embedding_model not in (None, model):
            return None, f"its vector was made by {stored.embedding_model}, not by the target's model {model}"
        if self._embedder is None and self._embedder_problem is None:
            try:
                self._embedder = query_embedder(self.meta, self.dimension)
            except (EmbeddingError, VecmigrateError) as exc:
                self._embedder_problem = f"the target's model cannot be run here ({exc})"
        if self._embedder is None:
            return None, self._embedder_problem or "no model"
        return np.asarray(embed(self._embedder, [stored.content], self.dimension)[0], dtype=np.float32), ""

    # -- the source ---------------------------------------------------------------------------
    def _open(self) -> None:
        if self._source_conn is None:
            self._snapshot = open_source_snapshot(self.source)
            self._source_conn = self._snapshot.__enter__()

    def _lineage(self, key: int) -> tuple[str, int] | None:
        rows = self.conn.execute(
            "SELECT l.source_table, l.source_rowid FROM vecmigrate_lineage l JOIN vecmigrate_sources s USING (source_id)"
            " WHERE l.key = ? AND s.path = ?", (key, str(self.source.resolve()))).fetchall()
        return (rows[0][0], rows[0][1]) if rows else None

    def _part_of(self, key: int) -> Variant:
        self._open()
        if self._plan is None:
            self._plan = detect(self._source_conn, survey_rest=False)
        found = self._lineage(key)
        table = found[0] if found else None
        return next((p for p in self._plan.parts if p.table == table), self._plan.parts[0])

    def _source_row(self, key: int, pattern_id: str | None):
        """The source row that made `key` (by the lineage, else by the pattern's id), or (None, why)."""
        try:
            part = self._part_of(key)
        except VecmigrateError as exc:
            return None, f"the source cannot be read ({exc})"
        found = self._lineage(key)
        reader = SourceReader(self._source_conn, part)
        if found is not None:
            row = reader.at(found[1])
            if row is not None:
                return row, ""
        if pattern_id is not None and part.to_row is not None:
            stored = tgt.read_pattern(self.conn, key)
            try:
                where = {c: part.to_row(stored)[c] for c in part.id_columns}
                row = reader.find(where)
            except Exception:  # noqa: BLE001 - an id this layout cannot hold
                row = None
            if row is not None:
                return row, ""
        return None, f"the source {self.source} has no row for it"


def _put_vector(conn: apsw.Connection, key: int, vector: np.ndarray) -> None:
    pattern = tgt.read_pattern(conn, key)
    conn.execute(sql("insert_vector"), {
        "key": key, "embedding": np.asarray(vector, dtype="<f4").tobytes(),
        "type": pattern.type or tgt.VEC_PLACEHOLDER, "domain": pattern.domain or tgt.VEC_PLACEHOLDER,
        "framework": pattern.framework or tgt.VEC_PLACEHOLDER, "kind": pattern.kind or tgt.VEC_PLACEHOLDER})


def _vec0_vectors(conn: apsw.Connection, keys: list[int], dimension: int) -> np.ndarray:
    blobs = [conn.execute("SELECT embedding FROM patterns_vec WHERE rowid = ?", (k,)).fetchall()[0][0] for k in keys]
    return np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(keys), dimension).copy()


def _refilter(conn: apsw.Connection) -> int:
    """Rewrite vec0 rows whose filter columns disagree with their pattern row (vec0 has no UPDATE
    of metadata columns we rely on: delete and insert)."""
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
        "ORDER BY c.seq DESC LIMIT 1), '') != 'upsert'", {"restored": _json(restored)}).fetchall()
    gone = conn.execute(
        "SELECT c.key, c.pattern_id FROM vecmigrate_changes c WHERE c.op = 'upsert' AND c.seq = (SELECT max(seq) "
        "FROM vecmigrate_changes d WHERE d.key = c.key AND d.op != 'usage') AND c.key NOT IN (SELECT key FROM patterns)"
    ).fetchall()
    changelog.append(conn, [k for k, _ in live], [i for _, i in live], changelog.UPSERT, REPAIR)
    changelog.append(conn, [k for k, _ in gone], [i for _, i in gone], changelog.DELETE, REPAIR)
    return len(live) + len(gone)


def _json(values: list[int]) -> str:
    return json.dumps(values)


def _mend_index(conn: apsw.Connection, where, settings, index, seq: int, problem: str | None) -> str:
    """Compare the index with vec0; rebuild and save it when they differ (or it could not be read)."""
    if index is not None:
        vec_keys = [r[0] for r in conn.execute("SELECT rowid FROM patterns_vec ORDER BY rowid")]
        index_keys = set(np.asarray(index.keys, dtype=np.int64).tolist()) if len(index) else set()
        missing = [k for k in vec_keys if k not in index_keys]
        extra = index_keys - set(vec_keys)
        stale = 0
        if settings.dtype == "f32":
            present = [k for k in vec_keys if k in index_keys]
            for start in range(0, len(present), 4096):
                chunk = present[start:start + 4096]
                mine = np.asarray(index.get(np.asarray(chunk, dtype=np.uint64), dtype=np.float32), dtype=np.float32)
                theirs = _vec0_vectors(conn, chunk, settings.dimension)
                stale += int(np.sum(np.any(mine.reshape(len(chunk), -1) != theirs, axis=1)))
        if not missing and not extra and not stale:
            tgt.save_checked_index(conn, index, where, seq)  # (the log may have grown: record where it is)
            return "consistent with vec0"
        why = f"{len(missing)} missing, {len(extra)} extra, {stale} stale vector(s)"
    else:
        why = problem or "no index file"
    tgt.save_checked_index(conn, rebuild_from_mirror(conn, settings), where, seq)
    return f"rebuilt from vec0 ({why})"
