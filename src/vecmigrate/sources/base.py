"""What a source variant is, and how rows are streamed out of one consistent snapshot."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator

import apsw
import numpy as np

from ..db import quote_identifier, reading_source, table_columns
from ..errors import RowRejected
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


class SourceReader:
    """Reads one pattern table inside one read transaction, in rowid order, batch by batch."""

    def __init__(self, conn: apsw.Connection, variant: Variant, table: str | None = None) -> None:
        self.conn = conn
        self.variant = variant if table is None or table == variant.table else replace(variant, table=table)
        self.table = self.variant.table
        self._in_snapshot = False

    def __enter__(self) -> "SourceReader":
        # A deferred transaction whose first read fixes the snapshot: even while another
        # process writes (WAL), every later read here sees the same database. Readers of the
        # other tables of one run share it (only the first one begins it).
        if self.conn.get_autocommit():
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
        if side is not None and side.table in self._tables():
            side_columns = [c for c in table_columns(self.conn, side.table) if c not in side.keys]
            columns += "".join(f", e.{quote_identifier(c)} AS {quote_identifier('__' + c)}" for c in side_columns)
        return f"SELECT {columns} {self.from_clause()} WHERE p.rowid > :after ORDER BY p.rowid"

    def from_clause(self) -> str:
        """FROM the table (alias p) joined to its embedding side table (alias e), if any."""
        side = self.variant.embedding_table
        if side is None or side.table not in self._tables():
            return f"FROM {quote_identifier(self.table)} AS p"
        # The last side row of each key, picked in one pass (GROUP BY) and joined: a correlated
        # subquery per row would scan an unindexed side table once per pattern.
        side_table = quote_identifier(side.table)
        keys = ", ".join(f"{quote_identifier(k)} AS __k{i}" for i, k in enumerate(side.keys))
        group = ", ".join(quote_identifier(k) for k in side.keys)
        match = " AND ".join(f"pick.__k{i} = p.{quote_identifier(r)}" for i, r in enumerate(side.refs))
        return (f"FROM {quote_identifier(self.table)} AS p "
                f"LEFT JOIN (SELECT {keys}, max(rowid) AS __pick FROM {side_table} GROUP BY {group}) AS pick ON {match} "
                f"LEFT JOIN {side_table} AS e ON e.rowid = pick.__pick")

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
        return {pattern_id for rowid, pattern_id in iter_ids(self.conn, self.variant, up_to_rowid)
                if rowid not in quarantined_rowids and pattern_id is not None}


    def _row(self, names: list[str], raw: tuple) -> SourceRow:
        values = dict(zip(names, raw))
        rowid = values.pop("__rowid")
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
    where = "" if up_to_rowid is None else " WHERE rowid <= :up_to"
    columns = ", ".join(f"typeof({quote_identifier(c)}), CAST({quote_identifier(c)} AS BLOB)"
                        for c in variant.id_columns)
    query = f"SELECT rowid, {columns} FROM {quote_identifier(variant.table)}{where}"
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
