"""Every bad-input path through the CLI: exit code, one-line message naming the culprit, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import apsw
import numpy as np
import pytest

from conftest import DIM, sha256, tree_digest

MIGRATE_KEYS = {"total_patterns", "migrated_count", "skipped_count", "quarantined", "errors", "duration_ms", "schema",
                "dry_run", "backup_path", "target_db", "index_path", "validation"}
STATUS_KEYS = {"source_count", "target_count", "coverage", "migration_complete", "target_db", "index_path",
               "generation", "backups"}


def one_line_error(result, *fragments):
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_migrate_json_has_the_contract_keys(cli, make_source, target):
    source = make_source("legacy-qe", 50)
    result, payload = cli.json("migrate", "--source", source, "--target", target, "--dimension", DIM)
    assert result.exit_code == 0
    assert MIGRATE_KEYS <= set(payload)
    assert payload["migrated_count"] == 50 and payload["schema"] == "legacy-qe"
    assert set(payload["validation"]) == {"source_valid", "target_valid", "integrity_checks"}
    assert payload["backup_path"] and os.path.exists(payload["backup_path"])
    result, status = cli.json("status", "--target", target)
    assert STATUS_KEYS <= set(status)
    assert (status["source_count"], status["target_count"], status["coverage"], status["migration_complete"]) == \
        (50, 50, 1.0, True)
    assert status["backups"] == [payload["backup_path"]]


def test_human_output_and_help(cli, make_source, target):
    result = cli("migrate", "--source", make_source("legacy-qe", 20), "--target", target, "--dimension", DIM,
                 "--no-backup")
    assert result.exit_code == 0 and "migrated" in result.stdout and "20 of 20" in result.stdout
    for command in ("migrate", "status", "rollback", "search", "verify", "reconcile", "sql"):
        help_text = cli(command, "--help")
        assert help_text.exit_code == 0 and "--json" in help_text.stdout
    assert cli("shell", "--help").exit_code == 0


@pytest.mark.parametrize("setup, fragments", [
    ("missing", ["source database not found", "nope.db"]),
    ("garbage", ["not a SQLite database", "garbage.db"]),
    ("empty-schema", ["no known AgentDB-family layout", "notes"]),
    ("directory", ["is a directory"]),
])
def test_bad_sources(cli, tmp_path, target, setup, fragments):
    if setup == "missing":
        path = tmp_path / "nope.db"
    elif setup == "garbage":
        path = tmp_path / "garbage.db"
        path.write_bytes(os.urandom(8192))
    elif setup == "empty-schema":
        path = tmp_path / "notes.db"
        conn = apsw.Connection(str(path))
        conn.execute("CREATE TABLE notes(x)")
        conn.close()
    else:
        path = tmp_path
    for extra in ([], ["--json"]):
        result = cli("migrate", "--source", path, "--target", target, *extra)
        assert result.exit_code == 1
        one_line_error(result, *fragments)
    assert not target.exists()


def test_corrupt_source_is_a_one_line_error(cli, make_source, target):
    source = make_source("legacy-qe", 2000)
    data = bytearray(source.read_bytes())
    page = 4096
    for offset in range(3 * page, len(data) - page, 7 * page):
        data[offset: offset + page] = os.urandom(page)
    source.write_bytes(bytes(data))
    result = cli("migrate", "--source", source, "--target", target, "--no-backup", "--dimension", DIM)
    assert result.exit_code == 1
    one_line_error(result, "corrupt")


@pytest.mark.parametrize("flags, fragment", [
    (["--batch-size", "0"], "--batch-size must be a positive integer"),
    (["--dimension", "-3"], "--dimension must be a positive integer"),
    (["--dtype", "f64"], "--dtype must be one of"),
    (["--metric", "hamming"], "--metric must be one of"),
    (["--embedder", "no_such_module_q:f"], "cannot import module"),
    (["--table", "missing_table"], "table 'missing_table' not found"),
])
def test_bad_flags(cli, make_source, target, flags, fragment):
    result = cli("migrate", "--source", make_source("legacy-qe", 10), "--target", target, *flags)
    assert result.exit_code in (1, 2)
    one_line_error(result, fragment)
    assert not target.exists()


def test_unparseable_flag_is_a_usage_error(cli):
    result = cli("migrate", "--batch-size", "lots")
    assert result.exit_code == 2 and "--batch-size" in result.stderr


def test_quarantine_exits_3_and_lists_rows(cli, make_source, target):
    source = make_source("legacy-qe", 30)
    conn = apsw.Connection(str(source))
    conn.execute("UPDATE patterns SET examples = '[oops' WHERE id = 'pattern-000007'")
    conn.close()
    result, payload = cli.json("migrate", "--source", source, "--target", target, "--no-backup", "--dimension", DIM)
    assert result.exit_code == 3
    assert payload["quarantined"] == [{"id": "pattern-000007", "source_rowid": 8,
                                       "reason": "malformed JSON in column examples at char 1: Expecting value"}]
    assert payload["migrated_count"] == 29
    human = cli("migrate", "--source", source, "--target", target, "--no-backup")
    assert human.exit_code == 3 and "pattern-000007" in human.stderr


def test_strict_refuses_and_writes_nothing(cli, make_source, target):
    source = make_source("agentdb-adapter", 30)
    conn = apsw.Connection(str(source))
    conn.execute("UPDATE patterns SET embedding = ? WHERE id = 'adapter-000004'", (np.zeros(DIM, "<f4").tobytes(),))
    conn.close()
    result, payload = cli.json("migrate", "--source", source, "--target", target, "--strict", "--dimension", DIM)
    assert result.exit_code == 1
    one_line_error(result, "--strict: 1 bad row", "adapter-000004", "all zeros")
    assert payload["bad_rows"][0]["id"] == "adapter-000004"
    assert not target.exists()
    assert not list(source.parent.glob("*.backup-*"))


def test_dry_run_cli_leaves_target_identical(cli, make_source, target):
    source = make_source("legacy-qe", 40)
    cli("migrate", "--source", source, "--target", target, "--no-backup", "--dimension", DIM)
    before, source_hash = tree_digest(target), sha256(source)
    result, payload = cli.json("migrate", "--source", source, "--target", target, "--dry-run")
    assert result.exit_code == 0 and payload["dry_run"] is True and payload["migrated_count"] == 40
    assert tree_digest(target) == before and sha256(source) == source_hash
    assert not list(source.parent.glob("*.backup-*"))


def test_search_cli(cli, make_source, target):
    cli("migrate", "--source", make_source("legacy-qe", 100), "--target", target, "--no-backup", "--dimension", DIM)
    result, payload = cli.json("search", "--target", target, "--id", "pattern-000010", "-k", "3")
    assert result.exit_code == 0 and payload["hits"][0]["id"] == "pattern-000010" and len(payload["hits"]) == 3
    result, payload = cli.json("search", "--target", target, "--text", "checkout flow", "--backend", "sqlite-vec",
                               "--type", "unit", "-k", "4")
    assert len(payload["hits"]) == 4 and {h["type"] for h in payload["hits"]} == {"unit"}
    vector = ",".join(["0.5"] * DIM)
    result, payload = cli.json("search", "--target", target, "--vector", vector, "-k", "2")
    assert len(payload["hits"]) == 2
    human = cli("search", "--target", target, "--id", "pattern-000010", "-k", "2")
    assert "pattern-000010" in human.stdout


@pytest.mark.parametrize("args, code, fragment", [
    (["--id", "nope"], 2, "no pattern with id 'nope'"),
    ([], 2, "give exactly one of --id, --text or --vector"),
    (["--id", "a", "--text", "b"], 2, "got --id, --text"),
    (["--vector", "1,2"], 2, f"expected {DIM}"),
    (["--vector", "[1, oops]"], 2, "--vector: expected a JSON array"),
    (["--id", "pattern-000001", "--backend", "faiss"], 2, "--backend must be one of"),
    (["--id", "pattern-000001", "-k", "0"], 2, "-k must be a positive integer"),
    (["--id", "pattern-000001", "--color", "red"], 2, None),
])
def test_search_errors(cli, make_source, target, args, code, fragment):
    cli("migrate", "--source", make_source("legacy-qe", 10), "--target", target, "--no-backup", "--dimension", DIM)
    result = cli("search", "--target", target, *args)
    assert result.exit_code == code
    if fragment:
        one_line_error(result, fragment)


def test_commands_on_a_missing_target(cli, tmp_path):
    for command in (["search", "--id", "x"], ["sql", "SELECT 1"]):
        result = cli(*command, "--target", tmp_path / "none.vecdb")
        assert result.exit_code == 1
        one_line_error(result, "no vecmigrate target at", "none.vecdb")


@pytest.mark.parametrize("args, fragment", [
    (["SELEKT 1"], "SQL error"),
    (["SELECT * FROM patterns WHERE id = :id"], "--param"),
    (["DELETE FROM patterns"], "reads only"),
    (["--file", "nope"], "no such SQL file"),
    ([], "give a query or --file"),
    (["--param", "broken"], "expected name=value"),
])
def test_sql_errors(cli, make_source, target, args, fragment):
    cli("migrate", "--source", make_source("legacy-qe", 10), "--target", target, "--no-backup", "--dimension", DIM)
    result = cli("sql", "--target", target, *args)
    assert result.exit_code == 2
    one_line_error(result, fragment)


def test_sql_cli_prints_rows_and_extension_path(cli, make_source, target):
    cli("migrate", "--source", make_source("legacy-qe", 10), "--target", target, "--no-backup", "--dimension", DIM)
    result, payload = cli.json("sql", "--target", target, "SELECT count(*) AS n FROM patterns_vec")
    assert (payload["columns"], payload["rows"]) == (["n"], [[10]])
    assert payload["statements"] == [{"statement": "SELECT count(*) AS n FROM patterns_vec", "columns": ["n"],
                                      "rows": [[10]]}]
    path = cli("sql", "--extension-path").stdout.strip()
    assert os.path.exists(path + ".so") or os.path.exists(path) or os.path.exists(path + ".dylib")


def test_real_process_has_no_traceback(tmp_path):
    """The installed console script, in a real subprocess, for a user mistake."""
    out = subprocess.run([sys.executable, "-m", "vecmigrate", "migrate", "--source", str(tmp_path / "missing.db"),
                          "--target", str(tmp_path / "t")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip() == f"error: source database not found: {tmp_path / 'missing.db'}"
    assert "Traceback" not in out.stderr


def test_read_verbs_change_no_file(cli, make_source, target):
    source = make_source("legacy-qe", 30)
    cli("migrate", "--source", source, "--target", target, "--no-backup", "--dimension", DIM)
    before = tree_digest(target), sha256(source)
    cli("status", "--target", target)
    cli("search", "--target", target, "--id", "pattern-000001")
    cli("search", "--target", target, "--text", "login", "--backend", "sqlite-vec")
    cli("sql", "--target", target, "SELECT count(*) FROM patterns")
    assert (tree_digest(target), sha256(source)) == before


def test_stored_vectors_that_do_not_fit_are_refused_through_the_cli(cli, make_source, target):
    source = make_source("agentdb-adapter", 20, dimension=48)
    result = cli("migrate", "--source", source, "--target", target, "--no-backup", "--dimension", DIM)
    assert result.exit_code == 2
    one_line_error(result, "stored embeddings are 192 bytes", "--dimension 48")
    assert not target.exists()


def test_an_embedder_with_the_wrong_shape_is_refused_before_writing(cli, make_source, target, tmp_path, monkeypatch):
    (tmp_path / "bad_shape.py").write_text("import numpy as np\ndef embed(texts):\n    return np.ones((len(texts), 5))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = cli("migrate", "--source", make_source("legacy-qe", 10), "--target", target, "--no-backup",
                 "--dimension", DIM, "--embedder", "bad_shape:embed")
    assert result.exit_code == 1
    one_line_error(result, "bad_shape:embed", f"expected (1, {DIM})")
    assert not target.exists()


def test_verbose_logs_steps_on_stderr(cli, make_source, target):
    result = cli("migrate", "--source", make_source("legacy-qe", 10), "--target", target, "--dimension", DIM,
                 "--verbose")
    assert result.exit_code == 0
    assert "layout legacy-qe" in result.stderr and "backed up to" in result.stderr


def test_shell_runs_sql_with_sqlite_vec_loaded(make_source, target):
    from conftest import run_vecmigrate
    run_vecmigrate("migrate", "--source", make_source("legacy-qe", 12), "--target", target, "--no-backup",
                   "--dimension", DIM)
    out = run_vecmigrate("shell", "--target", target,
                         input="SELECT vec_version();\nSELECT count(*) FROM patterns_vec;\n.exit\n")
    assert out.returncode == 0, out.stderr
    assert "v0.1" in out.stdout and "12" in out.stdout
    out = run_vecmigrate("shell", "--target", target, input="DELETE FROM patterns;\n")
    assert "readonly" in (out.stdout + out.stderr).lower()


def test_search_mmr_flag(cli, make_source, target):
    cli("migrate", "--source", make_source("legacy-qe", 60), "--target", target, "--no-backup", "--dimension", DIM)
    result, payload = cli.json("search", "--target", target, "--id", "pattern-000003", "-k", "5", "--mmr", "0.3")
    assert result.exit_code == 0 and len(payload["hits"]) == 5 and payload["hits"][0]["id"] == "pattern-000003"
    result = cli("search", "--target", target, "--id", "pattern-000003", "--mmr", "1.5")
    assert result.exit_code == 2 and "--mmr must be between 0 and 1" in result.stderr
