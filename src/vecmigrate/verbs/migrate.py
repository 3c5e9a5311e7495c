"""One-time, batched, resumable migration of a source pattern table into a target store.

Read one consistent snapshot of the source in batches; map each row to a Pattern; reuse the
stored vector (bytes unchanged) or embed the content; write rows, vec0 vectors and the
ledger's batch record in one transaction per batch, into a new generation of the target
built beside the live one; add each batch to the USearch index, checkpointed as it goes;
copy history tables; save the index crash-safely; make the generation live in one rename.

A killed run leaves its generation marked BUILDING; the same command run again resumes
after the last committed batch. The live generation is never written by a migration, so a
failure at any point leaves the target as it was.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import apsw

from ..db import (
    atomic,
    describe,
    load_vec,
    open_source_snapshot,
    open_target,
    quote_identifier,
    source_state,
    table_names,
)
from ..defaults import (  # (re-exported: callers import them from here)
    DEFAULT_CHECKPOINT_SECONDS,
    DEFAULT_KEEP_BACKUPS,
    DEFAULT_KEEP_GENERATIONS,
    DEFAULT_SOURCE,
    DEFAULT_TARGET,
    VEC0_MAX_DIMENSION,
)
from ..embed.embedders import (
    LEXICAL,
    MINILM,
    Embedder,
    callable_spec,
    embed_patterns,
    load_embedder,
)
from ..embed.provenance import (
    Census,
    EmbeddingPolicy,
    census,
    decide,
    infer_dimension,
    label_check,
    plausible_sizes,
)
from ..errors import (
    SourceError,
    StrictModeError,
    TargetError,
    UsageError,
    VecmigrateError,
)
from ..faults import crash_point
from ..files import no_wider_than
from ..models import MigrationResult, Pattern, QuarantinedRow, Validation
from ..sources import GenericMapping, Plan, SourceReader, detect
from ..sources.backup import backup_source, holding, prune_backups
from ..sources.batch import as_quarantined, prepare_batch
from ..sources.history import copy_history, history_counts
from ..target import changelog, ledger, versions
from ..target import database as tgt
from ..target.generations import (
    Generation,
    Layout,
    check_root,
    drop_empty_target,
    finish,
    new_generation,
    prune,
    recover,
    remove_generation,
)
from ..target.index_feeder import IndexFeeder
from ..target.index_file import DTYPES, METRICS, IndexSettings, new_index
from ..target.lineage import (
    RULES,
    Applied,
    Applier,
    ConflictError,
    Diff,
    find_source,
    history_names,
    mark_synced,
    register_source,
    scan,
    source_identity,
    source_schema,
)
from ..target.lock import LOCK_NAME, TargetLock

logger = logging.getLogger("vecmigrate.migrate")
ProgressCallback = Callable[[int, int], None]
LogCallback = Callable[[str], None]
MAX_NOTES = 50  # notes kept in a target (the newest)


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
    embedder: str | Callable | None = None  # "lexical", "minilm", "module:function", or a callable on texts
    metric: str | None = None
    dtype: str | None = None
    connectivity: int | None = None
    expansion_add: int | None = None
    expansion_search: int | None = None
    keep_generations: int = DEFAULT_KEEP_GENERATIONS
    keep_backups: int = DEFAULT_KEEP_BACKUPS  # source backups vecmigrate made that are kept (0: all)
    checkpoint_seconds: float = DEFAULT_CHECKPOINT_SECONDS
    mapping: GenericMapping | None = None   # a table nobody listed (--id-column, --text-columns, ...)
    pattern_embedder: Callable[[Pattern], Any] | None = None  # the guide's generateEmbedding(pattern)
    keep_deleted: bool = False          # keep patterns whose source rows are gone
    on_conflict: str = "fail"           # a store wrote a pattern the source changed too: source | target | fail
    namespace: str | None = None        # prefix this source's ids ("NS/id") to keep them apart from another's

    def check(self) -> None:
        positive = {"--batch-size": self.batch_size, "--dimension": self.dimension,
                    "--connectivity": self.connectivity, "--expansion-add": self.expansion_add,
                    "--expansion-search": self.expansion_search}
        for flag, value in positive.items():
            if value is not None and value < 1:
                raise UsageError(f"{flag} must be a positive integer, got {value}")
        if self.keep_generations < 1:
            raise UsageError(f"--keep-generations must be at least 1, got {self.keep_generations}")
        if self.keep_backups < 0:
            raise UsageError(f"--keep-backups must be 0 (keep all) or more, got {self.keep_backups}")
        if not 0 <= self.checkpoint_seconds < math.inf:  # (nan too: no checkpoint would ever be saved)
            raise UsageError(f"--checkpoint-seconds must be a finite number of seconds, 0 or more, "
                             f"got {self.checkpoint_seconds}")
        if self.dimension is not None and self.dimension > VEC0_MAX_DIMENSION:
            raise UsageError(f"--dimension {self.dimension} is above sqlite-vec's limit of {VEC0_MAX_DIMENSION}")
        if self.connectivity is not None and self.connectivity < 2:
            raise UsageError(f"--connectivity must be at least 2, got {self.connectivity}")
        if self.metric is not None and self.metric not in METRICS:
            raise UsageError(f"--metric must be one of {', '.join(METRICS)}, got {self.metric!r}")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise UsageError(f"--dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.embedder is not None and self.pattern_embedder is not None:
            raise UsageError("give embedder or pattern_embedder, not both")
        if self.pattern_embedder is not None and not callable(self.pattern_embedder):
            raise UsageError("pattern_embedder must be a callable taking a Pattern")
        if self.on_conflict not in RULES:
            raise UsageError(f"--on-conflict must be one of {', '.join(RULES)}, got {self.on_conflict!r}")
        if self.namespace is not None and (not self.namespace or "/" in self.namespace):
            raise UsageError(f"--namespace must be a non-empty name without '/', got {self.namespace!r}")
        if self.mapping is not None and self.table is not None and self.table != self.mapping.table:
            raise UsageError(f"--table {self.table} and the mapping's table {self.mapping.table} differ")

    @property
    def asked_embedder(self) -> "str | Callable | None":
        return self.pattern_embedder or self.embedder

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
class Job:
    """The generation a run writes into, and where in the source it starts."""

    generation: Generation
    conn: apsw.Connection
    run_id: int
    fresh_index: bool           # a brand-new target: start from an empty index
    after: dict[str, int] = field(default_factory=dict)  # resume point: last committed rowid per source table read
    next_batch: int = 1
    skipped: int = 0            # rows an earlier attempt of this run already committed
    source_id: int = 0          # the source's id in this target


@dataclass
class Run:
    """What a run reads and decides before it writes: the plan, one reader per table (one
    snapshot), the settings, the embedding policy and the embedder."""

    plan: Plan
    readers: list[SourceReader]
    total: int
    settings: IndexSettings
    policy: EmbeddingPolicy
    embedder: Embedder | None
    history: dict[str, int]
    notes: list[str]
    source_state: dict[str, Any] = field(default_factory=dict)  # db.source_state before the snapshot
    diff: Diff | None = None    # what changed since the target last read this source (None: all rows are new)
    snapshot_at: int = 0        # epoch ms of the snapshot
    conflicts: list = field(default_factory=list)  # settled by --on-conflict, for the result
    kept_deleted: int = 0

    @property
    def conn(self) -> apsw.Connection:
        return self.readers[0].conn


class Migrator:
    """Migrates one source database into one target store. The programmatic API of `migrate`."""

    def __init__(self, source: str | Path = DEFAULT_SOURCE, target: str | Path = DEFAULT_TARGET, *,
                 on_progress: ProgressCallback | None = None, log: LogCallback | None = None,
                 on_phase: LogCallback | None = None) -> None:
        self.source = Path(source)
        self.layout = Layout(Path(target))
        self.on_progress = on_progress or (lambda done, total: None)
        self.log = log or logger.info  # (the "vecmigrate" logger: --log-level info shows it)
        self.on_phase = on_phase or (lambda label: None)
        self._events: list[str] = []  # what this run did that the user must hear of (in the result's notes)
        self._swapped: int | None = None  # a generation a killed run of this command had just made live

    def phase(self, label: str) -> None:
        """A step of the run that takes time: named on the progress display and in the log."""
        self.on_phase(label)
        logger.info("%s", label)

    def _say(self, message: str) -> None:
        self._events.append(message)
        self.log(message)

    def migrate(self, options: MigrateOptions | None = None, **overrides: Any) -> MigrationResult:
        """Run the migration. Any MigrateOptions field may be given as a keyword, e.g.
        `migrate(embedder=my_texts_to_vectors)` or `migrate(pattern_embedder=generate_embedding)`."""
        options = replace(options or MigrateOptions(), **overrides)
        options.check()
        logger.debug("migrate %s into %s with %s", self.source, self.layout.root, options)
        started = time.perf_counter()
        self._events = []
        self._check_apart()
        state = source_state(self.source)  # before the snapshot: a change after it shows on resume
        self.phase("reading the source")
        with open_source_snapshot(self.source) as conn:
            plan = detect(conn, options.table, options.mapping)
            self.log(f"source {self.source}: layout {plan.layout}, table(s) {', '.join(plan.tables)}")
            logger.debug("plan: %s", [(p.name, p.table, p.kind) for p in plan.parts])
            readers = [SourceReader(conn, part) for part in plan.parts]
            live = self.layout.current()
            with contextlib.ExitStack() as stack:
                # the backup and the target's files (its lock too) are never readable by more people
                # than the source, nor than the live generation (whose rows the next one copies)
                stack.enter_context(no_wider_than(self.source, *([live.db] if live else [])))
                for reader in readers:
                    stack.enter_context(reader)
                if not options.dry_run:  # held from before the target's settings are read to the end
                    stack.enter_context(self._writer())
                run = self._plan_run(plan, readers, options, state)
                return self._run(run, options, started)

    @contextlib.contextmanager
    def _writer(self) -> Iterator[None]:
        """The target's writer lock, with what a killed process left half done finished first. A
        target directory this run created is removed again if the run fails before writing; in a
        folder that was there (empty), the lock file it added is."""
        created = not self.layout.root.exists()
        lock_file = self.layout.root / LOCK_NAME
        lock_added = not created and not os.path.lexists(lock_file)
        try:
            with TargetLock(self.layout.root, creates=True, what="migrate") as lock:
                try:
                    if lock.took_over_from:
                        self.log(f"took over a lock left by PID {lock.took_over_from}, which is no longer running")
                    live = self.layout.current()
                    # a migration killed just after its swap: live, still marked BUILDING (recover unmarks it)
                    self._swapped = live.number if live is not None and live.building else None
                    for note in recover(self.layout):
                        self._say(note)
                    yield
                except BaseException:
                    # removed while still held: a taker that opened it meanwhile was refused, and one
                    # that comes after makes a new one
                    with contextlib.suppress(Exception):  # (never in place of the error that ended the run)
                        if lock_added and not self.layout.generations():
                            lock_file.unlink()
                    raise
        except BaseException:
            if created:
                drop_empty_target(self.layout)
            raise

    def _check_apart(self) -> None:
        """The source must not live inside the target: building or pruning a generation, or
        placing the target's links, would replace or delete it."""
        check_root(self.layout.root)
        source = self.source.resolve()
        root = self.layout.root.resolve()
        if source == root or root in source.parents:
            raise UsageError(f"--source {self.source} is inside the target {self.layout.root}: migrating it would "
                             f"replace or delete it; copy it out of the target first")

    # -- the run -----------------------------------------------------------------------
    def _plan_run(self, plan: Plan, readers: list[SourceReader], options: MigrateOptions,
                  state: dict[str, Any], *, earlier: Run | None = None, keep_rows: bool = False) -> Run:
        """What this run reads and decides. `earlier`: a run over the same source by this process
        (a sync pass before this one), whose settings, policy and embedder still hold: the source
        is not surveyed again. `keep_rows`: the diff keeps the changed rows it read."""
        total = sum(r.count() for r in readers)
        if earlier is not None:
            return replace(earlier, plan=plan, readers=readers, total=total, source_state=state,
                           history=history_counts(readers[0].conn, plan.history_tables), conflicts=[],
                           diff=self._diff(readers, plan, options, keep_rows), snapshot_at=ledger.now_ms(),
                           kept_deleted=0)
        probe = load_vec(apsw.Connection(":memory:"))
        try:
            versions.check_installed(probe)  # before anything is written, the backup included
        finally:
            probe.close()
        recorded, recorded_meta = self._recorded_settings()
        found = census(readers, plan)
        notes = list(plan.notes)
        if options.dimension is None and recorded is None:
            inferred, how = infer_dimension(found, float64=options.source_float64, claims=plan.config_dimensions)
            if inferred is not None:
                options = replace(options, dimension=inferred)
                if how:
                    notes.append(how)
        settings = options.settings(recorded)
        self._check_stored_dimension(found, settings.dimension, options.source_float64)
        asked = options.asked_embedder
        recorded_spec = (recorded_meta or {}).get("embedder") or None
        if isinstance(asked, str) and recorded_spec and asked != recorded_spec:
            raise UsageError(f"--embedder {asked} differs from the target's {recorded_spec}; "
                             f"vectors of two embedders cannot share an index: use a new --target")
        name = callable_spec(asked, takes_patterns=options.pattern_embedder is not None) if callable(asked) else None
        recorded_model, same_source = self._recorded_model(recorded_meta, plan)

        def check_label(spec: str, label: str) -> str | None:
            return label_check(readers, spec, settings.dimension, label)
        policy = decide(found, plan, embedder=asked, embedder_name=name, dimension=settings.dimension,
                        recorded_model=recorded_model, same_source=same_source, check_label=check_label,
                        recorded_unverified=(recorded_meta or {}).get("model_unverified") if recorded_model else None)
        notes += policy.notes
        embedder = None
        if policy.generate_with is not None and (found.missing or not found.stored or keep_rows):
            embedder = load_embedder(policy.generate_with, settings.dimension,
                                     takes_patterns=options.pattern_embedder is not None,
                                     named_by_user=policy.generate_with is asked)
            if policy.generate_with not in (LEXICAL, MINILM) and options.pattern_embedder is None:
                # a user's text embedder must answer with the right shape before anything is written
                # (a pattern embedder sees only real patterns; each batch checks its answers)
                probe = Pattern(id="vecmigrate-probe", content="vecmigrate embedder probe")
                embed_patterns(embedder, [probe], settings.dimension)
        for note in notes:
            self.log(note)
        history = history_counts(readers[0].conn, plan.history_tables)
        return Run(plan=plan, readers=readers, total=total, settings=settings, policy=policy, embedder=embedder,
                   history=history, notes=notes, source_state=state,
                   diff=self._diff(readers, plan, options, keep_rows), snapshot_at=ledger.now_ms())

    def _diff(self, readers: list[SourceReader], plan: Plan, options: MigrateOptions,
              keep_rows: bool = False) -> Diff | None:
        """What changed in the source since the live generation last read it (None when it never did)."""
        live = self.layout.current()
        if live is None:
            return None
        self.phase("comparing the source with the target")
        conn = open_target(live.db, readonly=True)
        try:
            if not tgt.has_lineage(tgt.read_meta(conn)):
                return None  # a target of an earlier vecmigrate: no lineage yet, every row is read
            known = find_source(conn, self.source.resolve(), plan.tables)
            if known is None:
                return None
            identity = source_identity(options.mapping, options.namespace)
            if json.loads(known["identity"]) != identity:
                register_source(conn, self.source.resolve(), plan, identity)  # raises, naming both
            diff = scan(readers, conn, known["source_id"], keep_rows=keep_rows, namespace=options.namespace)
        finally:
            conn.close()
        self.log(f"source rows: {diff.new} new, {diff.modified} changed, {diff.unchanged} unchanged, "
                 f"{diff.deleted} gone")
        return diff

    def _run(self, run: Run, options: MigrateOptions, started: float) -> MigrationResult:
        if options.dry_run or options.strict:
            quarantined, generated, models = self._validate_all(run, options)
            if options.strict and quarantined:
                listed = "; ".join(f"{q.id} (rowid {q.source_rowid}): {q.reason}" for q in quarantined)
                raise StrictModeError(f"--strict: {len(quarantined)} bad row(s), nothing written: {listed}",
                                      quarantined)
            if options.dry_run:
                return self._result(options, run, started, migrated=run.total - len(quarantined), skipped=0,
                                    quarantined=quarantined, generated=generated, backup=None, run_id=None,
                                    generation=None, validation=Validation(True, True, {"dry_run": True}),
                                    models=models)
        if run.diff is not None and run.diff.empty and self._swapped is None and not self._retries_pass(run, options) \
                and not self._history_changed(run):
            return self._nothing_changed(run, options, started)
        if options.backup:
            self.phase("backing up the source")
        # beside the source file itself (a link to it may sit anywhere); status and pruning look there
        backup = backup_source(run.conn, self.source.resolve()) if options.backup else None
        if backup:
            self.log(f"source backed up to {backup}")
        with holding(backup):  # (another run's pruning meanwhile leaves it alone)
            try:
                result = self._write(run, options, backup, started)
            except BaseException:
                if backup is not None:  # a failed run leaves nothing behind: the backup of its attempt goes
                    backup.unlink(missing_ok=True)
                raise
            if backup is not None and options.keep_backups:
                pruned = prune_backups(self.source.resolve(), options.keep_backups, made_now=backup)
                for path in pruned:
                    self.log(f"removed the old source backup {path} (--keep-backups {options.keep_backups})")
                result = replace(result, pruned_backups=pruned)
        return result

    def _retries_pass(self, run: Run, options: MigrateOptions) -> bool:
        """Would a quarantined row (unchanged) be migrated now (another --embedder, ...)?"""
        for reader in run.readers:
            rows = sorted(run.diff.retry.get(reader.table, {}).items())
            if rows and self._prepare(run, reader, [r for _, r in rows], set(), options).patterns:
                return True
        return False

    def _history_changed(self, run: Run) -> bool:
        """Do the source's history tables hold other row counts than the target's copies?"""
        live = self.layout.current()
        conn = open_target(live.db, readonly=True)
        try:
            known = find_source(conn, self.source.resolve(), run.plan.tables)
            names = json.loads(known["history"] or "{}") if known else {}
            for table, count in run.history.items():
                name = names.get(table)
                if name is None or name not in table_names(conn):
                    return True
                if conn.execute(f"SELECT count(*) FROM {quote_identifier(name)}").fetchall()[0][0] != count:
                    return True
        finally:
            conn.close()
        return False

    def _nothing_changed(self, run: Run, options: MigrateOptions, started: float) -> MigrationResult:
        """The target already holds this source as it is: no generation is built (it would equal
        the live one and cost a rollback step)."""
        live = self.layout.current()
        self._say(f"nothing changed in the source since the target last read it: generation {live.number} stays live")
        conn = open_target(live.db, readonly=True)
        try:
            known = find_source(conn, self.source.resolve(), run.plan.tables)
            still = _still_quarantined(conn, known["source_id"], None)
            models = Counter(tgt.vectors_by_model(conn))
            count = conn.execute("SELECT count(*) FROM patterns").fetchall()[0][0]
        finally:
            conn.close()
        validation = Validation(True, True, {"unchanged": True, "patterns_count": count})
        return self._result(options, run, started, migrated=0, skipped=0, quarantined=still,
                            generated=0, backup=None, run_id=None, generation=live.number, validation=validation,
                            models=models, counts={"unchanged": run.diff.unchanged - len(still)})

    def _recorded_settings(self) -> tuple[IndexSettings | None, dict[str, str] | None]:
        if not self.layout.exists():
            return None, None
        _, conn, meta = tgt.open_existing(self.layout.root, readonly=True, older_ok=True)
        try:
            meta = {**meta, "__patterns": conn.execute("SELECT count(*) FROM patterns").fetchall()[0][0],
                    "__fed_from": sorted({(r[0], r[1]) for r in conn.execute(
                        "SELECT source, source_table FROM vecmigrate_runs")})}
        finally:
            conn.close()
        return tgt.settings_of(meta), meta

    def _recorded_model(self, meta: dict | None, plan: Plan) -> tuple[str | None, bool]:
        """The model of the target's vectors (None when it holds none yet) and whether it was fed
        only from this source's same tables before."""
        if not meta or not meta.get("__patterns"):
            return None, True
        this = (str(self.source.resolve()), ",".join(plan.tables))
        return meta.get("model") or None, all(tuple(fed) == this for fed in meta["__fed_from"])

    @staticmethod
    def _check_stored_dimension(found: Census, dimension: int, allow_float64: bool) -> None:
        """Refuse at once when no stored embedding fits the dimension (rather than quarantine every row)."""
        arrays, blobs = plausible_sizes(found)
        if allow_float64:
            blobs = {**blobs, **plausible_sizes(found, 8)[1]}
        if not blobs and not arrays:
            return
        fitting_blobs = {4 * dimension} | ({8 * dimension} if allow_float64 else set())
        if fitting_blobs & set(blobs) or dimension in arrays:
            return
        if arrays and sum(arrays.values()) >= sum(blobs.values()):
            common = max(arrays, key=arrays.get)
            raise UsageError(f"stored embeddings are JSON arrays of {common} values but --dimension is {dimension}: "
                             f"pass --dimension {common}")
        common = max(blobs, key=blobs.get)
        hint = (f"pass --dimension {common // 4} if they are float32"
                + (f", or --source-float64 if they are {dimension}-d float64" if common == 8 * dimension else ""))
        raise UsageError(f"stored embeddings are {common} bytes but --dimension {dimension} expects "
                         f"{4 * dimension} (float32): {hint}")

    def _validate_all(self, run: Run, options: MigrateOptions) -> tuple[list[QuarantinedRow], int, Counter]:
        seen: set[str] = set()
        quarantined: list[QuarantinedRow] = []
        models: Counter = Counter()
        generated = done = 0
        self.phase("validating rows (--dry-run or --strict: nothing is written yet)")
        self.on_progress(0, run.total)
        for reader in run.readers:
            for batch in reader.batches(options.batch_size):
                prepared = self._prepare(run, reader, batch, seen, options)
                quarantined += [as_quarantined(q) for q in prepared.quarantined]
                generated += prepared.generated
                models.update(prepared.models)
                done += len(batch)
                self.on_progress(done, run.total)
        return quarantined, generated, models

    @staticmethod
    def _prepare(run: Run, reader: SourceReader, batch: list, seen: set[str], options: MigrateOptions):
        return prepare_batch(batch, reader.variant, run.settings.dimension, run.embedder, seen, policy=run.policy,
                             allow_float64=options.source_float64)

    def _write(self, run: Run, options: MigrateOptions, backup: Path | None, started: float) -> MigrationResult:
        try:
            return self._write_locked(run, options, backup, started)
        except (apsw.IOError, apsw.FullError, apsw.CantOpenError, apsw.ReadOnlyError, OSError) as exc:
            # Disk full, I/O errors, permissions: the live generation was never written.
            raise TargetError(f"cannot write the target {self.layout.root}: {describe(exc)}; the live target is "
                              f"unchanged{self._resumable_note()}") from None

    def _resumable_note(self) -> str:
        """What a failed run left to resume, said only when there is something."""
        try:
            kept = [g for g in self.layout.newer_than_current() if g.building and g.building_run() is not None]
        except (VecmigrateError, OSError):
            kept = []
        return (f", and the batches committed in generation {kept[-1].number} are kept: the same command resumes"
                if kept else "")

    def _write_locked(self, run: Run, options: MigrateOptions, backup: Path | None, started: float) -> MigrationResult:
        """The write phase (the caller holds the target's lock)."""
        done = self._finished_by_a_killed_attempt(run, options, backup, started)
        if done is not None:
            return done
        job = self._start_or_resume(run, options)
        try:
            try:
                generated, validation = self._fill(job, run, options)
            except (SourceError, ConflictError):
                # the source cannot be read to the end: a resume would meet the same rows
                # (or, once the file is mended, start over), so the partial generation goes
                job.conn.close()
                remove_generation(job.generation)
                raise
            quarantined, models = _run_outcome(job.conn, job.run_id)
            counts = ledger.counts(job.conn, job.run_id)
            still = _still_quarantined(job.conn, job.source_id, job.run_id)
            quarantined += still
            counts["unchanged"] -= len(still)
        finally:
            job.conn.close()  # on failure the BUILDING generation stays: the same command resumes it
        if failed_checks(validation):
            # checked before the swap: exit 1 leaves the live target as it was. Resuming would
            # rebuild the same generation, so it is not kept.
            remove_generation(job.generation)
            raise TargetError(f"the new generation of {self.layout.root} failed its checks and was not made "
                              f"live ({'; '.join(failed_checks(validation))}); the live target is unchanged")
        self.phase("making the new generation live")
        finish(self.layout, job.generation)
        pruned = self._prune(options)  # the new generation is live: nothing below may fail the command
        return self._result(options, run, started, migrated=validation.integrity_checks["written_this_run"],
                            skipped=job.skipped, quarantined=quarantined, generated=generated, backup=backup,
                            run_id=job.run_id, generation=job.generation.number, validation=validation,
                            rows_added=self._rows_added_since(run), pruned=pruned, models=models, counts=counts)

    def _finished_by_a_killed_attempt(self, run: Run, options: MigrateOptions, backup: Path | None,
                                      started: float) -> MigrationResult | None:
        """The result of this very run when an earlier attempt of it was killed just after making
        its generation live: only pruning was left, so this attempt prunes and reports, and does
        not migrate again (which would cost a rollback step an uninterrupted run keeps)."""
        live = self.layout.current()
        if self._swapped is None or live is None or live.number != self._swapped:
            return None
        conn = open_target(live.db, readonly=True)
        try:
            last = ledger.last_run(conn)
            if (last is None or last["status"] != "complete" or
                    {k: last[k] for k in ("source", "source_table", "schema", "options")}
                    != _run_identity(self.source, run, options)):
                return None
            validation = validate_target(conn, last["run_id"], int(tgt.read_meta(conn).get("index_count") or 0),
                                         run.total)
            quarantined, models = _run_outcome(conn, last["run_id"])
            counts = ledger.counts(conn, last["run_id"])
        finally:
            conn.close()
        self._say(f"generation {live.number} of this migration was already live (an earlier attempt was killed "
                  f"just after making it live): finished, not migrated again")
        pruned = self._prune(options)
        done = sum(validation.integrity_checks[k] for k in ("written_this_run", "quarantined_this_run",
                                                           "unchanged_this_run"))
        return self._result(options, run, started, migrated=validation.integrity_checks["written_this_run"],
                            skipped=done, quarantined=quarantined, generated=0, backup=backup,
                            run_id=last["run_id"], generation=live.number, validation=validation,
                            rows_added=self._rows_added_since(run), pruned=pruned, models=models, counts=counts)

    def _prune(self, options: MigrateOptions) -> list[int]:
        """Prune after a swap: what goes wrong is said, not raised (the new generation is live,
        and exit 1 would claim the live target unchanged)."""
        try:
            return prune(self.layout, options.keep_generations)
        except (OSError, VecmigrateError) as exc:
            self._say(f"older generations were not pruned ({describe(exc)}); the next migrate tries again")
            return []

    def _start_or_resume(self, run: Run, options: MigrateOptions) -> Job:
        identity = _run_identity(self.source, run, options)
        for generation in [g for g in self.layout.newer_than_current() if g.building]:  # at most one, after recover()
            job, why_not = self._resumable(generation, identity)
            if job is not None:
                return job
            remove_generation(generation)
            self._say(f"discarded generation {generation.number}, an interrupted migration: {why_not}")
        self.phase("copying the live generation" if self.layout.current() is not None else "creating the target")
        generation = new_generation(self.layout)
        try:
            conn = open_target(generation.db)
            fresh = "dimension" not in tgt.read_meta(conn)
            if not fresh:
                tgt.upgrade_if_older(conn)  # the copy of a live generation an earlier vecmigrate made
            with atomic(conn):
                if fresh:
                    tgt.create_schema(conn, run.settings, run.policy.to_meta()["embedder"], run.policy.model)
                else:
                    tgt.write_meta(conn, {"expansion_search": str(run.settings.expansion_search),
                                          **versions.record(conn, run.embedder.spec if run.embedder else None,
                                                            created=False)})
                    if not conn.execute("SELECT count(*) FROM patterns").fetchall()[0][0]:
                        tgt.write_meta(conn, run.policy.to_meta())  # an empty target takes this run's model
                earlier = json.loads(tgt.read_meta(conn).get("model_notes") or "[]")
                notes = list(dict.fromkeys([*earlier, *run.notes]))[-MAX_NOTES:]  # every run's, newest last
                tgt.write_meta(conn, {"model_notes": json.dumps(notes, ensure_ascii=False)})
                if run.policy.unverified:
                    tgt.write_meta(conn, {"model_unverified": run.policy.unverified})
                run_id = ledger.start_run(conn, total_rows=run.total, **identity)
                source_id = self._register(conn, run, options)
            generation.record_building_run(run_id)
        except BaseException:
            remove_generation(generation)
            drop_empty_target(self.layout)
            raise
        self.log(f"building generation {generation.number}")
        return Job(generation=generation, conn=conn, run_id=run_id, fresh_index=fresh, source_id=source_id)

    def _register(self, conn: apsw.Connection, run: Run, options: MigrateOptions) -> int:
        identity = source_identity(options.mapping, options.namespace)
        return register_source(conn, self.source.resolve(), run.plan, identity, source_schema(run.conn, run.plan))

    def _resumable(self, generation: Generation, identity: dict[str, Any]) -> tuple[Job | None, str]:
        """A Job continuing the run an interrupted generation was built for, if it is this run
        over the same source state, built on the live generation (else None and why not).
        A run killed after its last commit but before going live is 'complete': resuming it
        writes no batch and only finishes."""
        run_id = generation.building_run()
        if run_id is None:  # killed while the generation was being copied: nothing to keep
            return None, "it was killed before its first batch"
        live = self.layout.current()
        if generation.parent != (live.number if live else 0):
            return None, "it was built on another generation than the live one"
        try:
            conn = open_target(generation.db)
        except TargetError:
            return None, "its database cannot be opened"
        run = ledger.last_run(conn)
        recorded = {k: run[k] for k in ("source", "source_table", "schema", "options")} if run else None
        if run is None or run["run_id"] != run_id or recorded != identity:
            conn.close()
            if recorded is not None and run["run_id"] == run_id and _stateless(recorded) == _stateless(identity):
                return None, "the source changed since it began (a new generation reads it again from the start)"
            return None, "it read another source or ran with other options"
        after, batches, done = ledger.resume_point(conn, run["run_id"])
        self.log(f"resuming generation {generation.number} ({done} rows committed by an earlier attempt)")
        known = find_source(conn, Path(identity["source"]), identity["source_table"].split(","))
        if known is None:
            conn.close()
            return None, "it was killed before it recorded its source"
        return Job(generation=generation, conn=conn, run_id=run["run_id"], fresh_index=False,
                   after=after, next_batch=batches + 1, skipped=done, source_id=known["source_id"]), ""

    def _fill(self, job: Job, run: Run, options: MigrateOptions) -> tuple[int, Validation]:
        conn = job.conn
        if not job.fresh_index:
            self.phase("loading the index")
        if job.fresh_index:
            index = new_index(run.settings)
        else:
            index, notes, _ = tgt.open_index(conn, job.generation, tgt.read_meta(conn))
            for note in notes:
                self.log(note)
        feeder = IndexFeeder(index)
        applier = Applier(conn, job.source_id, rule=options.on_conflict, origin=changelog.MIGRATE,
                          namespace=options.namespace, diff=run.diff, plan=run.plan)
        try:
            generated = self._write_batches(job, feeder, run, options, applier)
            self.phase("removing patterns whose source rows are gone")
            self._remove_gone(job, feeder, run, options, applier)
            self.phase("finishing the index (vectors still being added)")
        finally:
            feeder.close()
        self.phase("saving the index and the history tables")
        with atomic(conn):
            copy_history(run.conn, conn, run.history, history_names(conn, job.source_id, run.history))
            mark_synced(conn, job.source_id, run.source_state, run.snapshot_at)
            seq = changelog.position(conn)
            tgt.save_checked_index(conn, index, job.generation, seq)
            tgt.write_meta(conn, {"live_seq": str(seq)})  # the writes after it are the ones a rollback would lose
            ledger.finish_run(conn, job.run_id)
        crash_point("run-finished")
        self.phase("checking the new generation")
        return generated, validate_target(conn, job.run_id, len(index), run.total)

    def _write_batches(self, job: Job, feeder: IndexFeeder, run: Run, options: MigrateOptions,
                       applier: Applier) -> int:
        conn = job.conn
        generated = 0
        done = job.skipped
        last_checkpoint = time.monotonic()
        batch_no = job.next_batch
        self.phase("migrating rows")
        self.on_progress(done, run.total)
        began = time.monotonic()
        seen: set[str] = set()
        for reader in run.readers:
            after = job.after.get(reader.table)  # None: from the first row (rowids may be 0 or negative)
            seen |= reader.accepted_ids(after, ledger.quarantined_rowids(conn, job.run_id, reader.table))
            changed = run.diff.changed.get(reader.table, set()) if run.diff is not None else None
            for batch in reader.batches(options.batch_size, after_rowid=after):
                rows = batch if changed is None else [r for r in batch if r.rowid in changed]
                prepared = self._prepare(run, reader, rows, seen, options)
                patterns = [applier.named(p) for p in prepared.patterns]
                with atomic(conn):
                    applied = applier.apply(reader.table, {r.rowid: r for r in rows}, patterns, prepared.rowids,
                                            prepared.vectors, prepared.quarantined)
                    if applied.quarantined:
                        ledger.record_quarantine(conn, job.run_id, reader.table, applied.quarantined)
                    ledger.record_batch(conn, job.run_id, batch_no, batch[-1].rowid,
                                        applied.inserted + applied.updated, len(applied.quarantined), reader.table,
                                        inserted=applied.inserted, unchanged=len(batch) - len(rows) + applied.unchanged)
                    ledger.record_deleted(conn, job.run_id, applied.deleted)
                crash_point("batch-committed")
                run.conflicts += applied.conflicts
                batch_no += 1
                self._feed(feeder, applied)
                generated += prepared.generated
                done += len(batch)
                self.on_progress(done, run.total)
                logger.info("batch %d committed: %s rows %s..%s, %d written, %d quarantined; %d of %d rows "
                            "(%.0f rows/s)", batch_no - 1, reader.table, batch[0].rowid, batch[-1].rowid,
                            applied.inserted + applied.updated, len(applied.quarantined), done, run.total,
                            (done - job.skipped) / max(time.monotonic() - began, 1e-9))
                if time.monotonic() - last_checkpoint >= options.checkpoint_seconds:
                    index = feeder.drain()
                    with atomic(conn):
                        tgt.save_checked_index(conn, index, job.generation, changelog.position(conn),
                                               "checkpoint-temp-written")
                    last_checkpoint = time.monotonic()
        return generated

    @staticmethod
    def _feed(feeder: IndexFeeder, applied: Applied) -> None:
        vectors = applied.vectors[0] if applied.vectors else None
        feeder.put(applied.keys, vectors, applied.removed)

    def _remove_gone(self, job: Job, feeder: IndexFeeder, run: Run, options: MigrateOptions,
                     applier: Applier) -> None:
        """After every batch (so a resumed run does it too; doing it twice finds nothing): the
        lineage of rows gone from the source goes, and the patterns no row holds any more are
        deleted from the new generation."""
        with atomic(job.conn):
            done = Applied()
            for reader in run.readers:
                gone = run.diff.gone.get(reader.table, []) if run.diff is not None else []
                done.add(applier.remove_gone(reader.table, gone, options.keep_deleted))
            collected = applier.collect(options.keep_deleted)
            done.add(collected)
            ledger.record_deleted(job.conn, job.run_id, collected.deleted)
        run.conflicts += done.conflicts
        run.kept_deleted += done.kept_deleted
        self._feed(feeder, collected)

    def _rows_added_since(self, run: Run) -> int:
        """Rows another process added to the source after this run's snapshot: said, not lost
        (best effort, after the swap: a source that is gone or locked now is only noted)."""
        try:
            with open_source_snapshot(self.source) as fresh:
                now = sum(fresh.execute(f"SELECT count(*) FROM {quote_identifier(t)}").fetchall()[0][0]
                          for t in run.plan.tables)
        except (OSError, apsw.Error, VecmigrateError) as exc:
            self._say(f"the source could not be read again after the migration to count rows added meanwhile "
                      f"({describe(exc)})")
            return 0
        added = max(0, now - run.total)
        if added:
            self.log(f"{added} rows were added to the source after its snapshot; "
                     f"run the same command again to bring them over")
        return added

    def _result(self, options: MigrateOptions, run: Run, started: float, *, migrated: int, skipped: int,
                quarantined: list[QuarantinedRow], generated: int, backup: Path | None, run_id: int | None,
                generation: int | None, validation: Validation, rows_added: int = 0, pruned: list[int] | None = None,
                models: Counter | None = None, counts: dict[str, int] | None = None) -> MigrationResult:
        counts = counts or {}
        embedder = run.embedder.spec if run.embedder is not None else (run.policy.to_meta()["embedder"] or "none")
        return MigrationResult(
            total_patterns=run.total, migrated_count=migrated, skipped_count=skipped, quarantined=quarantined,
            duration_ms=int((time.perf_counter() - started) * 1000), schema=run.plan.layout,
            dry_run=options.dry_run, backup_path=str(backup) if backup else None,
            target_db=str(self.layout.db), index_path=str(self.layout.index), validation=validation,
            source_table=", ".join(run.plan.tables), history=run.history, embedder=embedder,
            generated_embeddings=generated, run_id=run_id, generation=generation, source_rows_added=rows_added,
            pruned_generations=pruned or [], errors=failed_checks(validation), model=run.policy.model,
            vector_models=dict(models or {}), tables=list(run.plan.tables),
            notes=[*run.notes, *self._events], inserted=counts.get("inserted", 0), updated=counts.get("updated", 0),
            unchanged=counts.get("unchanged", 0), deleted=counts.get("deleted", 0), kept_deleted=run.kept_deleted,
            conflicts=[asdict(c) for c in run.conflicts])


def _run_outcome(conn: apsw.Connection, run_id: int) -> tuple[list[QuarantinedRow], Counter]:
    """A run's quarantined rows (in source order) and the target's vectors by model, for its result."""
    quarantined = [QuarantinedRow(id=r[0], reason=r[1], source_rowid=r[2]) for r in conn.execute(
        "SELECT coalesce(pattern_id, 'rowid:' || source_rowid), reason, source_rowid FROM quarantine"
        " WHERE run_id = ? ORDER BY qid", (run_id,))]
    return quarantined, Counter(tgt.vectors_by_model(conn))


def _still_quarantined(conn: apsw.Connection, source_id: int, run_id: int | None) -> list[QuarantinedRow]:
    """Rows of the source quarantined by an earlier run or sync pass and unchanged since (not
    read again): the newest entry of each row the source's lineage says is quarantined."""
    return [QuarantinedRow(id=r[0], reason=r[1], source_rowid=r[2]) for r in conn.execute(
        "WITH mine AS (SELECT run_id FROM vecmigrate_runs r JOIN vecmigrate_sources s ON r.source = s.path"
        " AND r.source_table = s.tables WHERE s.source_id = :sid UNION SELECT -:sid)"
        " SELECT coalesce(q.pattern_id, 'rowid:' || q.source_rowid), q.reason, q.source_rowid FROM quarantine q"
        " JOIN vecmigrate_lineage l ON l.source_table = q.source_table AND l.source_rowid = q.source_rowid"
        " WHERE l.source_id = :sid AND l.key IS NULL AND q.run_id IN mine AND q.run_id IS NOT :run"
        " AND q.qid = (SELECT max(qid) FROM quarantine q2 WHERE q2.source_table = q.source_table"
        " AND q2.source_rowid = q.source_rowid AND q2.run_id IN mine)"
        " AND NOT EXISTS (SELECT 1 FROM quarantine q3 WHERE q3.run_id IS :run AND q3.source_table = q.source_table"
        " AND q3.source_rowid = q.source_rowid) ORDER BY q.qid", {"sid": source_id, "run": run_id})]


def validate_target(conn: apsw.Connection, run_id: int, index_count: int, total: int) -> Validation:
    """Checks after a run: integrity, equal counts in patterns / vec0 / USearch, every row accounted."""
    written, quarantined, unchanged = conn.execute(
        "SELECT coalesce(sum(written), 0), coalesce(sum(quarantined), 0), coalesce(sum(unchanged), 0)"
        " FROM vecmigrate_batches WHERE run_id = ?", (run_id,)).fetchall()[0]
    integrity = conn.execute("PRAGMA integrity_check").fetchall()[0][0]
    patterns = conn.execute("SELECT count(*) FROM patterns").fetchall()[0][0]
    vectors = tgt.vector_count(conn)
    orphans = conn.execute("SELECT count(*) FROM patterns p WHERE NOT EXISTS "
                           "(SELECT 1 FROM patterns_vec v WHERE v.rowid = p.key)").fetchall()[0][0]
    checks = {"integrity_check": integrity, "patterns_count": patterns, "vector_count": vectors,
              "index_count": index_count, "patterns_without_vector": orphans,
              "written_this_run": written, "quarantined_this_run": quarantined, "unchanged_this_run": unchanged,
              "all_rows_accounted": written + quarantined + unchanged == total}
    valid = (integrity == "ok" and patterns == vectors == index_count and orphans == 0
             and written + quarantined + unchanged == total)
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
        errors.append("written + quarantined + unchanged rows of this run differ from the source row count")
    return errors


def _run_identity(source: Path, run: Run, options: MigrateOptions) -> dict[str, Any]:
    """What makes two invocations the same run (a resume continues only the same run).
    The batch size may differ between attempts: resuming goes by source rowid."""
    return {"source": str(source.resolve()), "source_table": ",".join(run.plan.tables), "schema": run.plan.layout,
            "options": {"table": options.table, "source_float64": options.source_float64,
                        "embedder": run.embedder.spec if run.embedder is not None else None,
                        "model": run.policy.model,
                        "mapping": options.mapping.to_dict() if options.mapping else None,
                        "namespace": options.namespace, "on_conflict": options.on_conflict,
                        "keep_deleted": options.keep_deleted,
                        "source_state": run.source_state, **run.settings.to_meta()}}


def _stateless(identity: dict[str, Any]) -> dict[str, Any]:
    """A run's identity without the source's state (to tell 'the source changed' apart)."""
    return {**identity, "options": {**identity["options"], "source_state": None}}


def migrate(source: str | Path = DEFAULT_SOURCE, target: str | Path = DEFAULT_TARGET, **options: Any
            ) -> MigrationResult:
    """Functional form: `migrate(source, target, batch_size=..., dry_run=...)`."""
    return Migrator(source, target).migrate(MigrateOptions(**options))
