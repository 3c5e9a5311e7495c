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


VARIANT = Variant(
    name="agentdb-service", table="patterns",
    telling_columns=frozenset({"id", "type", "domain", "data", "success_count", "embedding"}),
    map_row=to_pattern, embedding_column="embedding", description=__doc__.strip().splitlines()[0],
)
