"""reasoning-bank: ReasoningBank's `reasoning_patterns` with vectors in `pattern_embeddings`.

Mapping:
  id       = id as text        content = "Task: {task_type}\\nApproach: {approach}"
  type     = task_type         domain = metadata.domain      framework = metadata.framework
  usage_count = uses           flakiness / verdict from success_rate (legacy-qe rules)
  created_at = ts, else created_at (any timestamp form) in ms; last_used = last_used
  embedding = pattern_embeddings.embedding (float32; float64 builds need --source-float64)
  metadata = source metadata + approach, successRate, avgReward, tags (parsed JSON) (+ sourceColumns)
"""

from __future__ import annotations

from ..models import Pattern
from . import reverse as r
from . import transform as t
from .base import EmbeddingTable, Variant

CONSUMED = {"id", "ts", "task_type", "approach", "success_rate", "uses", "avg_reward", "tags", "metadata",
            "created_at", "last_used", "__embedding"}


def to_pattern(v: dict) -> Pattern:
    pattern_id = t.required_text(v, "id")
    task_type = t.required_text(v, "task_type")
    approach = t.required_text(v, "approach")
    meta = t.parse_metadata(v)
    success_rate = t.optional_float(v, "success_rate")
    extra = {"approach": approach, "successRate": success_rate, "avgReward": t.optional_float(v, "avg_reward"),
             "tags": t.parse_json(v, "tags", default=[])}
    if "ts" in v and "created_at" in v:
        extra["createdAtColumn"] = v.get("created_at")
    leftovers = t.leftover_columns(v, CONSUMED)
    if leftovers:
        extra["sourceColumns"] = leftovers
    created = v.get("ts") if v.get("ts") is not None else v.get("created_at")
    return Pattern(
        id=pattern_id, content=f"Task: {task_type}\nApproach: {approach}", type=task_type,
        domain=t.first_text(meta, ["domain"]), framework=t.first_text(meta, ["framework"]),
        flakiness_score=t.flakiness_for(success_rate), verdict=t.verdict_for(success_rate),
        created_at=t.to_epoch_ms(created, "ts"), last_used=t.to_epoch_ms(v.get("last_used"), "last_used"),
        usage_count=t.optional_int(v, "uses"), metadata=t.merge_metadata(meta, extra),
    )


def to_row(p: Pattern) -> dict:
    """The reverse: task_type is the type, approach from metadata, else the content."""
    md = p.metadata
    row = {**r.leftovers(p), "id": r.integer_id(p, VARIANT), "ts": r.timestamp(p.created_at if p.created_at is not None else r.now_ms(), "s"),
           "task_type": p.type or "task", "approach": md.get("approach") or p.content,
           "success_rate": md.get("successRate"), "uses": p.usage_count, "avg_reward": md.get("avgReward"),
           "tags": r.json_text(md.get("tags", [])), "last_used": r.timestamp(p.last_used, "s"),
           "metadata": r.metadata_text(p, {"approach", "successRate", "avgReward", "tags", "createdAtColumn"},
                                       {"domain": p.domain, "framework": p.framework})}
    if "createdAtColumn" in md:
        row["created_at"] = md["createdAtColumn"]
    return row


DDL = (
    "CREATE TABLE reasoning_patterns (id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL,"
    " task_type TEXT NOT NULL, approach TEXT NOT NULL, success_rate REAL NOT NULL DEFAULT 0, uses INTEGER DEFAULT 0,"
    " avg_reward REAL DEFAULT 0, tags TEXT, metadata TEXT)",
    "CREATE TABLE pattern_embeddings (pattern_id INTEGER PRIMARY KEY, model TEXT NOT NULL, dims INTEGER NOT NULL,"
    " embedding BLOB NOT NULL, FOREIGN KEY (pattern_id) REFERENCES reasoning_patterns(id))",
)


VARIANT = Variant(
    name="reasoning-bank", table="reasoning_patterns",
    telling_columns=frozenset({"id", "task_type", "approach", "success_rate"}),
    map_row=to_pattern, to_row=to_row, ddl=DDL, embedding_column="__embedding",
    embedding_table=EmbeddingTable("pattern_embeddings", "pattern_id"),
    description=__doc__.strip().splitlines()[0],
)
