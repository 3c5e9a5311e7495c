"""Source layouts of the AgentDB family: detection, the plan of one run, and one mapping per
layout table (see the README's schema table).

`detect` answers with a `Plan`: the layout and every table of it present in the file (a
native AgentDB file has up to four vector tables; claude-flow v3 two), each bound to its
table, plus what the file's config tables claim about the model and dimension. A file that
matches nothing gets a one-line error naming the tables worth migrating and the command
that would migrate each.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import apsw

from ..db import (
    quote_identifier,
    reading_source,
    source_name,
    table_columns,
    table_names,
)
from ..errors import SourceError, UsageError
from . import (
    agentdb_adapter,
    agentdb_native,
    agentdb_service,
    claude_flow_v3,
    legacy_qe,
    qe_v3,
    reasoning_bank,
    reasoningbank_memory,
    reasoningbank_model,
    swarm_memory,
    test_patterns,
)
from .base import EmbeddingTable, SourceReader, Variant, iter_ids, stored_embedding
from .generic import GenericMapping
from .history import history_counts
from .survey import TableSurvey, survey

# Detection order: layouts with their own table names first, then the `patterns` layouts
# from the most telling columns to the fewest. A layout is a tuple of its tables' variants.
LAYOUTS: tuple[tuple[Variant, ...], ...] = (
    agentdb_native.PARTS, claude_flow_v3.PARTS, (qe_v3.VARIANT,), (reasoning_bank.VARIANT,),
    (test_patterns.VARIANT,), (reasoningbank_memory.VARIANT,), (reasoningbank_model.VARIANT,),
    (agentdb_service.VARIANT,), (agentdb_adapter.VARIANT,), (swarm_memory.VARIANT,), (legacy_qe.VARIANT,),
)
VARIANTS: tuple[Variant, ...] = tuple(v for layout in LAYOUTS for v in layout)
BY_NAME = {layout[0].name: layout[0] for layout in LAYOUTS}
MODEL_KEYS = ("embedding_model", "model", "embeddingModel")
DIMENSION_KEYS = ("dimension", "dimensions", "embedding_dimension", "embedding_dim")


@dataclass(frozen=True)
class Plan:
    """What one run reads: the layout, its tables (each a Variant bound to its table), and the
    claims of the file's config tables."""

    layout: str
    parts: tuple[Variant, ...]
    config_model: str | None = None          # e.g. agentdb_config.embedding_model
    config_dimensions: dict[str, int] = field(default_factory=dict)  # where -> claimed dimension
    notes: tuple[str, ...] = ()              # tables of the file this plan leaves out, and why

    @property
    def tables(self) -> list[str]:
        return [p.table for p in self.parts]

    @property
    def history_tables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(h for p in self.parts for h in p.history_tables))

    def part(self, table: str) -> Variant:
        return next(p for p in self.parts if p.table == table)


def detect(conn: apsw.Connection, table: str | None = None, mapping: GenericMapping | None = None, *,
           layout: str | None = None, survey_rest: bool = True) -> Plan:
    """The plan of a run over this source. `table` picks one table (of a known layout);
    `mapping` reads a table nobody listed; `layout` prefers that layout when the file holds it
    (the one a recorded run used, though another may hold more rows today). `survey_rest`
    looks over the file's other tables, for a run's notes and its refusal of empty tables
    beside full ones (not needed to re-read what a recorded run read)."""
    with reading_source(conn, "schema"):
        return _detect(conn, table, mapping, layout, survey_rest)


def _detect(conn: apsw.Connection, table: str | None, mapping: GenericMapping | None,
            layout: str | None = None, survey_rest: bool = True) -> Plan:
    tables = table_names(conn)
    if mapping is not None:
        return _generic_plan(conn, tables, mapping)
    if table is not None and table not in tables:
        raise SourceError(f"table {table!r} not found in the source (tables: {', '.join(tables) or 'none'})")
    candidates = _candidates(conn, tables)
    if layout is not None and any(c.name == layout for c in candidates):
        candidates = [c for c in candidates if c.name == layout]
    if table is not None:
        candidates = [replace(c, parts=[p for p in c.parts if p.table == table], counts={table: c.counts[table]})
                      for c in candidates if table in c.counts]
    if candidates:
        best = max(candidates, key=lambda c: c.rank)
        notes = list(best.notes)
        if table is None:
            notes += [f"the file also holds {c.name} table(s) "
                      f"{', '.join(f'{t} ({_rows(n)})' for t, n in c.counts.items())}: "
                      f"--table {c.parts[0].table} migrates one with the {c.name} mapping"
                      for c in candidates
                      if sum(c.counts.values()) and c.name != best.name and not set(c.counts) & set(best.counts)]
        return _with_config(conn, tables, best.name, best.parts, explicit=table is not None, notes=notes,
                            counts=best.counts, survey_rest=survey_rest)
    if table is not None:  # a known layout's mapping on a table of another name (e.g. a renamed copy)
        columns = set(table_columns(conn, table))
        for variant in VARIANTS:
            if variant.matches(columns) and (variant.embedding_table is None or variant.embedding_table.table in tables):
                bound = _bind(conn, variant, table, tables)
                if bound is not None:
                    return _with_config(conn, tables, variant.name, [bound], explicit=True, survey_rest=survey_rest)
        raise SourceError(f"table {table!r} does not look like any known layout (columns: {', '.join(sorted(columns))});"
                          f" {_suggestion(conn, table)}")
    raise SourceError(f"no known AgentDB-family layout in {source_name(conn)} (tables: {', '.join(tables) or 'none'}); "
                      f"{_candidates_text(conn, set())}")


@dataclass(frozen=True)
class _Candidate:
    """A layout whose tables are in the file, bound to them, with their row counts."""

    name: str
    order: int
    parts: list[Variant]
    counts: dict[str, int]
    notes: list[str]

    @property
    def rank(self) -> tuple[int, int, int]:
        """The most rows; on one table, the most specific mapping; then the listed order."""
        return sum(self.counts.values()), sum(len(p.telling_columns) for p in self.parts), -self.order


def _candidates(conn: apsw.Connection, tables: list[str]) -> list[_Candidate]:
    """Every layout whose tables are in the file."""
    found = []
    for order, layout in enumerate(LAYOUTS):
        parts = [_bind(conn, v, v.table, tables) for v in layout if v.table in tables]
        parts = [p for p in parts if p is not None]
        if not parts or (len(layout) > 1 and not any(_has_vectors(p) for p in parts)):
            continue  # a layout of several tables is told by where its vectors are
        notes = [f"table {p.table} has no {v.embedding_table.table} table: its rows have no stored vector"
                 for p in parts for v in layout
                 if v.table == p.table and v.embedding_table is not None and p.embedding_table is None]
        found.append(_Candidate(layout[0].name, order, parts, {p.table: _count(conn, p.table) for p in parts}, notes))
    return found


def plan_of_run(conn: apsw.Connection, run: dict) -> Plan:
    """The plan a recorded run used, detected again on (another copy of) its source."""
    options = run.get("options") or {}
    mapping = options.get("mapping")
    generic = None
    if mapping:
        generic = GenericMapping.from_dict(mapping)
    return detect(conn, options.get("table"), generic, layout=run.get("schema"), survey_rest=False)


def layout_parts(layout: str, mapping: dict | None = None) -> list[Variant]:
    """A layout's tables by its name, as Variants; for "generic", the table of the mapping a
    source was recorded with (`mapping`, as GenericMapping.to_dict gave it). [] when unknown."""
    if layout == "generic":
        return [GenericMapping.from_dict(mapping).variant()] if mapping else []
    return list(next((v for v in LAYOUTS if v[0].name == layout), ()))


def find_variant(layout: str, kind: str) -> Variant | None:
    """The known layout table that makes patterns of `kind` (None for generic mappings)."""
    return next((v for v in VARIANTS if v.name == layout and v.kind == kind), None)


def _bind(conn: apsw.Connection, variant: Variant, table: str, tables: list[str]) -> Variant | None:
    """The variant bound to `table` when its columns match (and its side table is usable)."""
    if not variant.matches(set(table_columns(conn, table))):
        return None
    own = set(table_columns(conn, table))
    side = variant.embedding_table
    side_columns = table_columns(conn, side.table) if side is not None and side.table in tables else []

    def present(column: str | None) -> str | None:  # a column this copy of the table really has
        if column is None:
            return None
        return column if (column[2:] in side_columns if column.startswith("__") else column in own) else None
    bound = replace(variant, table=table, embedding_column=present(variant.embedding_column),
                    dimension_column=present(variant.dimension_column), model_column=present(variant.model_column))
    if side is not None:
        if side.table not in tables:  # no vectors here: the rows are embedded (or not) by the model policy
            return replace(bound, embedding_table=None, embedding_column=None, dimension_column=None,
                           model_column=None)
        keys = side.keys
        if not set(keys) <= set(side_columns):
            pk = _primary_key(conn, side.table) if len(keys) == 1 else None
            if pk is None:
                return None
            keys = (pk,)
        bound = replace(bound, embedding_table=replace(side, key_column=keys if len(keys) > 1 else keys[0]))
        if variant.model_column is None:
            label = next((c for c in ("model", "embedding_model") if c in side_columns and c not in keys), None)
            bound = replace(bound, model_column=f"__{label}" if label else None)
    elif variant.model_column is None and bound.embedding_column:
        label = next((c for c in ("embedding_model", "model") if c in own), None)
        bound = replace(bound, model_column=label)
    return bound


def _primary_key(conn: apsw.Connection, table: str) -> str | None:
    rows = conn.execute("SELECT name FROM pragma_table_info(?) WHERE pk = 1", (table,)).fetchall()
    return rows[0][0] if rows else None


def _with_config(conn: apsw.Connection, tables: list[str], layout: str, parts: list[Variant], *,
                 explicit: bool, notes: list[str] | None = None, counts: dict[str, int] | None = None,
                 survey_rest: bool = True) -> Plan:
    for part in parts:
        _refuse_without_rowid(conn, part.table)
    counts = counts if counts is not None else {p.table: _count(conn, p.table) for p in parts}
    notes = list(notes or [])
    if survey_rest and (not explicit or not any(counts.values())):
        history = set(history_counts(conn, [h for p in parts for h in p.history_tables]))
        left_out = [s for s in survey(conn, exclude={p.table for p in parts} | _side_tables(parts) | history)
                    if s.rows and (s.vector_columns or s.text_columns)]
        if not any(counts.values()) and left_out:
            raise SourceError(f"the {layout} table(s) {', '.join(counts)} of {source_name(conn)} are empty; "
                              f"{_candidates_text(conn, {p.table for p in parts} | history)}")
        if not explicit:
            notes += _left_out_notes(conn, layout, left_out)
    model, dimensions = _config_claims(conn, tables)
    return Plan(layout=layout, parts=tuple(parts), config_model=model, config_dimensions=dimensions,
                notes=tuple(notes))


def _left_out_notes(conn: apsw.Connection, layout: str, left_out: list[TableSurvey]) -> list[str]:
    """Notes naming the file's tables a layout leaves out, with the commands that migrate them."""
    notes = [f"table {s.name} ({_rows(s.rows)}, {s.what()}) is not part of the {layout} layout and was not "
             f"migrated; {s.command(source_name(conn))} migrates it" for s in left_out if s.vector_columns]
    text_only = [s for s in left_out if not s.vector_columns]
    if text_only:
        listed = ", ".join(f"{s.name} ({_rows(s.rows)})" for s in text_only[:5])
        more = f" and {len(text_only) - 5} more" if len(text_only) > 5 else ""
        notes.append(f"other tables hold text and were not migrated: {listed}{more}; the generic mapping "
                     f"migrates one, e.g. {text_only[0].command(source_name(conn))}")
    return notes


def _has_vectors(part: Variant) -> bool:
    """The bound table has a place for stored vectors (its own column or its side table)."""
    return part.embedding_table is not None or bool(part.embedding_column and not part.embedding_column.startswith("__"))


def _refuse_without_rowid(conn: apsw.Connection, table: str) -> None:
    ddl = conn.execute("SELECT coalesce(sql, '') FROM sqlite_schema WHERE name = ?", (table,)).fetchall()
    if ddl and "WITHOUT ROWID" in " ".join(ddl[0][0].upper().split()):
        raise SourceError(f"table {table!r} is a WITHOUT ROWID table, which vecmigrate cannot read yet; copy it "
                          f"into an ordinary table in a copy of the file first "
                          f"(CREATE TABLE {table}_rows AS SELECT * FROM {table}) and migrate that")


def _side_tables(parts: list[Variant]) -> set[str]:
    return {p.embedding_table.table for p in parts if p.embedding_table is not None}


def _count(conn: apsw.Connection, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {quote_identifier(table)}").fetchall()[0][0]


def _config_claims(conn: apsw.Connection, tables: list[str]) -> tuple[str | None, dict[str, int]]:
    """What config tables say: agentdb_config(key, value) and claude-flow's vector_indexes."""
    model = None
    dimensions: dict[str, int] = {}
    if "agentdb_config" in tables and {"key", "value"} <= set(table_columns(conn, "agentdb_config")):
        config = dict(conn.execute("SELECT CAST(key AS TEXT), CAST(value AS TEXT) FROM agentdb_config").fetchall())
        model = next((config[k] for k in MODEL_KEYS if config.get(k)), None)
        for key in DIMENSION_KEYS:
            if str(config.get(key) or "").strip().isdigit():
                dimensions[f"agentdb_config.{key}"] = int(config[key])
    if "vector_indexes" in tables and {"name", "dimensions"} <= set(table_columns(conn, "vector_indexes")):
        for name, value in conn.execute("SELECT name, dimensions FROM vector_indexes"):
            if isinstance(value, int):
                dimensions[f"vector_indexes[{name}]"] = value
    return model, dimensions


def _generic_plan(conn: apsw.Connection, tables: list[str], mapping: GenericMapping) -> Plan:
    mapping.check()
    if mapping.table not in tables:
        raise UsageError(f"--table {mapping.table!r} not found in the source (tables: {', '.join(tables) or 'none'})")
    _refuse_without_rowid(conn, mapping.table)
    columns = set(table_columns(conn, mapping.table))
    missing = sorted(mapping.columns_needed() - columns)
    if missing:
        raise UsageError(f"table {mapping.table!r} has no column(s) {', '.join(missing)} "
                         f"(columns: {', '.join(sorted(columns))})")
    if mapping.embedding_table:
        if mapping.embedding_table not in tables:
            raise UsageError(f"--embedding-table {mapping.embedding_table!r} not found in the source")
        side_columns = set(table_columns(conn, mapping.embedding_table))
        wanted = {*mapping.embedding_keys, mapping.embedding_column or "embedding"}
        if not wanted <= side_columns:
            raise UsageError(f"--embedding-table {mapping.embedding_table!r} has no column(s) "
                             f"{', '.join(sorted(wanted - side_columns))} (columns: {', '.join(sorted(side_columns))})")
    bound = _bind(conn, mapping.variant(), mapping.table, tables)
    model, dimensions = _config_claims(conn, tables)
    return Plan(layout="generic", parts=(bound,), config_model=model, config_dimensions=dimensions)


def _rows(count: int) -> str:
    return f"{count} row{'' if count == 1 else 's'}"


def _suggestion(conn: apsw.Connection, table: str) -> str:
    found = [s for s in survey(conn, only={table})]
    if found:
        return f"the generic mapping reads it: {found[0].command(source_name(conn))}"
    return "pass --id-column and --text-columns to read it with the generic mapping"


def _candidates_text(conn: apsw.Connection, exclude: set[str]) -> str:
    found = [s for s in survey(conn, exclude=exclude) if s.rows and (s.vector_columns or s.text_columns)]
    if not found:
        return "no table of it holds vectors or text worth migrating"
    found.sort(key=lambda s: (not s.vector_columns, -s.rows))
    listed = "; ".join(f"{s.name} ({_rows(s.rows)}, {s.what()}): {s.command(source_name(conn))}" for s in found[:6])
    more = f"; and {len(found) - 6} more" if len(found) > 6 else ""
    return f"tables worth migrating: {listed}{more}"


__all__ = ["LAYOUTS", "VARIANTS", "BY_NAME", "Plan", "Variant", "EmbeddingTable", "SourceReader", "GenericMapping",
           "TableSurvey", "detect", "find_variant", "layout_parts", "iter_ids", "plan_of_run", "stored_embedding", "survey"]
