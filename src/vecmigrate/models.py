"""Frozen, typed records that cross module boundaries."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np  # (annotations only: see jsonable)


@dataclass(frozen=True)
class Pattern:
    """One test pattern as the target stores it (see the SQL contract in the README)."""

    id: str
    content: str
    type: str | None = None
    domain: str | None = None
    framework: str | None = None
    coverage: float | None = None
    flakiness_score: float | None = None
    verdict: str | None = None
    created_at: int | None = None
    last_used: int | None = None
    usage_count: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    kind: str = "pattern"          # pattern, episode, skill, note, memory, ... (the source table's kind)
    embedding_model: str | None = None  # the model that made this pattern's vector


@dataclass(frozen=True)
class SourceRow:
    """A row read from the source: its position, its verbatim values and the stored vector.
    `defect` is set when the row could not even be decoded (e.g. text that is not UTF-8)."""

    rowid: int
    values: dict[str, Any]
    embedding: bytes | None = None
    dimension: int | None = None
    defect: str | None = None
    model: str | None = None       # the source's label of the model that made `embedding`


@dataclass(frozen=True)
class QuarantinedRow:
    id: str
    reason: str
    source_rowid: int | None = None


@dataclass(frozen=True)
class Validation:
    source_valid: bool
    target_valid: bool
    integrity_checks: dict[str, Any]


@dataclass(frozen=True)
class MigrationResult:
    total_patterns: int
    migrated_count: int
    skipped_count: int
    quarantined: list[QuarantinedRow]
    duration_ms: int
    schema: str
    dry_run: bool
    backup_path: str | None
    target_db: str
    index_path: str
    validation: Validation
    source_table: str
    history: dict[str, int]
    embedder: str
    generated_embeddings: int
    run_id: int | None
    generation: int | None = None          # the generation this run made live
    source_rows_added: int = 0             # rows added to the source after the snapshot (run again for them)
    pruned_generations: list[int] = field(default_factory=list)  # removed to keep --keep-generations
    pruned_backups: list[str] = field(default_factory=list)   # old source backups removed (--keep-backups)
    errors: list[str] = field(default_factory=list)  # checks that failed after writing
    model: str | None = None               # the model of the target's vectors
    vector_models: dict[str, int] = field(default_factory=dict)  # the target's vectors by the model that made them
    tables: list[str] = field(default_factory=list)  # the source tables read
    notes: list[str] = field(default_factory=list)   # disagreements and tables left out, for people
    inserted: int = 0                      # patterns new in the target
    updated: int = 0                       # patterns whose source rows changed
    unchanged: int = 0                     # source rows the target already held as they are
    deleted: int = 0                       # patterns whose source rows are gone
    kept_deleted: int = 0                  # ... kept by --keep-deleted
    conflicts: list[dict[str, Any]] = field(default_factory=list)  # store writes the source also changed

    @property
    def exit_code(self) -> int:
        if self.errors:
            return 1
        return 3 if self.quarantined else 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Status:
    source: str | None
    source_count: int | None
    target_count: int
    quarantined_count: int
    coverage: float | None
    migration_complete: bool
    target_db: str
    index_path: str
    index_count: int | None
    generation: int | None
    generations: list[dict[str, Any]]
    backups: list[str]
    schema: str | None
    dimension: int | None
    metric: str | None
    dtype: str | None
    embedder: str | None
    last_run: dict[str, Any] | None
    model: str | None = None                  # the model of the target's vectors
    vector_models: dict[str, int] = field(default_factory=dict)  # vectors by the model that made them
    kinds: dict[str, int] = field(default_factory=dict)          # patterns by kind
    notes: list[str] = field(default_factory=list)               # what the last migration reported
    versions: dict[str, Any] = field(default_factory=dict)       # created_by / written_by: what shaped it
    sources: list[dict[str, Any]] = field(default_factory=list)  # each source fed in, with its sync state
    change_log: dict[str, Any] = field(default_factory=dict)     # position, index file's seq, live since
    writes_since_live: dict[str, int] = field(default_factory=dict)  # by origin: what a rollback would lose
    disk_use: dict[str, Any] = field(default_factory=dict)  # bytes per generation and per backup, and in all

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RollbackResult:
    target: str
    rolled_back: int          # the generation that was undone
    now_at: int | None        # the generation now live (None: the target is gone, as before its first migration)
    target_removed: bool
    duration_ms: float
    notes: list[str]
    writes_kept: dict[str, int] = field(default_factory=dict)       # writes since live, replayed (--keep-writes)
    writes_discarded: dict[str, int] = field(default_factory=dict)  # ... dropped (--discard-writes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ExportResult:
    """What `export` wrote: the file, its layout, rows per table; `exact` rows came back verbatim
    from the source rows the target kept, `rewritten` ones through the reverse mapping."""

    target: str
    path: str
    layout: str
    tables: dict[str, int]
    exact: int
    rewritten: int
    skipped: list[dict[str, str]]
    history: dict[str, int]        # history tables written back (usage, links, ...) -> rows
    notes: list[str]
    duration_ms: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RepairReport:
    """What `repair` restored (and from where) and what it could not; lists are capped, the counts are not."""

    target: str
    generation: int
    restored: list[dict[str, Any]]
    restored_count: int
    unrecoverable: list[dict[str, Any]]
    unrecoverable_count: int
    log_entries_added: int
    index: str
    notes: list[str]
    duration_ms: float

    @property
    def exit_code(self) -> int:
        return 3 if self.unrecoverable_count else 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "exit_code": self.exit_code}


@dataclass
class ChangeCounts:
    """What applying a source's changes did (a sync pass, a batch of an incremental run)."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    kept_deleted: int = 0          # deleted in the source, kept (--keep-deleted)
    deferred: int = 0              # written through a store after the snapshot was read: looked at again next pass
    quarantined: list[Any] = field(default_factory=list)
    conflicts: list[Any] = field(default_factory=list)


@dataclass(kw_only=True)
class SyncPass(ChangeCounts):
    """One `sync` pass: what it found changed in the source and applied to the live target."""

    source: str
    target: str
    generation: int                # the live generation it wrote
    snapshot_at: int               # epoch ms of the source snapshot the target now reflects
    applied_at: int                # epoch ms when this pass committed (or found nothing to do)
    duration_ms: int
    seq: int                       # the target's change-log position after the pass
    read: bool                     # False: the source file had not changed since the last pass
    rows: int = 0
    notes: list[str] = field(default_factory=list)
    since: int = 0                 # epoch ms of the snapshot the pass before this one read
    refused: str | None = None     # why this pass wrote nothing (conflicts under --on-conflict fail)

    @property
    def changes(self) -> int:
        """Source changes this pass applied (they were what the target was behind by)."""
        return self.inserted + self.updated + self.deleted

    @property
    def lag_ms(self) -> int:
        """How far behind the source the target was at most, for what this pass applied: a change
        it applied was made after the previous pass's snapshot, and is in the target from now."""
        return max(0, self.applied_at - (self.since or self.snapshot_at)) if self.changes else 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "changes": self.changes, "lag_ms": self.lag_ms}


@dataclass(frozen=True)
class SearchHit:
    key: int
    id: str
    score: float
    distance: float
    type: str | None
    domain: str | None
    framework: str | None
    content: str
    kind: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SearchResult:
    backend: str
    k: int
    hits: list[SearchHit]
    query: str
    notices: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "k": self.k, "query": self.query,
                "hits": [h.to_dict() for h in self.hits], "notices": self.notices}


@dataclass(frozen=True)
class StoredPattern:
    key: int
    pattern: Pattern
    vector: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, **asdict(self.pattern), "vector": self.vector.tolist()}


@dataclass(frozen=True)
class StoreStats:
    backend: str
    count: int
    dimension: int
    metric: str
    dtype: str
    memory_bytes: int
    searches: int = 0                  # recent searches measured (metrics on)
    qps: float | None = None           # searches per second of search time, recent window
    p50_ms: float | None = None
    p99_ms: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. dual-write journal counts

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StoreValidation:
    valid: bool
    errors: list[str]
    stats: StoreStats

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    checks: dict[str, Any]          # name -> {"ok": bool, ...figures}
    differences: list[str]          # the first differences found, for people

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ReconcileReport:
    journal_replayed: int
    copied_to_secondary: int
    copied_to_primary: int
    updated_in_secondary: int
    deleted_from_secondary: int
    indexes_rebuilt: list[str]
    duration_ms: int
    still_failing: list[str] = field(default_factory=list)  # journaled writes that failed again (kept journaled)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StatementResult:
    statement: str
    columns: list[str]
    rows: list[tuple]

    def to_dict(self) -> dict[str, Any]:
        return {"statement": self.statement, "columns": self.columns, "rows": [list(r) for r in self.rows]}


@dataclass(frozen=True)
class SqlResult:
    columns: list[str]          # the last statement's (the only one's, usually)
    rows: list[tuple]
    statements: list[StatementResult] = field(default_factory=list)  # each statement that returns columns

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "rows": [list(r) for r in self.rows],
                "statements": [s.to_dict() for s in self.statements]}


def jsonable(value: Any) -> Any:
    """Make SQLite/numpy values printable as JSON (blobs as hex, arrays as lists). Without
    importing numpy: an error's JSON is written through this while numpy may be half-imported
    (a Ctrl-C that landed in its import)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$blob": bytes(value).hex()}
    if hasattr(value, "tolist"):  # numpy arrays and numpy numbers
        return value.tolist()
    return value
