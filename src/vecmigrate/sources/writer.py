"""Rows written into an AgentDB-family database in its own schema: a pattern table's row and
its side table's row (the embedding), for the write-back store and `export`.

A row is a dict of the table's columns and its side table's as "__<column>" (as the reader
names them). Columns the table does not have are left out; generated columns are never
written; a fresh row leaves out its missing values so the table's defaults apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import apsw

from ..db import quote_identifier, table_names
from .base import Variant, rowid_expression

DIMENSION_COLUMNS = ("dims", "dimension", "dimensions", "embedding_dimension", "embedding_dimensions")
MODEL_COLUMNS = ("model", "embedding_model")


@dataclass(frozen=True)
class Shape:
    """The writable columns of a table, and the name of its rowid when that is no column of its
    own (None: an INTEGER PRIMARY KEY, which the row's own values set)."""

    table: str
    columns: tuple[str, ...]
    rowid: str | None

    @classmethod
    def of(cls, conn: apsw.Connection, table: str) -> "Shape":
        columns = tuple(r[0] for r in conn.execute("SELECT name FROM pragma_table_xinfo(?) WHERE hidden = 0", (table,)))
        rowid = rowid_expression(conn, table)
        return cls(table, columns, None if rowid.startswith('"') else rowid)


class RowWriter:
    """Writes one layout table (and its side table) of an open database, in the caller's transaction."""

    def __init__(self, conn: apsw.Connection, variant: Variant) -> None:
        self.conn = conn
        self.variant = variant
        self.main = Shape.of(conn, variant.table)
        side = variant.embedding_table
        self.side = Shape.of(conn, side.table) if side is not None and side.table in table_names(conn) else None

    def own(self, row: dict[str, Any], *, label: bool = False) -> dict[str, Any]:
        values = {c: row[c] for c in self.main.columns if c in row}
        embedding = row.get(self.variant.embedding_column) if self.variant.embedding_column else None
        return _labelled(values, self.main.columns, embedding) if label else values

    def side_values(self, row: dict[str, Any], *, label: bool = False) -> dict[str, Any] | None:
        """The side table's row, or None when the row has no embedding (nothing to write there)."""
        if self.side is None:
            return None
        values = {c: row[f"__{c}"] for c in self.side.columns if f"__{c}" in row}
        if all(v is None for v in values.values()):
            return None  # (no side row: the reader's join gave nothing, and no vector is given)
        side = self.variant.embedding_table
        for key, ref in zip(side.keys, side.refs):
            values[key] = row.get(ref)
        return _labelled(values, self.side.columns, row.get(self.variant.embedding_column)) if label else values

    def insert(self, row: dict[str, Any], *, rowid: int | None = None, fresh: bool = False) -> None:
        """A new row (with its side row). `fresh` (a row of no source): missing values are left
        to the table's defaults, and a vector says its size and model where the table asks."""
        own = self.own(row, label=fresh)
        if fresh:
            own = {c: v for c, v in own.items() if v is not None}
        if rowid is not None and self.main.rowid is not None:
            own = {self.main.rowid: rowid, **own}
        self._insert(self.main.table, own)
        side = self.side_values(row, label=fresh)
        if side is not None:
            if fresh:
                side = {c: v for c, v in side.items() if v is not None}
            self._insert(self.side.table, side)

    def replace(self, where: dict[str, Any], row: dict[str, Any], before: dict[str, Any]) -> None:
        """Update the row whose id columns are `where` from `before` to `row`: only the columns
        that differ; its side row only when it differs (deleted, and written again unless the
        row has no embedding now)."""
        label = bool(self.variant.embedding_column) and before.get(self.variant.embedding_column) is None
        own = {c: v for c, v in self.own(row, label=label).items() if c not in before or _differs(before[c], v)}
        if own:
            sets = ", ".join(f"{quote_identifier(c)} = ?" for c in own)
            self.conn.execute(f"UPDATE {quote_identifier(self.main.table)} SET {sets} WHERE {self._match(where)}",
                              [*own.values(), *where.values()])
        if self.side is None:
            return
        side = self.side_values({**where, **row}, label=label)
        if side == self.side_values({**where, **before}):
            return
        self.delete_side(where)
        if side is not None:
            self._insert(self.side.table, side)

    def delete(self, where: dict[str, Any]) -> bool:
        self.delete_side(where)
        self.conn.execute(f"DELETE FROM {quote_identifier(self.main.table)} WHERE {self._match(where)}",
                          list(where.values()))
        return self.conn.changes() > 0

    def delete_side(self, where: dict[str, Any]) -> None:
        if self.side is None:
            return
        side = self.variant.embedding_table
        match = " AND ".join(f"{quote_identifier(k)} = ?" for k in side.keys)
        self.conn.execute(f"DELETE FROM {quote_identifier(self.side.table)} WHERE {match}",
                          [where[r] for r in side.refs])

    def _match(self, where: dict[str, Any]) -> str:
        return " AND ".join(f"{quote_identifier(c)} = ?" for c in where)

    def _insert(self, table: str, values: dict[str, Any]) -> None:
        names = ", ".join(quote_identifier(c) for c in values)
        self.conn.execute(f"INSERT INTO {quote_identifier(table)} ({names}) VALUES ({', '.join('?' * len(values))})",
                          list(values.values()))


def _differs(a: Any, b: Any) -> bool:
    return type(a) is not type(b) or a != b


def _labelled(values: dict[str, Any], columns: tuple[str, ...], embedding: Any) -> dict[str, Any]:
    """A row given a vector says its size and model where its table has columns for them
    (reasoning-bank's side table requires both) and nothing else said them."""
    if embedding is None:
        return values
    from .reverse import decoded
    blob = decoded(embedding)
    for column in columns:
        if values.get(column) is None and column in DIMENSION_COLUMNS and blob is not None:
            values[column] = len(blob) // 4
        elif values.get(column) is None and column in MODEL_COLUMNS:
            values[column] = "unknown"
    return values
