"""generic: a mapping for layouts nobody listed, given by flags (or the Python API).

  --table T                 the table to read
  --id-column a[,b]         the row's identity; several columns are joined with ':'
  --text-columns c[,d->$.k] the text: columns, or a value inside a JSON column (`col->$.path`),
                            joined with a newline (blank values skipped)
  --embedding-column E      a stored vector: a float32 BLOB or a JSON array in TEXT
  --embedding-table S --embedding-key K
                            vectors in a side table S whose column K holds the row's id
                            (then --embedding-column names S's vector column, default `embedding`)
  --kind K                  what the rows are [default: the table name]

Mapping: id = "{kind}:" + the id columns (several joined with ':', a ':' or '\\' inside a value
escaped with '\\'); content = the text (else the id, for a table of vectors only); kind = --kind; created_at = a `created_at`
column when there is one (any timestamp form); metadata.sourceColumns = every column, so every
value stays recoverable. Rows without a stored vector are embedded (see the README on models).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from ..errors import RowRejected, UsageError
from ..models import Pattern
from . import reverse as r
from . import transform as t
from .base import EmbeddingTable, Variant, join_id


@dataclass(frozen=True)
class TextSource:
    column: str
    path: tuple[str, ...] = ()      # keys (or list indices) inside the column's JSON value

    @classmethod
    def parse(cls, spec: str) -> "TextSource":
        column, arrow, path = spec.partition("->")
        column = column.strip()
        if not column:
            raise UsageError(f"--text-columns: empty column name in {spec!r}")
        if not arrow:
            return cls(column)
        path = path.strip()
        path = path[1:] if path.startswith("$") else path
        keys = tuple(k for k in path.replace("[", ".").replace("]", "").split(".") if k)
        if not keys:
            raise UsageError(f"--text-columns: {spec!r} names no JSON key (write col->$.key)")
        return cls(column, keys)

    def read(self, values: dict[str, Any]) -> str | None:
        value = values.get(self.column)
        if not self.path or value is None:
            return None if value is None else t.optional_text(values, self.column)
        document = t.parse_json(values, self.column)
        for key in self.path:
            if isinstance(document, dict):
                document = document.get(key)
            elif isinstance(document, list) and key.isdigit() and int(key) < len(document):
                document = document[int(key)]
            else:
                return None
        if document is None:
            return None
        return document if isinstance(document, str) else json.dumps(document, ensure_ascii=False)


@dataclass(frozen=True)
class GenericMapping:
    """A mapping for a table nobody listed (see the module docstring)."""

    table: str
    id_columns: tuple[str, ...]
    text_columns: tuple[str, ...]
    embedding_column: str | None = None
    embedding_table: str | None = None
    embedding_key: str | None = None
    kind: str | None = None

    def check(self) -> None:
        if not self.id_columns:
            raise UsageError("--id-column is required with the generic mapping")
        if not self.text_columns and not self.embedding_column and not self.embedding_table:
            raise UsageError("--text-columns is required with the generic mapping (or --embedding-column for "
                             "a table of vectors without text)")
        if bool(self.embedding_table) != bool(self.embedding_key):
            raise UsageError("--embedding-table and --embedding-key go together")
        if self.embedding_table and len(self.embedding_keys) != len(self.id_columns):
            raise UsageError(f"--embedding-key names {len(self.embedding_keys)} column(s) and --id-column "
                             f"{len(self.id_columns)}: give the side table's column for each id column, in order")
        for column in (*self.id_columns, *self.embedding_keys):
            if not column:
                raise UsageError("empty column name in --id-column or --embedding-key")

    @property
    def embedding_keys(self) -> tuple[str, ...]:
        return tuple(k.strip() for k in (self.embedding_key or "").split(",") if k.strip())

    def columns_needed(self) -> set[str]:
        own = {*self.id_columns, *(TextSource.parse(c).column for c in self.text_columns)}
        if self.embedding_column and not self.embedding_table:
            own.add(self.embedding_column)
        return own

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "GenericMapping":
        """The mapping `to_dict` recorded (lists back to tuples)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}

    def variant(self) -> Variant:
        texts = [TextSource.parse(c) for c in self.text_columns]
        ids = self.id_columns
        side = None
        if self.embedding_table:
            keys = self.embedding_keys
            side = EmbeddingTable(self.embedding_table, keys if len(keys) > 1 else keys[0],
                                  ids if len(ids) > 1 else ids[0])
            embedding = f"__{self.embedding_column or 'embedding'}"
        else:
            embedding = self.embedding_column

        def to_pattern(v: dict) -> Pattern:
            parts = []
            for column in ids:
                value = v.get(column)
                if value is None or (isinstance(value, str) and not value.strip()):
                    raise RowRejected(f"missing required field {column}")
                if isinstance(value, bytes):
                    raise RowRejected(f"column {column} holds a blob, expected text")
                parts.append(str(value))
            source_id = join_id(parts)
            content = "\n".join(x for x in (s.read(v) for s in texts) if x and x.strip())
            if not content and texts:
                if v.get(embedding) is None:
                    raise RowRejected(f"no text in {', '.join(self.text_columns)}")
            content = content or source_id
            # every own column is kept; the stored vector itself lives in vec0
            own = {k: x for k, x in v.items() if not k.startswith("__")}
            side_values = {k[2:]: x for k, x in v.items() if k.startswith("__") and k != embedding}
            metadata = {"sourceColumns": t.leftover_columns(own, {embedding} if embedding else set())}
            if side_values:
                metadata["embeddingRow"] = t.leftover_columns(side_values, ())
            created = v.get("created_at")
            return Pattern(id=source_id, content=content,
                           created_at=t.to_epoch_ms(created, "created_at") if created is not None else None,
                           metadata=metadata)

        def to_row(p: Pattern) -> dict:
            """The reverse: every own column from metadata.sourceColumns, the side row's from
            embeddingRow; the id columns from the id, and a single plain text column from the content."""
            row = r.leftovers(p)
            side_row = p.metadata.get("embeddingRow")
            if isinstance(side_row, dict):
                row.update({f"__{k}": v for k, v in r.leftovers(replace(p, metadata={"sourceColumns": side_row})).items()})
            sid = r.source_id(p, variant)
            parts = split_id(sid) if len(ids) > 1 else [sid]
            if len(parts) == len(ids):
                for column, part in zip(ids, parts):
                    if not isinstance(row.get(column), int) or str(row[column]) != part:
                        row[column] = part
            if len(texts) == 1 and not texts[0].path and texts[0].read(row) != p.content:
                row[texts[0].column] = p.content
            return row

        kind = self.kind or self.table
        variant = Variant(name="generic", table=self.table, telling_columns=frozenset(self.columns_needed()),
                       map_row=to_pattern, to_row=to_row, kind=kind, id_prefix=f"{kind}:", embedding_column=embedding,
                       embedding_table=side, id_columns=ids, history_tables=(),
                       description="a generic mapping given by flags")
        return variant


def split_id(text: str) -> list[str]:
    """The parts `join_id` joined (':' separates; '\\' escapes)."""
    parts, current, escaped = [], [], False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ":":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts
