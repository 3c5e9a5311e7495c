"""One-time, batched migration of a source pattern table into a target store.

Read one consistent snapshot of the source in batches; map each row to a Pattern; reuse the
stored vector (bytes unchanged) or embed the content; write rows, vec0 vectors and the
ledger's batch record in one transaction per batch; add the batch to the USearch index;
copy history tables; save the index crash-safely and record its checksum.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import apsw
import numpy as np

from . import ledger, target as tgt
from .backup import backup_source
from .codec import decode_many, invalid_rows
from .db import atomic, open_source, open_target, quote_identifier, table_names
from .embedders import LEXICAL, Embedder, embed, load_embedder
from .errors import RowRejected, StrictModeError, UsageError
from .models import MigrationResult, Pattern, QuarantinedRow, SourceRow, Validation, jsonable
from .sources import SourceReader, Variant, check_embedding_type, detect
from .stores.usearch_index import DTYPES, METRICS, IndexSettings, new_index

ProgressCallback = Callable[[int, int], None]
LogCallback = Callable[[str], None]
DEFAULT_SOURCE = "./data/agentic-qe.db"
DEFAULT_TARGET = "./data/patterns.vecdb"


@dataclass(frozen=True)
class MigrateOptions:
    """Options of one migration. Index settings left as None take the target's recorded
    values (or the defaults for a new target)."""

    batch_size: int = 1000
    dry_run: bool = False
    backup: bool = True
    strict: bool = False
    table: str | None = None
    source_float64: bool = False
    dimension: int | None = None
    embedder: str | None = None
    metric: str | None = None
    dtype: str | None = None
    connectivity: int | None = None
    expansion_add: int | None = None
    expansion_search: int | None = None

    def check(self) -> None:
        positive = {"--batch-size": self.batch_size, "--dimension": self.dimension,
                    "--connectivity": self.connectivity, "--expansion-add": self.expansion_add,
                    "--expansion-search": self.expansion_search}
        for flag, value in positive.items():
            if value is not None and value < 1:
                raise UsageError(f"{flag} must be a positive integer, got {value}")
        if self.connectivity is not None and self.connectivity < 2:
            raise UsageError(f"--connectivity must be at least 2, got {self.connectivity}")
        if self.metric is not None and self.metric not in METRICS:
            raise UsageError(f"--metric must be one of {', '.join(METRICS)}, got {self.metric!r}")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise UsageError(f"--dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")

    def settings(self, recorded: IndexSettings | None) -> IndexSettings:
        """Index settings: explicit options, else the target's recorded ones, else defaults."""
        base = recorded or IndexSettings()
        chosen = {name: getattr(self, name) for name in
                  ("dimension", "metric", "dtype", "connectivity", "expansion_add", "expansion_search")
                  if getattr(self, name) is not None}
        if recorded is not None:
            for name in ("dimension", "metric", "dtype", "connectivity", "expansion_add"):
                if name in chosen and chosen[name] != getattr(recorded, name):
                    flag = "--" + name.replace("_", "-")
                    raise UsageError(f"{flag} {chosen[name]} differs from the target's {getattr(recorded, name)}; "
                                     f"use a new --target to change it")
        return replace(base, **chosen)


@dataclass
class PreparedBatch:
    """The outcome of mapping one source batch: good rows with vectors, and quarantined rows."""

    patterns: list[Pattern] = field(default_factory=list)
    vectors: np.ndarray | None = None
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    last_rowid: int = 0
    generated: int = 0


class Migrator:
    """Migrates one source database into one target store. The programmatic API of `migrate`."""

    def __init__(self, source: str | Path = DEFAULT_SOURCE, target: str | Path = DEFAULT_TARGET, *,
                 on_progress: ProgressCallback | None = None, log: LogCallback | None = None) -> None:
        self.source = Path(source)
        self.target = tgt.paths(target)
        self.on_progress = on_progress or (lambda done, total: None)
        self.log = log or (lambda message: None)

    def migrate(self, options: MigrateOptions | None = None, **overrides: Any) -> MigrationResult:
        options = replace(options or MigrateOptions(), **overrides)
        options.check()
        started = time.perf_counter()
        conn = open_source(self.source)
        try:
            variant, table = detect(conn, options.table)
            self.log(f"source {self.source}: schema {variant.name}, table {table}")
            with SourceReader(conn, variant, table) as reader:
                return self._run(conn, reader, options, started)
        finally:
            conn.close()

    # -- the run -----------------------------------------------------------------------
    def _run(self, conn: apsw.Connection, reader: SourceReader, options: MigrateOptions,
             started: float) -> MigrationResult:
        total = reader.count()
        recorded, recorded_embedder = self._recorded_settings()
        settings = options.settings(recorded)
        embedder_spec = options.embedder or recorded_embedder or LEXICAL
        if recorded_embedder and embedder_spec != recorded_embedder:
            raise UsageError(f"--embedder {embedder_spec} differs from the target's {recorded_embedder}; "
                             f"vectors of two embedders cannot share an index: use a new --target")
        embedder = load_embedder(embedder_spec, settings.dimension)
        if embedder_spec != LEXICAL:  # a user's embedder must answer with the right shape before anything is written
            embed(embedder, ["vecmigrate embedder probe"], settings.dimension)
        self._check_stored_dimension(reader, settings.dimension, options.source_float64)
        history = self._history_tables(conn, reader.variant)

        if options.dry_run or options.strict:
            quarantined, generated = self._validate_all(reader, options, settings, embedder, total)
            if options.strict and quarantined:
                listed = "; ".join(f"{q.id} (rowid {q.source_rowid}): {q.reason}" for q in quarantined)
                raise StrictModeError(f"--strict: {len(quarantined)} bad row(s), nothing written: {listed}",
                                      quarantined)
            if options.dry_run:
                return self._result(options, reader, settings, embedder_spec, started, total=total,
                                    migrated=total - len(quarantined), quarantined=quarantined, generated=generated,
                                    backup=None, history=history, run_id=None,
                                    validation=Validation(True, True, {"dry_run": True}))

        backup = backup_source(conn, self.source) if options.backup else None
        if backup:
            self.log(f"source backed up to {backup}")
        return self._write(reader, options, settings, embedder, total, history, backup, started)

    def _recorded_settings(self) -> tuple[IndexSettings | None, str | None]:
        if not self.target.exists():
            return None, None
        _, conn, meta = tgt.open_existing(self.target.root, readonly=True)
        conn.close()
        return tgt.settings_of(meta), meta.get("embedder")

    def _check_stored_dimension(self, reader: SourceReader, dimension: int, allow_float64: bool) -> None:
        """Refuse at once when no stored embedding fits the dimension (rather than quarantine every row)."""
        sizes: list[int] = []
        for batch in reader.batches(200):
            sizes = [len(r.embedding) for r in batch if isinstance(r.embedding, (bytes, bytearray))]
            break
        if not sizes:
            return
        fitting = {4 * dimension} | ({8 * dimension} if allow_float64 else set())
        if not fitting & set(sizes):
            common = max(set(sizes), key=sizes.count)
            hint = (f"pass --dimension {common // 4} if they are float32"
                    + (f", or --source-float64 if they are {dimension}-d float64" if common == 8 * dimension else ""))
            raise UsageError(f"stored embeddings are {common} bytes but --dimension {dimension} expects "
                             f"{4 * dimension} (float32): {hint}")

    def _history_tables(self, conn: apsw.Connection, variant: Variant) -> dict[str, int]:
        present = set(table_names(conn))
        return {name: conn.execute(f"SELECT count(*) FROM {quote_identifier(name)}").fetchall()[0][0]
                for name in variant.history_tables if name in present}

    def _validate_all(self, reader: SourceReader, options: MigrateOptions, settings: IndexSettings,
                      embedder: Embedder, total: int) -> tuple[list[QuarantinedRow], int]:
        seen: set[str] = set()
        quarantined: list[QuarantinedRow] = []
        generated = done = 0
        self.on_progress(0, total)
        for batch in reader.batches(options.batch_size):
            prepared = prepare_batch(batch, reader.variant, settings.dimension, embedder, seen,
                                     allow_float64=options.source_float64)
            quarantined += [as_quarantined(q) for q in prepared.quarantined]
            generated += prepared.generated
            done += len(batch)
            self.on_progress(done, total)
        return quarantined, generated

    def _write(self, reader: SourceReader, options: MigrateOptions, settings: IndexSettings, embedder: Embedder,
               total: int, history: dict[str, int], backup: Path | None, started: float) -> MigrationResult:
        is_new = not self.target.exists()
        created_root = not self.target.root.exists()
        try:
            return self._write_into(reader, options, settings, embedder, total, history, backup, started)
        except BaseException as exc:
            if is_new and not isinstance(exc, KeyboardInterrupt):
                # A new target that failed is removed whole: the target is as it was (absent).
                tgt.remove_files(self.target, remove_root=created_root)
            raise

    def _write_into(self, reader: SourceReader, options: MigrateOptions, settings: IndexSettings,
                    embedder: Embedder, total: int, history: dict[str, int], backup: Path | None,
                    started: float) -> MigrationResult:
        self.target.root.mkdir(parents=True, exist_ok=True)
        conn = open_target(self.target.db)
        try:
            is_new = "dimension" not in tgt.read_meta(conn)
            with atomic(conn):
                if is_new:
                    tgt.create_schema(conn, settings, embedder.spec)
                else:
                    tgt.write_meta(conn, {"expansion_search": str(settings.expansion_search)})
                run_id = ledger.start_run(conn, source=str(self.source.resolve()), source_table=reader.table,
                                          schema=reader.variant.name, total_rows=total,
                                          options=_options_record(options, settings, embedder.spec))
            meta = tgt.read_meta(conn)
            if is_new:
                index = new_index(settings)
            else:
                index, problem = tgt.open_index(conn, self.target, meta)
                if problem:
                    self.log(f"{problem}; rebuilt from the vec0 mirror")
            quarantined, generated = self._write_batches(conn, index, reader, options, settings, embedder,
                                                         run_id, total)
            with atomic(conn):
                copy_history(reader.conn, conn, history)
                tgt.save_checked_index(conn, index, self.target)
                ledger.finish_run(conn, run_id)
            validation = validate_target(conn, run_id, len(index), total)
            migrated = validation.integrity_checks["written_this_run"]
        finally:
            conn.close()
        return self._result(options, reader, settings, embedder.spec, started, total=total,
                            migrated=migrated, quarantined=quarantined, generated=generated,
                            backup=backup, history=history, run_id=run_id, validation=validation)

    def _write_batches(self, conn: apsw.Connection, index, reader: SourceReader, options: MigrateOptions,
                       settings: IndexSettings, embedder: Embedder, run_id: int,
                       total: int) -> tuple[list[QuarantinedRow], int]:
        seen: set[str] = set()
        quarantined: list[QuarantinedRow] = []
        generated = done = 0
        key = tgt.next_key(conn)
        self.on_progress(0, total)
        for batch_no, batch in enumerate(reader.batches(options.batch_size), start=1):
            prepared = prepare_batch(batch, reader.variant, settings.dimension, embedder, seen,
                                     allow_float64=options.source_float64)
            with atomic(conn):
                known = tgt.existing_keys(conn, [p.id for p in prepared.patterns])
                keys = []
                for pattern in prepared.patterns:
                    if pattern.id in known:
                        keys.append(known[pattern.id])
                    else:
                        keys.append(key)
                        key += 1
                replaced = list(known.values())
                tgt.write_patterns(conn, keys, prepared.patterns, prepared.vectors, replaced)
                if prepared.quarantined:
                    ledger.record_quarantine(conn, run_id, reader.table, prepared.quarantined)
                ledger.record_batch(conn, run_id, batch_no, prepared.last_rowid, len(keys),
                                    len(prepared.quarantined))
            if replaced:
                present = [k for k in replaced if k in index]
                if present:
                    index.remove(np.asarray(present, dtype=np.uint64))
            if keys:
                index.add(np.asarray(keys, dtype=np.uint64), prepared.vectors, threads=0)
            quarantined += [as_quarantined(q) for q in prepared.quarantined]
            generated += prepared.generated
            done += len(batch)
            self.on_progress(done, total)
        return quarantined, generated

    def _result(self, options: MigrateOptions, reader: SourceReader, settings: IndexSettings, embedder: str,
                started: float, *, total: int, migrated: int, quarantined: list[QuarantinedRow], generated: int,
                backup: Path | None, history: dict[str, int], run_id: int | None,
                validation: Validation) -> MigrationResult:
        return MigrationResult(
            total_patterns=total, migrated_count=migrated, skipped_count=0, quarantined=quarantined,
            duration_ms=int((time.perf_counter() - started) * 1000), schema=reader.variant.name,
            dry_run=options.dry_run, backup_path=str(backup) if backup else None,
            target_db=str(self.target.db), index_path=str(self.target.index), validation=validation,
            source_table=reader.table, history=history, embedder=embedder, generated_embeddings=generated,
            run_id=run_id, errors=failed_checks(validation))


def prepare_batch(batch: list[SourceRow], variant: Variant, dimension: int, embedder: Embedder,
                  seen: set[str], *, allow_float64: bool = False) -> PreparedBatch:
    """Map, decode and embed one batch. Rejected rows become quarantine entries, in source order."""
    mapped: list[tuple[SourceRow, Pattern | None, bytes | None, str | None]] = []
    for row in batch:
        try:
            pattern = variant.map_row(row.values)
            blob = check_embedding_type(row)
            if blob is not None and row.dimension is not None and int(row.dimension) != dimension:
                raise RowRejected(f"embedding dimension column says {row.dimension}, target dimension is {dimension}")
            mapped.append((row, pattern, blob, None))
        except RowRejected as exc:
            mapped.append((row, None, None, str(exc)))

    vectors = np.zeros((len(mapped), dimension), dtype=np.float32)
    reasons: dict[int, str] = {i: reason for i, (_, _, _, reason) in enumerate(mapped) if reason}
    stored = [i for i, (_, p, blob, _) in enumerate(mapped) if p is not None and blob is not None]
    if stored:
        decoded, bad = decode_many([mapped[i][2] for i in stored], dimension, allow_float64=allow_float64)
        vectors[stored] = decoded
        reasons.update({stored[j]: f"stored embedding: {why}" for j, why in bad.items()})
    missing = [i for i, (_, p, blob, _) in enumerate(mapped) if p is not None and blob is None]
    if missing:
        vectors[missing] = embed(embedder, [mapped[i][1].content for i in missing], dimension)
        bad = invalid_rows(vectors[missing])
        reasons.update({missing[j]: f"generated embedding: {why}" for j, why in bad.items()})

    prepared = PreparedBatch(last_rowid=batch[-1].rowid if batch else 0, generated=len(missing))
    good: list[int] = []
    for i, (row, pattern, _, _) in enumerate(mapped):
        reason = reasons.get(i)
        if reason is None and pattern.id in seen:
            reason = f"duplicate id {pattern.id!r} (an earlier row of this source has it)"
        if reason is not None:
            prepared.quarantined.append(quarantine_entry(row, pattern, reason))
            continue
        seen.add(pattern.id)
        good.append(i)
        prepared.patterns.append(pattern)
    prepared.vectors = np.ascontiguousarray(vectors[good])
    return prepared


def quarantine_entry(row: SourceRow, pattern: Pattern | None, reason: str) -> dict[str, Any]:
    pattern_id = pattern.id if pattern else row.values.get("id")
    return {"source_rowid": row.rowid, "pattern_id": None if pattern_id is None else str(pattern_id),
            "reason": reason,
            "row_json": json.dumps({k: jsonable(v) for k, v in row.values.items()}, ensure_ascii=False)}


def as_quarantined(entry: dict[str, Any]) -> QuarantinedRow:
    return QuarantinedRow(id=entry["pattern_id"] or f"rowid:{entry['source_rowid']}", reason=entry["reason"],
                          source_rowid=entry["source_rowid"])


def copy_history(source: apsw.Connection, target: apsw.Connection, tables: dict[str, int],
                 chunk: int = 5000) -> None:
    """Copy history tables verbatim (DDL and rows) from the source snapshot into the target
    (in the caller's transaction); an earlier copy is replaced."""
    for name in tables:
        ddl = source.execute("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?",
                             (name,)).fetchall()[0][0]
        # pragma_table_info lists the stored columns only (generated ones cannot be inserted)
        columns = [r[0] for r in source.execute("SELECT name FROM pragma_table_info(?)", (name,))]
        column_list = ", ".join(quote_identifier(c) for c in columns)
        target.execute(f"DROP TABLE IF EXISTS {quote_identifier(name)}")
        target.execute(ddl)
        insert = (f"INSERT INTO {quote_identifier(name)} ({column_list}) "
                  f"VALUES ({', '.join('?' for _ in columns)})")
        rows: list[tuple] = []
        for row in source.execute(f"SELECT {column_list} FROM {quote_identifier(name)}"):
            rows.append(row)
            if len(rows) >= chunk:
                target.executemany(insert, rows)
                rows = []
        if rows:
            target.executemany(insert, rows)


def validate_target(conn: apsw.Connection, run_id: int, index_count: int, total: int) -> Validation:
    """Checks after a run: integrity, equal counts in patterns / vec0 / USearch, every row accounted."""
    written, quarantined = conn.execute(
        "SELECT coalesce(sum(written), 0), coalesce(sum(quarantined), 0) FROM vecmigrate_batches WHERE run_id = ?",
        (run_id,)).fetchall()[0]
    integrity = conn.execute("PRAGMA integrity_check").fetchall()[0][0]
    patterns = conn.execute("SELECT count(*) FROM patterns").fetchall()[0][0]
    vectors = tgt.vector_count(conn)
    orphans = conn.execute("SELECT count(*) FROM patterns p WHERE NOT EXISTS "
                           "(SELECT 1 FROM patterns_vec v WHERE v.rowid = p.key)").fetchall()[0][0]
    checks = {"integrity_check": integrity, "patterns_count": patterns, "vector_count": vectors,
              "index_count": index_count, "patterns_without_vector": orphans,
              "written_this_run": written, "quarantined_this_run": quarantined,
              "all_rows_accounted": written + quarantined == total}
    valid = (integrity == "ok" and patterns == vectors == index_count and orphans == 0
             and written + quarantined == total)
    return Validation(source_valid=True, target_valid=valid, integrity_checks=checks)


def failed_checks(validation: Validation) -> list[str]:
    """One message per check that did not hold (empty when the target is valid)."""
    checks = validation.integrity_checks
    if validation.target_valid or checks.get("dry_run"):
        return []
    errors = []
    if checks["integrity_check"] != "ok":
        errors.append(f"PRAGMA integrity_check: {checks['integrity_check']}")
    if not checks["patterns_count"] == checks["vector_count"] == checks["index_count"]:
        errors.append(f"counts differ: patterns {checks['patterns_count']}, vec0 {checks['vector_count']}, "
                      f"usearch {checks['index_count']}")
    if checks["patterns_without_vector"]:
        errors.append(f"{checks['patterns_without_vector']} pattern rows have no vector")
    if not checks["all_rows_accounted"]:
        errors.append("written + quarantined rows of this run differ from the source row count")
    return errors


def _options_record(options: MigrateOptions, settings: IndexSettings, embedder: str) -> dict[str, Any]:
    return {"batch_size": options.batch_size, "strict": options.strict, "table": options.table,
            "source_float64": options.source_float64, "embedder": embedder, **settings.to_meta()}


def migrate(source: str | Path = DEFAULT_SOURCE, target: str | Path = DEFAULT_TARGET, **options: Any
            ) -> MigrationResult:
    """Functional form: `migrate(source, target, batch_size=..., dry_run=...)`."""
    return Migrator(source, target).migrate(MigrateOptions(**options))
