"""`export`: write a target back out as an AgentDB-family database, a way back after cut-over.

The tables are created as the source had them (the CREATE TABLE statements the target
recorded), else as the layout's application creates them. A pattern that came from a source
of that layout, unchanged since, is written back from the verbatim row the target kept
(`vecmigrate_source_rows`), at its old rowid: every column equal, the vector byte for byte. A
pattern changed since (by a store, or usage counts) is that row with the changed columns
written again by the layout's reverse mapping; a pattern of no source is written by the
reverse mapping alone. The rows the target quarantined come back from the quarantine's
verbatim copy, the history tables it kept under their own names, and the source's indexes on
these tables and its AUTOINCREMENT marks with them. The file appears whole or not at all
(written beside it, then renamed).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path

import apsw

from ..db import atomic, quote_identifier, table_names
from ..errors import RowRejected, TargetError, UsageError
from ..files import fsync_dir, fsync_file
from ..models import ExportResult
from ..sources import LAYOUTS, Variant, layout_parts
from ..sources.history import copy_history
from ..sources.reverse import decode_image, part_for, row_for
from ..sources.writer import RowWriter
from ..target import changelog
from ..target import database as tgt

MAX_LISTED = 20


def export(target: str | Path, to: str | Path, *, layout: str | None = None) -> ExportResult:
    """Write the live generation of `target` to a new database file `to` in `layout` (default:
    the layout of the source the target was fed from)."""
    started = time.time()
    to = Path(to)
    if to.exists() or to.is_symlink():
        raise UsageError(f"--to {to} exists: export writes a new file (remove it or choose another path)")
    if not to.parent.is_dir():
        raise UsageError(f"--to {to}: folder {to.parent} does not exist")
    _, conn, meta = tgt.open_existing(target, readonly=True)
    _remove_stale_partials(to)
    partial = to.with_name(f".{to.name}.partial-{os.getpid()}")
    try:
        with changelog.reading(conn):
            name, parts, sources, schema = _plan(conn, layout)
            try:
                out = apsw.Connection(str(partial))
                out.execute("PRAGMA journal_mode = OFF")  # (a new file: nothing to roll back into)
            except apsw.Error as exc:
                raise TargetError(f"cannot write {to} ({type(exc).__name__}: {exc})") from None
            try:
                with atomic(out):
                    for part in parts:
                        for statement in _create(part, schema):
                            out.execute(statement)
                    counts, exact, rewritten, skipped, notes = _write(conn, out, parts, sources, meta)
                    history = _history(conn, out, sources, {t for part in parts for t in _tables_of(part)}, notes)
                    notes += _indexes(out, parts, schema)
            finally:
                out.close()
        fsync_file(partial)
        os.replace(partial, to)
        fsync_dir(to.parent)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        conn.close()
    if skipped:
        listed = "; ".join(f"{s['id']}: {s['reason']}" for s in skipped[:MAX_LISTED])
        notes.append(f"{len(skipped)} pattern(s) could not be written in the {name} layout: {listed}")
    return ExportResult(target=str(target), path=str(to), layout=name, tables=counts, exact=exact,
                        rewritten=rewritten, skipped=skipped, history=history, notes=notes,
                        duration_ms=round((time.time() - started) * 1000, 1))


def _remove_stale_partials(to: Path) -> None:
    """Partial files an export killed before its end left beside `to` (their process is gone)."""
    for stale in to.parent.glob(f".{to.name}.partial-*"):
        pid = stale.name.rsplit("-", 1)[-1].split(".")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists() and not stale.is_symlink():
            stale.unlink(missing_ok=True)


def _indexes(out: apsw.Connection, parts: list[Variant], schema: dict[str, str]) -> list[str]:
    """The source's indexes on the exported tables (its UNIQUE ones say how the application
    upserts), made once the rows are in."""
    notes = []
    tables = {t for part in parts for t in _tables_of(part)}
    for name, statement in schema.items():
        if name.startswith("sqlite_sequence:") and name.split(":", 1)[1] in tables:  # AUTOINCREMENT's mark
            table, seq = name.split(":", 1)[1], int(statement)
            if out.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchall():
                out.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?", (seq, table))
                if not out.changes():
                    out.execute("INSERT INTO sqlite_sequence(name, seq) VALUES (?, ?)", (table, seq))
            continue
        if not statement.upper().lstrip().startswith(("CREATE INDEX", "CREATE UNIQUE INDEX")):
            continue
        try:
            out.execute(statement)
        except apsw.Error as exc:
            notes.append(f"the source's index {name} could not be made on the export ({exc})")
    if any(part.name in ("qe-v3", "claude-flow-v3", "reasoningbank-memory", "agentdb-native") for part in parts):
        notes.append("only the pattern tables, their side tables and indexes, and the history tables the target kept "
                      "are exported; the source's other tables (full-text indexes, caches...) are not")
    return notes


def _plan(conn: apsw.Connection, layout: str | None) -> tuple[str, list[Variant], list[int], dict[str, str]]:
    """(layout, its tables as Variants, the ids of the sources of that layout, recorded CREATE statements)."""
    fed = []
    if tgt.has_lineage(tgt.read_meta(conn)):
        fed = conn.execute("SELECT source_id, layout, tables, identity FROM vecmigrate_sources ORDER BY source_id"
                           ).fetchall()
    known = sorted({v[0].name for v in LAYOUTS} | {"generic"})
    if layout is None:
        names = sorted({row[1] for row in fed})
        if len(names) != 1:
            which = f"it was fed from {', '.join(names)}" if names else "it records no source"
            raise UsageError(f"name the layout to export to with --layout ({which}); layouts: {', '.join(known)}")
        layout = names[0]
    if layout not in known:
        raise UsageError(f"--layout must be one of {', '.join(known)}, got {layout!r}")
    mine = [row for row in fed if row[1] == layout]
    if layout == "generic":
        mappings = [json.loads(row[3]).get("mapping") for row in mine]
        if len(mappings) != 1 or not mappings[0]:
            raise UsageError("--layout generic exports the table of one source fed with a generic mapping; this target"
                             f" has {len(mappings)}")
        parts = layout_parts(layout, mappings[0])
    else:
        parts = layout_parts(layout)
        tables = [t for row in mine for t in row[2].split(",")]
        if len(parts) == 1 and len(set(tables)) == 1 and tables[0] != parts[0].table:
            parts = [replace(parts[0], table=tables[0])]  # a source read with --table under another name
    schema: dict[str, str] = {}
    if "vecmigrate_source_schema" in table_names(conn, internal=True):
        for source_id, *_ in mine:
            schema.update(dict(conn.execute("SELECT name, sql FROM vecmigrate_source_schema WHERE source_id = ?",
                                            (source_id,)).fetchall()))
    return layout, parts, [row[0] for row in mine], schema


def _create(part: Variant, schema: dict[str, str]) -> list[str]:
    statements = [schema.get(part.table) or (part.ddl[0] if part.ddl else None)]
    if part.embedding_table is not None:
        statements.append(schema.get(part.embedding_table.table) or (part.ddl[1] if len(part.ddl) > 1 else None))
    if statements[0] is None:
        raise TargetError(f"no CREATE TABLE statement for {part.table}: the target did not record its source's schema")
    return [s for s in statements if s]


def _write(conn: apsw.Connection, out: apsw.Connection, parts: list[Variant], sources: list[int],
           meta: dict[str, str]) -> tuple[dict[str, int], int, int, list[dict], list[str]]:
    writers = {part.kind: RowWriter(out, part) for part in parts}
    first = parts[0]
    counts = {part.table: 0 for part in parts}
    exact = rewritten = 0
    skipped: list[dict] = []
    notes: list[str] = []
    strays: dict[str, int] = {}
    moved = 0
    images = "vecmigrate_source_rows" in table_names(conn, internal=True)
    origins = _origins(conn, sources, images)
    keeps = {part.table: _keeps_vectors(conn, part, sources, images) for part in parts}
    later: list[int] = []   # patterns of no source: written after the rows that keep their rowids
    for (key,) in conn.execute("SELECT key FROM patterns ORDER BY key").fetchall():
        origin = origins.get(key)
        if origin is None:
            later.append(key)
            continue
        stored = tgt.read_stored(conn, key=key)
        if stored is None:
            skipped.append({"id": f"key {key}", "reason": "no vector in the vec0 mirror (run vecmigrate repair)"})
            continue
        table, rowid, synced, image = origin
        writer = next((w for w in writers.values() if w.variant.table == table), None) or writers[first.kind]
        base = decode_image(image, stored.vector) if image else None
        if base is not None and not changelog.written_since(conn, key, synced, usage=True):
            row = base                                     # as the source row was: verbatim
        else:
            try:
                vector = stored.vector if keeps[writer.variant.table] else None
                row = row_for(writer.variant, stored.pattern, vector, base,
                              vector_changed=base is None or changelog.written_since(conn, key, synced),
                              model=meta.get("model"))
            except RowRejected as exc:
                skipped.append({"id": stored.pattern.id, "reason": str(exc)})
                continue
        try:
            try:
                writer.insert(row, rowid=rowid if base is not None else None, fresh=base is None)
            except apsw.ConstraintError:
                if base is None:
                    raise
                writer.insert(row, fresh=False)            # its rowid is another source's: a new one
                moved += 1
        except apsw.ConstraintError as exc:
            skipped.append({"id": stored.pattern.id, "reason": str(exc)})
            continue
        counts[writer.variant.table] += 1
        verbatim = base is not None and row == base
        exact += verbatim
        rewritten += not verbatim
    for key in later:
        stored = tgt.read_stored(conn, key=key)
        if stored is None:
            skipped.append({"id": f"key {key}", "reason": "no vector in the vec0 mirror (run vecmigrate repair)"})
            continue
        try:
            part = part_for(parts, stored.pattern.id, stored.pattern.kind)
            writer = writers[part.kind]
            if part.kind != stored.pattern.kind:
                strays[stored.pattern.kind] = strays.get(stored.pattern.kind, 0) + 1
            vector = stored.vector if keeps[writer.variant.table] else None
            writer.insert(row_for(writer.variant, stored.pattern, vector, None, model=meta.get("model")), fresh=True)
        except (RowRejected, apsw.ConstraintError) as exc:
            skipped.append({"id": stored.pattern.id, "reason": str(exc)})
            continue
        counts[writer.variant.table] += 1
        rewritten += 1
    back = _quarantined(conn, writers, sources, counts, skipped)
    if back:
        notes.append(f"{back} quarantined source row(s) written back as the source had them (the target holds no "
                     f"pattern for them; `vecmigrate status` lists why)")
    for kind, n in strays.items():
        notes.append(f"{n} pattern(s) of kind {kind!r} written to {first.table} (the layout has no table for them)")
    if moved:
        notes.append(f"{moved} row(s) got new rowids: another source's row had theirs")
    if not images:
        notes.append("the target was made before vecmigrate kept source rows: every row was written by the reverse "
                     "mapping (run `vecmigrate sync` once to keep them)")
    return counts, exact, rewritten, skipped, notes


def _quarantined(conn: apsw.Connection, writers: dict, sources: list[int], counts: dict[str, int],
                 skipped: list[dict]) -> int:
    """The source rows the target quarantined (it holds no pattern for them), written back
    verbatim from the copy the quarantine keeps, at their rowids: the export is the file."""
    if not sources:
        return 0
    rows = conn.execute(
        "SELECT l.source_table, l.source_rowid, (SELECT q.row_json FROM quarantine q WHERE q.source_table = "
        "l.source_table AND q.source_rowid = l.source_rowid ORDER BY q.qid DESC LIMIT 1) FROM vecmigrate_lineage l "
        "WHERE l.key IS NULL AND l.source_id IN (SELECT value FROM json_each(?)) ORDER BY l.source_rowid",
        (json.dumps(sources),)).fetchall()
    by_table = {w.variant.table: w for w in writers.values()}
    written = 0
    for table, rowid, row_json in rows:
        writer = by_table.get(table)
        if writer is None or row_json is None:
            continue
        try:
            writer.insert(decode_image(row_json, None), rowid=rowid)
        except (apsw.Error, ValueError) as exc:
            skipped.append({"id": f"{table}:{rowid} (quarantined)", "reason": str(exc)})
            continue
        counts[table] += 1
        written += 1
    return written


def _keeps_vectors(conn: apsw.Connection, part: Variant, sources: list[int], images: bool) -> bool:
    """Does this table keep vectors in the source? (agentic-qe's agentdb.db never does: a vector
    the target made is then not written into it.) A table no source fed does, as its layout says."""
    if part.embedding_column is None:
        return False
    if not images or not sources:
        return True
    rows = conn.execute("SELECT count(*), count(json_extract(image, ?)) FROM vecmigrate_source_rows WHERE source_table"
                        " = ? AND source_id IN (SELECT value FROM json_each(?))",
                        (f'$."{part.embedding_column}"', part.table, json.dumps(sources))).fetchall()[0]
    return rows[0] == 0 or rows[1] > 0


def _tables_of(part: Variant) -> list[str]:
    return [part.table] + ([part.embedding_table.table] if part.embedding_table else [])


def _history(conn: apsw.Connection, out: apsw.Connection, sources: list[int], taken: set[str],
             notes: list[str]) -> dict[str, int]:
    """The history tables the target copied from the sources (usage, links, learning...), back
    under their own names, rows as they were. -> rows per table."""
    copied: dict[str, int] = {}
    present = set(table_names(conn, internal=True))
    for source_id in sources:
        recorded = conn.execute("SELECT history FROM vecmigrate_sources WHERE source_id = ?", (source_id,)).fetchall()
        for name, kept_as in json.loads(recorded[0][0] or "{}").items() if recorded else ():
            if kept_as not in present:
                continue
            if name in copied or name in taken:
                notes.append(f"history table {name} of source {source_id} not exported: another table has that name")
                continue
            copy_history(conn, out, [kept_as], {kept_as: name})
            copied[name] = out.execute(f"SELECT count(*) FROM {quote_identifier(name)}").fetchall()[0][0]
    return copied


def _origins(conn: apsw.Connection, sources: list[int], images: bool) -> dict[int, tuple[str, int, int, str | None]]:
    """key -> (source table, source rowid, synced_seq, image) for the patterns of `sources`."""
    if not sources:
        return {}
    image = "r.image" if images else "NULL"
    join = ("LEFT JOIN vecmigrate_source_rows r ON r.source_id = l.source_id AND r.source_table = l.source_table "
            "AND r.source_rowid = l.source_rowid") if images else ""
    rows = conn.execute(f"SELECT l.key, l.source_table, l.source_rowid, l.synced_seq, {image} FROM vecmigrate_lineage l"
                        f" {join} WHERE l.key IS NOT NULL AND l.source_id IN (SELECT value FROM json_each(?))"
                        f" ORDER BY l.source_rowid", (json.dumps(sources),)).fetchall()
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}
