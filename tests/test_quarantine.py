"""Every kind of bad row is quarantined verbatim with its reason; --strict refuses them all."""

from __future__ import annotations

import json

import apsw
import numpy as np
import pytest

from conftest import DIM, open_db, rows, sha256

BAD = {
    "adapter-000001": ("UPDATE patterns SET metadata = '{\"a\": ' WHERE id = ?", (), "malformed JSON in column metadata"),
    "adapter-000002": ("UPDATE patterns SET embedding = ? WHERE id = ?", (np.full(DIM, np.nan, "<f4").tobytes(),), "NaN or Inf"),
    "adapter-000003": ("UPDATE patterns SET embedding = ? WHERE id = ?", (np.r_[np.inf, np.ones(DIM - 1)].astype("<f4").tobytes(),), "NaN or Inf"),
    "adapter-000004": ("UPDATE patterns SET embedding = ? WHERE id = ?", (np.zeros(DIM, "<f4").tobytes(),), "all zeros"),
    "adapter-000005": ("UPDATE patterns SET embedding = ? WHERE id = ?", (b"\x00" * 10,), "10 bytes does not hold"),
    "adapter-000006": ("UPDATE patterns SET type = CAST(x'ff6162' AS TEXT) WHERE id = ?", (), "not valid UTF-8 in column(s) type"),
}


@pytest.fixture
def bad_source(make_source):
    source = make_source("agentdb-adapter", 40)
    conn = apsw.Connection(str(source))
    for pattern_id, (statement, params, _) in BAD.items():
        conn.execute(statement, (*params, pattern_id))
    # a duplicate id (the table's key is id, so a copy with another rowid needs a table without it)
    conn.execute("CREATE TABLE p2 AS SELECT * FROM patterns")
    conn.execute("INSERT INTO p2 SELECT * FROM patterns WHERE id = 'adapter-000010'")
    conn.execute("UPDATE p2 SET id = NULL WHERE rowid = 12")
    conn.execute("DROP TABLE patterns")
    conn.execute("CREATE TABLE patterns (id TEXT, pattern_id TEXT GENERATED ALWAYS AS (id) VIRTUAL, type TEXT, "
                 "confidence REAL, embedding BLOB, metadata TEXT, created_at INTEGER)")
    conn.execute("INSERT INTO patterns(id, type, confidence, embedding, metadata, created_at) "
                 "SELECT id, type, confidence, embedding, metadata, created_at FROM p2 ORDER BY rowid")
    conn.execute("DROP TABLE p2")
    conn.close()
    return source


EXPECTED = {**{k: v[2] for k, v in BAD.items()}, "adapter-000010": "duplicate id", "rowid:12": "missing required field id"}


def test_each_kind_of_bad_row_is_quarantined_and_the_rest_migrated(cli, bad_source, target):
    source_hash = sha256(bad_source)
    result, payload = cli.json("migrate", "--source", bad_source, "--target", target, "--dimension", DIM,
                               "--no-backup")
    assert result.exit_code == 3
    listed = {q["id"]: q["reason"] for q in payload["quarantined"]}
    assert set(listed) == set(EXPECTED)
    for pattern_id, fragment in EXPECTED.items():
        assert fragment in listed[pattern_id], (pattern_id, listed[pattern_id])
    assert payload["migrated_count"] + len(payload["quarantined"]) == payload["total_patterns"] == 41
    assert payload["migrated_count"] == 33
    stored = rows(open_db(target / "patterns.sqlite"), "SELECT pattern_id, source_rowid, reason, row_json FROM quarantine")
    assert len(stored) == 8
    utf8 = next(r for r in stored if r["pattern_id"] == "adapter-000006")
    assert json.loads(utf8["row_json"])["type"] == {"$blob": "ff6162"}  # verbatim bytes
    dup = [r for r in stored if r["pattern_id"] == "adapter-000010"]
    assert len(dup) == 1 and dup[0]["source_rowid"] == 41  # the later copy is the one refused
    assert sha256(bad_source) == source_hash


def test_strict_refuses_the_whole_migration_listing_every_bad_row(cli, bad_source, target):
    result, payload = cli.json("migrate", "--source", bad_source, "--target", target, "--dimension", DIM, "--strict")
    assert result.exit_code == 1
    assert {r["id"] for r in payload["bad_rows"]} == set(EXPECTED)
    assert "--strict: 8 bad row(s), nothing written" in result.stderr
    assert not target.exists() and not list(bad_source.parent.glob("*.backup-*"))
