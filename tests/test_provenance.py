"""Embedding provenance: the target records the model of its vectors, never mixes models
silently, and reports labels and config tables that disagree with the data."""

from __future__ import annotations

import json

import numpy as np
import pytest

import real_layouts as rl
from conftest import open_db
from vecmigrate import Migrator
from vecmigrate.models import Pattern


def migrate(cli, source, target, *flags):
    return cli.json("migrate", "--source", source, "--target", target, "--no-backup", *flags)


def test_a_model_vecmigrate_cannot_make_quarantines_rows_without_a_vector(cli, tmp_path):
    fixture = rl.reasoningbank_memory(tmp_path / "memory.db")
    target = tmp_path / "t.vecdb"
    result, payload = migrate(cli, fixture.path, target)
    assert result.exit_code == 3
    assert [q["id"] for q in payload["quarantined"]] == fixture.without_vector
    assert "text-embedding-3-small" in payload["quarantined"][0]["reason"]
    assert payload["vector_models"] == {"text-embedding-3-small": 39}
    _, status = cli.json("status", "--target", target)
    assert status["model"] == "text-embedding-3-small" and status["vector_models"] == {"text-embedding-3-small": 39}
    assert status["migration_complete"] and status["quarantined_count"] == 1
    result = cli("search", "--target", target, "--text", "anything")
    assert result.exit_code == 1 and "text-embedding-3-small" in result.stderr and "--id or --vector" in result.stderr
    _, hits = cli.json("search", "--target", target, "--id", next(iter(fixture.stored)), "-k", "1")
    assert hits["hits"][0]["id"] == next(iter(fixture.stored))


def test_an_explicit_embedder_is_recorded_as_a_mix_that_status_and_verify_show(cli, tmp_path):
    fixture = rl.reasoningbank_memory(tmp_path / "memory.db")
    target = tmp_path / "t.vecdb"
    result, payload = migrate(cli, fixture.path, target, "--embedder", "lexical")
    assert result.exit_code == 0
    assert payload["vector_models"] == {"text-embedding-3-small": 39, "lexical": 1}
    assert any("recorded the mix" in n or "records the mix" in n for n in payload["notes"])
    _, status = cli.json("status", "--target", target)
    assert status["vector_models"] == {"text-embedding-3-small": 39, "lexical": 1}
    human = cli("status", "--target", target)
    assert "a mix" in human.stdout
    _, report = cli.json("verify", "--target", target)
    assert report["checks"]["models"]["mixed"] is True
    assert report["checks"]["models"]["vectors_by_model"] == {"text-embedding-3-small": 39, "lexical": 1}


def test_unlabelled_vectors_take_the_config_tables_model_and_disagreements_are_reported(cli, tmp_path):
    fixture = rl.agentdb_native(tmp_path / "agentdb.db")
    target = tmp_path / "t.vecdb"
    _, payload = migrate(cli, fixture.path, target, "--embedder", "lexical")
    conn = open_db(target / "patterns.sqlite")
    skills = conn.execute("SELECT DISTINCT embedding_model FROM patterns WHERE kind = 'skill'").fetchall()
    conn.close()
    assert skills == [("all-MiniLM-L6-v2",)]
    flow = rl.claude_flow_v3(tmp_path / "flow.db")
    _, payload = migrate(cli, flow.path, tmp_path / "flow.vecdb", "--embedder", "lexical")
    assert any("vector_indexes[default] says 768 dimensions but the stored vectors have 384" in n
               for n in payload["notes"])
    _, status = cli.json("status", "--target", tmp_path / "flow.vecdb")
    assert any("768" in n for n in status["notes"])


def test_labels_that_differ_are_reported(cli, tmp_path):
    fixture = rl.qe_v3(tmp_path / "memory.db", 30)
    import apsw
    conn = apsw.Connection(str(fixture.path))
    conn.execute("UPDATE qe_pattern_embeddings SET model = 'hash-fallback' WHERE rowid % 4 = 0")
    conn.close()
    _, payload = migrate(cli, fixture.path, tmp_path / "t.vecdb", "--embedder", "lexical")
    assert any("different model labels" in n and "hash-fallback" in n for n in payload["notes"])
    assert "hash-fallback" in payload["vector_models"]


def test_a_target_never_takes_a_second_models_vectors(cli, tmp_path):
    target = tmp_path / "t.vecdb"
    memory = rl.reasoningbank_memory(tmp_path / "a" / "memory.db")
    migrate(cli, memory.path, target)
    other = rl.qe_v3(tmp_path / "b" / "memory.db", 20)
    result, payload = migrate(cli, other.path, target)
    assert result.exit_code == 2
    assert "text-embedding-3-small" in payload["error"] and "all-MiniLM-L6-v2" in payload["error"]


def test_128_d_unnormalised_vectors_keep_their_bytes_and_search_by_cosine(cli, tmp_path):
    fixture = rl.reasoningbank_model(tmp_path / "model.db")
    target = tmp_path / "t.vecdb"
    result, payload = migrate(cli, fixture.path, target)
    assert result.exit_code == 0 and payload["generated_embeddings"] == 0
    assert any("128-d float32" in n for n in payload["notes"])
    _, status = cli.json("status", "--target", target)
    assert status["dimension"] == 128 and status["model"] == "unknown"
    for backend in ("usearch", "sqlite-vec"):
        _, hits = cli.json("search", "--target", target, "--id", "7", "-k", "2", "--backend", backend)
        assert hits["hits"][0]["id"] == "7" and hits["hits"][0]["score"] == pytest.approx(1.0, abs=1e-5)
    vector = np.frombuffer(fixture.stored["7"], "<f4") * 3.0  # cosine ignores the norm
    _, hits = cli.json("search", "--target", target, "--vector", json.dumps(vector.tolist()), "-k", "1")
    assert hits["hits"][0]["id"] == "7"


def test_custom_embedders_from_python_take_texts_or_whole_patterns(tmp_path):
    fixture = rl.agentic_qe_agentdb(tmp_path / "agentdb.db")

    def texts_to_vectors(texts):
        return [[float(len(t)), 1.0, 0.0, 2.0] for t in texts]
    result = Migrator(fixture.path, tmp_path / "a.vecdb").migrate(embedder=texts_to_vectors, dimension=4, backup=False)
    assert result.generated_embeddings == 12 and result.model.startswith("python:")
    seen: list[Pattern] = []

    def generate_embedding(pattern: Pattern):
        seen.append(pattern)
        return [1.0, float(pattern.metadata.get("confidence") or 0), 0.5, float(len(pattern.id))]
    result = Migrator(fixture.path, tmp_path / "b.vecdb").migrate(pattern_embedder=generate_embedding, dimension=4,
                                                                  backup=False)
    assert result.generated_embeddings == 12 and result.model.startswith("pattern-fn:")
    assert {p.id for p in seen} == set(fixture.without_vector) and all(p.type == "test-pattern" for p in seen)
    conn = open_db(tmp_path / "b.vecdb" / "patterns.sqlite")
    blob = conn.execute("SELECT v.embedding FROM patterns p JOIN patterns_vec v ON v.rowid = p.key"
                        " WHERE p.id = 'qe-test-generator_pattern_3'").fetchall()[0][0]
    conn.close()
    assert np.frombuffer(blob, "<f4").tolist() == [1.0, 0.699999988079071, 0.5, 27.0]
