"""Source schemas of the AgentDB family: detection and one reader/mapping per variant."""

from __future__ import annotations

import apsw

from ..db import reading_source, table_columns, table_names
from ..errors import SourceError
from . import agentdb_adapter, agentdb_service, legacy_qe, qe_v3, reasoning_bank, swarm_memory, test_patterns
from .base import SourceReader, Variant, check_embedding_type

# Detection order: the variants with their own table names first, then the `patterns`
# variants from the most telling columns to the fewest.
VARIANTS: tuple[Variant, ...] = (
    qe_v3.VARIANT, reasoning_bank.VARIANT, test_patterns.VARIANT,
    agentdb_service.VARIANT, agentdb_adapter.VARIANT, swarm_memory.VARIANT, legacy_qe.VARIANT,
)
BY_NAME = {v.name: v for v in VARIANTS}


def detect(conn: apsw.Connection, table: str | None = None) -> tuple[Variant, str]:
    """The variant of the source and the table to read. `table` overrides the table choice."""
    with reading_source(conn, "schema"):
        return _detect(conn, table)


def _detect(conn: apsw.Connection, table: str | None) -> tuple[Variant, str]:
    tables = table_names(conn)
    if table is not None:
        if table not in tables:
            raise SourceError(f"table {table!r} not found in the source (tables: {', '.join(tables) or 'none'})")
        columns = set(table_columns(conn, table))
        for variant in VARIANTS:
            if variant.matches(columns):
                return variant, table
        raise SourceError(f"table {table!r} does not look like any known pattern schema "
                          f"(columns: {', '.join(sorted(columns))})")
    for variant in VARIANTS:
        if variant.table in tables and variant.matches(set(table_columns(conn, variant.table))):
            return variant, variant.table
    known = ", ".join(sorted({v.table for v in VARIANTS}))
    raise SourceError(f"no known pattern table in the source (looked for {known}; "
                      f"found: {', '.join(tables) or 'no tables'}); pass --table to choose one")


__all__ = ["VARIANTS", "BY_NAME", "Variant", "SourceReader", "detect", "check_embedding_type"]
