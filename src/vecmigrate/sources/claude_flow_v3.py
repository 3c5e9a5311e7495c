"""claude-flow-v3: claude-flow v3 (ruflo) `.swarm/memory.db`: `memory_entries` and `patterns`, each
with its vectors as a JSON array in a TEXT `embedding` column. Both tables migrate in one run.

memory_entries (kind 'memory', id "memory:{id}"):
  content = content          type = type (semantic | episodic | procedural | working | pattern)
  domain  = namespace        framework = NULL      usage_count = access_count
  created_at = created_at (ms)     last_used = last_accessed_at (ms)
  embedding = embedding (JSON text -> float32); its `embedding_model` label is recorded
  metadata = source metadata + key, namespace, tags (parsed), status, ownerId, updatedAt, expiresAt,
             embeddingModel, embeddingDimensions (+ sourceColumns)
patterns (kind 'pattern', id "pattern:{id}"):
  content = "{name}\\n{description}\\nWhen: {condition}\\nThen: {action}"     type = pattern_type
  flakiness / verdict from success_count / (success_count + failure_count) (legacy-qe rules)
  created_at / last_used = created_at / last_matched_at or updated_at (any timestamp form)
  embedding = embedding (JSON text -> float32)
  metadata = source metadata + name, description, condition, action, confidence, successCount,
             failureCount, tags (+ sourceColumns)
`vector_indexes` says which dimension each index was built for; where it disagrees with
the stored vectors (768 claimed, 384 stored in most files), the vectors win and the
disagreement is reported.
"""

from __future__ import annotations

from ..models import Pattern
from . import reverse as r
from . import transform as t
from .base import Variant

MEMORY_CONSUMED = {"id", "key", "namespace", "content", "type", "embedding", "embedding_model",
                   "embedding_dimensions", "tags", "metadata", "owner_id", "created_at", "updated_at",
                   "expires_at", "last_accessed_at", "access_count", "status"}
PATTERN_CONSUMED = {"id", "name", "pattern_type", "condition", "action", "description", "confidence",
                    "success_count", "failure_count", "embedding", "tags", "metadata", "created_at"}


def memory_to_pattern(v: dict) -> Pattern:
    pattern_id = t.required_text(v, "id")
    content = t.required_text(v, "content")
    extra = {"key": v.get("key"), "namespace": v.get("namespace"), "tags": t.parse_json(v, "tags", default=None),
             "status": v.get("status"), "ownerId": v.get("owner_id"),
             "updatedAt": t.to_epoch_ms(v.get("updated_at"), "updated_at", "ms"),
             "expiresAt": t.to_epoch_ms(v.get("expires_at"), "expires_at", "ms"),
             "embeddingModel": v.get("embedding_model"), "embeddingDimensions": v.get("embedding_dimensions")}
    leftovers = t.leftover_columns(v, MEMORY_CONSUMED)
    if leftovers:
        extra["sourceColumns"] = leftovers
    return Pattern(
        id=pattern_id, content=content, type=t.optional_text(v, "type"), domain=t.optional_text(v, "namespace"),
        created_at=t.to_epoch_ms(v.get("created_at"), "created_at", "ms"),
        last_used=t.to_epoch_ms(v.get("last_accessed_at"), "last_accessed_at", "ms"),
        usage_count=t.optional_int(v, "access_count"), metadata=t.merge_metadata(t.parse_metadata(v), extra),
    )


def pattern_to_pattern(v: dict) -> Pattern:
    pattern_id = t.required_text(v, "id")
    name = t.required_text(v, "name")
    description = t.optional_text(v, "description")
    condition = t.optional_text(v, "condition")
    action = t.optional_text(v, "action")
    successes = t.optional_int(v, "success_count")
    failures = t.optional_int(v, "failure_count")
    tries = (successes or 0) + (failures or 0)
    success_rate = (successes or 0) / tries if tries else None
    content = "\n".join(x for x in (name, description, condition and f"When: {condition}",
                                    action and f"Then: {action}") if x)
    extra = {"name": name, "description": description, "condition": condition, "action": action,
             "confidence": t.optional_float(v, "confidence"), "successCount": successes, "failureCount": failures,
             "tags": t.parse_json(v, "tags", default=None)}
    leftovers = t.leftover_columns(v, PATTERN_CONSUMED)
    if leftovers:
        extra["sourceColumns"] = leftovers
    last = v.get("last_matched_at", v.get("updated_at"))
    return Pattern(
        id=pattern_id, content=content, type=t.optional_text(v, "pattern_type"),
        flakiness_score=t.flakiness_for(success_rate), verdict=t.verdict_for(success_rate),
        created_at=t.to_epoch_ms(v.get("created_at"), "created_at"), last_used=t.to_epoch_ms(last, "updated_at"),
        metadata=t.merge_metadata(t.parse_metadata(v), extra),
    )


# the values the application's CHECK constraints allow (a pattern of another type is written as the first)
MEMORY_TYPES = ("semantic", "episodic", "procedural", "working", "pattern")
PATTERN_TYPES = ("task-routing", "error-recovery", "optimization", "learning", "coordination", "prediction")
STATUSES = ("active", "archived", "deleted")
MEMORY_ADDED = {"key", "namespace", "tags", "status", "ownerId", "updatedAt", "expiresAt", "embeddingModel",
                "embeddingDimensions"}
PATTERN_ADDED = {"name", "description", "condition", "action", "confidence", "successCount", "failureCount", "tags"}


def memory_to_row(p: Pattern) -> dict:
    """The reverse of memory_entries: key falls back to the id, namespace to the domain."""
    md = p.metadata
    sid = r.source_id(p, MEMORY)
    created = r.timestamp(p.created_at if p.created_at is not None else r.now_ms(), "ms")
    return {**r.leftovers(p), "id": sid, "key": md.get("key") or sid,
            "namespace": md.get("namespace") or p.domain or "default", "content": p.content,
            "type": p.type if p.type in MEMORY_TYPES else MEMORY_TYPES[0], "tags": r.json_text(md.get("tags")), "metadata": r.metadata_text(p, MEMORY_ADDED),
            "owner_id": md.get("ownerId"), "created_at": created,
            "updated_at": r.timestamp(md.get("updatedAt"), "ms") or created,
            "expires_at": r.timestamp(md.get("expiresAt"), "ms"),
            "last_accessed_at": r.timestamp(p.last_used, "ms"), "access_count": p.usage_count,
            "status": md.get("status") if md.get("status") in STATUSES else STATUSES[0]}


def pattern_to_row(p: Pattern) -> dict:
    """The reverse of patterns: name falls back to the content."""
    md = p.metadata
    return {**r.leftovers(p), "id": r.source_id(p, PATTERNS), "name": md.get("name") or p.content,
            "pattern_type": p.type if p.type in PATTERN_TYPES else "learning", "condition": md.get("condition") or "",
            "action": md.get("action") or "", "description": md.get("description"),
            "confidence": md.get("confidence"), "success_count": md.get("successCount"),
            "failure_count": md.get("failureCount"), "tags": r.json_text(md.get("tags")),
            "metadata": r.metadata_text(p, PATTERN_ADDED), "created_at": r.timestamp(p.created_at, "ms")}


HISTORY = ("vector_indexes", "sessions", "session_events")

MEMORY = Variant(
    name="claude-flow-v3", table="memory_entries", kind="memory", id_prefix="memory:",
    telling_columns=frozenset({"id", "key", "namespace", "content", "embedding", "embedding_model"}),
    map_row=memory_to_pattern, to_row=memory_to_row, ddl=(
        "CREATE TABLE memory_entries (id TEXT PRIMARY KEY, key TEXT NOT NULL, namespace TEXT DEFAULT 'default',"
        " content TEXT NOT NULL, type TEXT DEFAULT 'semantic', embedding TEXT, embedding_model TEXT DEFAULT 'local',"
        " embedding_dimensions INTEGER, tags TEXT, metadata TEXT, owner_id TEXT, created_at INTEGER NOT NULL,"
        " updated_at INTEGER NOT NULL, expires_at INTEGER, last_accessed_at INTEGER, access_count INTEGER DEFAULT 0,"
        " status TEXT DEFAULT 'active', UNIQUE(namespace, key))",), embedding_column="embedding", dimension_column="embedding_dimensions",
    model_column="embedding_model", history_tables=HISTORY, description=__doc__.strip().splitlines()[0],
)
PATTERNS = Variant(
    name="claude-flow-v3", table="patterns", kind="pattern", id_prefix="pattern:",
    telling_columns=frozenset({"id", "name", "pattern_type", "condition", "action", "embedding"}),
    map_row=pattern_to_pattern, to_row=pattern_to_row, ddl=(
        "CREATE TABLE patterns (id TEXT PRIMARY KEY, name TEXT NOT NULL, pattern_type TEXT NOT NULL,"
        " condition TEXT NOT NULL, action TEXT NOT NULL, description TEXT, confidence REAL DEFAULT 0.5,"
        " success_count INTEGER DEFAULT 0, failure_count INTEGER DEFAULT 0, embedding TEXT,"
        " embedding_dimensions INTEGER, tags TEXT, metadata TEXT, created_at INTEGER, updated_at INTEGER)",),
    embedding_column="embedding", dimension_column="embedding_dimensions",
    history_tables=HISTORY, description=__doc__.strip().splitlines()[0],
)
PARTS = (MEMORY, PATTERNS)
