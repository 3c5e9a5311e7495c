"""swarm-memory: the swarm's shared pattern memory (`patterns` with pattern UNIQUE, ttl, expires_at).

Mapping:
  content  = pattern               type = metadata.type (else NULL)
  domain   = domain column, else metadata.domain       framework = metadata.framework
  usage_count = usage_count        created_at = created_at (ms)
  flakiness / verdict from success_rate when the column exists (legacy-qe rules)
  metadata = source metadata + confidence, ttl, expiresAt, agentId, successRate
             (the last three only when the column exists) + sourceColumns for any other column
Expired rows are migrated too (expires_at is kept): a migration does not decide what to forget.
"""

from __future__ import annotations

from ..models import Pattern
from . import reverse as r
from . import transform as t
from .base import Variant

OPTIONAL = {"agent_id": "agentId", "success_rate": "successRate"}
CONSUMED = {"id", "pattern", "confidence", "usage_count", "metadata", "ttl", "expires_at", "created_at",
            "domain", *OPTIONAL}


def to_pattern(v: dict) -> Pattern:
    pattern_id = t.required_text(v, "id")
    content = t.required_text(v, "pattern")
    meta = t.parse_metadata(v)
    success_rate = t.optional_float(v, "success_rate")
    extra = {"confidence": t.optional_float(v, "confidence"), "ttl": t.optional_int(v, "ttl"),
             "expiresAt": t.to_epoch_ms(v.get("expires_at"), "expires_at", "ms")}
    for column, key in OPTIONAL.items():
        if column in v:
            extra[key] = v[column]
    leftovers = t.leftover_columns(v, CONSUMED)
    if leftovers:
        extra["sourceColumns"] = leftovers
    domain = t.optional_text(v, "domain") or t.first_text(meta, ["domain"])
    return Pattern(
        id=pattern_id, content=content, type=t.first_text(meta, ["type"]), domain=domain,
        framework=t.first_text(meta, ["framework"]),
        flakiness_score=t.flakiness_for(success_rate), verdict=t.verdict_for(success_rate),
        created_at=t.to_epoch_ms(v.get("created_at"), "created_at", "ms"),
        usage_count=t.optional_int(v, "usage_count"),
        metadata=t.merge_metadata(meta, extra),
    )


def to_row(p: Pattern) -> dict:
    """The reverse: the content is the `pattern` column; type and framework go into metadata."""
    md = p.metadata
    row = {**r.leftovers(p), "id": r.source_id(p, VARIANT), "pattern": p.content, "confidence": md.get("confidence"),
           "usage_count": p.usage_count, "ttl": md.get("ttl"), "expires_at": r.timestamp(md.get("expiresAt"), "ms"),
           "created_at": r.timestamp(p.created_at, "ms"), "domain": p.domain,
           "metadata": r.metadata_text(p, {"confidence", "ttl", "expiresAt", *OPTIONAL.values()},
                                       {"type": p.type, "framework": p.framework})}
    for column, key in OPTIONAL.items():
        if key in md:
            row[column] = md[key]
    return row


DDL = (
    "CREATE TABLE patterns (id TEXT PRIMARY KEY, pattern TEXT NOT NULL UNIQUE, confidence REAL,"
    " usage_count INTEGER DEFAULT 0, metadata TEXT, ttl INTEGER, expires_at INTEGER, created_at INTEGER,"
    " agent_id TEXT, domain TEXT, success_rate REAL)",
)


VARIANT = Variant(
    name="swarm-memory", table="patterns",
    telling_columns=frozenset({"id", "pattern", "ttl", "expires_at"}),
    map_row=to_pattern, to_row=to_row, ddl=DDL, description=__doc__.strip().splitlines()[0],
)
