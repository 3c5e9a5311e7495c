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
from . import reverse as r
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


def to_row(p: Pattern) -> dict:
    """The reverse: problem and solution from metadata, else the content (as the problem)."""
    md = p.metadata
    return {**r.leftovers(p), "id": r.integer_id(p, VARIANT), "problem": md.get("problem") or p.content,
            "solution": md.get("solution") or p.content, "rationale": md.get("rationale"),
            "confidence": md.get("confidence"), "success_rate": md.get("successRate"),
            "domain": p.domain if p.domain is not None else "unknown", "tags": r.json_text(md.get("tags", [])),
            "created_at": r.timestamp(p.created_at, "text")}


DDL = (
    "CREATE TABLE patterns (id INTEGER PRIMARY KEY AUTOINCREMENT, problem TEXT NOT NULL, solution TEXT NOT NULL,"
    " rationale TEXT, confidence REAL DEFAULT 0.5, success_rate REAL DEFAULT 0.5, domain TEXT NOT NULL, tags TEXT,"
    " created_at DATETIME DEFAULT CURRENT_TIMESTAMP)",
    "CREATE TABLE pattern_embeddings (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " pattern_id INTEGER NOT NULL REFERENCES patterns(id), embedding BLOB)",
)


VARIANT = Variant(
    name="reasoningbank-model", table="patterns",
    telling_columns=frozenset({"id", "problem", "solution", "domain"}),
    map_row=to_pattern, to_row=to_row, ddl=DDL, embedding_column="__embedding",
    embedding_table=EmbeddingTable("pattern_embeddings", "pattern_id"),
    history_tables=("pattern_links",),
    description=__doc__.strip().splitlines()[0],
    model_texts=lambda p: [f"{p.metadata.get('problem', '')} {p.metadata.get('solution', '')}"],
)
