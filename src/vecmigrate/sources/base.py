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
        """Rows after `after_rowid` in rowid order, `batch_size` at a time.

        APSW aborts a cursor on text that is not UTF-8, so such a row is re-read on its own
        with its text as bytes (to be quarantined verbatim) and reading goes on after it."""
        batch: list[SourceRow] = []
        last = after_rowid
        while True:
            with reading_source(self.conn, f"table {self.table}"):
                cursor = self.conn.execute(self._select(), {"after": last})
            try:
                names = [d[0] for d in cursor.getdescription()]
            except apsw.ExecutionCompleteError:  # no row after `last`
                break
            undecodable = False
            while True:
                try:
                    with reading_source(self.conn, f"table {self.table}, after rowid {last}"):
                        raw = next(cursor, None)
                except UnicodeDecodeError:
                    undecodable = True
                    break
                if raw is None:
                    break
                row = self._row(names, raw)
                last = row.rowid
                batch.append(row)
                if len(batch) >= batch_size:
                    yield batch
                    batch = []
            if not undecodable:
                break
            row = self._undecodable_row(names, last)
            if row is None:
                break
            last = row.rowid
            batch.append(row)
            if len(batch) >= batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _undecodable_row(self, names: list[str], after: int) -> SourceRow | None:
        """The row after `after` read with every value as SQLite stores it (text as bytes)."""
        select = self._select().replace(" WHERE p.rowid > :after ORDER BY p.rowid", "")
        inner = f"SELECT * FROM ({select}) WHERE __rowid > :after ORDER BY __rowid LIMIT 1"
        columns = ", ".join(f"typeof({quote_identifier(n)}), CAST({quote_identifier(n)} AS BLOB)" for n in names)
        with reading_source(self.conn, f"table {self.table}, after rowid {after}"):
            raw = self.conn.execute(f"SELECT {columns} FROM ({inner})", {"after": after}).fetchone()
        if raw is None:
            return None
        values: dict[str, Any] = {}
        bad: list[str] = []
        for i, name in enumerate(names):
            kind, value = raw[2 * i], raw[2 * i + 1]
            if kind == "text":
                try:
                    value = value.decode("utf-8")
                except UnicodeDecodeError:
                    bad.append(name)
            elif kind == "integer":
                value = int(value.decode())
            elif kind == "real":
                value = float(value.decode())
            values[name] = value
        rowid = values.pop("__rowid")
        return SourceRow(rowid=rowid, values=values,
                         defect=f"text that is not valid UTF-8 in column(s) {', '.join(n.lstrip('_') for n in bad)}")

    def accepted_ids(self, up_to_rowid: int, quarantined_rowids: set[int]) -> set[str]:
        """Ids of rows up to `up_to_rowid` that a run accepted (for duplicate checks on resume)."""
        if up_to_rowid <= 0:
            return set()
        return {pattern_id for rowid, pattern_id in iter_ids(self.conn, self.table, up_to_rowid)
                if rowid not in quarantined_rowids and pattern_id is not None}


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


def iter_ids(conn: apsw.Connection, table: str, up_to_rowid: int | None = None) -> Iterator[tuple[int, str | None]]:
    """(rowid, id as the target stores it) of every row; an id that is not valid text gives None."""
    where = "" if up_to_rowid is None else " WHERE rowid <= :up_to"
    query = f"SELECT rowid, typeof(id), CAST(id AS BLOB) FROM {quote_identifier(table)}{where}"
    with reading_source(conn, f"table {table}"):
        for rowid, kind, raw in conn.execute(query, {"up_to": up_to_rowid}):
            if raw is None:
                yield rowid, None
            elif kind == "integer":
                yield rowid, str(int(raw.decode()))
            else:
                try:
                    yield rowid, raw.decode("utf-8")
                except UnicodeDecodeError:
                    yield rowid, None
