"""The reverse of the layouts' mappings: a target pattern written back as a row of its source
layout (write-back during dual write, and `export`).

Each layout module has `to_row(pattern) -> {column: value}`: the columns it can give from a
pattern alone (side-table columns as "__<column>", as the reader names them). The embedding is
written apart (`embedding_value`), in the source's own format (a float32 blob, or a JSON array
in TEXT). `row_for` lays a pattern over the row it came from: a column keeps its value unless
what `to_row` makes of it changed (a fresh row leaves out what `to_row` gives no value for,
so the table's defaults apply), so a migrated, unchanged pattern comes back byte for byte
and a changed one changes only the columns its change touches. The property each layout keeps
(tested): `to_row(map_row(to_row(p))) == to_row(p)`.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from ..errors import RowRejected
from ..models import Pattern

if TYPE_CHECKING:
    from .base import Variant

VECTOR = {"$vector": True}      # an image's stand-in for a blob equal to the vector vec0 holds


def encode_image(values: dict[str, Any], vector: np.ndarray | None) -> str:
    """A source row's values as the target keeps them (vecmigrate_source_rows.image)."""
    blob = None if vector is None else np.asarray(vector, dtype="<f4").tobytes()
    out: dict[str, Any] = {}
    for column, value in values.items():
        if isinstance(value, (bytes, bytearray, memoryview)):
            value = bytes(value)
            out[column] = VECTOR if blob is not None and value == blob else {"$blob": value.hex()}
        else:
            out[column] = value
    return json.dumps(out)


def decode_image(image: str, vector: np.ndarray | None) -> dict[str, Any]:
    """The row `encode_image` kept; its vector stand-in becomes `vector`'s float32 bytes."""
    values = json.loads(image)
    for column, value in values.items():
        if isinstance(value, dict):
            if value.get("$vector"):
                values[column] = None if vector is None else np.asarray(vector, dtype="<f4").tobytes()
            else:
                values[column] = bytes.fromhex(value["$blob"])
    return values


def part_for(parts: list["Variant"], pattern_id: str, kind: str | None = None) -> "Variant":
    """The table of a layout a pattern id belongs in: in a layout whose ids carry their table's
    prefix (`memory:`, `episode:`...), the table of its prefix (an id without one could not be
    read back as itself); else the table of its kind, else the layout's first."""
    prefixed = [part for part in parts if part.id_prefix]
    if prefixed:
        for part in prefixed:
            if pattern_id.startswith(part.id_prefix):
                return part
        raise RowRejected(f"id {pattern_id!r} cannot be written in the {prefixed[0].name} layout: its ids begin with "
                          f"{' or '.join(repr(p.id_prefix) for p in prefixed)}, which names the table")
    return next((part for part in parts if part.kind == kind), parts[0])


def source_id(pattern: Pattern, variant: "Variant") -> str:
    """The id the source row has: metadata.sourceId (layouts with an id prefix, namespaces), else
    the pattern's id without the layout's prefix."""
    recorded = pattern.metadata.get("sourceId")
    if isinstance(recorded, (str, int)) and not isinstance(recorded, bool):
        return str(recorded)
    if variant.id_prefix and pattern.id.startswith(variant.id_prefix):
        return pattern.id[len(variant.id_prefix):]
    return pattern.id


def integer_id(pattern: Pattern, variant: "Variant") -> int:
    text = source_id(pattern, variant)
    try:
        return int(text)
    except ValueError:
        raise RowRejected(f"id {pattern.id!r} cannot be written to {variant.table}, whose ids are integers") from None


def now_ms() -> int:
    """For a NOT NULL time column of a pattern that has no time: now, as the application would."""
    return int(time.time() * 1000)


def timestamp(ms: int | None, unit: str) -> Any:
    """Epoch milliseconds in the form a column keeps: "text" (DATETIME, UTC), "s" or "ms"."""
    if ms is None:
        return None
    if unit == "s":
        return ms // 1000
    if unit == "text":
        moment = datetime.fromtimestamp(ms // 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        return moment + (f".{ms % 1000:03d}" if ms % 1000 else "")
    return ms


def metadata_text(pattern: Pattern, added: set[str], put: dict[str, Any] | None = None) -> str | None:
    """The source's metadata column: the pattern's metadata without the keys the mapping added
    (the original, when the mapping kept one under sourceMetadata), plus `put`."""
    md = pattern.metadata
    original = md.get("sourceMetadata")
    if original is not None and not isinstance(original, dict):
        return json.dumps(original, ensure_ascii=False)
    base = dict(original) if isinstance(original, dict) else {
        k: v for k, v in md.items() if k not in added | {"sourceColumns", "sourceId", "sourceMetadata"}}
    base.update({k: v for k, v in (put or {}).items() if v is not None})
    return json.dumps(base, ensure_ascii=False) if base else None


def json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def leftovers(pattern: Pattern) -> dict[str, Any]:
    """Columns the forward mapping kept in metadata.sourceColumns, as SQLite values again."""
    columns = pattern.metadata.get("sourceColumns")
    if not isinstance(columns, dict):
        return {}
    return {k: _sqlite_value(v) for k, v in columns.items()}


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$blob"}:
        return bytes.fromhex(value["$blob"])
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return int(value)
    return value


def embedding_value(vector: np.ndarray, stored: Any) -> Any:
    """The vector in the format the source keeps it: JSON text where the source's value is text,
    else a float32 little-endian blob. A stored value that already decodes to the same vector
    is kept as it is."""
    blob = np.asarray(vector, dtype="<f4").tobytes()
    if stored is not None and decoded(stored) == blob:
        return stored
    if isinstance(stored, str):
        return json.dumps([float(x) for x in np.asarray(vector, dtype="<f4")])
    return blob


def decoded(value: Any) -> bytes | None:
    """A stored embedding's float32 bytes (None when it is not one)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        try:
            numbers = json.loads(value)
            return np.asarray(numbers, dtype="<f4").tobytes()
        except (ValueError, TypeError, RecursionError):
            return None
    return None


def same_value(a: Any, b: Any) -> bool:
    """Equal as a source column says it: JSON text compares as the JSON it holds (the target
    keeps metadata with sorted keys, so the order of keys says nothing)."""
    if type(a) is type(b) and a == b:
        return True
    if isinstance(a, str) and isinstance(b, str):
        try:  # (compared as canonical text: true and 1, 1.0 and 1 differ as SQLite keeps them)
            return json.dumps(json.loads(a), sort_keys=True) == json.dumps(json.loads(b), sort_keys=True)
        except (ValueError, RecursionError):
            return False
    return False


def filled(stored: Pattern, source: Pattern) -> Pattern:
    """`stored` (a store's write) with what it left empty taken from `source` (the pattern its
    write-back row maps to: the legacy table's defaults, its own metadata keys)."""
    empty = {f: getattr(source, f) for f in ("type", "domain", "framework", "coverage", "flakiness_score", "verdict",
                                             "created_at", "last_used", "usage_count")
             if getattr(stored, f) is None and getattr(source, f) is not None}  # (not the model: the vector is the store's)
    metadata = {**source.metadata, **stored.metadata}
    if not empty and metadata == stored.metadata:
        return stored
    return replace(stored, **empty, metadata=metadata)


def says_same(written: dict[str, Any], row: dict[str, Any], columns: Iterable[str]) -> bool:
    """Does `row` (a source row, reverse-mapped again) say what `written` (a pattern's row) says,
    in the `columns` the source table has? A column the pattern gives no value for (None) may
    hold anything, e.g. the table's default."""
    present = set(columns)
    return all(value is None or column not in present or same_value(value, row.get(column))
               for column, value in written.items())


def row_for(variant: "Variant", pattern: Pattern, vector: np.ndarray | None, base: dict[str, Any] | None, *,
            vector_changed: bool = True, model: str | None = None, was: Pattern | None = None) -> dict[str, Any]:
    """The source row (own columns, and side-table columns as "__<column>") that says `pattern`.

    `base`: the row the pattern came from (or the one the legacy database holds now): each
    column keeps its value unless what `to_row` makes of it changed — from what `base` says,
    or, given `was` (the pattern before a store's write), from what `was` says: then only the
    columns the write itself changed are written, and an edit the legacy application made to
    another column meanwhile stays. `vector_changed`: False when the target's vector is the one
    the source row gave (or vecmigrate embedded for it), so the row's embedding is left as it was
    (even when it had none)."""
    if variant.to_row is None:
        raise RowRejected(f"the {variant.name} layout has no reverse mapping")
    fresh = variant.to_row(pattern)
    if base is None:
        row = dict(fresh)
    else:
        row = dict(base)
        try:
            before = variant.to_row(was if was is not None else variant.finish(variant.map_row(base)))
        except Exception:  # noqa: BLE001 - a base the mapping refuses now: every column is written
            before = {}
        for column, value in fresh.items():
            if column not in before or not same_value(before[column], value):
                row[column] = value
    column = variant.embedding_column
    if column is not None and vector is not None and (vector_changed or base is None):
        stored = row.get(column)
        row[column] = embedding_value(vector, stored)
        if variant.dimension_column is not None:
            row[variant.dimension_column] = int(np.asarray(vector).size)
        if variant.model_column is not None and (row.get(variant.model_column) is None or stored is None):
            row[variant.model_column] = pattern.embedding_model or model or "unknown"
    return row
