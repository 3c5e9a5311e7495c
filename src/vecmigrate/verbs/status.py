"""`status`: how far a source has been migrated into a target. Reads only; writes nothing."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import apsw

from ..db import describe, open_source_snapshot, open_target, quote_identifier, source_state
from ..embed.embedders import query_spec
from ..errors import SourceError, TargetError, VecmigrateError
from ..models import Status
from ..sources import detect, iter_ids, plan_of_run
from ..sources.backup import list_backups
from ..target import changelog, ledger, lineage, versions
from ..target import database as tgt
from ..target import lock as target_lock
from ..target.generations import Layout, check_root, read_intent
from .migrate import DEFAULT_TARGET


def status(target: str | Path = DEFAULT_TARGET, source: str | Path | None = None, *,
           require_target: bool = False) -> Status:
    """The target's state, and how far the source it was fed from (or `source`) is migrated.
    The source compared is the one named, else the one the target recorded: never a default
    path the target has nothing to do with. With a `source`, a target not made yet shows the
    source's count, unless `require_target` (a source from the environment: a mistyped
    --target must not look like a target)."""
    layout = Layout(Path(target))
    check_root(layout.root)  # a file is no target
    current = layout.current()
    missing = current is None and not layout.generations()
    if missing and (source is None or require_target):  # nothing to show: say so (with a source, its rows are counted)
        what = "nothing is there" if not layout.root.exists() else "it holds no generation"
        raise TargetError(f"no vecmigrate target at {layout.root} ({what}); "
                          f"vecmigrate migrate --target {layout.root} makes one")
    meta: dict[str, str] = {}
    run = None
    target_ids: set[str] = set()
    quarantined_rowids: set[int] = set()
    target_count = 0
    vector_models: dict[str, int] = {}
    kinds: dict[str, int] = {}
    fed: list[dict] = []
    held: dict[int, dict[tuple[str, int], str]] = {}  # per fed source: (table, rowid) -> pattern|quarantined|gone
    change_log: dict = {}
    since_live: dict[str, int] = {}
    if current is not None and current.db.exists():
        conn = open_target(current.db, readonly=True)
        try:
            meta = tgt.read_meta(conn)
            if meta:
                tgt.check_meta(meta, str(layout.root))
            versions.check_readable(meta, conn, str(layout.root))
            # the run that read the source asked about (the last run, when none is named)
            run = ledger.last_run(conn, str(Path(source).resolve()) if source is not None else None)
            if run is not None or (source is not None and meta):  # (a source never read: matched by pattern id)
                target_ids = {r[0] for r in conn.execute("SELECT id FROM patterns")}
            if run is not None:
                quarantined_rowids = {(r[0], r[1]) for r in conn.execute(
                    "SELECT source_table, source_rowid FROM quarantine WHERE run_id = ?", (run["run_id"],))}
            if tgt.has_lineage(meta):
                fed = _sources(conn)
                for table, rowid, source_id, what in conn.execute(
                        "SELECT l.source_table, l.source_rowid, l.source_id, CASE WHEN l.key IS NULL THEN 'quarantined'"
                        " WHEN p.key IS NULL THEN 'gone' ELSE 'pattern' END FROM vecmigrate_lineage l"
                        " LEFT JOIN patterns p ON p.key = l.key"):
                    held.setdefault(source_id, {})[(table, rowid)] = what
                position = changelog.position(conn)
                change_log = {"position": position, "index_seq": int(meta.get("index_seq") or 0),
                              "live_seq": int(meta.get("live_seq") or 0)}
                since_live = changelog.writes_since(conn, change_log["live_seq"])
            if meta:
                target_count = conn.execute("SELECT count(*) FROM patterns").fetchall()[0][0]
                vector_models = tgt.vectors_by_model(conn)
                kinds = dict(conn.execute("SELECT kind, count(*) FROM patterns GROUP BY 1 ORDER BY 2 DESC"))
        finally:
            conn.close()
    if source is not None:
        source_path = Path(source)
    elif run is not None:
        source_path = Path(run["source"])
    else:  # the lineage's only (or most recently read) source
        fed_paths = sorted(fed, key=lambda f: f["snapshot_at"] or "")
        source_path = Path(fed_paths[-1]["path"]) if fed_paths else None
    source_count = coverage = None
    complete = False
    notes = json.loads(meta.get("model_notes") or "[]")
    if missing:
        notes = [f"no target at {layout.root} yet: nothing of the source is migrated", *notes]
    backed_up = source_path  # (the backups of a source that is gone stay beside where it was)
    if source is None and source_path is not None and not source_path.exists():
        # the recorded source is gone (deleted after cut-over, moved): the target's state still shows
        notes = [f"the source this target was migrated from, {source_path}, is no longer there: "
                 f"coverage is not computed (pass --source to compare with another file)", *notes]
        source_path = None
    quarantined_count = len(quarantined_rowids)
    known = next((f for f in fed if source_path is not None and f["path"] == str(source_path.resolve())), None)
    schema = known["layout"] if known is not None else _layout_of(source_path) if source is not None else \
        (run["schema"] if run else None)
    try:
        if known is not None:  # the lineage says which of the source's rows (as they are now) it holds
            rows = _source_rowids(source_path, known["tables"].split(","))
            lineage = held.get(known["source_id"], {})
            source_count = len(rows)
            migrated = sum(1 for r in rows if lineage.get(r) == "pattern")
            quarantined_count = sum(1 for r in rows if lineage.get(r) == "quarantined")
            coverage = migrated / source_count if source_count else 1.0
            # complete: every row of the tables read is a pattern or quarantined (rows changed in place
            # since: `fed from` says the source is behind)
            complete = migrated + quarantined_count == source_count
        elif source_path is not None:
            source_count, migrated, accounted = _source_accounting(source_path, run, target_ids, quarantined_rowids)
            coverage = migrated / source_count if source_count else 1.0
            complete = accounted == source_count and (run is None or run["status"] == "complete")
    except (VecmigrateError, apsw.Error, OSError) as exc:
        if source is not None:
            raise
        # the recorded path holds something else now (a directory, another file): the target still shows
        notes = [f"the source this target was fed from, {source_path}, cannot be read now ({exc}): coverage "
                 f"is not computed (pass --source to compare with another file)", *notes]
        source_count = coverage = schema = None  # (the layout it was fed as is in `sources`; the file is not that now)
        complete = False
    gens = _generations(layout)
    backups = list_backups(backed_up, earlier=True) if backed_up else []
    backup_bytes = {b: _size(Path(b)) for b in backups}
    # generations a killed command was removing (the next writer finishes removing them)
    leftovers = {p.name: _tree_size(p) for p in layout.being_removed()}
    return Status(
        source=str(source_path) if source_path else None, source_count=source_count, target_count=target_count,
        quarantined_count=quarantined_count, coverage=coverage, migration_complete=complete,
        target_db=str(layout.db), index_path=str(layout.index),
        index_count=int(meta["index_count"]) if "index_count" in meta else None,
        generation=current.number if current else None, generations=gens,
        backups=backups, schema=schema,
        dimension=int(meta["dimension"]) if meta else None, metric=meta.get("metric"), dtype=meta.get("dtype"),
        embedder=query_spec(meta)[0] if meta else None, last_run=run, model=meta.get("model"), vector_models=vector_models,
        kinds=kinds, notes=notes,
        versions={k: _versions(meta[k]) for k in ("created_by", "written_by") if meta.get(k)},
        sources=fed, change_log=change_log, writes_since_live=since_live,
        disk_use={"generations": {g["generation"]: g["bytes"] for g in gens}, "backups": backup_bytes,
                  "being_removed": leftovers,
                  "total_bytes": sum(g["bytes"] for g in gens) + sum(backup_bytes.values()) + sum(leftovers.values())})


def _sources(conn) -> list[dict]:
    """Each source fed into the target, and whether the target is in step with its file now
    (its state — size, mtime, change counters — as the last pass read it)."""
    out = []
    now = time.time()
    for fed in lineage.sources(conn):
        path = Path(fed["path"])
        if not path.is_file():  # gone, or a directory, FIFO, ... in its place: neither in step nor behind
            in_step, behind = None, None
        else:
            in_step = lineage.in_step(fed, source_state(path))
            behind = 0.0 if in_step else round(now - (fed["snapshot_at"] or 0) / 1000, 1)
        out.append({"source_id": fed["source_id"], "path": fed["path"], "layout": fed["layout"],
                    "tables": fed["tables"], "patterns": fed["patterns"], "quarantined": fed["quarantined"],
                    "namespace": json.loads(fed["identity"]).get("namespace"),
                    "history": json.loads(fed["history"] or "{}"), "synced_at": _iso(fed["synced_at"]),
                    "snapshot_at": _iso(fed["snapshot_at"]), "in_step": in_step, "behind_seconds": behind})
    return out


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="seconds")


def _versions(text: str) -> dict[str, str]:
    """A recorded versions row as {name: version text}; a damaged row is shown, not trusted."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        return {"unreadable": text[:200]}
    return {str(k): str(v) for k, v in value.items() if v is not None}


def _generations(layout: Layout) -> list[dict]:
    """Every generation on disk, newest first, with what it is."""
    current = layout.current()
    parent = current.parent if current is not None else None
    undoing = read_intent(layout)
    held = target_lock.holder(layout.root)
    migrating = held[0] if held is not None and held[1] in ("migrate", "") else None  # ("": an older lock file)
    out = []
    for generation in reversed(layout.generations()):
        if undoing is not None and generation.number == undoing.undo:
            state = ("live; its rollback was interrupted (the next migrate or rollback finishes it)"
                     if current is not None and generation.number == current.number
                     else "rolled back (removed by the next migrate or rollback)")
        elif current is not None and generation.number == current.number:
            state = "live"
        elif generation.building and migrating is not None:
            state = f"being built: a migrate is running (PID {migrating})"
        elif generation.building:
            state = "interrupted migration (the same migrate command resumes it)"
        elif current is not None and generation.number > current.number:
            state = "finished, not live (`current` was moved back by hand; kept)"
        elif generation.number == parent:
            state = "previous (rollback target)"
        else:
            state = "older (kept)"
        out.append({"generation": generation.number, "state": state, "path": str(generation.path),
                    "bytes": _tree_size(generation.path),
                    "modified": datetime.fromtimestamp(generation.path.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")})
    return out


def _source_rowids(source: Path, tables: list[str]) -> list[tuple[str, int]]:
    """Every (table, rowid) of the tables a source was read from, as the file is now."""
    with open_source_snapshot(source) as conn:
        try:
            return [(t, r) for t in tables for (r,) in conn.execute(f"SELECT rowid FROM {quote_identifier(t)}")]
        except apsw.SQLError as exc:  # a table dropped, or rebuilt WITHOUT ROWID, since it was read
            raise SourceError(f"{source}: the tables the target read ({', '.join(tables)}) cannot be read by rowid "
                              f"now ({describe(exc)})") from None


def _source_accounting(source: Path, run: dict | None, target_ids: set[str],
                       quarantined: set[tuple[str, int]]) -> tuple[int, int, int]:
    """(source rows of every table the run reads, rows whose pattern is in the target, rows in
    the target or quarantined)."""
    with open_source_snapshot(source) as conn:
        plan = plan_of_run(conn, run) if run else detect(conn)
        total = migrated = accounted = 0
        for part in plan.parts:
            for rowid, pattern_id in iter_ids(conn, part):
                total += 1
                if (part.table, rowid) in quarantined:
                    accounted += 1
                elif pattern_id is not None and pattern_id in target_ids:
                    migrated += 1
                    accounted += 1
        return total, migrated, accounted


def _layout_of(source: Path | None) -> str | None:
    """The layout of a source the target has no record of (None when it cannot be read)."""
    if source is None or not source.exists():
        return None
    try:
        with open_source_snapshot(source) as conn:
            return detect(conn).layout
    except Exception:  # noqa: BLE001 - the source's problems are reported where it is counted
        return None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _tree_size(folder: Path) -> int:
    """Bytes the files in a generation's folder take (links not followed)."""
    total = 0
    for entry in folder.rglob("*"):
        try:
            if entry.is_file() and not entry.is_symlink():
                total += entry.stat().st_size
        except OSError:
            pass
    return total
