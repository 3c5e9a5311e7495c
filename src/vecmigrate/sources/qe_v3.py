"""qe-v3: QE v3's `qe_patterns` with vectors in `qe_pattern_embeddings` (blob + dimension + model).

Mapping:
  content  = "Pattern: {name}\\nDescription: {description or N/A}\\nTemplate: {template_json}"
  type     = pattern_type      domain = qe_domain, else domain       framework = context_json.framework
  coverage = quality_score     usage_count = usage_count
  flakiness / verdict from success_rate (legacy-qe rules) when present
  created_at / last_used = created_at / last_used_at (any timestamp form) in ms
  embedding = qe_pattern_embeddings.embedding, decoded with its own `dimension` column
  metadata = metadata column (if any) + name, description, qeDomain, domain, confidence, template,
             context (parsed JSON), successRate, embeddingModel, embeddingDimension (+ sourceColumns)
"""

from __future__ import annotations

from ..models import Pattern
from . import reverse as r
from . import transform as t
from .base import EmbeddingTable, Variant

CONSUMED = {"id", "pattern_type", "qe_domain", "domain", "name", "description", "confidence",
            "usage_count", "success_rate", "quality_score", "template_json", "context_json",
            "created_at", "last_used_at", "metadata", "__embedding", "__dimension", "__model"}


def to_pattern(v: dict) -> Pattern:
    pattern_id = t.required_text(v, "id")
    name = t.required_text(v, "name")
    description = t.optional_text(v, "description")
    template = t.parse_json(v, "template_json")
    context = t.parse_json(v, "context_json", default={})
    success_rate = t.optional_float(v, "success_rate")
    qe_domain = t.optional_text(v, "qe_domain")
    extra = {"name": name, "description": description, "qeDomain": qe_domain, "domain": v.get("domain"),
             "confidence": t.optional_float(v, "confidence"), "template": template, "context": context,
             "successRate": success_rate, "embeddingModel": v.get("__model"),
             "embeddingDimension": v.get("__dimension")}
    leftovers = t.leftover_columns(v, CONSUMED)
    if leftovers:
        extra["sourceColumns"] = leftovers
    template_text = v.get("template_json") or ""
    return Pattern(
        id=pattern_id, content=f"Pattern: {name}\nDescription: {description or 'N/A'}\nTemplate: {template_text}",
        type=t.optional_text(v, "pattern_type"), domain=qe_domain or t.optional_text(v, "domain"),
        framework=t.first_text(context if isinstance(context, dict) else {}, ["framework"]),
        coverage=t.optional_float(v, "quality_score"),
        flakiness_score=t.flakiness_for(success_rate), verdict=t.verdict_for(success_rate),
        created_at=t.to_epoch_ms(v.get("created_at"), "created_at"),
        last_used=t.to_epoch_ms(v.get("last_used_at"), "last_used_at"),
        usage_count=t.optional_int(v, "usage_count"),
        metadata=t.merge_metadata(t.parse_metadata(v), extra),
    )


ADDED = {"name", "description", "qeDomain", "domain", "confidence", "template", "context", "successRate",
         "embeddingModel", "embeddingDimension"}


def to_row(p: Pattern) -> dict:
    """The reverse: framework goes into context_json, where the mapping reads it."""
    md = p.metadata
    context = md.get("context")
    context = dict(context) if isinstance(context, dict) else {}
    if p.framework is not None:
        context["framework"] = p.framework
    template = md.get("template")
    return {**r.leftovers(p), "id": r.source_id(p, VARIANT), "pattern_type": p.type or "pattern",
            "qe_domain": md.get("qeDomain") or p.domain or "unknown",
            "domain": md.get("domain") if md.get("domain") is not None else (p.domain or "unknown"),
            "name": md.get("name") or p.content, "description": md.get("description"),
            "confidence": md.get("confidence"), "usage_count": p.usage_count, "success_rate": md.get("successRate"),
            "quality_score": p.coverage, "template_json": r.json_text(template),
            "context_json": r.json_text(context) if context else None, "metadata": r.metadata_text(p, ADDED),
            "created_at": r.timestamp(p.created_at, "text"), "last_used_at": r.timestamp(p.last_used, "text")}


DDL = (
    "CREATE TABLE qe_patterns (id TEXT PRIMARY KEY, pattern_type TEXT NOT NULL, qe_domain TEXT NOT NULL,"
    " domain TEXT NOT NULL, name TEXT NOT NULL, description TEXT, confidence REAL DEFAULT 0.5,"
    " usage_count INTEGER DEFAULT 0, success_rate REAL DEFAULT 0.0, quality_score REAL DEFAULT 0.0,"
    " tier TEXT DEFAULT 'short-term', template_json TEXT, context_json TEXT,"
    " created_at TEXT DEFAULT (datetime('now')), updated_at TEXT DEFAULT (datetime('now')), last_used_at TEXT,"
    " successful_uses INTEGER DEFAULT 0, deprecated_at TEXT, consecutive_failures INTEGER DEFAULT 0,"
    " promotion_date TEXT, provenance_tier TEXT)",
    "CREATE TABLE qe_pattern_embeddings (pattern_id TEXT PRIMARY KEY REFERENCES qe_patterns(id) ON DELETE CASCADE,"
    " embedding BLOB NOT NULL, dimension INTEGER NOT NULL, model TEXT DEFAULT 'all-MiniLM-L6-v2',"
    " created_at TEXT DEFAULT (datetime('now')))",
)


def _model_texts(pattern: Pattern) -> list[str]:
    """agentic-qe embeds `name + " " + description` (+ tags) with MiniLM, or hashes it when MiniLM is absent."""
    name, description = pattern.metadata.get("name") or "", pattern.metadata.get("description") or ""
    context = pattern.metadata.get("context")
    tags = context.get("tags") if isinstance(context, dict) else None
    texts = [f"{name} {description}".strip()]
    if isinstance(tags, list):
        texts.append(f"{name} {description} {' '.join(map(str, tags))}".strip())
    return texts


VARIANT = Variant(
    name="qe-v3", table="qe_patterns",
    telling_columns=frozenset({"id", "pattern_type", "qe_domain", "template_json"}),
    map_row=to_pattern, to_row=to_row, ddl=DDL, embedding_column="__embedding", dimension_column="__dimension",
    embedding_table=EmbeddingTable("qe_pattern_embeddings", "pattern_id"),
    history_tables=("qe_pattern_usage", "pattern_usage", "learning_history", "learning_metrics"),
    description=__doc__.strip().splitlines()[0], model_texts=_model_texts,
)
