import apsw
import pytest

from vecmigrate.db import open_source
from vecmigrate.errors import SourceError
from vecmigrate.sources import BY_NAME, SourceReader, detect
from vecmigrate.sources.samples import BUILDERS


@pytest.mark.parametrize("variant", sorted(BUILDERS))
def test_each_variant_is_detected(make_source, variant):
    conn = open_source(make_source(variant, 5))
    plan = detect(conn)
    assert plan.layout == variant
    assert plan.tables == [BY_NAME[variant].table]


def test_table_override_reads_a_renamed_table(make_source):
    path = make_source("legacy-qe", 5)
    conn = apsw.Connection(str(path))
    conn.execute("ALTER TABLE patterns RENAME TO old_patterns")
    conn.close()
    reader_conn = open_source(path)
    with pytest.raises(SourceError, match="no known AgentDB-family layout"):
        detect(reader_conn)
    plan = detect(reader_conn, "old_patterns")
    assert (plan.layout, plan.tables) == ("legacy-qe", ["old_patterns"])
    with pytest.raises(SourceError, match="table 'nope' not found"):
        detect(reader_conn, "nope")


def test_unknown_schema_is_refused_naming_its_tables(tmp_path):
    path = tmp_path / "other.db"
    conn = apsw.Connection(str(path))
    conn.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)")
    conn.close()
    with pytest.raises(SourceError, match="tables: notes"):
        detect(open_source(path))


def test_reader_streams_batches_in_rowid_order(make_source):
    conn = open_source(make_source("legacy-qe", 25))
    plan = detect(conn)
    with SourceReader(conn, plan.parts[0]) as reader:
        sizes = [len(b) for b in reader.batches(10)]
        resumed = [r.rowid for b in reader.batches(10, after_rowid=20) for r in b]
    assert sizes == [10, 10, 5]
    assert resumed == [21, 22, 23, 24, 25]


def test_reader_sees_one_snapshot_while_another_process_writes(make_source):
    path = make_source("legacy-qe", 30)
    writer = apsw.Connection(str(path))
    writer.execute("PRAGMA journal_mode=WAL")
    conn = open_source(path)
    plan = detect(conn)
    with SourceReader(conn, plan.parts[0]) as reader:
        first = next(reader.batches(10))
        writer.execute("INSERT INTO patterns(id, name, template, category) VALUES ('late', 'late', 't', 'unit')")
        rest = [r for b in reader.batches(10, after_rowid=first[-1].rowid) for r in b]
        assert reader.count() == 30
    assert len(first) + len(rest) == 30
    assert all(r.values["id"] != "late" for r in rest)
    writer.close()


@pytest.mark.parametrize("content, message", [
    (None, "not found"),
    (b"this is not a database at all" * 100, "not a SQLite database"),
])
def test_bad_source_files(tmp_path, content, message):
    path = tmp_path / "source.db"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SourceError, match=message):
        open_source(path)


def test_directory_is_not_a_source(tmp_path):
    with pytest.raises(SourceError, match="is a directory"):
        open_source(tmp_path)


def test_a_side_table_without_an_index_is_joined_in_one_pass(tmp_path):
    """reasoningbank-model's pattern_embeddings has no index on pattern_id: a correlated
    subquery per pattern scanned it once per row (50k rows: 153 s a query, against 0.07 s)."""
    import sys
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    import real_layouts as rl
    fixture = rl.reasoningbank_model(tmp_path / "model.db")
    conn = open_source(fixture.path)
    plan = detect(conn)
    reader = SourceReader(conn, plan.parts[0])
    steps = " | ".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN SELECT count(*) {reader.from_clause()}"))
    assert "CORRELATED" not in steps and "GROUP BY" in steps, steps
