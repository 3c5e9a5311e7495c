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


VARIANT = Variant(
    name="legacy-qe", table="patterns",
    telling_columns=frozenset({"id", "name", "template", "category"}),
    map_row=to_pattern, description=__doc__.strip().splitlines()[0],
)
