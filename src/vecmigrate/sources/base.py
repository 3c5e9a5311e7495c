"""What a source variant is, and how rows are streamed out of one consistent snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import apsw

from ..db import quote_identifier, reading_source, table_columns
from ..errors import RowRejected
from ..models import Pattern, SourceRow


@dataclass(frozen=True)
class EmbeddingTable:
    """A side table holding vectors: `<table>.<key_column>` references the pattern's id.
    Its other columns are read as "__<column>" beside the pattern's own columns."""

    table: str
    key_column: str


@dataclass(frozen=True)
class Variant:
    """One AgentDB-family schema: how to recognise it and how to map a row to a Pattern."""

    name: str
    table: str
    telling_columns: frozenset[str]  # all must be present for the variant to match
    map_row: Callable[[dict[str, Any]], Pattern]
    embedding_column: str | None = None  # column (own or "__embedding" from the side table)
    dimension_column: str | None = None
    embedding_table: EmbeddingTable | None = None
    history_tables: tuple[str, ...] = field(default=("pattern_usage", "learning_history", "learning_metrics"))
    description: str = ""

    def matches(self, columns: set[str]) -> bool:
        return self.telling_columns <= columns


class SourceReader:
    """Reads one pattern table inside one read transaction, in rowid order, batch by batch."""

    def __init__(self, conn: apsw.Connection, variant: Variant, table: str) -> None:
        self.conn = conn
        self.variant = variant
        self.table = table
        self._in_snapshot = False

    def __enter__(self) -> "SourceReader":
        # A deferred transaction whose first read fixes the snapshot: even while another
        # process writes (WAL), every later read here sees the same database.
        self.conn.execute("BEGIN")
        self._in_snapshot = True
        self.count()
        return self

    def __exit__(self, *exc) -> None:
        if self._in_snapshot and not self.conn.get_autocommit():
            self.conn.execute("COMMIT")
        self._in_snapshot = False

    def count(self) -> int:
        with reading_source(self.conn, f"table {self.table}"):
            return self.conn.execute(f"SELECT count(*) FROM {quote_identifier(self.table)}").fetchall()[0][0]

    def _select(self) -> str:
        side = self.variant.embedding_table
        columns = "p.rowid AS __rowid, p.*"
        joins = ""
        if side is not None and side.table in self._tables():
            side_columns = [c for c in table_columns(self.conn, side.table) if c != side.key_column]
            columns += "".join(f", e.{quote_identifier(c)} AS {quote_identifier('__' + c)}" for c in side_columns)
            joins = (f" LEFT JOIN {quote_identifier(side.table)} AS e"
                     f" ON e.{quote_identifier(side.key_column)} = p.id")
        return (f"SELECT {columns} FROM {quote_identifier(self.table)} AS p{joins}"
                f" WHERE p.rowid > :after ORDER BY p.rowid")

    def _tables(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}

    def batches(self, batch_size: int, after_rowid: int = 0) -> Iterator[list[SourceRow]]:
        batch: list[SourceRow] = []
        last = after_rowid
        with reading_source(self.conn, f"table {self.table}"):
            cursor = self.conn.execute(self._select(), {"after": after_rowid})
        try:
            names = [d[0] for d in cursor.getdescription()]
        except apsw.ExecutionCompleteError:  # no row after `after_rowid`
            return
        while True:
            with reading_source(self.conn, f"table {self.table}, after rowid {last}"):
                raw = next(cursor, None)
            if raw is None:
                break
            batch.append(self._row(names, raw))
            if len(batch) >= batch_size:
                last = batch[-1].rowid
                yield batch
                batch = []
        if batch:
            yield batch

    def _row(self, names: list[str], raw: tuple) -> SourceRow:
        values = dict(zip(names, raw))
        rowid = values.pop("__rowid")
        embedding = None
        if self.variant.embedding_column is not None:
            embedding = values.get(self.variant.embedding_column)
        dimension = values.get(self.variant.dimension_column) if self.variant.dimension_column else None
        return SourceRow(rowid=rowid, values=values, embedding=embedding, dimension=dimension)


def check_embedding_type(row: SourceRow) -> bytes | None:
    """The row's stored embedding as bytes, or None; a non-blob value rejects the row."""
    if row.embedding is None:
        return None
    if isinstance(row.embedding, (bytes, bytearray, memoryview)):
        return bytes(row.embedding)
    raise RowRejected(f"embedding is {type(row.embedding).__name__}, expected a float32 blob")
