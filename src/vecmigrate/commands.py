"""One function per CLI verb: the programmatic API the CLI is a thin layer over."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from .errors import UsageError
from .models import (
    ExportResult,
    MigrationResult,
    ReconcileReport,
    RepairReport,
    RollbackResult,
    SearchResult,
    SqlResult,
    Status,
    SyncPass,
    VerifyReport,
)
from .stores import open_store
from .verbs.bench import BenchReport
from .verbs.bench import bench as _bench
from .verbs.migrate import (
    DEFAULT_SOURCE,
    DEFAULT_TARGET,
    LogCallback,
    MigrateOptions,
    Migrator,
    ProgressCallback,
)
from .verbs.reconcile import reconcile as _reconcile
from .verbs.rollback import rollback as _rollback
from .verbs.sql import run_sql, stream_sql
from .verbs.status import status as _status
from .verbs.verify import verify as _verify

FLOAT32_MAX = 3.4028234663852886e38


def migrate(source: str | Path = DEFAULT_SOURCE, target: str | Path = DEFAULT_TARGET,
            options: MigrateOptions | None = None, *, on_progress: ProgressCallback | None = None,
            log: LogCallback | None = None, on_phase: LogCallback | None = None) -> MigrationResult:
    return Migrator(source, target, on_progress=on_progress, log=log, on_phase=on_phase).migrate(
        options or MigrateOptions())


def sync(source: str | Path = DEFAULT_SOURCE, target: str | Path = DEFAULT_TARGET,
         options: MigrateOptions | None = None, *, follow: bool = False, interval: float = 2.0,
         log: LogCallback | None = None, on_pass=None, passes: int | None = None) -> list[SyncPass]:
    """One pass, or with `follow` passes every `interval` seconds until Ctrl-C (or `passes`)."""
    from .verbs.sync import Syncer, check_interval
    check_interval(interval)  # (with or without `follow`: a value that could never work)
    syncer = Syncer(source, target, options, log=log)
    with syncer.session():
        if not follow:
            return [syncer.sync_once()]
        return syncer.follow(interval, on_pass or (lambda result: None), passes=passes)


def status(target: str | Path = DEFAULT_TARGET, source: str | Path | None = None, *,
           require_target: bool = False) -> Status:
    return _status(target, source, require_target=require_target)


def rollback(target: str | Path = DEFAULT_TARGET, *, keep_writes: bool = False,
             discard_writes: bool = False) -> RollbackResult:
    return _rollback(target, keep_writes=keep_writes, discard_writes=discard_writes)


def export(target: str | Path = DEFAULT_TARGET, to: str | Path = "", *, layout: str | None = None) -> ExportResult:
    from .verbs.export import export as _export
    return _export(target, to, layout=layout)


def repair(target: str | Path = DEFAULT_TARGET, *, source: str | Path | None = None) -> RepairReport:
    from .verbs.repair import repair as _repair
    return _repair(target, source=source)


def bench(target: str | Path = DEFAULT_TARGET, **options: Any) -> BenchReport:
    return _bench(target, **options)


def verify(target: str | Path = DEFAULT_TARGET, **options: Any) -> VerifyReport:
    return _verify(target, **options)


def reconcile(primary: str | Path, secondary: str | Path, **options: Any) -> ReconcileReport:
    return _reconcile(primary, secondary, **options)


def search(target: str | Path = DEFAULT_TARGET, *, pattern_id: str | None = None, text: str | None = None,
           vector: Sequence[float] | None = None, k: int = 10, filters: dict[str, str] | None = None,
           threshold: float | None = None, backend: str = "usearch", mmr_lambda: float | None = None,
           embedder: str | None = None) -> SearchResult:
    given = [name for name, value in (("--id", pattern_id), ("--text", text), ("--vector", vector))
             if value is not None]
    if len(given) != 1:
        raise UsageError("give exactly one of --id, --text or --vector" +
                         (f" (got {', '.join(given)})" if given else ""))
    if threshold is not None and not math.isfinite(threshold):
        raise UsageError(f"--threshold must be a finite number, got {threshold}")
    if vector is not None:
        bad = next((i for i, x in enumerate(vector) if not math.isfinite(x) or abs(x) > FLOAT32_MAX), None)
        if bad is not None:
            raise UsageError(f"--vector: value {bad + 1} ({vector[bad]}) is not a finite float32")
    with open_store(target, backend) as store:
        if vector is not None:
            vector = query_vector(vector, store.settings.metric)
        options: dict[str, Any] = {"k": k, "filters": filters, "threshold": threshold, "mmr_lambda": mmr_lambda}
        if pattern_id is not None:
            hits, query = store.search_id(pattern_id, **options), f"id:{pattern_id}"
        elif text is not None:
            hits, query = store.search_text(text, embedder=embedder, **options), f"text:{text}"
        else:
            hits, query = store.search(vector, **options), "vector"
        return SearchResult(backend=store.backend, k=k, hits=hits, query=query, notices=list(store.notices))


def query_vector(vector: Sequence[float], metric: str) -> list[float]:
    """A query vector both backends answer alike. Cosine looks at the direction only, so the
    vector is made unit length (float32 arithmetic on 1e20 or 1e-45 overflows or vanishes: vec0
    answered garbage or nothing); a zero vector has no direction. For L2, the squared distances
    must fit in float32."""
    import numpy as np
    values = np.asarray(vector, dtype=np.float64)
    norm = float(np.sqrt(np.sum(values * values)))
    if metric == "cos":
        if norm == 0:
            raise UsageError("--vector: a zero vector has no direction (the target's metric is cosine)")
        return (values / norm).astype(np.float32).tolist()
    if norm * norm > FLOAT32_MAX / 4:
        raise UsageError("--vector: its values are too large for float32 distances (the target's metric is l2sq)")
    return values.astype(np.float32).tolist()


def sql(target: str | Path = DEFAULT_TARGET, query: str | None = None, *, file: str | None = None,
        params: dict[str, Any] | None = None, limit: int | None = None) -> SqlResult:
    return run_sql(target, query, file=file, params=params, limit=limit)


def sql_stream(target: str | Path = DEFAULT_TARGET, query: str | None = None, *, file: str | None = None,
               params: dict[str, Any] | None = None, limit: int | None = None):
    """The rows as SQLite reads them: (statement, None) as each statement starts, then
    (statement, row) per row. Close the generator to end the read early."""
    return stream_sql(target, query, file=file, params=params, limit=limit)


def shell(target: str | Path = DEFAULT_TARGET, *, write: bool = False, stdin=None, stdout=None) -> None:
    """Run APSW's interactive shell on the live generation, sqlite-vec loaded. Read-only unless
    `write`: then it holds the target's lock. Either way the shell stays on that one database."""
    from .target.database import open_existing
    from .target.generations import Layout, recover
    from .target.lock import TargetLock
    from .verbs.shell import guarded_shell
    lock = TargetLock(Path(target), what="shell --write").__enter__() if write else None
    try:
        if lock is not None:  # a writer finishes what a killed one left (an interrupted rollback) first
            recover(Layout(Path(target)))
        _, conn, _ = open_existing(target, readonly=not write)
        try:
            console = guarded_shell(conn, write=write, stdin=stdin, stdout=stdout)
            try:
                console.cmdloop(intro=f"vecmigrate shell on {Layout(Path(target)).db} "
                                      f"({'read-write' if write else 'read-only'}; sqlite-vec loaded). .help for help")
            except SystemExit as exc:  # .exit / .quit: what failed before it still counts
                if exc.code not in (None, 0):
                    raise
        finally:
            conn.close()
        if console.failed and not console.interactive:  # a script: its errors are the exit code, as in sqlite3
            raise UsageError(f"{console.failed} statement(s) or command(s) of the script failed (each is named above)")
        if console.output_lost is not None:
            raise console.output_lost
    finally:
        if lock is not None:
            lock.__exit__(None, None, None)
