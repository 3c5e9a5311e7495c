"""Migration of every schema variant, checked against the real source and target files."""

from __future__ import annotations

import json

import apsw
import numpy as np
import pytest
from conftest import DIM, open_db, rows, sha256, tree_digest
from usearch.index import Index

from vecmigrate import Migrator
from vecmigrate.errors import UsageError
from vecmigrate.sources import BY_NAME
from vecmigrate.sources.samples import BUILDERS
from vecmigrate.sources.transform import to_epoch_ms

STORED = {"agentdb-adapter", "agentdb-service", "qe-v3", "reasoning-bank"}


def source_rows(path, variant_name):
    """The source rows as the variant sees them, with the stored embedding (if any) under __vec."""
    variant = BY_NAME[variant_name]
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    out = rows(conn, f"SELECT * FROM {variant.table} ORDER BY rowid")
    side = variant.embedding_table
    for row in out:
        if side is not None:
            got = conn.execute(f"SELECT embedding FROM {side.table} WHERE {side.key_column} = ?", (row["id"],)).fetchall()
            row["__vec"] = got[0][0] if got else None
        else:
            row["__vec"] = row.get("embedding")
    return out


def target_rows(target):
    conn = open_db(target / "patterns.sqlite")
    out = {r["id"]: r for r in rows(conn, "SELECT p.*, v.embedding AS vec, v.type AS vtype, v.domain AS vdomain,"
                                          " v.framework AS vframework FROM patterns p JOIN patterns_vec v"
                                          " ON v.rowid = p.key")}
    for r in out.values():
        r["meta"] = json.loads(r["metadata"])
    return out


def load_index(target):
    index = Index(ndim=DIM, metric="cos", dtype="f32")
    index.load(str(target / "patterns.usearch"))
    return index


def found_anywhere(value, target_row) -> bool:
    """Is a source value recoverable from the target row (a column, metadata, or the vector)?"""
    if value is None:
        return True
    if isinstance(value, bytes):
        return value == target_row["vec"] or {"$blob": value.hex()} in _values(target_row["meta"])
    candidates = [v for k, v in target_row.items() if k not in ("meta",)] + _values(target_row["meta"])
    if value in candidates or str(value) in candidates:
        return True
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
            if parsed in candidates:
                return True
            meta = target_row["meta"]
            if isinstance(parsed, dict) and (meta.get("sourceMetadata") == parsed
                                             or all(meta.get(k) == v for k, v in parsed.items())):
                return True  # a metadata column merged into the target's metadata
        except json.JSONDecodeError:
            pass
    try:
        ms = to_epoch_ms(value, "x")
        return ms in (target_row["created_at"], target_row["last_used"]) or ms in candidates
    except Exception:
        return False


def _values(obj):
    out = [obj]
    if isinstance(obj, dict):
        for v in obj.values():
            out += _values(v)
    elif isinstance(obj, list):
        for v in obj:
            out += _values(v)
    return out


@pytest.mark.parametrize("variant", sorted(BUILDERS))
def test_every_variant_migrates_completely_and_exactly(make_source, target, variant):
    source = make_source(variant, 120)
    before = sha256(source)
    result = Migrator(source, target).migrate(dimension=DIM, batch_size=50, backup=False)

    assert result.schema == variant
    assert result.total_patterns == result.migrated_count == 120
    assert result.quarantined == []
    assert result.validation.target_valid, result.validation.integrity_checks
    assert sha256(source) == before

    src = source_rows(source, variant)
    tgt = target_rows(target)
    assert len(tgt) == len(src) == 120
    index = load_index(target)
    assert len(index) == 120
    for row in src:
        t = tgt[str(row["id"])]
        if variant in STORED:
            assert t["vec"] == row["__vec"], "stored embedding must be byte-equal in vec0"
            assert index.get(t["key"]).astype("<f4").tobytes() == row["__vec"], "and in USearch"
        else:
            assert np.isclose(np.linalg.norm(np.frombuffer(t["vec"], "<f4")), 1.0, atol=1e-5)
            assert index.get(t["key"]).astype("<f4").tobytes() == t["vec"]
        for column, value in row.items():
            if column.startswith("__") or column == "pattern_id":  # pattern_id is generated = id
                continue
            assert found_anywhere(value, t), f"{variant}: column {column}={value!r} not recoverable"
        assert t["vtype"] == (t["type"] or "unknown") and t["vdomain"] == (t["domain"] or "unknown")
        assert t["vframework"] == (t["framework"] or "unknown")
        MAPPING_CHECKS[variant](row, t)
    generated = 0 if variant in STORED else 120
    assert result.generated_embeddings == generated


def check_legacy_qe(s, t):
    examples = json.loads(s["examples"])
    assert t["content"] == (f"Pattern: {s['name']}\nDescription: {s['description'] or 'N/A'}\n"
                            f"Template: {s['template']}\nExamples: {', '.join(examples)}")
    assert t["type"] == s["category"] and t["domain"] == (s["framework"] or "unknown")
    assert t["framework"] == s["framework"] and t["coverage"] == s["quality"]
    assert t["usage_count"] == s["usage_count"]
    rate = s["success_rate"]
    assert t["flakiness_score"] == pytest.approx(1 - rate if rate < 0.8 else 0.0)
    assert t["verdict"] == ("success" if rate >= 0.9 else "flaky" if rate >= 0.7 else "failure")
    assert t["created_at"] == to_epoch_ms(s["created_at"], "c", "text")
    assert t["last_used"] == to_epoch_ms(s["updated_at"], "u", "text")
    m = t["meta"]
    assert (m["originalName"], m["originalCategory"], m["language"], m["template"], m["examples"],
            m["confidence"], m["description"]) == (s["name"], s["category"], s["language"], s["template"],
                                                  examples, s["confidence"], s["description"])
    assert {k: m[k] for k in json.loads(s["metadata"])} == json.loads(s["metadata"])


def check_swarm_memory(s, t):
    meta = json.loads(s["metadata"])
    assert t["content"] == s["pattern"] and t["type"] == meta["type"] and t["domain"] == s["domain"]
    assert t["created_at"] == s["created_at"] and t["usage_count"] == s["usage_count"]
    assert t["meta"]["expiresAt"] == s["expires_at"] and t["meta"]["ttl"] == s["ttl"]
    assert t["meta"]["agentId"] == s["agent_id"]


def check_agentdb_adapter(s, t):
    meta = json.loads(s["metadata"])
    assert t["content"] == meta["content"] and t["type"] == s["type"] and t["domain"] == meta["domain"]
    assert t["created_at"] == s["created_at"] * 1000 and t["usage_count"] == meta["usageCount"]
    assert t["meta"]["confidence"] == s["confidence"]


def check_agentdb_service(s, t):
    data = json.loads(s["data"])
    assert t["id"] == str(s["id"]) and t["content"] == data["content"]
    assert (t["type"], t["domain"], t["framework"]) == (s["type"], s["domain"], data["framework"])
    assert (t["created_at"], t["last_used"], t["usage_count"]) == (s["created_at"], s["last_used"], s["usage_count"])
    rate = s["success_count"] / s["usage_count"]
    assert t["verdict"] == ("success" if rate >= 0.9 else "flaky" if rate >= 0.7 else "failure")
    assert t["meta"]["data"] == data and t["meta"]["successCount"] == s["success_count"]


def check_test_patterns(s, t):
    assert t["type"] == s["pattern_type"] and t["framework"] == s["framework"] and t["domain"] == s["framework"]
    assert s["test_template"] in t["content"] and s["code_signature"] in t["content"]
    assert t["created_at"] == s["created_at"] * 1000 and t["last_used"] == s["updated_at"] * 1000
    assert t["meta"]["codeSignatureHash"] == s["code_signature_hash"] and t["meta"]["version"] == s["version"]


def check_qe_v3(s, t):
    assert t["content"] == f"Pattern: {s['name']}\nDescription: {s['description']}\nTemplate: {s['template_json']}"
    assert (t["type"], t["domain"]) == (s["pattern_type"], s["qe_domain"])
    assert t["framework"] == json.loads(s["context_json"])["framework"] and t["coverage"] == s["quality_score"]
    assert t["meta"]["template"] == json.loads(s["template_json"]) and t["meta"]["domain"] == s["domain"]
    assert t["meta"]["embeddingDimension"] == DIM
    assert t["created_at"] == to_epoch_ms(s["created_at"], "c") and t["last_used"] == to_epoch_ms(s["last_used_at"], "l")


def check_reasoning_bank(s, t):
    assert t["content"] == f"Task: {s['task_type']}\nApproach: {s['approach']}" and t["type"] == s["task_type"]
    assert t["usage_count"] == s["uses"] and t["created_at"] == s["ts"] * 1000
    assert t["meta"]["tags"] == json.loads(s["tags"]) and t["meta"]["avgReward"] == s["avg_reward"]


MAPPING_CHECKS = {"legacy-qe": check_legacy_qe, "swarm-memory": check_swarm_memory,
                  "agentdb-adapter": check_agentdb_adapter, "agentdb-service": check_agentdb_service,
                  "test-patterns": check_test_patterns, "qe-v3": check_qe_v3, "reasoning-bank": check_reasoning_bank}


def test_rerun_updates_in_place_without_duplicates(make_source, target):
    source = make_source("agentdb-adapter", 80)
    Migrator(source, target).migrate(dimension=DIM, backup=False)
    keys_before = {r["id"]: r["key"] for r in target_rows(target).values()}
    conn = apsw.Connection(str(source))
    conn.execute("UPDATE patterns SET type = 'changed' WHERE id = 'adapter-000003'")
    conn.close()
    result = Migrator(source, target).migrate(backup=False)
    after = target_rows(target)
    assert (result.migrated_count, result.updated, result.unchanged, result.inserted) == (1, 1, 79, 0)
    assert len(after) == 80
    assert {r["id"]: r["key"] for r in after.values()} == keys_before
    assert after["adapter-000003"]["type"] == "changed" and after["adapter-000003"]["vtype"] == "changed"
    conn = open_db(target / "patterns.sqlite")
    assert conn.execute("SELECT count(*) FROM patterns_vec").fetchall()[0][0] == 80
    assert len(load_index(target)) == 80
    assert result.validation.target_valid


def test_history_tables_are_copied_verbatim(make_source, target):
    source = make_source("legacy-qe", 40)
    result = Migrator(source, target).migrate(dimension=DIM, backup=False)
    assert result.history == {"pattern_usage": 10, "learning_history": 10, "learning_metrics": 40}
    src = apsw.Connection(str(source), flags=apsw.SQLITE_OPEN_READONLY)
    dst = open_db(target / "patterns.sqlite")
    for table in result.history:
        assert rows(src, f"SELECT * FROM {table} ORDER BY rowid") == rows(dst, f"SELECT * FROM {table} ORDER BY rowid")
    Migrator(source, target).migrate(backup=False)  # a re-run replaces, never appends
    assert dst.execute("SELECT count(*) FROM pattern_usage").fetchall()[0][0] == 10


def test_dry_run_writes_nothing_anywhere(make_source, target, tmp_path):
    source = make_source("legacy-qe", 60)
    before_source = sha256(source)
    files_before = sorted(p.name for p in tmp_path.iterdir())
    result = Migrator(source, target).migrate(dimension=DIM, dry_run=True)
    assert result.dry_run and result.migrated_count == 60 and result.backup_path is None
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == files_before
    assert sha256(source) == before_source

    Migrator(source, target).migrate(dimension=DIM, backup=False)
    snapshot = tree_digest(target)
    Migrator(source, target).migrate(dry_run=True)
    assert tree_digest(target) == snapshot


def test_backup_is_a_consistent_copy_made_with_the_backup_api(make_source, target):
    source = make_source("legacy-qe", 30)
    wal = apsw.Connection(str(source))
    wal.execute("PRAGMA journal_mode=WAL")
    wal.execute("PRAGMA wal_autocheckpoint=0")
    wal.execute("INSERT INTO patterns(id, name, template, category) VALUES ('in-wal', 'n', 't', 'unit')")
    result = Migrator(source, target).migrate(dimension=DIM)
    backup = result.backup_path
    assert backup and backup.startswith(str(source.with_suffix(""))) and ".backup-" in backup
    copy = apsw.Connection(backup, flags=apsw.SQLITE_OPEN_READONLY)
    assert copy.execute("SELECT count(*) FROM patterns").fetchall()[0][0] == 31  # the WAL commit is in it
    assert copy.execute("PRAGMA integrity_check").fetchall()[0][0] == "ok"
    wal.close()


def test_stored_embeddings_of_the_wrong_size_stop_before_writing(make_source, target):
    source = make_source("agentdb-adapter", 20, dimension=48)
    with pytest.raises(UsageError, match="--dimension 48"):
        Migrator(source, target).migrate(dimension=DIM, backup=False)
    assert not target.exists()


def test_float64_blobs_need_an_explicit_flag(make_source, target, tmp_path):
    source = make_source("reasoning-bank", 20)
    conn = apsw.Connection(str(source))
    for pid, blob in conn.execute("SELECT pattern_id, embedding FROM pattern_embeddings").fetchall():
        conn.execute("UPDATE pattern_embeddings SET embedding = ? WHERE pattern_id = ?",
                     (np.frombuffer(blob, "<f4").astype("<f8").tobytes(), pid))
    conn.close()
    with pytest.raises(UsageError, match="--source-float64"):
        Migrator(source, target).migrate(dimension=DIM, backup=False)
    result = Migrator(source, target).migrate(dimension=DIM, backup=False, source_float64=True)
    assert result.migrated_count == 20 and result.quarantined == []


def test_bad_rows_are_quarantined_with_reasons(make_source, target):
    source = make_source("agentdb-adapter", 30)
    conn = apsw.Connection(str(source))
    conn.execute("UPDATE patterns SET metadata = '{broken' WHERE id = 'adapter-000001'")
    conn.execute("UPDATE patterns SET embedding = ? WHERE id = 'adapter-000002'",
                 (np.full(DIM, np.nan, "<f4").tobytes(),))
    conn.execute("UPDATE patterns SET embedding = ? WHERE id = 'adapter-000003'", (np.zeros(DIM, "<f4").tobytes(),))
    conn.execute("UPDATE patterns SET embedding = x'0102' WHERE id = 'adapter-000004'")
    conn.close()
    result = Migrator(source, target).migrate(dimension=DIM, backup=False)
    reasons = {q.id: q.reason for q in result.quarantined}
    assert set(reasons) == {"adapter-000001", "adapter-000002", "adapter-000003", "adapter-000004"}
    assert "malformed JSON in column metadata" in reasons["adapter-000001"]
    assert "NaN" in reasons["adapter-000002"] and "zeros" in reasons["adapter-000003"]
    assert "2 bytes" in reasons["adapter-000004"]
    assert result.migrated_count + len(result.quarantined) == result.total_patterns == 30
    assert result.exit_code == 3
    db = open_db(target / "patterns.sqlite")
    stored = rows(db, "SELECT pattern_id, reason, row_json FROM quarantine ORDER BY qid")
    assert [r["pattern_id"] for r in stored] == sorted(reasons)
    assert json.loads(stored[0]["row_json"])["metadata"] == "{broken"


def test_options_that_conflict_with_the_target_are_refused(make_source, target):
    source = make_source("legacy-qe", 10)
    Migrator(source, target).migrate(dimension=DIM, backup=False)
    with pytest.raises(UsageError, match="--dtype i8 differs from the target's f32"):
        Migrator(source, target).migrate(dtype="i8", backup=False)
    with pytest.raises(UsageError, match="--embedder"):
        Migrator(source, target).migrate(embedder="json:loads", backup=False)


@pytest.mark.parametrize("dtype", ["f16", "bf16", "i8"])
def test_lossy_dtypes_keep_exact_vectors_in_vec0(make_source, target, dtype):
    source = make_source("agentdb-adapter", 50)
    result = Migrator(source, target).migrate(dimension=DIM, dtype=dtype, backup=False)
    assert result.validation.target_valid
    src = {str(r["id"]): r["__vec"] for r in source_rows(source, "agentdb-adapter")}
    assert all(t["vec"] == src[i] for i, t in target_rows(target).items())
    header = Index.metadata(str(target / "patterns.usearch"))
    assert header["kind_scalar"].name.lower() == dtype


def test_an_empty_source_table_migrates_to_an_empty_valid_target(make_source, target):
    source = make_source("legacy-qe", 1)
    conn = apsw.Connection(str(source))
    conn.execute("DELETE FROM patterns")
    conn.close()
    result = Migrator(source, target).migrate(dimension=DIM, backup=False)
    assert (result.total_patterns, result.migrated_count, result.quarantined) == (0, 0, [])
    assert result.validation.target_valid


def test_a_failing_first_migration_leaves_no_live_target_and_resumes(make_source, target, tmp_path, monkeypatch):
    (tmp_path / "flaky_embedder.py").write_text(
        "import numpy as np\ncalls = []\n"
        "def embed(texts):\n"
        "    calls.append(len(texts))\n"
        "    if len(calls) == 4:\n        raise RuntimeError('model server went away')\n"
        f"    return np.ones((len(texts), {DIM}), dtype='float32')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from vecmigrate import open_store
    from vecmigrate.errors import EmbeddingError, TargetError
    from vecmigrate.target.generations import Layout
    source = make_source("legacy-qe", 100)
    options = dict(dimension=DIM, batch_size=10, backup=False, embedder="flaky_embedder:embed")
    with pytest.raises(EmbeddingError, match="model server went away"):
        Migrator(source, target).migrate(**options)
    assert not Layout(target).exists()
    with pytest.raises(TargetError, match="interrupted first migration"):
        open_store(target)
    result = Migrator(source, target).migrate(**options)  # the same command resumes
    assert result.skipped_count == 20 and result.migrated_count == 100 and result.validation.target_valid
