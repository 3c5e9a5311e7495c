"""What a source variant is, and how rows are streamed out of one consistent snapshot."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator

import apsw
import numpy as np

from ..db import quote_identifier, reading_source, table_columns, table_names
from ..errors import RowRejected, SourceError
from ..models import Pattern, SourceRow


@dataclass(frozen=True)
class EmbeddingTable:
    """A side table holding vectors: `<table>.<key_column>` references the pattern table's
    `references` column. Its other columns are read as "__<column>" beside the pattern's own
    columns. When several side rows name one pattern, the last one (highest rowid) is read."""

    table: str
    key_column: str | tuple[str, ...]        # several columns for a composite id
    references: str | tuple[str, ...] = "id"

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.key_column,) if isinstance(self.key_column, str) else tuple(self.key_column)

    @property
    def refs(self) -> tuple[str, ...]:
        return (self.references,) if isinstance(self.references, str) else tuple(self.references)


@dataclass(frozen=True)
class Variant:
    """One table of an AgentDB-family layout: how to recognise it and how to map a row to a
    Pattern. A layout with several vector tables (agentdb-native, claude-flow-v3) has one
    Variant per table, each with its own `kind`."""

    name: str                        # the layout's name
    table: str
    telling_columns: frozenset[str]  # all must be present for the variant to match
    map_row: Callable[[dict[str, Any]], Pattern]
    kind: str = "pattern"            # what its rows are: pattern, episode, skill, note, memory, ...
    embedding_column: str | None = None  # column (own or "__embedding" from the side table)
    dimension_column: str | None = None
    model_column: str | None = None      # per-row label of the model that made the stored vector
    embedding_table: EmbeddingTable | None = None
    id_columns: tuple[str, ...] = ("id",)  # the row's identity (several columns are joined with ":")
    id_prefix: str = ""              # "{kind}:" in layouts with several tables, so their ids never collide
    history_tables: tuple[str, ...] = field(default=("pattern_usage", "learning_history", "learning_metrics"))
    description: str = ""
    # Texts the source application may have embedded for this row (verify --model tries each).
    model_texts: Callable[[Pattern], list[str]] | None = None
    # The reverse mapping (see reverse.py) and the layout's tables as its application creates them
    # (the table, then its side table), for write-back and export.
    to_row: Callable[[Pattern], dict[str, Any]] | None = None
    ddl: tuple[str, ...] = ()

    def matches(self, columns: set[str]) -> bool:
        return self.telling_columns <= columns

    def target_id(self, source_id: str) -> str:
        return self.id_prefix + source_id

    def finish(self, pattern: Pattern) -> Pattern:
        """The mapped pattern as the target stores it: its kind, and its id with the layout's
        prefix (the source's own id stays in metadata.sourceId)."""
        if not self.id_prefix:
            return replace(pattern, kind=self.kind)
        return replace(pattern, id=self.target_id(pattern.id), kind=self.kind,
                       metadata={**pattern.metadata, "sourceId": pattern.id})

    def texts_for_model(self, pattern: Pattern) -> list[str]:
        texts = self.model_texts(pattern) if self.model_texts else []
        return list(dict.fromkeys([*texts, pattern.content]))


def rowid_expression(conn: apsw.Connection, table: str) -> str:
    """SQL naming the table's true rowid, even when a column is called `rowid` (or `_rowid_`,
    `oid`): the first of SQLite's three names no column shadows, else an INTEGER PRIMARY KEY
    (an alias of the rowid). A table that shadows all three and has none is refused."""
    # every column, generated ones too (pragma_table_info leaves those out): any may shadow a name
    info = conn.execute("SELECT CAST(name AS BLOB), type, pk FROM pragma_table_xinfo(?)", (table,)).fetchall()
    info = [(name.decode("utf-8", "replace"), kind, pk) for name, kind, pk in info]
    taken = {name.lower() for name, _, _ in info}
    for name in ("rowid", "_rowid_", "oid"):
        if name not in taken:
            return name
    keys = [(name, kind) for name, kind, pk in info if pk]
    if len(keys) == 1 and keys[0][1].upper() == "INTEGER":
        return quote_identifier(keys[0][0])
    raise SourceError(f"table {table!r} has columns named rowid, _rowid_ and oid and no INTEGER PRIMARY KEY, so "
                      f"its rows cannot be read in a stable order: copy it with one of them renamed and migrate that")


class SourceReader:
    """Reads one pattern table inside one read transaction, in rowid order, batch by batch.

    The cursor is keyed on the true rowid (whatever the columns are called, negative and zero
    rowids included), which is returned apart from the row's values, so nothing can collide
    with a column's name and no row is skipped or read twice."""

    def __init__(self, conn: apsw.Connection, variant: Variant, table: str | None = None) -> None:
        self.conn = conn
        self.variant = variant if table is None or table == variant.table else replace(variant, table=table)
        self.table = self.variant.table
        self._in_snapshot = False
        self._shape: tuple[str, list[tuple[str, str]]] | None = None

    def __enter__(self) -> "SourceReader":
        # A deferred transaction whose first read fixes the snapshot: even while another
        # process writes (WAL), every later read here sees the same database. Readers of the
        # other tables of one run share it (only the first one begins it).
        if self.conn.get_autocommit():
            self.conn.execute("BEGIN")
            self._in_snapshot = True
        self.count()
        self._columns()  # a table that cannot be read in a stable order is refused before anything is written
        return self

    def __exit__(self, *exc) -> None:
        if self._in_snapshot and not self.conn.get_autocommit():
            try:  # a read transaction: ending it cannot lose anything, and must not hide why reading stopped
                self.conn.execute("COMMIT")
            except apsw.Error:
                try:
                    self.conn.execute("ROLLBACK")
                except apsw.Error:
                    pass
        self._in_snapshot = False

    def count(self) -> int:
        with reading_source(self.conn, f"table {self.table}"):
            return self.conn.execute(f"SELECT count(*) FROM {quote_identifier(self.table)}").fetchall()[0][0]

    def _columns(self) -> tuple[str, list[tuple[str, str]]]:
        """(SQL of the true rowid of p, [(SQL expression, the value's key)] of every column read):
        the table's own columns by name, its side table's as "__<name>"."""
        if self._shape is None:
            rowid = "p." + rowid_expression(self.conn, self.table)
            columns = [(f"p.{quote_identifier(c)}", c) for c in table_columns(self.conn, self.table)]
            side = self.variant.embedding_table
            if side is not None and side.table in self._tables():
                own = {key for _, key in columns}
                for c in table_columns(self.conn, side.table):
                    if c in side.keys:
                        continue
                    if "__" + c in own:
                        raise SourceError(f"table {self.table!r} has a column {'__' + c!r}, the name vecmigrate "
                                          f"gives the column {c!r} of its side table {side.table!r}: rename one in "
                                          f"a copy of the file and migrate that")
                    columns.append((f"e.{quote_identifier(c)}", "__" + c))
            self._shape = (rowid, columns)
        return self._shape

    def _select(self, expressions: list[str], *, after: bool, limit: bool = False) -> str:
        rowid, _ = self._columns()
        where = f" WHERE {rowid} > :after" if after else ""
        return (f"SELECT {rowid}, {', '.join(expressions)} {self.from_clause()}{where} ORDER BY {rowid}"
                + (" LIMIT 1" if limit else ""))

    def from_clause(self) -> str:
        """FROM the table (alias p) joined to its embedding side table (alias e), if any."""
        side = self.variant.embedding_table
        if side is None or side.table not in self._tables():
            return f"FROM {quote_identifier(self.table)} AS p"
        # The last side row of each key, picked in one pass (GROUP BY) and joined: a correlated
        # subquery per row would scan an unindexed side table once per pattern.
        side_table = quote_identifier(side.table)
        side_rowid = rowid_expression(self.conn, side.table)
        keys = ", ".join(f"{quote_identifier(k)} AS __k{i}" for i, k in enumerate(side.keys))
        group = ", ".join(quote_identifier(k) for k in side.keys)
        match = " AND ".join(f"pick.__k{i} = p.{quote_identifier(r)}" for i, r in enumerate(side.refs))
        return (f"FROM {quote_identifier(self.table)} AS p "
                f"LEFT JOIN (SELECT {keys}, max({side_rowid}) AS __pick FROM {side_table} GROUP BY {group}) AS pick "
                f"ON {match} LEFT JOIN {side_table} AS e ON e.{side_rowid} = pick.__pick")

    def column_sql(self, name: str | None) -> str:
        """SQL for a variant column name: "__x" is the side table's x, anything else the table's own."""
        if name is None:
            return "NULL"
        if name.startswith("__") and self.variant.embedding_table is not None:
            if self.variant.embedding_table.table not in self._tables():
                return "NULL"
            return f"e.{quote_identifier(name[2:])}"
        return f"p.{quote_identifier(name)}"

    def _tables(self) -> set[str]:
        return set(table_names(self.conn, internal=True))

    def batches(self, batch_size: int, after_rowid: int | None = None) -> Iterator[list[SourceRow]]:
        """Rows after `after_rowid` (all rows when None) in rowid order, `batch_size` at a time.

        APSW aborts a cursor on text that is not UTF-8, so such a row is re-read on its own
        with its text as bytes (to be quarantined verbatim) and reading goes on after it."""
        _, columns = self._columns()
        keys = [key for _, key in columns]
        expressions = [expr for expr, _ in columns]
        batch: list[SourceRow] = []
        last = after_rowid
        while True:
            with reading_source(self.conn, f"table {self.table}"):
                cursor = self.conn.execute(self._select(expressions, after=last is not None), {"after": last})
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
                row = self._row(raw[0], dict(zip(keys, raw[1:])))
                last = row.rowid
                batch.append(row)
                if len(batch) >= batch_size:
                    yield batch
                    batch = []
            if not undecodable:
                break
            row = self._undecodable_row(keys, expressions, last)
            if row is None:
                break
            last = row.rowid
            batch.append(row)
            if len(batch) >= batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def raw_rows(self) -> Iterator[tuple[int, tuple]]:
        """(rowid, values in column order) of every row, in rowid order, without building rows:
        the fast path of a scan. Raises UnicodeDecodeError at text that is not UTF-8 (the caller
        then reads with `batches`, which handles it)."""
        _, columns = self._columns()
        with reading_source(self.conn, f"table {self.table}"):
            cursor = self.conn.execute(self._select([expr for expr, _ in columns], after=False))
            for raw in cursor:
                yield raw[0], raw[1:]

    def at(self, rowid: int) -> SourceRow | None:
        """The row at this rowid, with its side row, or None."""
        true_rowid, columns = self._columns()
        with reading_source(self.conn, f"table {self.table}"):
            row = self.conn.execute(f"SELECT {true_rowid}, {', '.join(e for e, _ in columns)} {self.from_clause()} "
                                    f"WHERE {true_rowid} = ?", (rowid,)).fetchone()
        return None if row is None else self._row(row[0], dict(zip([k for _, k in columns], row[1:])))

    def find(self, where: dict[str, Any]) -> SourceRow | None:
        """The row whose columns have the values `where` gives (its id), with its side row, or None."""
        rowid, columns = self._columns()
        match = " AND ".join(f"p.{quote_identifier(c)} = ?" for c in where)
        with reading_source(self.conn, f"table {self.table}"):
            row = self.conn.execute(f"SELECT {rowid}, {', '.join(e for e, _ in columns)} {self.from_clause()} "
                                    f"WHERE {match} ORDER BY {rowid} LIMIT 1", list(where.values())).fetchone()
        return None if row is None else self._row(row[0], dict(zip([k for _, k in columns], row[1:])))

    def make_row(self, rowid: int, values: tuple) -> SourceRow:
        """The SourceRow of a row `raw_rows` gave."""
        return self._row(rowid, dict(zip([key for _, key in self._columns()[1]], values)))

    def _undecodable_row(self, keys: list[str], expressions: list[str], after: int | None) -> SourceRow | None:
        """The row after `after` read with every value as SQLite stores it (text as bytes)."""
        pairs = [f"typeof({e}), CAST({e} AS BLOB)" for e in expressions]
        with reading_source(self.conn, f"table {self.table}, after rowid {after}"):
            raw = self.conn.execute(self._select(pairs, after=after is not None, limit=True),
                                    {"after": after}).fetchone()
        if raw is None:
            return None
        values: dict[str, Any] = {}
        bad: list[str] = []
        for i, key in enumerate(keys):
            kind, value = raw[1 + 2 * i], raw[2 + 2 * i]
            if kind == "text":
                try:
                    value = value.decode("utf-8")
                except UnicodeDecodeError:
                    bad.append(key)
            elif kind == "integer":
                value = int(value.decode())
            elif kind == "real":
                value = float(value.decode())
            values[key] = value
        return SourceRow(rowid=raw[0], values=values,
                         defect=f"text that is not valid UTF-8 in column(s) {', '.join(n.lstrip('_') for n in bad)}")

    def accepted_ids(self, up_to_rowid: int | None, quarantined_rowids: set[int]) -> set[str]:
        """Ids of rows up to `up_to_rowid` (None: none read yet) that a run accepted (for
        duplicate checks on resume)."""
        if up_to_rowid is None:
            return set()
        return {pattern_id for rowid, pattern_id in iter_ids(self.conn, self.variant, up_to_rowid)
                if rowid not in quarantined_rowids and pattern_id is not None}

    def _row(self, rowid: int, values: dict[str, Any]) -> SourceRow:
        embedding = None
        if self.variant.embedding_column is not None:
            embedding = values.get(self.variant.embedding_column)
        dimension = values.get(self.variant.dimension_column) if self.variant.dimension_column else None
        model = values.get(self.variant.model_column) if self.variant.model_column else None
        return SourceRow(rowid=rowid, values=values, embedding=embedding, dimension=dimension,
                         model=model if isinstance(model, str) else None)


def stored_embedding(row: SourceRow) -> bytes | None:
    """The row's stored embedding as float32 little-endian bytes, or None.

    A blob is returned byte for byte (decoded later with the target's dimension); a JSON
    array in a TEXT column (claude-flow v3) becomes the float32 bytes of its numbers. Any
    other value rejects the row."""
    value = row.embedding
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return json_vector_bytes(value)
    raise RowRejected(f"embedding is {type(value).__name__}, expected a float32 blob or a JSON array")


def json_vector_bytes(text: str) -> bytes:
    """A JSON array of numbers (an embedding stored as text) as float32 bytes."""
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RowRejected(f"embedding is text but not JSON (char {exc.pos}: {exc.msg})") from None
    except (RecursionError, ValueError) as exc:
        raise RowRejected(f"embedding is text but not a JSON array of numbers ({type(exc).__name__})") from None
    if (not isinstance(values, list) or not values
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)):
        raise RowRejected("embedding is text but not a JSON array of numbers")
    try:
        with np.errstate(over="ignore"):
            return np.asarray(values, dtype="<f4").tobytes()
    except OverflowError:
        raise RowRejected("embedding holds a number too large for float32") from None


def join_id(parts: list[str]) -> str:
    """One id from several columns: joined with ':', a ':' or '\\' inside a value escaped with
    '\\', so two different rows never get the same id."""
    if len(parts) == 1:
        return parts[0]
    return ":".join(p.replace("\\", "\\\\").replace(":", "\\:") for p in parts)


def iter_ids(conn: apsw.Connection, variant: Variant, up_to_rowid: int | None = None
             ) -> Iterator[tuple[int, str | None]]:
    """(rowid, id as the target stores it) of every row of the variant's table; an id that is
    missing or not valid text gives None."""
    rowid = rowid_expression(conn, variant.table)
    where = "" if up_to_rowid is None else f" WHERE {rowid} <= :up_to"
    columns = ", ".join(f"typeof({quote_identifier(c)}), CAST({quote_identifier(c)} AS BLOB)"
                        for c in variant.id_columns)
    query = f"SELECT {rowid}, {columns} FROM {quote_identifier(variant.table)}{where}"
    with reading_source(conn, f"table {variant.table}"):
        for row in conn.execute(query, {"up_to": up_to_rowid}):
            texts = []
            for kind, raw in zip(row[1::2], row[2::2]):
                if raw is None:
                    break
                try:
                    texts.append(str(int(raw.decode())) if kind == "integer" else raw.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    break
            complete = len(texts) == len(variant.id_columns) and (len(texts) > 1 or texts[0].strip())
            yield row[0], variant.target_id(join_id(texts)) if complete else None
