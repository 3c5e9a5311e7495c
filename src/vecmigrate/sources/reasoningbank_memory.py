"""reasoningbank-memory: ReasoningBank's `.swarm/memory.db` (agentic-flow, claude-flow v2): `patterns` with
a `pattern_data` JSON document, vectors in `pattern_embeddings(id, model, dims, vector)`.

Mapping:
  content  = pattern_data.content, else "{title}\\n{description}" (what ReasoningBank embeds)
  type     = type ('reasoning_memory')     domain = pattern_data.domain     framework = NULL
  usage_count = usage_count                created_at / last_used = created_at / last_used (DATETIME text, UTC) in ms
  embedding = pattern_embeddings.vector, decoded with its own `dims`; its `model` label is recorded
  metadata = patternData (the whole parsed JSON document) + title, agent, source, confidence,
             embeddingModel, embeddingDims
             (+ sourceColumns for any other column)
Beside it, `memory_entries(key, value, namespace)` holds no vectors: it is not migrated by
default; the generic mapping migrates it (`--table memory_entries --id-column namespace,key
--text-columns value`).
"""

from __future__ import annotations

from ..models import Pattern
from . import reverse as r
from . import transform as t
from .base import EmbeddingTable, Variant

CONSUMED = {"id", "type", "pattern_data", "confidence", "usage_count", "created_at", "last_used",
            "__vector", "__dims", "__model"}


def to_pattern(v: dict) -> Pattern:
    pattern_id = t.required_text(v, "id")
    data = t.parse_json(v, "pattern_data", default={})
    doc = data if isinstance(data, dict) else {}
    title = t.first_text(doc, ["title"])
    description = t.first_text(doc, ["description"])
    content = t.first_text(doc, ["content"]) or "\n".join(x for x in (title, description) if x)
    if not content:
        content = f"{v.get('type') or 'reasoning memory'} {pattern_id}"
    extra = {"patternData": data, "title": title, "agent": doc.get("agent"), "source": doc.get("source"),
             "confidence": t.optional_float(v, "confidence"), "embeddingModel": v.get("__model"),
             "embeddingDims": v.get("__dims")}
    leftovers = t.leftover_columns(v, CONSUMED)
    if leftovers:
        extra["sourceColumns"] = leftovers
    return Pattern(
        id=pattern_id, content=content, type=t.optional_text(v, "type"), domain=t.first_text(doc, ["domain"]),
        created_at=t.to_epoch_ms(v.get("created_at"), "created_at", "text"),
        last_used=t.to_epoch_ms(v.get("last_used"), "last_used", "text"),
        usage_count=t.optional_int(v, "usage_count"), metadata=t.drop_none(extra),
    )


def to_row(p: Pattern) -> dict:
    """The reverse: the content, domain and title go into the pattern_data document."""
    md = p.metadata
    data = md.get("patternData")
    doc = dict(data) if isinstance(data, dict) else {}
    if t.first_text(doc, ["content"]) != p.content:
        doc["content"] = p.content
    if p.domain is not None:
        doc["domain"] = p.domain
    for key in ("title", "agent", "source"):
        if md.get(key) is not None and key not in doc:
            doc[key] = md[key]
    return {**r.leftovers(p), "id": r.source_id(p, VARIANT), "type": p.type or "reasoning_memory",
            "pattern_data": r.json_text(doc if doc or not isinstance(data, (list, str, int, float)) else data),
            "confidence": md.get("confidence") if md.get("confidence") is not None else 0.5,
            "usage_count": p.usage_count if p.usage_count is not None else 0,
            "created_at": r.timestamp(p.created_at, "text"), "last_used": r.timestamp(p.last_used, "text")}


DDL = (
    "CREATE TABLE patterns (id TEXT PRIMARY KEY, type TEXT NOT NULL, pattern_data TEXT NOT NULL,"
    " confidence REAL NOT NULL DEFAULT 0.5, usage_count INTEGER NOT NULL DEFAULT 0,"
    " created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, last_used TEXT)",
    "CREATE TABLE pattern_embeddings (id TEXT PRIMARY KEY, model TEXT NOT NULL, dims INTEGER NOT NULL,"
    " vector BLOB NOT NULL, created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,"
    " FOREIGN KEY (id) REFERENCES patterns(id) ON DELETE CASCADE)",
)


def _model_texts(pattern: Pattern) -> list[str]:
    doc = pattern.metadata.get("patternData") or {}
    if not isinstance(doc, dict):
        return []
    parts = [doc.get(k) for k in ("title", "description", "content")]
    return ["\n".join(p for p in parts if isinstance(p, str) and p), f"{doc.get('title', '')}: {doc.get('content', '')}"]


VARIANT = Variant(
    name="reasoningbank-memory", table="patterns",
    telling_columns=frozenset({"id", "type", "pattern_data"}),
    map_row=to_pattern, to_row=to_row, ddl=DDL, embedding_column="__vector", dimension_column="__dims", model_column="__model",
    embedding_table=EmbeddingTable("pattern_embeddings", "id"),
    history_tables=("pattern_links", "task_trajectories", "matts_runs", "consolidation_runs", "metrics_log"),
    description=__doc__.strip().splitlines()[0], model_texts=_model_texts,
)
