"""`sync`: apply what changed in a source to the live target, in place, while the application
keeps writing both.

Each pass reads one snapshot of the source, finds the rows new, changed and gone since the
target last read it (lineage.scan), maps and embeds the new and changed ones, then applies all
of it in one transaction of the live generation through the change log, beside pattern stores
writing the same target in other processes (they share the target; a migrate or rollback is
refused while any of them is open). A pass over a source whose file has not changed since the
last one reads nothing. `follow` repeats passes until stopped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from ..db import atomic, open_source_snapshot, source_state
from ..defaults import MAX_INTERVAL
from ..errors import SourceError, UsageError
from ..models import SyncPass
from ..sources import GenericMapping, SourceReader, detect
from ..sources.history import copy_history, read_history
from ..target import changelog, ledger
from ..target import database as tgt
from ..target.generations import Layout
from ..target.lineage import (
    Applied,
    Applier,
    ConflictError,
    find_source,
    history_names,
    in_step,
    mark_synced,
    register_source,
    source_identity,
    source_schema,
    sources,
)
from ..target.lock import TargetLock
from .migrate import MigrateOptions, Migrator, Run

logger = logging.getLogger("vecmigrate.sync")


class Syncer:
    """Keeps one target in step with one source. `sync_once` is one pass; `follow` repeats."""

    def __init__(self, source: str | Path, target: str | Path, options: MigrateOptions | None = None, *,
                 log: Callable[[str], None] | None = None) -> None:
        self.source = Path(source)
        self.target = Path(target)
        self.options = replace(options or MigrateOptions(), backup=False, dry_run=False)
        self.options.check()
        self.log = log or logger.info  # (the "vecmigrate" logger: --log-level info or -v shows it)
        self.migrator = Migrator(self.source, self.target, log=self.log)
        self._earlier: Run | None = None  # the last pass's run: its settings and embedder hold for the next

    @contextlib.contextmanager
    def session(self):
        """The target shared with other writers, for one or many passes."""
        self.migrator._check_apart()
        if not Layout(self.target).exists():
            raise UsageError(f"no vecmigrate target at {self.target}: run `vecmigrate migrate --source {self.source} "
                             f"--target {self.target}` first (sync keeps an existing target in step)")
        with TargetLock(self.target, shared=True):
            self._recall()
            yield

    def _recall(self) -> None:
        """Take the tables, mapping and namespace the target recorded for this source, unless
        they were given (a source fed under several of them must be told which)."""
        if self.options.table is not None or self.options.mapping is not None:
            return
        _, conn, meta = tgt.open_existing(self.target, readonly=True, older_ok=True)
        try:
            if not tgt.has_lineage(meta):
                return  # an earlier vecmigrate's target: no sources recorded (the pass upgrades it)
            fed = [s for s in sources(conn) if s["path"] == str(self.source.resolve())
                   and (self.options.namespace is None
                        or json.loads(s["identity"]).get("namespace") == self.options.namespace)]
        finally:
            conn.close()
        if not fed:
            return
        if len(fed) > 1:
            raise UsageError(f"{self.source} was fed into {self.target} in {len(fed)} ways (tables "
                             f"{'; '.join(s['tables'] for s in fed)}): pass --table to say which to sync")
        identity = json.loads(fed[0]["identity"])
        mapping = identity.get("mapping")
        tables = fed[0]["tables"].split(",")
        self.options = replace(
            self.options, namespace=identity.get("namespace"),
            mapping=GenericMapping.from_dict(mapping) if mapping else None,
            table=tables[0] if mapping or len(tables) == 1 and self._default_tables() != tables else None)
        self.options.check()

    def _default_tables(self) -> list[str]:
        with open_source_snapshot(self.source) as conn:
            return detect(conn, None, None, survey_rest=False).tables

    def sync_once(self) -> SyncPass:
        """One pass (call inside `session()`). The source's snapshot (a read lock on a
        rollback-journal file) is held only while rows are read, not while the target is written."""
        started = time.time()
        state = source_state(self.source)
        where, conn, _ = tgt.open_existing(self.target, readonly=False)
        try:
            with open_source_snapshot(self.source) as source_conn:
                plan = detect(source_conn, self.options.table, self.options.mapping)
                known = find_source(conn, self.source.resolve(), plan.tables)
                since = (known or {}).get("snapshot_at") or 0
                if known is not None and in_step(known, state):
                    return SyncPass(source=str(self.source), target=str(self.target), generation=where.number,
                                    snapshot_at=known["snapshot_at"] or 0, applied_at=int(time.time() * 1000),
                                    duration_ms=int((time.time() - started) * 1000), seq=changelog.position(conn),
                                    read=False)
                readers = [SourceReader(source_conn, part) for part in plan.parts]
                began = int(time.time() * 1000)  # (store writes from now on may be missing from the snapshot)
                with contextlib.ExitStack() as stack:
                    for reader in readers:
                        stack.enter_context(reader)
                    snapshot_at = int(time.time() * 1000)
                    run = self.migrator._plan_run(plan, readers, self.options, state, earlier=self._earlier,
                                                  keep_rows=True)
                    self._earlier = run
                    counts = {reader.table: reader.count() for reader in readers}
                    history = read_history(source_conn, run.history)
                    schema = source_schema(source_conn, plan)
                    kept = run.diff is not None and run.diff.rows is not None
                    prepared = None if kept else self._prepare_reading(run)
            if prepared is None:  # the rows the scan kept: mapped and embedded with the source let go
                prepared = self._prepare_kept(run, counts)
            done = self._apply(conn, run, prepared, history, snapshot_at, schema, began)
            return SyncPass(
                source=str(self.source), target=str(self.target), generation=where.number,
                snapshot_at=snapshot_at, applied_at=int(time.time() * 1000),
                duration_ms=int((time.time() - started) * 1000), seq=changelog.position(conn), read=True,
                rows=run.total, inserted=done.inserted, updated=done.updated, unchanged=done.unchanged,
                deleted=done.deleted, kept_deleted=done.kept_deleted, deferred=done.deferred,
                quarantined=[{"id": q["pattern_id"] or f"rowid:{q['source_rowid']}", "reason": q["reason"],
                              "source_rowid": q["source_rowid"]} for q in done.quarantined],
                conflicts=[c.__dict__ for c in done.conflicts], notes=list(run.notes), since=since)
        finally:
            conn.close()

    # Each prepared entry: (source table, {rowid: row}, the prepared batch or None, rows unchanged)
    def _prepare_kept(self, run: Run, counts: dict[str, int]) -> list[tuple[str, dict, object, int]]:
        """Map and embed the changed rows the scan kept (no source read; other writers of the
        target wait for none of it either: this is before the write transaction)."""
        prepared = []
        seen: set[str] = set()
        for reader in run.readers:
            kept = sorted(run.diff.rows.get(reader.table, {}).items())
            for start in range(0, len(kept), self.options.batch_size):
                rows = [row for _, row in kept[start:start + self.options.batch_size]]
                ready = self.migrator._prepare(run, reader, rows, seen, self.options)
                prepared.append((reader.table, {r.rowid: r for r in rows}, ready, 0))
            prepared.append((reader.table, {}, None, counts[reader.table] - len(run.diff.changed[reader.table])))
        return prepared

    def _prepare_reading(self, run: Run) -> list[tuple[str, dict, object, int]]:
        """Read, map and embed the new and changed rows (too many for the scan to keep, or a
        source the target does not hold yet)."""
        prepared = []
        seen: set[str] = set()
        for reader in run.readers:
            changed = run.diff.changed.get(reader.table, set()) if run.diff is not None else None
            for batch in reader.batches(self.options.batch_size):
                rows = batch if changed is None else [r for r in batch if r.rowid in changed]
                ready = self.migrator._prepare(run, reader, rows, seen, self.options) if rows else None
                prepared.append((reader.table, {r.rowid: r for r in rows}, ready, len(batch) - len(rows)))
        return prepared

    def _apply(self, conn, run: Run, prepared, history: list, snapshot_at: int, schema: dict[str, str],
               began: int) -> Applied:
        done = Applied()
        identity = source_identity(self.options.mapping, self.options.namespace)
        with atomic(conn):
            source_id = register_source(conn, self.source.resolve(), run.plan, identity, schema)
            applier = Applier(conn, source_id, rule=self.options.on_conflict, namespace=self.options.namespace,
                              origin=changelog.sync_origin(str(self.source.resolve())), diff=run.diff, plan=run.plan,
                              snapshot_at=began)
            for table, rows, ready, unchanged in prepared:
                done.unchanged += unchanged
                if ready is None:
                    continue
                patterns = [applier.named(p) for p in ready.patterns]
                applied = applier.apply(table, rows, patterns, ready.rowids, ready.vectors, ready.quarantined)
                if applied.quarantined:  # (under the source's own negative run id: sync passes are no runs)
                    ledger.record_quarantine(conn, -source_id, table, applied.quarantined)
                done.add(applied)
            for table in run.plan.tables:
                gone = run.diff.gone.get(table, []) if run.diff is not None else []
                done.add(applier.remove_gone(table, gone, self.options.keep_deleted))
            done.add(applier.collect(self.options.keep_deleted))
            copy_history(history, conn, run.history, history_names(conn, source_id, run.history))
            # rows deferred to the next pass: it must read the file again, even if it is unchanged
            mark_synced(conn, source_id, {} if done.deferred else run.source_state, snapshot_at)
        return done

    def follow(self, interval: float, on_pass: Callable[[SyncPass], None], *,
               passes: int | None = None) -> list[SyncPass]:
        """Passes every `interval` seconds until Ctrl-C (or `passes` passes). Ctrl-C lets the
        pass under way finish and be reported (a second Ctrl-C abandons it: its transaction
        rolls back). A pass the source cannot give right now (locked, mid-write), or that
        conflicts would refuse (--on-conflict fail), writes nothing, is said, and is tried again
        at the next one."""
        check_interval(interval)
        done: list[SyncPass] = []
        with _stop_on_ctrl_c() as stopped:
            while not stopped() and (passes is None or len(done) < passes):
                began = time.monotonic()
                try:
                    result: SyncPass | None = self.sync_once()
                except SourceError as exc:  # e.g. the application holds a write lock right now
                    logger.warning("note: this pass could not read the source (%s); trying again in %g s", exc, interval)
                    result = None
                except ConflictError as exc:  # said, and tried again: the user settles it meanwhile
                    now = int(time.time() * 1000)
                    result = SyncPass(source=str(self.source), target=str(self.target), generation=0,
                                      snapshot_at=now, applied_at=now, duration_ms=0, seq=0, read=True,
                                      conflicts=[c.__dict__ for c in exc.conflicts], refused=str(exc))
                if result is not None:
                    done.append(result)
                    on_pass(result)
                while not stopped() and time.monotonic() - began < interval:
                    time.sleep(min(0.05, interval))
        if stopped():
            self.log("stopped (Ctrl-C); every pass applied is committed")
        return done


def check_interval(interval: float) -> None:
    """Seconds between passes: above 0 and at most a day (nan too is refused: it would run passes
    back to back)."""
    if not 0 < interval <= MAX_INTERVAL:
        raise UsageError(f"--interval must be a number of seconds above 0 and at most {MAX_INTERVAL:g} "
                         f"(a day), got {interval}")


SECOND_CTRL_C = 0.5  # seconds: a SIGINT sooner after the first is the same Ctrl-C delivered twice


@contextlib.contextmanager
def _stop_on_ctrl_c():
    """A first SIGINT asks to stop after the current pass; a second one interrupts. One Ctrl-C
    can arrive twice (`timeout --signal=INT` signals the command and then its process group):
    a second SIGINT within SECOND_CTRL_C seconds of the first is that one again."""
    import signal
    import threading
    asked: list[float] = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return

    def ask(signum, frame):
        if asked and time.monotonic() - asked[0] > SECOND_CTRL_C:
            raise KeyboardInterrupt
        asked.append(time.monotonic())
    previous = signal.signal(signal.SIGINT, ask)
    try:
        yield lambda: bool(asked)
    finally:
        signal.signal(signal.SIGINT, previous if not asked else
                      lambda signum, frame: _after_stop(asked[0], previous, signum, frame))


def _after_stop(first: float, previous, signum, frame) -> None:
    """SIGINT once following stopped: that Ctrl-C again is let go, a new one does what it did before."""
    import signal
    if time.monotonic() - first <= SECOND_CTRL_C:
        return
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:
        raise KeyboardInterrupt


def sync(source: str | Path, target: str | Path, options: MigrateOptions | None = None, **overrides) -> SyncPass:
    """One pass: `sync(source, target, on_conflict="target")`."""
    syncer = Syncer(source, target, replace(options or MigrateOptions(), **overrides))
    with syncer.session():
        return syncer.sync_once()
