"""`export`: a target written back out as an AgentDB-family database. The round trip (migrate
a source, export it) gives every accepted row back equal column by column, at its rowid, with
its vector byte for byte, for every layout, over random rows (hypothesis)."""

from __future__ import annotations

import json
import string
from datetime import datetime
from pathlib import Path

import apsw
import numpy as np
import pytest
from conftest import run_vecmigrate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from real_layouts import (
    agentdb_native,
    claude_flow_v3,
    qe_v3,
    reasoningbank_memory,
    reasoningbank_model,
)

from vecmigrate import Migrator
from vecmigrate.errors import UsageError
from vecmigrate.sources import LAYOUTS
from vecmigrate.stores import open_store
from vecmigrate.verbs.export import export
from vecmigrate.verbs.migrate import MigrateOptions

DIM = 8
JSON_COLUMNS = {"metadata", "data", "tags", "pattern_data", "signature", "examples", "context_json", "template_json"}
TIME_COLUMNS = {"ts", "created_at", "updated_at", "last_used", "last_used_at", "expires_at", "last_accessed_at"}
TEXT_OK = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=16)
WORDY = st.text(alphabet=string.ascii_letters + string.digits + " -_é[]", min_size=1, max_size=16).filter(str.strip)
JSONISH = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False,
                       allow_infinity=False) | TEXT_OK,
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(WORDY, inner, max_size=3),
                       max_leaves=6)


def layout_tables():
    for parts in LAYOUTS:
        for part in parts:
            yield pytest.param(part, id=f"{part.name}:{part.table}")


def columns(conn: apsw.Connection, table: str) -> list[tuple[str, str, bool, bool]]:
    return [(r[1], (r[2] or "").upper(), bool(r[3]), bool(r[5]))
            for r in conn.execute("SELECT * FROM pragma_table_xinfo(?) WHERE hidden = 0", (table,))]


@st.composite
def value_for(draw, name: str, kind: str, notnull: bool, variant):
    """A value a real file of the layout could hold in this column."""
    if variant.embedding_column in (name, f"__{name}") or name in ("embedding", "vector"):
        vector = draw(st.lists(st.floats(-1, 1, width=32), min_size=DIM, max_size=DIM).filter(
            lambda v: np.linalg.norm(v) > 0.01))
        blob = np.asarray(vector, dtype="<f4")
        return json.dumps([float(x) for x in blob]) if kind == "TEXT" else blob.tobytes()
    if name in ("dims", "dimension", "dimensions", "embedding_dimensions"):
        return DIM
    if name in ("model", "embedding_model"):
        return draw(st.sampled_from(["all-MiniLM-L6-v2", "onnx", "hash-fallback"]))
    maybe_null = st.none() if not notnull else st.nothing()
    if name in JSON_COLUMNS:
        return draw(maybe_null | JSONISH.map(lambda v: json.dumps(v, ensure_ascii=bool(draw(st.booleans())))))
    if name in TIME_COLUMNS:
        if "INT" in kind:
            return draw(maybe_null | st.integers(946_684_800, 4_102_444_800_000))
        return draw(maybe_null | st.datetimes(datetime(1971, 1, 1), datetime(2100, 1, 1)).map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S")))
    if "INT" in kind or "BOOL" in kind:
        return draw(maybe_null | st.integers(-(2**40), 2**40))
    if "REAL" in kind:
        return draw(maybe_null | st.floats(-1e6, 1e6, allow_nan=False))
    return draw(maybe_null | (WORDY if notnull else TEXT_OK))


def build_source(path: Path, variant, draw) -> dict[str, int]:
    """The layout's tables (as its application creates them) with random rows; -> rows per table."""
    conn = apsw.Connection(str(path))
    for statement in variant.ddl:
        conn.execute(statement)
    count = draw(st.integers(1, 6))
    own = [c for c in columns(conn, variant.table)]
    unique = {c for (index,) in conn.execute("SELECT name FROM pragma_index_list(?) WHERE \"unique\"", (variant.table,))
              for (c,) in conn.execute("SELECT name FROM pragma_index_info(?)", (index,))}
    side = variant.embedding_table
    side_columns = columns(conn, side.table) if side is not None else []
    with conn:
        for i in range(count):
            values = {}
            for name, kind, notnull, pk in own:
                if pk:
                    values[name] = i + 1 if "INT" in kind else f"id-{i}-{draw(WORDY)}"
                else:
                    values[name] = draw(value_for(name, kind, notnull, variant))
                if name in unique and not pk:   # (UNIQUE columns: the application never writes two alike)
                    values[name] = i if "INT" in kind else f"{values[name] or ''}#{i}"
            names = list(values)
            conn.execute(f"INSERT INTO {variant.table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                         list(values.values()))
            if side is not None:
                row = {}
                for name, kind, notnull, pk in side_columns:
                    if name in side.keys:
                        row[name] = values[side.refs[side.keys.index(name)]]
                    elif pk:
                        row[name] = 1000 + i if "INT" in kind else f"side-{i}"
                    else:
                        row[name] = draw(value_for(name, kind, notnull, variant))
                names = list(row)
                conn.execute(f"INSERT INTO {side.table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                             list(row.values()))
    conn.close()
    return count


def rows_of(path: Path, table: str, key: str = "rowid") -> dict:
    conn = apsw.Connection(str(path))
    try:
        return {r[0]: r[1:] for r in conn.execute(f"SELECT {key}, * FROM {table}")}
    finally:
        conn.close()


@pytest.mark.parametrize("variant", list(layout_tables()))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_migrate_then_export_gives_every_row_back(variant, data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("roundtrip")
    source = folder / "source.db"
    build_source(source, variant, data.draw)
    result = Migrator(source, folder / "target").migrate(MigrateOptions(
        table=variant.table, embedder="lexical", dimension=DIM, backup=False))
    out = folder / "out.db"
    exported = export(folder / "target", out, layout=variant.name)
    assert exported.skipped == []
    quarantined = {q.source_rowid for q in result.quarantined}
    before, after = rows_of(source, variant.table), rows_of(out, variant.table)
    assert set(after) == set(before) - quarantined
    for rowid, values in after.items():
        assert values == before[rowid]          # every column, its type too (1, 1.0 and '1' differ)
    side = variant.embedding_table
    if side is not None:
        key = side.keys[0]
        source_side = rows_of(source, side.table, key)
        kept = {values[variant_column_index(source, variant, side.refs[0])] for values in after.values()}
        assert rows_of(out, side.table, key) == {k: v for k, v in source_side.items() if k in kept}
    assert len(quarantined) <= len(before) // 2 + 1   # the generator makes rows the layouts accept


def variant_column_index(path: Path, variant, column: str) -> int:
    conn = apsw.Connection(str(path))
    try:
        return [c[0] for c in columns(conn, variant.table)].index(column)
    finally:
        conn.close()


FIXTURES = {"qe-v3": qe_v3, "reasoningbank-memory": reasoningbank_memory, "reasoningbank-model": reasoningbank_model,
            "claude-flow-v3": claude_flow_v3, "agentdb-native": agentdb_native}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_real_layout_files_export_equal(name, tmp_path):
    """The fixtures shaped like real files (their quirks included: rows without vectors,
    duplicate vectors, JSON-text vectors, integer ids, several vector tables) come back equal."""
    fixture = FIXTURES[name](tmp_path / "source.db")
    Migrator(fixture.path, tmp_path / "target").migrate(MigrateOptions(embedder="lexical", backup=False))
    result = export(tmp_path / "target", tmp_path / "out.db")
    assert result.layout == fixture.layout and result.skipped == [] and result.rewritten == 0
    from vecmigrate.sources import LAYOUTS
    parts = next(v for v in LAYOUTS if v[0].name == fixture.layout)
    for part in parts:
        if fixture.tables.get(part.table):
            assert rows_of(tmp_path / "out.db", part.table) == rows_of(fixture.path, part.table), part.table
            side = part.embedding_table       # side rows by the pattern they belong to, labels and all
            assert side is None or rows_of(tmp_path / "out.db", side.table, side.keys[0]) == \
                rows_of(fixture.path, side.table, side.keys[0]), side.table
    assert sum(result.history.values()) or name in ("qe-v3", "reasoningbank-memory")  # (their fixtures' are empty)
    for table in result.history:                       # the history tables beside them, as they were
        assert rows_of(tmp_path / "out.db", table) == rows_of(fixture.path, table), table


def test_changed_patterns_come_back_changed_and_store_writes_are_added(tmp_path):
    fixture = qe_v3(tmp_path / "source.db", count=20)
    Migrator(fixture.path, tmp_path / "target").migrate(MigrateOptions(embedder="lexical", backup=False))
    first = sorted(fixture.stored)[0]
    with open_store(tmp_path / "target", writable=True) as store:
        stored = store.get(first)
        store.record_usage(first, when_ms=1_767_225_600_000)
        new_vector = (np.ones(384) / np.sqrt(384)).astype(np.float32)
        from vecmigrate.models import Pattern
        store.store(Pattern(id="written-by-agent", content="a new pattern", type="unit", domain="api",
                            kind="pattern"), new_vector)
    result = export(tmp_path / "target", tmp_path / "out.db")
    assert result.rewritten == 2 and result.skipped == []
    out = apsw.Connection(str(tmp_path / "out.db"))
    usage, last = out.execute("SELECT usage_count, last_used_at FROM qe_patterns WHERE id = ?", (first,)).fetchone()
    assert usage == (stored.pattern.usage_count or 0) + 1 and last == "2026-01-01 00:00:00"
    name, blob = out.execute("SELECT p.name, e.embedding FROM qe_patterns p JOIN qe_pattern_embeddings e "
                             "ON e.pattern_id = p.id WHERE p.id = 'written-by-agent'").fetchone()
    assert name == "a new pattern" and blob == new_vector.tobytes()
    # the rows nobody touched are the source's, byte for byte
    untouched = {k: v for k, v in rows_of(fixture.path, "qe_patterns").items()}
    exported = rows_of(tmp_path / "out.db", "qe_patterns")
    assert sum(exported.get(k) == v for k, v in untouched.items()) == len(untouched) - 1


def test_export_refuses_an_existing_file_and_leaves_nothing_behind(tmp_path, cli):
    fixture = qe_v3(tmp_path / "source.db", count=5)
    Migrator(fixture.path, tmp_path / "target").migrate(MigrateOptions(embedder="lexical", backup=False))
    (tmp_path / "out.db").write_text("mine")
    with pytest.raises(UsageError, match="exists"):
        export(tmp_path / "target", tmp_path / "out.db")
    assert (tmp_path / "out.db").read_text() == "mine"
    result = cli("export", "--target", tmp_path / "target", "--to", tmp_path / "out.db")
    assert result.exit_code == 2 and "exists" in result.stderr
    result = cli("export", "--target", tmp_path / "target", "--to", tmp_path / "o2.db", "--layout", "nope")
    assert result.exit_code == 2 and "--layout must be one of" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.db", "source.db", "target"]


def test_export_through_the_command_line(tmp_path):
    fixture = reasoningbank_model(tmp_path / "source.db")
    assert run_vecmigrate("migrate", "--source", fixture.path, "--target", tmp_path / "t", "--embedder",
                          "lexical").returncode == 0
    done = run_vecmigrate("export", "--target", tmp_path / "t", "--to", tmp_path / "out.db", "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["layout"] == "reasoningbank-model" and payload["tables"]["patterns"] == fixture.tables["patterns"]
    assert rows_of(tmp_path / "out.db", "pattern_embeddings") == rows_of(fixture.path, "pattern_embeddings")
