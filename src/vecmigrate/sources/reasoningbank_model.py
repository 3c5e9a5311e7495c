"""reasoningbank-model: the ReasoningBank "pre-trained model" files (claude-flow
`docs/reasoningbank/models/*/memory.db`): `patterns(problem, solution, rationale, domain, tags)`
with integer ids, vectors in `pattern_embeddings(id, pattern_id, embedding)`.

Mapping:
  id       = id as text        content = "Problem: {problem}\\nSolution: {solution}" (+ "\\nRationale: {rationale}")
  type     = NULL              domain = domain            framework = NULL
  flakiness / verdict from success_rate (legacy-qe rules)
  created_at = created_at (DATETIME text, UTC) in ms
  embedding = pattern_embeddings.embedding (128-d float32, not normalised: stored byte for byte;
              the embedding row's own id is kept under sourceColumns.__id)
  metadata = problem, solution, rationale, confidence, successRate, tags (parsed JSON) (+ sourceColumns)
"""

from __future__ import annotations

from ..models import Pattern
from . import transform as t
from .base import EmbeddingTable, Variant

CONSUMED = {"id", "problem", "solution", "rationale", "confidence", "success_rate", "domain", "tags",
            "created_at", "__embedding"}


def to_pattern(v: dict) -> Pattern:
    pattern_id = t.required_text(v, "id")
    problem = t.required_text(v, "problem")
    solution = t.required_text(v, "solution")
    rationale = t.optional_text(v, "rationale")
    success_rate = t.optional_float(v, "success_rate")
    content = f"Problem: {problem}\nSolution: {solution}" + (f"\nRationale: {rationale}" if rationale else "")
    extra = {"problem": problem, "solution": solution, "rationale": rationale,
             "confidence": t.optional_float(v, "confidence"), "successRate": success_rate,
             "tags": t.parse_json(v, "tags", default=[])}
    leftovers = t.leftover_columns(v, CONSUMED)
    if leftovers:
        extra["sourceColumns"] = leftovers
    return Pattern(
        id=pattern_id, content=content, domain=t.optional_text(v, "domain"),
        flakiness_score=t.flakiness_for(success_rate), verdict=t.verdict_for(success_rate),
        created_at=t.to_epoch_ms(v.get("created_at"), "created_at", "text"), metadata=extra,
    )


VARIANT = Variant(
    name="reasoningbank-model", table="patterns",
    telling_columns=frozenset({"id", "problem", "solution", "domain"}),
    map_row=to_pattern, embedding_column="__embedding",
    embedding_table=EmbeddingTable("pattern_embeddings", "pattern_id"),
    history_tables=("pattern_links",),
    description=__doc__.strip().splitlines()[0],
    model_texts=lambda p: [f"{p.metadata.get('problem', '')} {p.metadata.get('solution', '')}"],
)
