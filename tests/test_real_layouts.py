"""Every layout of real-layouts.md migrates: detection, counts, exact vectors, the documented
mapping and every source column recoverable from the target. Fixtures: tests/real_layouts.py."""

from __future__ import annotations

import json
from pathlib import Path

import apsw
import numpy as np
import pytest
import real_layouts as rl
from conftest import open_db, rows
from usearch.index import Index

from vecmigrate.sources.transform import to_epoch_ms

LAYOUTS = {
    "qe-v3": lambda p: rl.qe_v3(p),
    "agentdb-adapter": lambda p: rl.agentic_qe_agentdb(p),
    "reasoningbank-memory": lambda p: rl.reasoningbank_memory(p),
    "reasoningbank-model": lambda p: rl.reasoningbank_model(p),
    "claude-flow-v3": lambda p: rl.claude_flow_v3(p),
    "agentdb-native": lambda p: rl.agentdb_native(p),
    "swarm-memory": lambda p: rl.agentic_qe_v2_memory(p),
}


PREFIXED = {"agentdb-native", "claude-flow-v3"}
PREFIX = {"episodes": "episode:", "skills": "skill:", "notes": "note:", "exp_nodes": "experience:",
          "memory_entries": "memory:", "patterns": "pattern:"}


SIDE = {("qe-v3", "qe_patterns"): ("qe_pattern_embeddings", "pattern_id"),
        ("reasoningbank-memory", "patterns"): ("pattern_embeddings", "id"),
        ("reasoningbank-model", "patterns"): ("pattern_embeddings", "pattern_id"),
        ("agentdb-native", "episodes"): ("episode_embeddings", "episode_id"),
        ("agentdb-native", "skills"): ("skill_embeddings", "skill_id"),
        ("agentdb-native", "notes"): ("note_embeddings", "note_id"),
        ("agentdb-native", "exp_nodes"): ("exp_node_embeddings", "node_id")}


def migrate(cli, source: Path, target: Path, *flags):
    result, payload = cli.json("migrate", "--source", source, "--target", target, "--no-backup", *flags)
    assert result.exit_code in (0, 3), result.stderr + result.stdout
    assert result.exit_code == (3 if payload["quarantined"] else 0)
    return payload


def target_rows(target: Path) -> dict[str, dict]:
    conn = open_db(target / "patterns.sqlite")
    out = {r["id"]: r for r in rows(conn, "SELECT p.*, v.embedding AS vector FROM patterns p"
                                         " JOIN patterns_vec v ON v.rowid = p.key")}
    conn.close()
    return out


def index_vector(target: Path, key: int, dimension: int) -> bytes:
    index = Index.restore(str(target / "patterns.usearch"), view=True)
    return np.asarray(index.get(key, dtype=np.float32), dtype="<f4").tobytes()


def leaves(value, out: set) -> set:
    """Every scalar inside a target row (columns and the parsed metadata), as comparable text."""
    if isinstance(value, dict):
        out.add(json.dumps(value, sort_keys=True, default=str))
        for k, v in value.items():
            leaves(v, out)
            if k == "$blob":
                out.add(("blob", v))
    elif isinstance(value, list):
        out.add(json.dumps(value, sort_keys=True, default=str))
        for v in value:
            leaves(v, out)
    elif isinstance(value, bytes):
        out.add(("blob", value.hex()))
    elif value is not None:
        out.add(str(value))
        if isinstance(value, float) and value == int(value):
            out.add(str(int(value)))
    return out


def recoverable(value, found: set) -> bool:
    if value is None:
        return True
    if isinstance(value, bytes):
        return ("blob", value.hex()) in found
    if str(value) in found:
        return True
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if parsed is not None and (json.dumps(parsed, sort_keys=True) in found or str(parsed) in found):
            return True
        if isinstance(parsed, dict):  # a metadata object merged key by key into the target's
            return all(str(v) in found or json.dumps(v, sort_keys=True) in found for v in parsed.values())
        if isinstance(parsed, list) and parsed and all(isinstance(x, float) for x in parsed):  # a JSON-text vector
            as_f32 = np.asarray(parsed, dtype="<f4")
            return ("blob", as_f32.tobytes().hex()) in found and as_f32.astype(float).tolist() == parsed
    try:
        return str(to_epoch_ms(value, "x")) in found
    except Exception:
        return False


def source_rows(path: Path, table: str) -> list[dict]:
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return rows(conn, f'SELECT rowid AS __rowid, * FROM "{table}"')
    finally:
        conn.close()


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_real_layout_migrates_completely_and_exactly(cli, tmp_path, name):
    fixture = LAYOUTS[name](tmp_path / "source" / "memory.db")
    target = tmp_path / "t.vecdb"
    payload = migrate(cli, fixture.path, target, "--embedder", "lexical")
    # detection: the layout and every vector table, in one run
    assert payload["schema"] == fixture.layout
    assert payload["tables"] == list(fixture.tables)
    # counts: migrated + quarantined == source rows of every vector table
    assert payload["total_patterns"] == sum(fixture.tables.values())
    assert payload["migrated_count"] + len(payload["quarantined"]) == payload["total_patterns"]
    assert payload["errors"] == []
    stored = target_rows(target)
    dimension = len(next(iter(fixture.stored.values()), b"\0" * 1536)) // 4
    # stored vectors byte-equal in vec0 and in USearch (f32)
    for pattern_id, blob in fixture.stored.items():
        assert stored[pattern_id]["vector"] == blob, pattern_id
        assert index_vector(target, stored[pattern_id]["key"], dimension) == blob, pattern_id
    # rows without a vector were embedded (explicitly asked: --embedder lexical), and the target says so
    for pattern_id in fixture.without_vector:
        assert stored[pattern_id]["embedding_model"] == "lexical"
    # every source column of every vector table is recoverable from the target
    kinds = {}
    for table in fixture.tables:
        for source in source_rows(fixture.path, table):
            target_id = PREFIX.get(table, "") + str(source["id"]) if fixture.layout in PREFIXED else str(source["id"])
            assert target_id in stored, f"{table} row {source['__rowid']} ({target_id}) is not in the target"
            row = stored[target_id]
            kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
            found = leaves({k: v for k, v in row.items() if k != "metadata"}, set())
            leaves(json.loads(row["metadata"]), found)
            found.add(("blob", row["vector"].hex()))
            lost = [c for c, v in source.items() if c != "__rowid" and not recoverable(v, found)]
            assert not lost, f"{table} row {source['__rowid']}: columns {lost} are not recoverable"
            side, key = SIDE.get((fixture.layout, table), (None, None))
            for vector_row in (source_rows(fixture.path, side) if side else []):
                if str(vector_row[key]) == str(source["id"]) and vector_row[key] is not None:
                    lost = [c for c, v in vector_row.items() if c != "__rowid" and not recoverable(v, found)]
                    assert not lost, f"{side} row {vector_row['__rowid']}: columns {lost} are not recoverable"
    assert sum(kinds.values()) == payload["migrated_count"]


def test_several_vector_tables_keep_their_kind_and_table_picks_one(cli, tmp_path):
    fixture = rl.agentdb_native(tmp_path / "agentdb.db")
    target = tmp_path / "t.vecdb"
    migrate(cli, fixture.path, target, "--embedder", "lexical")
    conn = open_db(target / "patterns.sqlite")
    kinds = dict(conn.execute("SELECT kind, count(*) FROM patterns GROUP BY kind").fetchall())
    assert kinds == {"episode": 40, "skill": 5, "note": 4, "experience": 3}
    vec_kinds = dict(conn.execute("SELECT kind, count(*) FROM patterns_vec GROUP BY kind").fetchall())
    assert vec_kinds == kinds
    conn.close()
    for backend in ("usearch", "sqlite-vec"):
        _, hits = cli.json("search", "--target", target, "--id", "note:2", "--kind", "skill", "-k", "3",
                           "--backend", backend)
        assert [h["kind"] for h in hits["hits"]] == ["skill"] * 3
    one = tmp_path / "skills.vecdb"
    payload = migrate(cli, fixture.path, one, "--table", "skills")
    assert payload["tables"] == ["skills"] and payload["migrated_count"] == 5
    assert set(target_rows(one)) == {f"skill:{i}" for i in range(1, 6)}


def test_empty_pattern_table_beside_full_memory_entries_is_not_a_silent_loss(cli, tmp_path):
    fixture = rl.claude_flow_v3(tmp_path / "memory.db")
    payload = migrate(cli, fixture.path, tmp_path / "t.vecdb", "--embedder", "lexical")
    assert payload["migrated_count"] == 30  # memory_entries, not the empty patterns / reasoning_patterns
    assert any("vector_indexes" in note and "768" in note for note in payload["notes"])


def test_a_file_of_text_only_memories_names_the_tables_and_the_command(cli, tmp_path):
    path = rl.hive_mind(tmp_path / "hive.db")
    result = cli("migrate", "--source", path, "--target", tmp_path / "t.vecdb")
    assert result.exit_code == 1
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, result.stderr
    assert "collective_memory" in lines[0] and "--table collective_memory --id-column id --text-columns value" in lines[0]
    assert not (tmp_path / "t.vecdb").exists()


def test_generic_mapping_composite_id_and_json_text(cli, tmp_path):
    fixture = rl.agentic_qe_v2_memory(tmp_path / "memory.db")
    target = tmp_path / "t.vecdb"
    payload = migrate(cli, fixture.path, target, "--table", "memory_entries", "--id-column", "key,partition",
                      "--text-columns", "value->$.summary", "--kind", "memory")
    assert payload["schema"] == "generic" and payload["migrated_count"] == 20
    stored = target_rows(target)
    row = stored["memory:aqe/task/3:coordination"]
    assert row["kind"] == "memory" and row["embedding_model"] == "lexical"
    source = json.loads(json.loads(row["metadata"])["sourceColumns"]["value"])
    assert row["content"] == source["summary"]
    # the suggested command of a text-only claude-flow v2 file runs as printed
    path = rl.claude_flow_v2_memory(tmp_path / "v2.db")
    result = cli("migrate", "--source", path, "--target", tmp_path / "v2.vecdb")
    assert result.exit_code == 1 and "--text-columns 'value->$.content'" in result.stderr
    payload = migrate(cli, path, tmp_path / "v2.vecdb", "--table", "memory_entries", "--id-column", "id",
                      "--text-columns", "value->$.content")
    assert payload["migrated_count"] == 12


def test_generic_mapping_with_an_embedding_side_table(cli, tmp_path):
    fixture = rl.reasoningbank_model(tmp_path / "model.db")
    target = tmp_path / "t.vecdb"
    payload = migrate(cli, fixture.path, target, "--table", "patterns", "--id-column", "id",
                      "--text-columns", "problem,solution", "--embedding-table", "pattern_embeddings",
                      "--embedding-key", "pattern_id")
    assert payload["migrated_count"] == 30 and payload["generated_embeddings"] == 0
    stored = target_rows(target)
    assert all(stored[f"patterns:{i}"]["vector"] == blob for i, blob in fixture.stored.items())


@pytest.mark.parametrize("flags, message", [
    (["--table", "memory_entries", "--id-column", "key"], "--text-columns is required"),
    (["--table", "memory_entries", "--id-column", "nope", "--text-columns", "value"], "has no column(s) nope"),
    (["--text-columns", "value"], "need(s) --table"),
])
def test_generic_mapping_usage_errors(cli, tmp_path, flags, message):
    fixture = rl.agentic_qe_v2_memory(tmp_path / "memory.db")
    result = cli("migrate", "--source", fixture.path, "--target", tmp_path / "t.vecdb", *flags)
    assert result.exit_code in (1, 2)
    assert message in result.stderr


def test_wal_rows_are_read(cli, tmp_path):
    def more(conn):
        for i in range(5):
            conn.execute("INSERT INTO patterns(problem, solution, domain) VALUES (?, ?, 'wal')", (f"p{i}", f"s{i}"))
        return 5
    fixture, added = rl.with_uncheckpointed_wal(lambda p: rl.reasoningbank_model(p), tmp_path, more)
    main_only = apsw.Connection(f"file:{fixture.path}?immutable=1", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    assert main_only.execute("SELECT count(*) FROM patterns").fetchall()[0][0] == 30  # what immutable=1 would see
    main_only.close()
    payload = migrate(cli, fixture.path, tmp_path / "t.vecdb", "--embedder", "lexical")
    assert payload["total_patterns"] == 30 + added
    assert payload["migrated_count"] == 35


def _as_nobody(*args: str, cwd: Path):
    import subprocess
    import sys
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m",
                           "vecmigrate", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120)


def _nobody_can_run_vecmigrate() -> bool:
    """Root, setpriv, and a checkout and virtualenv that user `nobody` may read (a checkout in a
    0700 folder, as `mktemp -d` makes, is not)."""
    import os
    import shutil
    import subprocess
    import sys
    if not (hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("setpriv")):
        return False
    probe = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                            "import vecmigrate"], capture_output=True, timeout=60, cwd="/")
    return probe.returncode == 0


@pytest.mark.skipif(not _nobody_can_run_vecmigrate(),
                    reason="needs root, setpriv and a checkout user nobody may read, to run the CLI as a user "
                           "who may not write the source folder")
@pytest.mark.parametrize("with_wal", [False, True])
def test_a_wal_source_in_a_read_only_folder(tmp_path_factory, with_wal):
    """A WAL-mode file committed with or without its -wal, in a folder the user may not write:
    every row (the WAL's too) is read, and nothing is created beside the source."""
    import os
    import tempfile
    root = Path(tempfile.mkdtemp(prefix="vecmigrate-ro-"))
    os.chmod(root, 0o755)
    fixture, added = rl.committed_wal_model_source(root, with_wal, 4)
    folder = fixture.path.parent
    for p in folder.iterdir():
        os.chmod(p, 0o444)
    os.chmod(folder, 0o555)
    before = sorted(p.name for p in folder.iterdir())
    out = root / "out"
    out.mkdir()
    os.chmod(out, 0o777)
    result = _as_nobody("migrate", "--source", fixture.path, "--target", out / "t.vecdb", "--no-backup", "--json",
                        cwd=out)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["total_patterns"] == payload["migrated_count"] == 30 + added
    assert sorted(p.name for p in folder.iterdir()) == before
    status = _as_nobody("status", "--target", out / "t.vecdb", "--json", cwd=out)
    assert json.loads(status.stdout)["migration_complete"] is True, status.stdout + status.stderr
    os.chmod(folder, 0o755)
    __import__("shutil").rmtree(root, ignore_errors=True)


def _one(target: Path, pattern_id: str) -> dict:
    row = target_rows(target)[pattern_id]
    row["metadata"] = json.loads(row["metadata"])
    return row


def test_the_mappings_are_as_documented(cli, tmp_path):
    """One row of each new layout against the README's mapping table."""
    memory = rl.reasoningbank_memory(tmp_path / "rb" / "memory.db")
    migrate(cli, memory.path, tmp_path / "rb.vecdb", "--embedder", "lexical")
    source = source_rows(memory.path, "patterns")[0]
    data = json.loads(source["pattern_data"])
    row = _one(tmp_path / "rb.vecdb", source["id"])
    assert (row["content"], row["type"], row["domain"], row["kind"]) == (data["content"], "reasoning_memory",
                                                                        data["domain"], "pattern")
    assert row["created_at"] == to_epoch_ms(source["created_at"], "c", "text")
    assert row["metadata"]["patternData"] == data and row["embedding_model"] == "text-embedding-3-small"

    model = rl.reasoningbank_model(tmp_path / "model" / "memory.db")
    migrate(cli, model.path, tmp_path / "model.vecdb")
    source = source_rows(model.path, "patterns")[0]
    row = _one(tmp_path / "model.vecdb", "1")
    assert row["content"].startswith(f"Problem: {source['problem']}\nSolution: {source['solution']}")
    assert row["domain"] == source["domain"] and row["metadata"]["tags"] == json.loads(source["tags"])
    assert row["verdict"] == ("success" if source["success_rate"] >= 0.9 else
                              "flaky" if source["success_rate"] >= 0.7 else "failure")

    flow = rl.claude_flow_v3(tmp_path / "flow" / "memory.db")
    migrate(cli, flow.path, tmp_path / "flow.vecdb", "--embedder", "lexical")
    source = source_rows(flow.path, "memory_entries")[0]
    row = _one(tmp_path / "flow.vecdb", f"memory:{source['id']}")
    assert (row["content"], row["type"], row["domain"], row["kind"]) == (source["content"], source["type"],
                                                                        source["namespace"], "memory")
    assert row["created_at"] == source["created_at"] and row["metadata"]["sourceId"] == source["id"]
    assert row["metadata"]["key"] == source["key"] and row["embedding_model"] == "onnx"

    native = rl.agentdb_native(tmp_path / "native" / "agentdb.db")
    result, payload = cli.json("migrate", "--source", native.path, "--target", tmp_path / "n.vecdb", "--dry-run",
                               "--embedder", "lexical")
    assert payload["dry_run"] and payload["migrated_count"] == 52 and not (tmp_path / "n.vecdb").exists()
    migrate(cli, native.path, tmp_path / "n.vecdb", "--embedder", "lexical")
    episode = source_rows(native.path, "episodes")[0]
    row = _one(tmp_path / "n.vecdb", "episode:1")
    assert row["content"].startswith(f"Task: {episode['task']}\nInput: {episode['input']}")
    assert row["domain"] == episode["session_id"] and row["kind"] == "episode"
    assert row["verdict"] == ("success" if episode["success"] else "failure")
    assert row["created_at"] == episode["created_at"] * 1000
    skill = source_rows(native.path, "skills")[0]
    row = _one(tmp_path / "n.vecdb", "skill:1")
    assert row["content"] == f"Skill: {skill['name']}\nDescription: {skill['description']}\nSignature: {skill['signature']}"
    assert row["usage_count"] == skill["uses"] and row["metadata"]["code"] == skill["code"]
    note = source_rows(native.path, "notes")[0]
    row = _one(tmp_path / "n.vecdb", "note:1")
    assert (row["content"], row["type"], row["metadata"]["title"]) == (note["text"], note["note_type"], note["title"])
    node = source_rows(native.path, "exp_nodes")[0]
    assert _one(tmp_path / "n.vecdb", "experience:1")["content"] == node["content"]

    adapter = rl.agentic_qe_agentdb(tmp_path / "aqe" / "agentdb.db")
    migrate(cli, adapter.path, tmp_path / "aqe.vecdb")
    row = _one(tmp_path / "aqe.vecdb", "qe-test-generator_pattern_0")
    assert (row["content"], row["type"], row["created_at"]) == ("generate tests for module 0", "test-pattern",
                                                                1735689600000)


@pytest.mark.parametrize("with_wal", [False, True])
def test_a_committed_wal_file_gets_nothing_written_beside_it(cli, tmp_path, with_wal):
    """A WAL-mode file as committed to a repository (no -shm; a -wal or not), in a folder the
    user may write: its rows are read and no -shm or -wal is left beside it."""
    fixture, added = rl.committed_wal_model_source(tmp_path, with_wal, 3)
    before = sorted(p.name for p in fixture.path.parent.iterdir())
    payload = migrate(cli, fixture.path, tmp_path / "t.vecdb")
    assert payload["migrated_count"] == 30 + added
    assert cli.json("status", "--target", tmp_path / "t.vecdb")[1]["migration_complete"] is True
    assert sorted(p.name for p in fixture.path.parent.iterdir()) == before
