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


def _model_texts(pattern: Pattern) -> list[str]:
    doc = pattern.metadata.get("patternData") or {}
    if not isinstance(doc, dict):
        return []
    parts = [doc.get(k) for k in ("title", "description", "content")]
    return ["\n".join(p for p in parts if isinstance(p, str) and p), f"{doc.get('title', '')}: {doc.get('content', '')}"]


VARIANT = Variant(
    name="reasoningbank-memory", table="patterns",
    telling_columns=frozenset({"id", "type", "pattern_data"}),
    map_row=to_pattern, embedding_column="__vector", dimension_column="__dims", model_column="__model",
    embedding_table=EmbeddingTable("pattern_embeddings", "id"),
    history_tables=("pattern_links", "task_trajectories", "matts_runs", "consolidation_runs", "metrics_log"),
    description=__doc__.strip().splitlines()[0], model_texts=_model_texts,
)
