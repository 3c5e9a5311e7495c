"""The SQL contract works through APSW and in the sqlite3 shell with sqlite-vec loaded."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from conftest import DIM, open_db

from vecmigrate import Migrator
from vecmigrate.db import extension_path, sql, sql_files

CONTRACT = ("SELECT p.id, v.distance FROM patterns_vec v JOIN patterns p ON p.key = v.rowid "
            "WHERE v.embedding MATCH :q AND k = 10 ORDER BY v.distance")


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    from vecmigrate.sources.samples import build_source
    root = tmp_path_factory.mktemp("sql")
    target = root / "t.vecdb"
    Migrator(build_source(root / "s.db", "legacy-qe", 150, dimension=DIM), target).migrate(dimension=DIM, backup=False)
    return target


def test_contract_query_through_apsw(migrated):
    conn = open_db(migrated / "patterns.sqlite")
    query = conn.execute("SELECT embedding FROM patterns_vec WHERE rowid = 7").fetchall()[0][0]
    hits = conn.execute(CONTRACT, {"q": query}).fetchall()
    assert len(hits) == 10
    assert hits[0][0] == conn.execute("SELECT id FROM patterns WHERE key = 7").fetchall()[0][0]
    assert [h[1] for h in hits] == sorted(h[1] for h in hits)


def test_schema_matches_the_contract(migrated):
    conn = open_db(migrated / "patterns.sqlite")
    columns = [r[1] for r in conn.execute("PRAGMA table_info(patterns)")]
    assert columns == ["key", "id", "type", "domain", "content", "framework", "coverage", "flakiness_score",
                       "verdict", "created_at", "last_used", "usage_count", "metadata", "kind", "embedding_model"]
    ddl = conn.execute("SELECT sql FROM sqlite_schema WHERE name = 'patterns_vec'").fetchall()[0][0]
    assert f"float[{DIM}] distance_metric=cosine" in ddl and "framework text" in ddl and "kind text" in ddl


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="the sqlite3 shell is not installed")
def test_contract_query_in_the_sqlite3_shell(migrated):
    conn = open_db(migrated / "patterns.sqlite")
    vector = conn.execute("SELECT vec_to_json(embedding) FROM patterns_vec WHERE rowid = 3").fetchall()[0][0]
    expected = conn.execute("SELECT id FROM patterns WHERE key = 3").fetchall()[0][0]
    script = (f".load {extension_path()}\n.mode json\n"
              + CONTRACT.replace(":q", "'" + vector + "'") + ";\n")
    out = subprocess.run(["sqlite3", str(migrated / "patterns.sqlite")], input=script, text=True,
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert len(rows) == 10 and rows[0]["id"] == expected


def test_named_sql_files_ship_with_the_package():
    assert {"target_schema", "knn", "example_knn", "example_filtered_knn"} <= set(sql_files())
    assert "patterns_vec" in sql("target_schema")


@pytest.mark.parametrize("name", [n for n in sql_files() if n.startswith("example_")])
def test_every_example_query_runs_through_vecmigrate_sql(migrated, cli, name):
    result, payload = cli.json("sql", "--target", migrated, "--file", name, "--param", "id=pattern-000004",
                               "--param", "type=unit")
    assert result.exit_code == 0, result.stderr
    assert payload["columns"]
    if name in ("example_knn", "example_runs", "example_changes", "example_sources"):
        assert payload["rows"]
    if name == "example_sources":
        assert payload["rows"][0][-1].startswith("patterns rowid ")
    if name == "example_knn":
        assert payload["rows"][0][0] == "pattern-000004" and len(payload["rows"]) == 10
    if name == "example_pattern_vector":
        assert payload["rows"][0][1] == DIM and len(json.loads(payload["rows"][0][2])) == DIM


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="the sqlite3 shell is not installed")
@pytest.mark.parametrize("name", [n for n in sql_files() if n.startswith("example_")])
def test_every_example_query_runs_in_the_sqlite3_shell(migrated, name):
    script = (f".load {extension_path()}\n.parameter init\n.parameter set :id 'pattern-000004'\n"
              f".parameter set :type 'unit'\n.mode json\n.bail on\n" + sql(name) + ";\n")
    out = subprocess.run(["sqlite3", "-readonly", str(migrated / "patterns.sqlite")], input=script, text=True,
                         capture_output=True, timeout=60)
    assert out.returncode == 0 and "Error" not in out.stderr, out.stderr
    if name == "example_knn":
        rows = json.loads(out.stdout)
        assert len(rows) == 10 and rows[0]["id"] == "pattern-000004"
