"""`sql`: run a query, or a named file from `sql/`, against a target with sqlite-vec loaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import apsw

from ..db import describe, sql, sql_files
from ..errors import UsageError
from ..models import SqlResult, StatementResult
from ..target import database as tgt


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """`name=value` pairs; a value that parses as JSON number is bound as a number, else as text."""
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--param {pair!r}: expected name=value")
        try:
            parsed = json.loads(value)
            params[name] = parsed if isinstance(parsed, (int, float)) and not isinstance(parsed, bool) else value
        except json.JSONDecodeError:
            params[name] = value
    return params


def described_files() -> list[dict[str, str]]:
    """The shipped SQL files: the examples for users first, then the statements vecmigrate runs
    itself (listed apart: several of them write, and `vecmigrate sql` refuses writes), each with
    its leading comment (up to the usage line that shows how to run it)."""
    out = []
    for name in sql_files():
        said = []
        for line in sql(name).splitlines():
            text, usage, _ = line.removeprefix("--").strip().partition("vecmigrate sql ")
            if not line.startswith("--"):
                break
            said.append(text.strip())
            if usage:  # (the usage line that follows the description)
                break
        out.append({"name": name, "kind": "example" if name.startswith("example_") else "internal",
                    "description": " ".join(t for t in said if t)})
    return sorted(out, key=lambda f: (f["kind"] != "example", f["name"]))


def run_sql(target: str | Path, query: str | None = None, *, file: str | None = None,
            params: dict[str, Any] | None = None, limit: int | None = None) -> SqlResult:
    """Every statement's rows, collected (see stream_sql)."""
    statements: list[StatementResult] = []
    for statement, row in stream_sql(target, query, file=file, params=params, limit=limit):
        if row is None:
            statements.append(statement)
        else:
            statement.rows.append(row)
    shown = [s for s in statements if s.columns] or statements[-1:]
    last = shown[-1] if shown else StatementResult("", [], [])
    return SqlResult(columns=last.columns, rows=last.rows, statements=shown)


def stream_sql(target: str | Path, query: str | None = None, *, file: str | None = None,
               params: dict[str, Any] | None = None,
               limit: int | None = None) -> Iterator[tuple[StatementResult, tuple | None]]:
    """The query's rows as SQLite reads them, one read transaction throughout: (statement, None)
    as each statement starts (its columns known, its `rows` left empty), then (statement, row)
    for each of its rows, at most `limit` of them. Closing the generator ends the read."""
    if (query is None) == (file is None):
        raise UsageError("give a query or --file NAME (one of them)")
    if file is not None:
        if file not in sql_files():
            raise UsageError(f"--file {file!r}: no such SQL file (have: {', '.join(sql_files())})")
        query = sql(file)
    _, conn, _ = tgt.open_existing(target, readonly=True)
    try:
        started: list[StatementResult] = []
        read_to = [0]  # where the statement prepared last ends in the query

        def next_statement(cursor: apsw.Cursor, text: str, _bindings: Any) -> bool:
            # Called as each statement is prepared: its columns are known even if it returns no row.
            # (APSW hands the query over in consecutive pieces, each to where the next one starts.)
            started.append(StatementResult(statement=text.strip(), columns=[d[0] for d in cursor.get_description()],
                                           rows=[]))
            read_to[0] += len(text)
            return True

        cursor = conn.cursor()
        cursor.exec_trace = next_statement
        announced = count = 0
        rows = cursor.execute(query, params or {})
        while True:
            row = next(rows, None)
            while announced < len(started):  # (statements that returned no row are announced too)
                yield started[announced], None
                announced += 1
                count = 0
            if row is None:
                break
            if limit is None or count < limit:
                count += 1
                yield started[-1], row
            elif not holds_a_statement(query[read_to[0]:]):
                break  # --limit reached in the last statement: the rest need not be read
    except apsw.BindingsError as exc:
        raise UsageError(f"query parameters: {describe(exc)} (pass --param name=value)") from None
    except KeyError as exc:
        raise UsageError(f"the query needs parameter :{exc.args[0]} (pass --param {exc.args[0]}=value)") from None
    except (apsw.ReadOnlyError, apsw.AuthError):
        raise UsageError("`vecmigrate sql` reads only: it does not change data or write files (writes, ATTACH "
                         "and VACUUM are refused); use `vecmigrate shell --write` to change the target") from None
    except (apsw.SQLError, apsw.TooBigError, apsw.RangeError, apsw.MismatchError) as exc:  # the query's own fault
        raise UsageError(f"SQL error: {describe(exc)}") from None
    finally:
        conn.close(True)  # (forced: a query left unread, by --limit or a reader gone, is let go)


def holds_a_statement(text: str) -> bool:
    """Whether SQL text holds more than whitespace, semicolons and comments."""
    at = 0
    while at < len(text):
        if text[at].isspace() or text[at] == ";":
            at += 1
        elif text.startswith("--", at):
            end = text.find("\n", at)
            at = len(text) if end < 0 else end + 1
        elif text.startswith("/*", at):
            end = text.find("*/", at + 2)
            at = len(text) if end < 0 else end + 2
        else:
            return True
    return False
