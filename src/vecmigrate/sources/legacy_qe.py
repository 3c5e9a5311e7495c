"""legacy-qe: the original QE pattern table (`patterns` with name, template, examples...).

Mapping (as the original tool defined it):
  content   = "Pattern: {name}\\nDescription: {description or N/A}\\nTemplate: {template}\\nExamples: {examples joined by ', '}"
  type      = category            domain = framework, or 'unknown'     framework = framework
  coverage  = quality             usage_count = usage_count
  flakiness = 1 - success_rate when success_rate < 0.8, else 0
  verdict   = success (>= 0.9), flaky (>= 0.7), failure (below)
  created_at / last_used = created_at / updated_at (DATETIME text, UTC) in epoch ms
  metadata  = source metadata + originalName, originalCategory, language, template, examples,
              confidence, description, successRate, quality (+ sourceColumns for any other column)
"""

from __future__ import annotations

import json

from ..models import Pattern
from . import reverse as r
from . import transform as t
from .base import Variant

CONSUMED = {"id", "name", "description", "template", "examples", "category", "framework", "language",
            "confidence", "usage_count", "success_rate", "quality", "metadata", "created_at", "updated_at"}


def _example_text(item) -> str:
    return item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)


def to_pattern(v: dict) -> Pattern:
    pattern_id = t.required_text(v, "id")
    name = t.required_text(v, "name")
    description = t.optional_text(v, "description")
    template = t.optional_text(v, "template")
    examples = t.parse_json(v, "examples", default=[])
    if not isinstance(examples, list):
        examples = [examples]
    success_rate = t.optional_float(v, "success_rate")
    framework = t.optional_text(v, "framework")
    content = (f"Pattern: {name}\nDescription: {description or 'N/A'}\nTemplate: {template or ''}\n"
               f"Examples: {', '.join(_example_text(e) for e in examples)}")
    extra = {
        "originalName": name, "originalCategory": v.get("category"), "language": v.get("language"),
        "template": template, "examples": examples, "confidence": t.optional_float(v, "confidence"),
        "description": description, "successRate": success_rate, "quality": t.optional_float(v, "quality"),
    }
    leftovers = t.leftover_columns(v, CONSUMED)
    if leftovers:
        extra["sourceColumns"] = leftovers
    return Pattern(
        id=pattern_id, content=content, type=t.optional_text(v, "category"),
        domain=framework or "unknown", framework=framework,
        coverage=t.optional_float(v, "quality"),
        flakiness_score=t.flakiness_for(success_rate), verdict=t.verdict_for(success_rate),
        created_at=t.to_epoch_ms(v.get("created_at"), "created_at", "text"),
        last_used=t.to_epoch_ms(v.get("updated_at"), "updated_at", "text"),
        usage_count=t.optional_int(v, "usage_count"),
        metadata=t.merge_metadata(t.parse_metadata(v), extra),
    )


ADDED = {"originalName", "originalCategory", "language", "template", "examples", "confidence", "description",
         "successRate", "quality"}


def to_row(p: Pattern) -> dict:
    """The reverse: a legacy-qe row from a pattern (name falls back to the content)."""
    md = p.metadata
    examples = md.get("examples")
    return {**r.leftovers(p), "id": r.source_id(p, VARIANT), "name": md.get("originalName") or p.content,
            "description": md.get("description"), "template": md.get("template"),
            "examples": r.json_text(examples if examples is not None else []), "category": p.type,
            "framework": p.framework, "language": md.get("language"), "confidence": md.get("confidence"),
            "usage_count": p.usage_count, "success_rate": md.get("successRate"), "quality": p.coverage,
            "metadata": r.metadata_text(p, ADDED), "created_at": r.timestamp(p.created_at, "text"),
            "updated_at": r.timestamp(p.last_used, "text")}


DDL = (
    "CREATE TABLE patterns (id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, template TEXT, examples TEXT,"
    " category TEXT, framework TEXT, language TEXT, confidence REAL, usage_count INTEGER, success_rate REAL,"
    " quality REAL, metadata TEXT, created_at DATETIME DEFAULT CURRENT_TIMESTAMP, updated_at DATETIME)",
)


VARIANT = Variant(
    name="legacy-qe", table="patterns",
    telling_columns=frozenset({"id", "name", "template", "category"}),
    map_row=to_pattern, to_row=to_row, ddl=DDL, description=__doc__.strip().splitlines()[0],
)
