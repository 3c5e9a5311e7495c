"""Sources built to break the layouts, the generic mapping and the model policy (found by an
independent attack on issue 8): each must end in a clear outcome, never a silent loss."""

from __future__ import annotations

import json

import apsw
import numpy as np
import pytest

import real_layouts as rl
from conftest import open_db


def migrate(cli, source, target, *flags):
    return cli.json("migrate", "--source", source, "--target", target, "--no-backup", *flags)


def ids(target) -> set[str]:
    conn = open_db(target / "patterns.sqlite")
    try:
        return {r[0] for r in conn.execute("SELECT id FROM patterns")}
    finally:
        conn.close()


def make(path, *statements, rows=()):
    conn = apsw.Connection(str(path))
    with conn:
        for statement in statements:
            conn.execute(statement)
        for statement, values in rows:
            conn.execute(statement, values)
    conn.close()
    return path


def test_two_generic_tables_with_the_same_ids_do_not_overwrite_each_other(cli, tmp_path):
    source = make(tmp_path / "two.db", "CREATE TABLE a (id INTEGER PRIMARY KEY, body TEXT)",
                  "CREATE TABLE b (id INTEGER PRIMARY KEY, body TEXT)",
                  rows=[(f"INSERT INTO {t} VALUES (?, ?)", (i, f"{t} text {i}")) for t in "ab" for i in (1, 2, 3)])
    target = tmp_path / "t.vecdb"
    for table in "ab":
        result, _ = migrate(cli, source, target, "--table", table, "--id-column", "id", "--text-columns", "body")
        assert result.exit_code == 0
    assert ids(target) == {f"{t}:{i}" for t in "ab" for i in (1, 2, 3)}


def test_composite_ids_never_collide_and_join_their_side_table_on_every_column(cli, tmp_path):
    vectors = {("a:b", "c"): [1.0, 0, 0, 0], ("a", "b:c"): [0, 1.0, 0, 0], ("n1", "k2"): [0, 0, 1.0, 0]}
    source = make(tmp_path / "c.db", "CREATE TABLE mem (ns TEXT, k TEXT, value TEXT)",
                  "CREATE TABLE emb (ns TEXT, k TEXT, vec BLOB)",
                  rows=[("INSERT INTO mem VALUES (?, ?, ?)", (ns, k, f"text {ns} {k}")) for ns, k in vectors]
                  + [("INSERT INTO emb VALUES (?, ?, ?)", (ns, k, np.asarray(v, "<f4").tobytes()))
                     for (ns, k), v in vectors.items()])
    target = tmp_path / "t.vecdb"
    result, payload = migrate(cli, source, target, "--table", "mem", "--id-column", "ns,k", "--text-columns", "value",
                              "--embedding-table", "emb", "--embedding-key", "ns,k", "--embedding-column", "vec")
    assert result.exit_code == 0 and payload["migrated_count"] == 3 and payload["generated_embeddings"] == 0
    conn = open_db(target / "patterns.sqlite")
    got = {r[0]: np.frombuffer(r[1], "<f4").tolist() for r in conn.execute(
        "SELECT p.id, v.embedding FROM patterns p JOIN patterns_vec v ON v.rowid = p.key")}
    conn.close()
    assert got == {"mem:a\\:b:c": [1.0, 0, 0, 0], "mem:a:b\\:c": [0, 1.0, 0, 0], "mem:n1:k2": [0, 0, 1.0, 0]}
    result = cli("migrate", "--source", source, "--target", tmp_path / "u.vecdb", "--table", "mem", "--id-column", "ns,k",
                 "--text-columns", "value", "--embedding-table", "emb", "--embedding-key", "ns")
    assert result.exit_code == 2 and "--embedding-key names 1 column(s) and --id-column 2" in result.stderr


@pytest.mark.parametrize("bad", ["[" * 100000 + "]" * 100000, json.dumps([10 ** 400] * 4)])
def test_hostile_json_is_quarantined_not_a_traceback(cli, tmp_path, bad):
    fixture = rl.claude_flow_v3(tmp_path / "memory.db", 10)
    conn = apsw.Connection(str(fixture.path))
    conn.execute("UPDATE memory_entries SET embedding = ? WHERE rowid = 3", (bad,))
    conn.execute("UPDATE memory_entries SET metadata = ? WHERE rowid = 4", ("[" * 100000 + "]" * 100000,))
    conn.close()
    result, payload = migrate(cli, fixture.path, tmp_path / "t.vecdb", "--embedder", "lexical")
    assert result.exit_code == 3
    assert sorted(q["source_rowid"] for q in payload["quarantined"]) == [3, 4]
    assert payload["migrated_count"] == 8


def test_json_vectors_are_trusted_over_a_dimension_column_that_disagrees(cli, tmp_path):
    fixture = rl.claude_flow_v3(tmp_path / "memory.db", 10)
    conn = apsw.Connection(str(fixture.path))
    conn.execute("UPDATE memory_entries SET embedding_dimensions = 768")
    conn.close()
    result, payload = migrate(cli, fixture.path, tmp_path / "t.vecdb", "--embedder", "lexical")
    assert result.exit_code == 0 and payload["migrated_count"] == 10
    assert any("embedding_dimensions disagrees with the length of 9 JSON-array vector(s)" in n for n in payload["notes"])


def test_a_wrong_minilm_label_on_128_d_vectors_quarantines_rows_without_a_vector(cli, tmp_path):
    fixture = rl.reasoningbank_model(tmp_path / "model.db")
    conn = apsw.Connection(str(fixture.path))
    conn.execute("CREATE TABLE agentdb_config (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT INTO agentdb_config VALUES ('embedding_model', 'all-MiniLM-L6-v2')")
    conn.execute("DELETE FROM pattern_embeddings WHERE pattern_id = 5")
    conn.close()
    result, payload = migrate(cli, fixture.path, tmp_path / "t.vecdb")
    assert result.exit_code == 3 and [q["id"] for q in payload["quarantined"]] == ["5"]
    assert "all-MiniLM-L6-v2" in payload["quarantined"][0]["reason"]


def test_an_empty_table_named_by_table_is_refused_naming_the_full_one(cli, tmp_path):
    fixture = rl.claude_flow_v3(tmp_path / "memory.db", 10)
    target = tmp_path / "t.vecdb"
    result, payload = migrate(cli, fixture.path, target, "--table", "patterns")
    assert result.exit_code == 1 and "memory_entries" in payload["error"] and not target.exists()


def test_an_empty_target_takes_the_model_of_the_first_vectors(cli, tmp_path):
    empty = make(tmp_path / "empty.db", "CREATE TABLE qe_patterns (id TEXT PRIMARY KEY, pattern_type TEXT, "
                 "qe_domain TEXT, domain TEXT, name TEXT, template_json TEXT)")
    target = tmp_path / "t.vecdb"
    assert migrate(cli, empty, target)[0].exit_code == 0
    fixture = rl.reasoningbank_memory(tmp_path / "memory.db")
    result, payload = migrate(cli, fixture.path, target, "--dimension", "384")
    assert result.exit_code == 3 and payload["model"] == "text-embedding-3-small"
    assert cli.json("status", "--target", target)[1]["model"] == "text-embedding-3-small"


def test_a_native_table_without_its_embeddings_table_is_migrated_and_said(cli, tmp_path):
    fixture = rl.agentdb_native(tmp_path / "agentdb.db")
    conn = apsw.Connection(str(fixture.path))
    conn.execute("DROP TABLE skill_embeddings")
    conn.close()
    result, payload = migrate(cli, fixture.path, tmp_path / "t.vecdb", "--embedder", "lexical")
    assert payload["tables"] == ["episodes", "skills", "notes", "exp_nodes"] and payload["migrated_count"] == 52
    assert any("skills has no skill_embeddings table" in n for n in payload["notes"])


def test_side_table_rows_that_are_not_read_are_said(cli, tmp_path):
    fixture = rl.reasoningbank_memory(tmp_path / "memory.db")
    conn = apsw.Connection(str(fixture.path))
    conn.execute("INSERT INTO pattern_embeddings(id, model, dims, vector) VALUES ('orphan', 'text-embedding-3-small', 384, ?)",
                 (np.ones(384, "<f4").tobytes(),))
    conn.close()
    _, payload = migrate(cli, fixture.path, tmp_path / "t.vecdb")
    assert any("1 row(s) of pattern_embeddings are not read" in n for n in payload["notes"])


def test_unknown_vectors_from_two_sources_are_said_to_share_an_index(cli, tmp_path):
    target = tmp_path / "t.vecdb"
    first = rl.reasoningbank_model(tmp_path / "a" / "model.db")
    migrate(cli, first.path, target)
    second = rl.reasoningbank_model(tmp_path / "b" / "model.db")
    result, payload = migrate(cli, second.path, target, "--namespace", "b")  # the same ids: kept apart
    assert result.exit_code == 0
    assert any("unknown model from another source" in n for n in payload["notes"])
    alone = tmp_path / "alone.vecdb"
    migrate(cli, first.path, alone)
    assert not any("another source" in n for n in migrate(cli, first.path, alone)[1]["notes"])  # the same source again


def test_a_table_of_vectors_only_and_a_without_rowid_table(cli, tmp_path):
    source = make(tmp_path / "v.db", "CREATE TABLE vectors (id TEXT PRIMARY KEY, embedding BLOB)",
                  "CREATE TABLE kv (k TEXT, p TEXT, value TEXT, PRIMARY KEY (k, p)) WITHOUT ROWID",
                  rows=[("INSERT INTO vectors VALUES (?, ?)", (f"v{i}", np.full(8, i + 1, "<f4").tobytes()))
                        for i in range(3)] + [("INSERT INTO kv VALUES ('a', 'b', 'some longer text here ok')", ())])
    result, payload = migrate(cli, source, tmp_path / "t.vecdb", "--table", "vectors", "--id-column", "id",
                              "--embedding-column", "embedding")
    assert result.exit_code == 0 and payload["migrated_count"] == 3
    result = cli("migrate", "--source", source, "--target", tmp_path / "u.vecdb", "--table", "kv", "--id-column", "k,p",
                 "--text-columns", "value")
    assert result.exit_code == 1 and "WITHOUT ROWID" in result.stderr and "Traceback" not in result.stderr


def test_generic_mapping_names_a_missing_column_as_a_usage_error(cli, tmp_path):
    fixture = rl.agentic_qe_v2_memory(tmp_path / "memory.db")
    result = cli("migrate", "--source", fixture.path, "--target", tmp_path / "t.vecdb", "--table", "memory_entries",
                 "--id-column", "key", "--text-columns", "nope")
    assert result.exit_code == 2 and "has no column(s) nope" in result.stderr


def test_the_layout_holding_the_rows_wins_and_the_other_is_named(cli, tmp_path):
    memory = rl.reasoningbank_memory(tmp_path / "rb.db")   # 40 patterns, plus a stray AgentDB skill
    conn = apsw.Connection(str(memory.path))
    conn.execute("CREATE TABLE skills (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, description TEXT, "
                 "signature JSON NOT NULL, success_rate REAL)")
    conn.execute("CREATE TABLE skill_embeddings (skill_id INTEGER PRIMARY KEY, embedding BLOB NOT NULL, embedding_model TEXT)")
    conn.execute("INSERT INTO skills VALUES (1, 's', 'd', '{}', 1.0)")
    conn.execute("INSERT INTO skill_embeddings VALUES (1, ?, 'text-embedding-3-small')", (np.ones(384, "<f4").tobytes(),))
    conn.close()
    result, payload = migrate(cli, memory.path, tmp_path / "t.vecdb")
    assert payload["schema"] == "reasoningbank-memory" and payload["total_patterns"] == 40
    assert any("agentdb-native table(s) skills (1 row): --table skills" in n for n in payload["notes"])
    _, skills = migrate(cli, memory.path, tmp_path / "s.vecdb", "--table", "skills")
    assert skills["schema"] == "agentdb-native" and skills["migrated_count"] == 1
    conn = apsw.Connection(str(memory.path))  # the other layout now holds more rows than the one migrated
    conn.executemany("INSERT INTO skills VALUES (?, ?, 'd', '{}', 1.0)", [(i, f"s{i}") for i in range(2, 60)])
    conn.close()
    _, status = cli.json("status", "--target", tmp_path / "t.vecdb")
    assert (status["source_count"], status["migration_complete"]) == (40, True)  # as the run read it


def test_a_legacy_table_with_extra_columns_keeps_the_legacy_mapping(cli, tmp_path, make_source):
    source = make_source("legacy-qe", 20)
    conn = apsw.Connection(str(source))
    conn.execute("ALTER TABLE patterns ADD COLUMN type TEXT")
    conn.execute("ALTER TABLE patterns ADD COLUMN embedding BLOB")
    conn.close()
    _, payload = migrate(cli, source, tmp_path / "t.vecdb", "--dimension", "32")
    assert payload["schema"] == "legacy-qe" and payload["migrated_count"] == 20


def test_status_and_verify_of_a_named_source_use_the_run_that_read_it(cli, tmp_path):
    memory = rl.agentic_qe_v2_memory(tmp_path / "aqe.db")
    target = tmp_path / "t.vecdb"
    migrate(cli, memory.path, target, "--table", "memory_entries", "--id-column", "key,partition",
            "--text-columns", "value->$.summary")
    _, status = cli.json("status", "--target", target, "--source", memory.path)
    assert (status["source_count"], status["coverage"], status["migration_complete"]) == (20, 1.0, True)
    first = rl.agentic_qe_agentdb(tmp_path / "agentdb.db")       # one row quarantined: malformed metadata
    conn = apsw.Connection(str(first.path))
    conn.execute("UPDATE patterns SET metadata = '{oops' WHERE rowid = 2")
    conn.close()
    both = tmp_path / "both.vecdb"
    assert migrate(cli, first.path, both)[0].exit_code == 3
    result, _ = migrate(cli, memory.path, both, "--table", "memory_entries", "--id-column", "key,partition",
                        "--text-columns", "value->$.summary")
    assert result.exit_code == 0
    _, status = cli.json("status", "--target", both, "--source", first.path)
    assert (status["source_count"], status["quarantined_count"], status["migration_complete"]) == (12, 1, True)
    result, report = cli.json("verify", "--target", both, "--source", first.path)
    assert result.exit_code == 0 and report["checks"]["source_ids"]["source_rows"] == 12


def test_square_brackets_in_names_and_values_are_shown_as_they_are(cli, tmp_path):
    source = make(tmp_path / "br.db", 'CREATE TABLE "[b]m[/b]" (id TEXT PRIMARY KEY, "[i]t[/i]" TEXT)',
                  rows=[("INSERT INTO \"[b]m[/b]\" VALUES (?, ?)", ("[r]1[/r]", "hello [u]world[/u] retry"))])
    target = tmp_path / "t.vecdb"
    result = cli("migrate", "--source", source, "--target", target, "--no-backup", "--table", "[b]m[/b]",
                 "--id-column", "id", "--text-columns", "[i]t[/i]", "--kind", "[k]")
    assert result.exit_code == 0 and "[b]m[/b]" in result.stdout
    result = cli("search", "--target", target, "--text", "hello world", "-k", "1")
    assert "[k]:[r]1[/r]" in result.stdout and "[u]world[/u]" in result.stdout
    assert "[k]" in cli("status", "--target", target).stdout
