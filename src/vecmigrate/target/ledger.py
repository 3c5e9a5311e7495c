"""The migration ledger: one row per run and one per committed batch, written in the same
transaction as the rows the batch describes, so the ledger never claims more than is there."""

from __future__ import annotations

import json
import time
from typing import Any

import apsw


def now_ms() -> int:
    return int(time.time() * 1000)


def start_run(conn: apsw.Connection, *, source: str, source_table: str, schema: str, options: dict[str, Any],
              total_rows: int) -> int:
    conn.execute("INSERT INTO vecmigrate_runs(source, source_table, schema, options, total_rows, started_at, status)"
                 " VALUES (?, ?, ?, ?, ?, ?, 'running')",
                 (source, source_table, schema, json.dumps(options, sort_keys=True), total_rows, now_ms()))
    return conn.last_insert_rowid()


def record_batch(conn: apsw.Connection, run_id: int, batch_no: int, last_source_rowid: int, written: int,
                 quarantined: int, source_table: str = "", *, inserted: int | None = None, unchanged: int = 0) -> None:
    """`written` rows became patterns (`inserted` of them new), `unchanged` were already there as
    they are, `quarantined` were refused."""
    conn.execute("INSERT INTO vecmigrate_batches(run_id, batch_no, last_source_rowid, written, quarantined,"
                 " committed_at, source_table, inserted, unchanged) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (run_id, batch_no, last_source_rowid, written, quarantined, now_ms(), source_table,
                  written if inserted is None else inserted, unchanged))


def record_deleted(conn: apsw.Connection, run_id: int, deleted: int) -> None:
    conn.execute("UPDATE vecmigrate_runs SET deleted = deleted + ? WHERE run_id = ?", (deleted, run_id))


def counts(conn: apsw.Connection, run_id: int) -> dict[str, int]:
    """What a run did: inserted, updated, unchanged, quarantined, deleted."""
    row = conn.execute("SELECT coalesce(sum(inserted), 0), coalesce(sum(written - inserted), 0), "
                       "coalesce(sum(unchanged), 0), coalesce(sum(quarantined), 0), "
                       "(SELECT deleted FROM vecmigrate_runs WHERE run_id = ?) FROM vecmigrate_batches WHERE run_id = ?",
                       (run_id, run_id)).fetchall()[0]
    return dict(zip(("inserted", "updated", "unchanged", "quarantined", "deleted"), [v or 0 for v in row]))


def finish_run(conn: apsw.Connection, run_id: int) -> None:
    conn.execute("UPDATE vecmigrate_runs SET status = 'complete', finished_at = ? WHERE run_id = ?",
                 (now_ms(), run_id))


def record_quarantine(conn: apsw.Connection, run_id: int, source_table: str, entries: list[dict]) -> None:
    conn.executemany("INSERT INTO quarantine(run_id, source_table, source_rowid, pattern_id, reason, row_json,"
                     " quarantined_at) VALUES (:run_id, :source_table, :source_rowid, :pattern_id, :reason,"
                     " :row_json, :at)",
                     [{**e, "run_id": run_id, "source_table": source_table, "at": now_ms()} for e in entries])


def last_run(conn: apsw.Connection, source: str | None = None) -> dict[str, Any] | None:
    """The last run (of `source`, a resolved path, when given), with its batch totals."""
    try:
        if source is None:
            cursor = conn.execute("SELECT * FROM vecmigrate_runs ORDER BY run_id DESC LIMIT 1")
        else:
            cursor = conn.execute("SELECT * FROM vecmigrate_runs WHERE source = ? ORDER BY run_id DESC LIMIT 1",
                                  (source,))
        row = cursor.fetchone()
        if row is None:
            return None
        names = [d[0] for d in cursor.getdescription()]
    except apsw.SQLError:
        return None
    run = dict(zip(names, row))
    run["options"] = json.loads(run["options"])
    totals = conn.execute("SELECT count(*), coalesce(sum(written), 0), coalesce(sum(quarantined), 0)"
                          " FROM vecmigrate_batches WHERE run_id = ?", (run["run_id"],)).fetchall()[0]
    run.update(batches=totals[0], written=totals[1], quarantined=totals[2])
    return run


def quarantined_count(conn: apsw.Connection, run_id: int | None = None) -> int:
    if run_id is None:
        return conn.execute("SELECT count(*) FROM quarantine").fetchall()[0][0]
    return conn.execute("SELECT count(*) FROM quarantine WHERE run_id = ?", (run_id,)).fetchall()[0][0]


def resume_point(conn: apsw.Connection, run_id: int) -> tuple[dict[str, int], int, int]:
    """({source table: last committed rowid}, batches committed, rows they covered) of a run."""
    after = dict(conn.execute("SELECT source_table, max(last_source_rowid) FROM vecmigrate_batches WHERE run_id = ?"
                              " GROUP BY source_table", (run_id,)).fetchall())
    row = conn.execute("SELECT count(*), coalesce(sum(written + quarantined + unchanged), 0)"
                       " FROM vecmigrate_batches WHERE run_id = ?", (run_id,)).fetchall()[0]
    return after, row[0], row[1]


def quarantined_rowids(conn: apsw.Connection, run_id: int, source_table: str | None = None) -> set[int]:
    if source_table is None:
        return {r[0] for r in conn.execute("SELECT source_rowid FROM quarantine WHERE run_id = ?", (run_id,))}
    return {r[0] for r in conn.execute("SELECT source_rowid FROM quarantine WHERE run_id = ? AND source_table = ?",
                                       (run_id, source_table))}
