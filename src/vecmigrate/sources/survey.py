"""A look over every table of a source: which hold vectors (float32 BLOBs or JSON arrays) or
text worth migrating, and the generic-mapping command that would migrate each. Used for the
one-line errors of files that match no layout and for the notes on tables a layout leaves out."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

import apsw

from ..db import quote_identifier, table_names

SAMPLE_ROWS = 50
TEXT_NAMES = ("content", "text", "value", "pattern", "description", "summary", "title", "name", "task")
JSON_TEXT_KEYS = ("content", "text", "description", "title", "value", "summary")
SKIP_PREFIXES = ("sqlite_", "vecmigrate_")


@dataclass(frozen=True)
class TableSurvey:
    name: str
    rows: int
    id_columns: tuple[str, ...]
    vector_columns: tuple[str, ...]   # "blob:<col>" or "json:<col>"
    text_columns: tuple[str, ...]     # columns, or col->$.key

    def what(self) -> str:
        kinds = [("BLOB vectors in " if v.startswith("blob:") else "JSON-array vectors in ") + v.split(":", 1)[1]
                 for v in self.vector_columns]
        if self.text_columns:
            kinds.append("text in " + ", ".join(self.text_columns))
        return "; ".join(kinds) or "nothing to migrate"

    def command(self, source: str) -> str:
        parts = ["vecmigrate migrate --source", shlex.quote(str(source)), "--table", shlex.quote(self.name),
                 "--id-column", shlex.quote(",".join(self.id_columns))]
        if self.text_columns:
            parts += ["--text-columns", shlex.quote(",".join(self.text_columns))]
        if self.vector_columns:
            parts += ["--embedding-column", shlex.quote(self.vector_columns[0].split(":", 1)[1])]
        return " ".join(parts)


def survey(conn: apsw.Connection, *, exclude: set[str] = frozenset(), only: set[str] | None = None) -> list[TableSurvey]:
    """Every ordinary table of the source (FTS shadow tables and virtual tables left out)."""
    schema = [(name, kind, ddl.decode("utf-8", "replace")) for name, kind, ddl in
              conn.execute("SELECT name, type, CAST(coalesce(sql, '') AS BLOB) FROM sqlite_schema WHERE type = 'table'"
                           " AND name IN (SELECT value FROM json_each(?))", (json.dumps(table_names(conn)),))]
    virtual = [name for name, _, ddl in schema if ddl.upper().startswith("CREATE VIRTUAL TABLE")]
    out = []
    for name, _, ddl in schema:
        if (name in exclude or (only is not None and name not in only) or name.startswith(SKIP_PREFIXES)
                or name in virtual or any(name.startswith(v + "_") for v in virtual)):
            continue
        try:
            out.append(_look(conn, name))
        except (apsw.Error, UnicodeDecodeError):
            continue  # a table that cannot be read is not worth suggesting
    return out


def _look(conn: apsw.Connection, table: str) -> TableSurvey:
    quoted = quote_identifier(table)
    info = conn.execute("SELECT name, pk FROM pragma_table_info(?) ORDER BY pk", (table,)).fetchall()
    columns = [name for name, _ in info]
    keys = tuple(name for name, pk in info if pk)
    if not keys:
        keys = ("id",) if "id" in columns else tuple(columns[:1])
    rows = conn.execute(f"SELECT count(*) FROM {quoted}").fetchall()[0][0]
    cursor = conn.execute(f"SELECT * FROM {quoted} LIMIT {SAMPLE_ROWS}")
    names = [d[0] for d in cursor.getdescription()] if rows else columns
    sample = list(cursor) if rows else []
    vectors: list[str] = []
    texts: list[tuple[float, str]] = []
    for i, column in enumerate(names):
        values = [r[i] for r in sample if r[i] is not None]
        if not values:
            continue
        blobs = [v for v in values if isinstance(v, bytes) and len(v) >= 32 and len(v) % 4 == 0]
        strings = [v for v in values if isinstance(v, str)]
        if len(blobs) * 2 > len(values):
            vectors.append(f"blob:{column}")
        elif strings and sum(_is_json_vector(s) for s in strings) * 2 > len(values):
            vectors.append(f"json:{column}")
        elif column not in keys and strings and len(strings) * 2 > len(values) and not _looks_like_key(column):
            average = sum(len(s) for s in strings) / len(strings)
            if average >= 20 or (column in TEXT_NAMES and average >= 8):
                bonus = 1000 if column in TEXT_NAMES else 0
                texts.append((average + bonus, _json_text_path(column, strings)))
    texts.sort(reverse=True)
    return TableSurvey(name=table, rows=rows, id_columns=keys, vector_columns=tuple(vectors),
                       text_columns=tuple(t for _, t in texts[:2]))


def _looks_like_key(column: str) -> bool:
    """Ids, references and timestamps are not text worth embedding."""
    name = column.lower()
    return (name.endswith(("_id", "_at", "_hash", "_key")) or name in ("id", "key", "timestamp", "ts", "status", "type")
            or "time" in name or "date" in name)


def _is_json_vector(text: str) -> bool:
    if not text.lstrip().startswith("["):
        return False
    try:
        values = json.loads(text)
    except ValueError:
        return False
    return (isinstance(values, list) and len(values) >= 8
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values))


def _json_text_path(column: str, strings: list[str]) -> str:
    """`col->$.key` when the column holds JSON objects with a text key, else the column."""
    for text in strings[:5]:
        if not text.lstrip().startswith("{"):
            return column
        try:
            document = json.loads(text)
        except ValueError:
            return column
        key = next((k for k in JSON_TEXT_KEYS if isinstance(document.get(k), str)), None) if isinstance(document, dict) else None
        if key:
            return f"{column}->$.{key}"
    return column
