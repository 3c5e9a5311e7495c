"""Each defect a hostile review found in write-back, export and reconcile (issue 12), kept as a
test that fails on the code before its fix."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import apsw
import numpy as np
import real_layouts as rl
from conftest import run_vecmigrate

from vecmigrate import Migrator
from vecmigrate.commands import reconcile, sync
from vecmigrate.models import Pattern
from vecmigrate.stores import create_dual_write
from vecmigrate.verbs.export import export
from vecmigrate.verbs.migrate import MigrateOptions
from vecmigrate.verbs.verify import verify


def migrate(source: Path, target: Path) -> None:
    Migrator(source, target).migrate(MigrateOptions(embedder="lexical", backup=False))


def q(path: Path, query: str, *args) -> list:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query, args).fetchall()
    finally:
        conn.close()


def test_a_verbatim_export_leaves_null_model_labels_null(tmp_path):
    """Side rows without a model label came back labelled 'unknown' while counted verbatim."""
    source = rl.agentdb_native(tmp_path / "legacy.db").path
    migrate(source, tmp_path / "t")
    export(tmp_path / "t", tmp_path / "out.db")
    for table, key in (("skill_embeddings", "skill_id"), ("note_embeddings", "note_id")):
        query = f"SELECT {key}, * FROM {table} ORDER BY 1"
        assert q(tmp_path / "out.db", query) == q(source, query), table


def test_a_field_cleared_through_the_proxy_is_cleared_in_the_legacy_file(tmp_path):
    source = rl.claude_flow_v3(tmp_path / "legacy.db").path
    conn = apsw.Connection(str(source))
    conn.execute("UPDATE memory_entries SET expires_at = 1767225600000, owner_id = 'alice'")
    conn.close()
    migrate(source, tmp_path / "t")
    with create_dual_write(tmp_path / "t", source) as proxy:
        pid = proxy.primary.conn.execute("SELECT id FROM patterns ORDER BY key LIMIT 1").fetchone()[0]
        stored = proxy.primary.get(pid)
        proxy.store(replace(stored.pattern, metadata={**stored.pattern.metadata, "expiresAt": None, "ownerId": None}),
                    stored.vector)
        assert proxy.journal() == []
    own = pid.split(":", 1)[1]
    assert q(source, "SELECT expires_at, owner_id FROM memory_entries WHERE id = ?", own) == [(None, None)]
    assert sync(source, tmp_path / "t", MigrateOptions(embedder="lexical"))[-1].conflicts == []
    export(tmp_path / "t", tmp_path / "out.db")
    assert q(tmp_path / "out.db", "SELECT expires_at, owner_id FROM memory_entries WHERE id = ?", own) == [(None, None)]


def test_new_patterns_without_a_time_through_the_proxy_are_no_conflict(tmp_path):
    """The legacy schema's NOT NULL time columns were filled with 'now' on one side only."""
    for name, build, pid in (("cf", rl.claude_flow_v3, "memory:new1"), ("native", rl.agentdb_native, "episode:900")):
        source = build(tmp_path / f"{name}.db").path
        migrate(source, tmp_path / name)
        with create_dual_write(tmp_path / name, source) as proxy:
            proxy.store(Pattern(id=pid, content="the agent wrote this", kind=pid.split(":")[0]),
                        np.ones(proxy.primary.settings.dimension, dtype=np.float32))
            assert proxy.journal() == []
        done = run_vecmigrate("sync", "--source", source, "--target", tmp_path / name, "--embedder", "lexical")
        assert done.returncode == 0, done.stderr
        export(tmp_path / name, tmp_path / f"{name}-out.db")
        table = "memory_entries" if name == "cf" else "episodes"
        assert q(tmp_path / f"{name}-out.db", f"SELECT * FROM {table} ORDER BY id") == \
            q(source, f"SELECT * FROM {table} ORDER BY id")


def test_one_failing_journal_entry_does_not_block_the_others(tmp_path):
    source = rl.reasoningbank_model(tmp_path / "legacy.db").path
    migrate(source, tmp_path / "t")
    with create_dual_write(tmp_path / "t", source) as proxy:
        proxy.store(Pattern(id="not-a-number", content="x"), np.ones(128, dtype=np.float32))  # cannot be written
        lock = apsw.Connection(str(source))
        lock.execute("BEGIN EXCLUSIVE")
        proxy.secondary.conn.setbusytimeout(10)
        proxy.store(Pattern(id="900", content="written while the file was locked"), np.ones(128, dtype=np.float32))
        lock.execute("ROLLBACK")
        lock.close()
        assert [j["pattern_id"] for j in proxy.journal()] == ["not-a-number", "900"]
    report = reconcile(tmp_path / "t", source)
    assert report.copied_to_secondary == 1 and len(report.still_failing) == 1
    assert q(source, "SELECT problem FROM patterns WHERE id = 900") == [("written while the file was locked",)]
    done = run_vecmigrate("reconcile", "--primary", tmp_path / "t", "--secondary", source)
    assert done.returncode == 3 and "Traceback" not in done.stderr


def test_an_id_without_its_tables_prefix_is_refused_not_doubled(tmp_path):
    source = rl.claude_flow_v3(tmp_path / "legacy.db").path
    migrate(source, tmp_path / "t")
    with create_dual_write(tmp_path / "t", source) as proxy:
        proxy.store(Pattern(id="foo", content="no prefix"), np.ones(384, dtype=np.float32))
        assert "'memory:' or 'pattern:'" in proxy.journal()[0]["error"]
        proxy.store(Pattern(id="memory:bar", content="prefixed, default kind"), np.ones(384, dtype=np.float32))
    assert q(source, "SELECT count(*) FROM memory_entries WHERE id = 'bar'") == [(1,)]
    assert q(source, "SELECT count(*) FROM patterns WHERE id IN ('foo', 'bar')") == [(0,)]


def test_the_export_keeps_the_sources_unique_index_and_autoincrement_mark(tmp_path):
    fixture = rl.qe_v3(tmp_path / "legacy.db", count=10)
    migrate(fixture.path, tmp_path / "t")
    export(tmp_path / "t", tmp_path / "out.db")
    conn = sqlite3.connect(tmp_path / "out.db")   # agentic-qe's upsert needs its UNIQUE index
    conn.execute("INSERT INTO qe_patterns(id, pattern_type, qe_domain, domain, name) VALUES ('x', 't', 'q', 'd', 'n') "
                 "ON CONFLICT(name, qe_domain, pattern_type) DO NOTHING")
    conn.close()
    model = rl.reasoningbank_model(tmp_path / "model.db").path
    conn = apsw.Connection(str(model))
    last = conn.execute("SELECT max(id) FROM patterns").fetchone()[0]
    conn.execute("DELETE FROM pattern_embeddings WHERE pattern_id = ?", (last,))
    conn.execute("DELETE FROM patterns WHERE id = ?", (last,))
    conn.close()
    migrate(model, tmp_path / "t2")
    export(tmp_path / "t2", tmp_path / "out2.db")
    query = "SELECT seq FROM sqlite_sequence WHERE name = 'patterns'"
    assert q(tmp_path / "out2.db", query) == q(model, query) == [(last,)]   # a deleted id is not handed out again


def test_a_table_that_keeps_no_vectors_gets_none_on_export(tmp_path):
    source = rl.agentic_qe_agentdb(tmp_path / "legacy.db").path
    migrate(source, tmp_path / "t")
    with create_dual_write(tmp_path / "t", source) as proxy:
        pid = proxy.primary.conn.execute("SELECT id FROM patterns ORDER BY key LIMIT 1").fetchone()[0]
        stored = proxy.primary.get(pid)
        proxy.store(replace(stored.pattern, usage_count=3), stored.vector)
    sync(source, tmp_path / "t", MigrateOptions(embedder="lexical"))
    export(tmp_path / "t", tmp_path / "out.db")
    query = "SELECT * FROM patterns ORDER BY id"
    assert q(tmp_path / "out.db", query) == q(source, query)


def test_a_vector_the_target_made_is_written_back_with_its_own_model_label(tmp_path):
    fixture = rl.qe_v3(tmp_path / "legacy.db", count=10)
    migrate(fixture.path, tmp_path / "t")
    pid = fixture.without_vector[0]
    query = "SELECT model FROM qe_pattern_embeddings WHERE pattern_id = ?"
    with create_dual_write(tmp_path / "t", fixture.path) as proxy:
        stored = proxy.primary.get(pid)
        proxy.store(replace(stored.pattern, usage_count=7), stored.vector)   # the vector unchanged: not written
        assert q(fixture.path, query, pid) == []
        proxy.store(replace(stored.pattern, usage_count=8), stored.vector * 2)
    label = stored.pattern.embedding_model
    assert label and label != "all-MiniLM-L6-v2"
    assert q(fixture.path, query, pid) == [(label,)]


def test_a_dual_write_touches_only_what_it_changed(tmp_path):
    """A store wrote a pattern it read before the legacy application edited the row: the
    application's edit stays, and sync reports the two changes as a conflict."""
    fixture = rl.qe_v3(tmp_path / "legacy.db", count=10)
    migrate(fixture.path, tmp_path / "t")
    first = sorted(fixture.stored)[0]
    with create_dual_write(tmp_path / "t", fixture.path) as proxy:
        stale = proxy.primary.get(first)
        conn = apsw.Connection(str(fixture.path))
        conn.execute("UPDATE qe_patterns SET description = 'the application edited this' WHERE id = ?", (first,))
        conn.close()
        proxy.store(replace(stale.pattern, metadata={**stale.pattern.metadata, "confidence": 0.99}), stale.vector)
    assert q(fixture.path, "SELECT description, confidence FROM qe_patterns WHERE id = ?", first) == \
        [("the application edited this", 0.99)]
    done = run_vecmigrate("sync", "--source", fixture.path, "--target", tmp_path / "t", "--embedder", "lexical")
    assert done.returncode == 1 and first in done.stderr


def test_two_sources_of_one_layout_both_export(tmp_path):
    first = rl.qe_v3(tmp_path / "a.db", count=10).path
    second = tmp_path / "b.db"
    subprocess.run([sys.executable, "-m", "vecmigrate.sources.samples", str(second), "--variant", "qe-v3", "--count",
                    "10"], check=True, capture_output=True)
    migrate(first, tmp_path / "t")
    migrate(second, tmp_path / "t")
    result = export(tmp_path / "t", tmp_path / "out.db")
    assert result.skipped == [] and result.tables["qe_patterns"] == 20
    assert any("new rowids" in n for n in result.notes)


def test_a_table_whose_columns_shadow_every_rowid_name_exports(tmp_path):
    source = tmp_path / "legacy.db"
    conn = apsw.Connection(str(source))
    conn.execute("CREATE TABLE patterns (id INTEGER PRIMARY KEY AUTOINCREMENT, problem TEXT NOT NULL, solution TEXT NOT "
                 "NULL, rationale TEXT, confidence REAL, success_rate REAL, domain TEXT NOT NULL, tags TEXT, created_at "
                 "DATETIME, rowid TEXT, _rowid_ TEXT, oid TEXT)")
    conn.execute("CREATE TABLE pattern_embeddings (id INTEGER PRIMARY KEY AUTOINCREMENT, pattern_id INTEGER NOT NULL, "
                 "embedding BLOB)")
    for i in range(3):
        conn.execute("INSERT INTO patterns(problem, solution, domain, rowid) VALUES ('p', 's', 'd', 'r')")
        conn.execute("INSERT INTO pattern_embeddings(pattern_id, embedding) VALUES (?, ?)",
                     (i + 1, np.ones(8, dtype="<f4").tobytes()))
    conn.close()
    migrate(source, tmp_path / "t")
    export(tmp_path / "t", tmp_path / "out.db")
    assert q(tmp_path / "out.db", "SELECT * FROM patterns ORDER BY id") == q(source, "SELECT * FROM patterns ORDER BY id")


def test_json_true_and_1_are_different_values(tmp_path):
    from vecmigrate.sources.reverse import same_value
    assert not same_value('{"retries": true}', '{"retries": 1}')
    assert same_value('{"a": 1, "b": 2}', '{"b": 2, "a": 1}')


def test_an_unchanged_store_through_the_proxy_rewrites_nothing(tmp_path):
    fixture = rl.reasoningbank_memory(tmp_path / "legacy.db")
    migrate(fixture.path, tmp_path / "t")
    before = q(fixture.path, "SELECT rowid, * FROM pattern_embeddings ORDER BY rowid")
    with create_dual_write(tmp_path / "t", fixture.path) as proxy:
        pid = proxy.primary.conn.execute("SELECT id FROM patterns ORDER BY key LIMIT 1").fetchone()[0]
        stored = proxy.primary.get(pid)
        proxy.store(stored.pattern, stored.vector)
    assert q(fixture.path, "SELECT rowid, * FROM pattern_embeddings ORDER BY rowid") == before
    assert verify(tmp_path / "t").ok
