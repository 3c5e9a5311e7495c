"""agentdb-adapter: the AgentDB adapter's table (`patterns` with type, embedding BLOB, with or without pattern_id).

agentic-qe's own `.agentic-qe/agentdb.db` is this table without the generated `pattern_id`
column (its embeddings are often all NULL: those rows are embedded, see the README).

Mapping:
  content  = metadata.content | text | pattern | description | name (first present), else "{type} pattern {id}"
  type     = type          domain = metadata.domain      framework = metadata.framework
  created_at = created_at (unix seconds) in ms            usage_count = metadata.usageCount
  embedding = the stored float32 blob, byte for byte
  metadata = source metadata + confidence (+ sourceColumns for any other column)
  pattern_id is generated from id in the source, so it is not stored again.
"""

from __future__ import annotations

from ..models import Pattern
from . import reverse as r
from . import transform as t
from .base import Variant

TEXT_KEYS = ("content", "text", "pattern", "description", "name")
CONSUMED = {"id", "pattern_id", "type", "confidence", "embedding", "metadata", "created_at"}


def to_pattern(v: dict) -> Pattern:
    pattern_id = t.required_text(v, "id")
    meta = t.parse_metadata(v)
    kind = t.optional_text(v, "type")
    content = t.first_text(meta, TEXT_KEYS) or f"{kind or 'untyped'} pattern {pattern_id}"
    usage = meta.get("usageCount")
    extra = {"confidence": t.optional_float(v, "confidence")}
    leftovers = t.leftover_columns(v, CONSUMED)
    if leftovers:
        extra["sourceColumns"] = leftovers
    return Pattern(
        id=pattern_id, content=content, type=kind, domain=t.first_text(meta, ["domain"]),
        framework=t.first_text(meta, ["framework"]),
        created_at=t.to_epoch_ms(v.get("created_at"), "created_at", "s"),
        usage_count=int(usage) if isinstance(usage, (int, float)) and not isinstance(usage, bool) else None,
        metadata=t.merge_metadata(meta, extra),
    )


def to_row(p: Pattern) -> dict:
    """The reverse: content, domain, framework and usageCount go into metadata, where the mapping reads them."""
    md = p.metadata
    put = {"content": None if t.first_text(md, TEXT_KEYS) == p.content else p.content, "domain": p.domain, "framework": p.framework, "usageCount": p.usage_count}
    return {**r.leftovers(p), "id": r.source_id(p, VARIANT), "type": p.type or "pattern",
            "confidence": md.get("confidence"), "metadata": r.metadata_text(p, {"confidence"}, put),
            "created_at": r.timestamp(p.created_at, "s")}


DDL = (
    "CREATE TABLE patterns (id TEXT PRIMARY KEY, pattern_id TEXT GENERATED ALWAYS AS (id) VIRTUAL, type TEXT NOT NULL,"
    " confidence REAL NOT NULL DEFAULT 0.5, embedding BLOB, metadata TEXT,"
    " created_at INTEGER NOT NULL DEFAULT (unixepoch()))",
)


VARIANT = Variant(
    name="agentdb-adapter", table="patterns",
    telling_columns=frozenset({"id", "type", "embedding"}),
    map_row=to_pattern, to_row=to_row, ddl=DDL, embedding_column="embedding", description=__doc__.strip().splitlines()[0],
)
