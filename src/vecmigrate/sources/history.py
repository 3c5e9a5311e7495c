"""History tables that sit beside the patterns (usage, learning history, metrics), copied verbatim."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, replace
from typing import Iterable, Iterator

import apsw

from ..db import quote_identifier, reading_source, table_names


def history_counts(conn: apsw.Connection, names: Iterable[str]) -> dict[str, int]:
    """Row counts of the history tables present in the source (`names` may hold globs such
    as `causal_*`)."""
    with reading_source(conn, "history tables"):
        present = table_names(conn)
        wanted = [t for t in present if any(fnmatch.fnmatchcase(t, pattern) for pattern in names)]
        return {name: conn.execute(f"SELECT count(*) FROM {quote_identifier(name)}").fetchall()[0][0]
                for name in wanted}


@dataclass
class HistoryTable:
    """One history table read from a source: its DDL, columns and rows (text as bytes)."""

    name: str
    ddl: str
    declared: list[tuple[str, str]]   # stored columns and their declared types
    rows: Iterable[tuple]             # per column: (is text, value as bytes or as is)


def read_history(source: apsw.Connection, tables: Iterable[str]) -> list[HistoryTable]:
    """The history tables as rows in memory (so the source's snapshot can end before the
    target's transaction: `sync` holds no read lock on the application's file meanwhile)."""
    return [replace(t, rows=list(t.rows)) for t in _history_tables(source, tables)]


def _history_tables(source: apsw.Connection, tables: Iterable[str]) -> Iterator[HistoryTable]:
    for name in tables:
        ddl = source.execute("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?",
                             (name,)).fetchall()[0][0]
        # pragma_table_info lists the stored columns only (generated ones cannot be inserted)
        declared = [(r[0], r[1]) for r in source.execute("SELECT name, type FROM pragma_table_info(?)", (name,))]
        select = ", ".join(f"typeof({c}) = 'text', CASE WHEN typeof({c}) = 'text' THEN CAST({c} AS BLOB) ELSE {c} END"
                           for c in (quote_identifier(c) for c, _ in declared))
        yield HistoryTable(name, ddl, declared, source.execute(f"SELECT {select} FROM {quote_identifier(name)}"))


def copy_history(source: apsw.Connection | list[HistoryTable], target: apsw.Connection, tables: Iterable[str],
                 names: dict[str, str] | None = None, chunk: int = 5000) -> None:
    """Copy history tables verbatim (DDL and rows) from the source snapshot (or what
    `read_history` read from it) into the target (in the caller's transaction); an earlier copy
    is replaced. Text travels as its bytes and is stored as text again, so text that is not
    valid UTF-8 is copied as it is, never decoded. `names` gives a table another name in the
    target (another source's history has its name)."""
    read = source if isinstance(source, list) else _history_tables(source, tables)
    for table in read:
        columns = [c for c, _ in table.declared]
        column_list = ", ".join(quote_identifier(c) for c in columns)
        into = (names or {}).get(table.name, table.name)
        target.execute(f"DROP TABLE IF EXISTS {quote_identifier(into)}")
        if into == table.name:
            target.execute(table.ddl)
        else:  # the columns and their declared types, under the new name
            target.execute(f"CREATE TABLE {quote_identifier(into)} ("
                           + ", ".join(f"{quote_identifier(c)} {t}" for c, t in table.declared) + ")")
        insert = (f"INSERT INTO {quote_identifier(into)} ({column_list}) VALUES "
                  f"({', '.join('CASE WHEN ? THEN CAST(? AS TEXT) ELSE ? END' for _ in columns)})")
        rows: list[tuple] = []
        for raw in table.rows:
            row = tuple(v for i in range(0, len(raw), 2) for v in (raw[i], raw[i + 1], raw[i + 1]))
            rows.append(row)
            if len(rows) >= chunk:
                target.executemany(insert, rows)
                rows = []
        if rows:
            target.executemany(insert, rows)
