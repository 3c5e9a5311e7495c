"""`status`: how far a source has been migrated into a target. Reads only; writes nothing."""

from __future__ import annotations

from pathlib import Path

from . import ledger, target as tgt
from .backup import list_backups
from .db import open_source, open_target, quote_identifier, reading_source
from .migrate import DEFAULT_SOURCE, DEFAULT_TARGET
from .models import Status
from .sources import detect


def status(target: str | Path = DEFAULT_TARGET, source: str | Path | None = None) -> Status:
    where = tgt.paths(target)
    meta: dict[str, str] = {}
    run = None
    target_ids: set[str] = set()
    quarantined_rowids: set[int] = set()
    runs = 0
    if where.exists():
        conn = open_target(where.db, readonly=True)
        try:
            meta = tgt.read_meta(conn)
            run = ledger.last_run(conn)
            if run is not None:
                target_ids = {r[0] for r in conn.execute("SELECT id FROM patterns")}
                quarantined_rowids = {r[0] for r in conn.execute(
                    "SELECT source_rowid FROM quarantine WHERE run_id = ?", (run["run_id"],))}
                runs = conn.execute("SELECT count(*) FROM vecmigrate_runs WHERE status = 'complete'").fetchall()[0][0]
            target_count = conn.execute("SELECT count(*) FROM patterns").fetchall()[0][0] if meta else 0
        finally:
            conn.close()
    else:
        target_count = 0
    source_path = Path(source) if source is not None else (Path(run["source"]) if run else None)
    if source_path is None and Path(DEFAULT_SOURCE).exists():
        source_path = Path(DEFAULT_SOURCE)
    source_count = coverage = None
    complete = False
    if source_path is not None:
        table = run["source_table"] if run and source is None else None
        source_count, migrated, accounted = _source_accounting(source_path, table, target_ids, quarantined_rowids)
        coverage = migrated / source_count if source_count else 1.0
        complete = bool(run and run["status"] == "complete" and accounted == source_count)
    return Status(
        source=str(source_path) if source_path else None, source_count=source_count, target_count=target_count,
        quarantined_count=len(quarantined_rowids), coverage=coverage, migration_complete=complete,
        target_db=str(where.db), index_path=str(where.index),
        index_count=int(meta["index_count"]) if "index_count" in meta else None, generation=runs,
        backups=list_backups(source_path) if source_path else [], schema=run["schema"] if run else None,
        dimension=int(meta["dimension"]) if meta else None, metric=meta.get("metric"), dtype=meta.get("dtype"),
        embedder=meta.get("embedder"), last_run=run)


def _source_accounting(source: Path, table: str | None, target_ids: set[str],
                       quarantined_rowids: set[int]) -> tuple[int, int, int]:
    """(source rows, rows whose pattern is in the target, rows in the target or quarantined)."""
    conn = open_source(source)
    try:
        _, table = detect(conn, table)
        total = migrated = accounted = 0
        with reading_source(conn, f"table {table}"):
            for rowid, pattern_id in conn.execute(f"SELECT rowid, id FROM {quote_identifier(table)}"):
                total += 1
                if rowid in quarantined_rowids:
                    accounted += 1
                elif pattern_id is not None and str(pattern_id) in target_ids:
                    migrated += 1
                    accounted += 1
        return total, migrated, accounted
    finally:
        conn.close()
