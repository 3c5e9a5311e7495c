"""agentdb-service: the AgentDB service's table (`patterns` with type, domain, data JSON, embedding).

Mapping:
  id       = id as text        content = data.content | text | pattern | description | name, else the data JSON
  type     = type              domain = domain           framework = data.framework, else metadata.framework
  usage_count = usage_count    created_at / last_used = created_at / last_used (ms)
  flakiness / verdict from success_count / usage_count (legacy-qe rules) when usage_count > 0
  embedding = the stored float32 blob, byte for byte
  metadata = source metadata + confidence, successCount, data (parsed) (+ sourceColumns)
"""

from __future__ import annotations

import json

from ..models import Pattern
from . import reverse as r
from . import transform as t
from .base import Variant

TEXT_KEYS = ("content", "text", "pattern", "description", "name")
CONSUMED = {"id", "type", "domain", "data", "confidence", "usage_count", "success_count", "embedding",
            "created_at", "last_used", "metadata"}


def to_pattern(v: dict) -> Pattern:
    pattern_id = t.required_text(v, "id")
    data = t.parse_json(v, "data", default={})
    meta = t.parse_metadata(v)
    data_map = data if isinstance(data, dict) else {}
    content = t.first_text(data_map, TEXT_KEYS) or (json.dumps(data, ensure_ascii=False) if data else "")
    if not content.strip():
        content = f"{v.get('type') or 'untyped'} pattern {pattern_id}"
    usage = t.optional_int(v, "usage_count")
    successes = t.optional_int(v, "success_count")
    success_rate = successes / usage if usage and successes is not None else None
    extra = {"confidence": t.optional_float(v, "confidence"), "successCount": successes, "data": data}
    leftovers = t.leftover_columns(v, CONSUMED)
    if leftovers:
        extra["sourceColumns"] = leftovers
    return Pattern(
        id=pattern_id, content=content, type=t.optional_text(v, "type"), domain=t.optional_text(v, "domain"),
        framework=t.first_text(data_map, ["framework"]) or t.first_text(meta, ["framework"]),
        flakiness_score=t.flakiness_for(success_rate), verdict=t.verdict_for(success_rate),
        created_at=t.to_epoch_ms(v.get("created_at"), "created_at", "ms"),
        last_used=t.to_epoch_ms(v.get("last_used"), "last_used", "ms"),
        usage_count=usage, metadata=t.merge_metadata(meta, extra),
    )


def to_row(p: Pattern) -> dict:
    """The reverse: the content goes into the `data` document, where the mapping reads it."""
    md = p.metadata
    data = md.get("data")
    data = dict(data) if isinstance(data, dict) else ({} if data in (None, "", {}) else {"value": data})
    if t.first_text(data, TEXT_KEYS) != p.content:
        data["content"] = p.content
    if p.framework is not None and t.first_text(data, ["framework"]) != p.framework:
        data["framework"] = p.framework
    return {**r.leftovers(p), "id": r.integer_id(p, VARIANT), "type": p.type or "pattern", "domain": p.domain,
            "data": r.json_text(data), "confidence": md.get("confidence"), "usage_count": p.usage_count,
            "success_count": md.get("successCount"), "created_at": r.timestamp(p.created_at, "ms"),
            "last_used": r.timestamp(p.last_used, "ms"),
            "metadata": r.metadata_text(p, {"confidence", "successCount", "data"})}


DDL = (
    "CREATE TABLE patterns (id INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, domain TEXT, data TEXT NOT NULL,"
    " confidence REAL, usage_count INTEGER DEFAULT 0, success_count INTEGER DEFAULT 0, embedding BLOB,"
    " created_at INTEGER, last_used INTEGER, metadata TEXT)",
)


VARIANT = Variant(
    name="agentdb-service", table="patterns",
    telling_columns=frozenset({"id", "type", "domain", "data", "success_count", "embedding"}),
    map_row=to_pattern, to_row=to_row, ddl=DDL, embedding_column="embedding", description=__doc__.strip().splitlines()[0],
)
