"""`sql`: run a query, or a named file from `sql/`, against a target with sqlite-vec loaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import apsw

from ..db import describe, sql, sql_files
from ..errors import UsageError
from ..models import SqlResult
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


def run_sql(target: str | Path, query: str | None = None, *, file: str | None = None,
            params: dict[str, Any] | None = None, limit: int | None = None) -> SqlResult:
    if (query is None) == (file is None):
        raise UsageError("give a query or --file NAME (one of them)")
    if file is not None:
        if file not in sql_files():
            raise UsageError(f"--file {file!r}: no such SQL file (have: {', '.join(sql_files())})")
        query = sql(file)
    _, conn, _ = tgt.open_existing(target, readonly=True)
    try:
        columns: list[str] = []

        def note_columns(cursor: apsw.Cursor, _sql: str, _bindings: Any) -> bool:
            # The statement is prepared here, so its columns are known even if it returns no row.
            columns[:] = [d[0] for d in cursor.get_description()]
            return True

        cursor = conn.cursor()
        cursor.exec_trace = note_columns
        cursor.execute(query, params or {})
        rows = []
        for row in cursor:
            rows.append(row)
            if limit is not None and len(rows) >= limit:
                break
        return SqlResult(columns=columns, rows=rows)
    except apsw.BindingsError as exc:
        raise UsageError(f"query parameters: {describe(exc)} (pass --param name=value)") from None
    except KeyError as exc:
        raise UsageError(f"the query needs parameter :{exc.args[0]} (pass --param {exc.args[0]}=value)") from None
    except (apsw.ReadOnlyError, apsw.AuthError):
        raise UsageError("`vecmigrate sql` reads only: it does not change data or write files (writes, ATTACH "
                         "and VACUUM are refused); use `vecmigrate shell --write` to change the target") from None
    except apsw.SQLError as exc:
        raise UsageError(f"SQL error: {describe(exc)}") from None
    finally:
        conn.close()
