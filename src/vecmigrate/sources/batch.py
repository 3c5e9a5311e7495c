"""One source batch made ready to write: mapped, decoded, embedded, with its rejected rows."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..codec import decode_many, invalid_rows
from ..embed.embedders import Embedder, embed_patterns, model_of
from ..embed.provenance import EmbeddingPolicy, canonical_model
from ..errors import RowRejected
from ..models import Pattern, QuarantinedRow, SourceRow, jsonable
from . import Variant, stored_embedding


@dataclass
class PreparedBatch:
    """The outcome of mapping one source batch: good rows with vectors, and quarantined rows."""

    patterns: list[Pattern] = field(default_factory=list)
    rowids: list[int] = field(default_factory=list)    # the source row of each pattern
    vectors: np.ndarray | None = None
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    last_rowid: int = 0
    generated: int = 0
    models: Counter = field(default_factory=Counter)   # vectors written, by the model that made them


def prepare_batch(batch: list[SourceRow], variant: Variant, dimension: int, embedder: Embedder | None,
                  seen: set[str], *, policy: EmbeddingPolicy, allow_float64: bool = False) -> PreparedBatch:
    """Map, decode and embed one batch. Rejected rows become quarantine entries, in source order.
    Rows without a stored vector are embedded with `embedder`, or quarantined when the policy
    has none for them."""
    mapped: list[tuple[SourceRow, Pattern | None, bytes | None, str | None]] = []
    for row in batch:
        if row.defect is not None:
            mapped.append((row, None, None, row.defect))
            continue
        try:
            pattern = storable(variant.finish(variant.map_row(row.values)))
            blob = stored_embedding(row)
            json_vector = isinstance(row.embedding, str)  # a JSON array says its own length
            if blob is not None and row.dimension is not None and not json_vector and _declared(row.dimension) != dimension:
                raise RowRejected(f"embedding dimension column says {row.dimension}, target dimension is {dimension}")
            if blob is None and embedder is None:
                raise RowRejected(policy.refuse_reason or "no stored vector")
            if blob is not None:
                raw = row.model or policy.stored_label
                label = canonical_model(raw)
                if raw != label:  # e.g. Xenova/all-MiniLM-L6-v2: the source's own label stays recoverable
                    pattern = replace(pattern, metadata={**pattern.metadata, "embeddingModelLabel": raw})
            else:
                label = policy.generated_label or model_of(embedder.spec)
            mapped.append((row, _labelled(pattern, label), blob, None))
        except RowRejected as exc:
            mapped.append((row, None, None, str(exc)))
        except (RecursionError, OverflowError, ValueError, TypeError) as exc:  # hostile values: deep or huge JSON
            mapped.append((row, None, None, f"cannot map the row: {type(exc).__name__}: {str(exc)[:120]}"))

    vectors = np.zeros((len(mapped), dimension), dtype=np.float32)
    reasons: dict[int, str] = {i: reason for i, (_, _, _, reason) in enumerate(mapped) if reason}
    stored = [i for i, (_, p, blob, _) in enumerate(mapped) if p is not None and blob is not None]
    if stored:
        decoded, bad = decode_many([mapped[i][2] for i in stored], dimension, allow_float64=allow_float64)
        vectors[stored] = decoded
        reasons.update({stored[j]: f"stored embedding: {why}" for j, why in bad.items()})
    missing = [i for i, (_, p, blob, _) in enumerate(mapped) if p is not None and blob is None]
    if missing:
        vectors[missing] = embed_patterns(embedder, [mapped[i][1] for i in missing], dimension)
        bad = invalid_rows(vectors[missing])
        reasons.update({missing[j]: f"generated embedding: {why}" for j, why in bad.items()})

    prepared = PreparedBatch(last_rowid=batch[-1].rowid if batch else 0, generated=len(missing))
    good: list[int] = []
    for i, (row, pattern, _, _) in enumerate(mapped):
        reason = reasons.get(i)
        if reason is None and pattern.id in seen:
            reason = f"duplicate id {pattern.id!r} (an earlier row of this source has it)"
        if reason is not None:
            prepared.quarantined.append(quarantine_entry(row, pattern, reason, variant))
            if i in missing:
                prepared.generated -= 1
            continue
        seen.add(pattern.id)
        good.append(i)
        prepared.patterns.append(pattern)
        prepared.rowids.append(row.rowid)
        prepared.models[pattern.embedding_model] += 1
    prepared.vectors = np.ascontiguousarray(vectors[good])
    return prepared


INT64 = (-2**63, 2**63 - 1)
_INTEGER_FIELDS = ("created_at", "last_used", "usage_count")


def storable(pattern: Pattern) -> Pattern:
    """The mapped pattern, if SQLite can store every value of it (its integers fit 64 bits):
    a value from the source too large to store rejects the row, naming the field."""
    for name in _INTEGER_FIELDS:
        value = getattr(pattern, name)
        if value is not None and not INT64[0] <= value <= INT64[1]:
            raise RowRejected(f"{name} {str(value)[:24]}{'…' if len(str(value)) > 24 else ''} does not fit a "
                              f"64-bit integer (a timestamp or count out of any real range)")
    return pattern


def _declared(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RowRejected(f"embedding dimension column holds {str(value)[:20]!r}, not a number") from None


def _labelled(pattern: Pattern, label: str) -> Pattern:
    return replace(pattern, embedding_model=label)


def quarantine_entry(row: SourceRow, pattern: Pattern | None, reason: str, variant: Variant | None = None
                     ) -> dict[str, Any]:
    pattern_id = pattern.id if pattern else row.values.get("id")
    if pattern is None and variant is not None and pattern_id is not None:
        pattern_id = variant.target_id(str(pattern_id))
    return {"source_rowid": row.rowid, "pattern_id": None if pattern_id is None else str(pattern_id),
            "reason": reason,
            "row_json": json.dumps({k: jsonable(v) for k, v in row.values.items()}, ensure_ascii=False)}


def as_quarantined(entry: dict[str, Any]) -> QuarantinedRow:
    return QuarantinedRow(id=entry["pattern_id"] or f"rowid:{entry['source_rowid']}", reason=entry["reason"],
                          source_rowid=entry["source_rowid"])
