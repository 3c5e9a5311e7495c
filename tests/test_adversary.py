"""What a careless user, a strange file or a hostile one does to a target, and what must hold:
nothing outside the target is written, deleted or followed; rollback never destroys a kept
generation; every source row is read whatever its rowid or column names; exit 1 leaves the
live target byte for byte as it was."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import apsw
import numpy as np
import pytest
from conftest import DIM, live_files, run_vecmigrate, sha256, tree_digest
from real_layouts import qe_v3

from vecmigrate import Migrator, rollback
from vecmigrate.db import open_target
from vecmigrate.errors import TargetError, UsageError
from vecmigrate.target.generations import Layout
from vecmigrate.verbs.rollback import NothingToRollBack


def change_source(source: Path, note: str) -> None:
    conn = apsw.Connection(str(source))
    conn.execute("UPDATE patterns SET description = coalesce(description, '') || ? WHERE rowid % 3 = 0", (note,))
    conn.execute("INSERT INTO patterns(id, name, template, category) VALUES (?, 'n', 't', 'unit')", (f"extra-{note}",))
    conn.close()


def migrate_generations(source: Path, target: Path, count: int, **options) -> list[dict]:
    """`count` migrations of a source that changes between them; the live files after each."""
    states = []
    for n in range(count):
        if n:
            change_source(source, f"-{n}")
        Migrator(source, target).migrate(dimension=DIM, backup=False, **options)
        states.append(live_files(target))
    return states


def refused(out, *words: str) -> None:
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    line = out.stderr.strip()
    assert "\n" not in line and all(w in line for w in words), line


# -- 1, 2: rollback never removes or skips a kept generation ------------------------------------

def test_rollback_refuses_when_the_generation_it_would_restore_was_pruned(make_source, target):
    source = make_source("legacy-qe", 120)
    states = migrate_generations(source, target, 2, keep_generations=1)
    assert [g.number for g in Layout(target).generations()] == [2]
    out = run_vecmigrate("rollback", "--target", target)
    refused(out, "nothing to roll back", "generation 1", "no longer kept")
    assert live_files(target) == states[-1]


def test_rollback_walks_back_only_through_kept_generations(make_source, target):
    source = make_source("legacy-qe", 120)
    states = migrate_generations(source, target, 4)  # keeps 3 by default: 2, 3, 4
    assert rollback(target).now_at == 3 and live_files(target) == states[2]
    assert rollback(target).now_at == 2 and live_files(target) == states[1]
    with pytest.raises(NothingToRollBack, match="generation 1, which is no longer kept"):
        rollback(target)
    assert live_files(target) == states[1]


def test_rollback_refuses_when_the_previous_generation_was_deleted_by_hand(make_source, target):
    source = make_source("legacy-qe", 120)
    states = migrate_generations(source, target, 2)
    shutil.rmtree(target / "gen-000001")
    with pytest.raises(NothingToRollBack):
        rollback(target)
    assert live_files(target) == states[-1]


def test_only_the_first_migration_is_undone_by_removing_the_target(make_source, target):
    source = make_source("legacy-qe", 60)
    Migrator(source, target).migrate(dimension=DIM, backup=False)
    assert rollback(target).target_removed
    assert not target.exists()


@pytest.mark.parametrize("point", ["rollback-marked", "rollback-swapped", "generation-renamed-to-trash"])
def test_a_rollback_killed_anywhere_is_finished_once_never_repeated(make_source, target, point):
    source = make_source("legacy-qe", 120)
    states = migrate_generations(source, target, 3)
    out = run_vecmigrate("rollback", "--target", target, env_extra={"VECMIGRATE_CRASH_AT": point})
    assert out.returncode == -9, out.stderr
    out = run_vecmigrate("rollback", "--target", target, "--json")
    assert out.returncode == 0, out.stderr
    assert '"rolled_back": 3' in out.stdout and '"now_at": 2' in out.stdout
    assert live_files(target) == states[1]
    assert [g.number for g in Layout(target).generations()] == [1, 2]
    assert not any(p.name.startswith(".trash-") for p in target.iterdir())


def test_a_half_deleted_generation_never_looks_like_one(make_source, target):
    """A kill inside the directory delete leaves a `.trash-*` leftover, not a gen-* that a later
    command would make live or count as the generation to roll back to."""
    source = make_source("legacy-qe", 120)
    states = migrate_generations(source, target, 3)
    out = run_vecmigrate("rollback", "--target", target,
                         env_extra={"VECMIGRATE_CRASH_AT": "generation-renamed-to-trash"})
    assert out.returncode == -9
    assert (target / ".trash-gen-000003").is_dir() and not (target / "gen-000003").exists()
    assert live_files(target) == states[1]
    Migrator(source, target).migrate(backup=False)  # any writer clears the leftover
    assert not (target / ".trash-gen-000003").exists()


# -- 3: a source inside the target, files vecmigrate did not make ------------------------------

def test_a_source_inside_the_target_is_refused(make_source, target):
    source = make_source("legacy-qe", 60)
    Migrator(source, target).migrate(dimension=DIM, backup=False)
    before = tree_digest(target)
    for inside in (target / "patterns.sqlite", target / "gen-000001" / "patterns.sqlite"):
        out = run_vecmigrate("migrate", "--source", inside, "--target", target, "--no-backup")
        assert out.returncode == 2 and "inside the target" in out.stderr, out.stderr
    assert tree_digest(target) == before
    assert (target / "patterns.sqlite").is_symlink()


@pytest.mark.parametrize("name", ["patterns.sqlite", "patterns.usearch", "current"])
def test_a_file_vecmigrate_did_not_make_is_never_replaced(make_source, tmp_path, name):
    source = make_source("legacy-qe", 60)
    target = tmp_path / "store"
    target.mkdir()
    (target / name).write_bytes(b"the user's own file")
    out = run_vecmigrate("migrate", "--source", source, "--target", target, "--dimension", DIM, "--no-backup")
    refused(out, str(target / name))
    assert (target / name).read_bytes() == b"the user's own file"
    assert sorted(p.name for p in target.iterdir()) == [name]


def test_a_target_that_is_a_file_is_refused(make_source, tmp_path):
    source = make_source("legacy-qe", 20)
    target = tmp_path / "target.db"
    target.write_bytes(b"x")
    out = run_vecmigrate("migrate", "--source", source, "--target", target, "--dimension", DIM, "--no-backup")
    refused(out, "is a file")
    assert "resume" not in out.stderr and target.read_bytes() == b"x"


# -- 5: links out of the target ----------------------------------------------------------------

@pytest.fixture
def migrated(make_source, target):
    source = make_source("legacy-qe", 60)
    Migrator(source, target).migrate(dimension=DIM, backup=False)
    change_source(source, "-2")
    Migrator(source, target).migrate(backup=False)
    return source


def test_current_pointing_outside_is_refused_and_the_outside_kept(migrated, target, tmp_path):
    outside = tmp_path / "outside"
    shutil.copytree(target / "gen-000002", outside)
    before = tree_digest(outside)
    (target / "current").unlink()
    os.symlink(outside, target / "current")
    for args in (["rollback"], ["migrate", "--source", migrated, "--no-backup"], ["status"], ["search", "--id", "x"]):
        out = run_vecmigrate(*args, "--target", target)
        refused(out, "outside")
    assert tree_digest(outside) == before


def test_a_lock_link_is_refused_and_its_target_untouched(migrated, target, tmp_path):
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    (target / ".lock").unlink(missing_ok=True)
    os.symlink(outside, target / ".lock")
    out = run_vecmigrate("migrate", "--source", migrated, "--target", target, "--no-backup")
    refused(out, ".lock", "link")
    assert outside.read_text() == "keep me"


def test_a_linked_generation_is_refused_and_nothing_written_outside(migrated, target, tmp_path):
    outside = tmp_path / "elsewhere"
    shutil.move(target / "gen-000001", outside)
    os.symlink(outside, target / "gen-000001")
    before = tree_digest(outside)
    for args in (["migrate", "--source", migrated, "--no-backup"], ["rollback"]):
        refused(run_vecmigrate(*args, "--target", target), "gen-000001", "link")
    assert tree_digest(outside) == before


# -- 6: a lost live generation is an error, not a silent step back -----------------------------

def test_a_missing_live_generation_is_named_and_nothing_is_guessed(migrated, target, tmp_path, make_source):
    shutil.rmtree(target / "gen-000002")
    gen1 = tree_digest(target / "gen-000001")
    for args in (["status"], ["search", "--id", "x"], ["rollback"], ["migrate", "--source", migrated, "--no-backup"],
                 ["verify"]):
        out = run_vecmigrate(*args, "--target", target)
        refused(out, "gen-000002", "missing")
    assert os.readlink(target / "current") == "gen-000002"
    assert tree_digest(target / "gen-000001") == gen1
    secondary = tmp_path / "secondary"
    Migrator(make_source("legacy-qe", 30, name="other.db"), secondary).migrate(dimension=DIM, backup=False)
    before = live_files(secondary)
    refused(run_vecmigrate("reconcile", "--primary", target, "--secondary", secondary), "gen-000002")
    assert live_files(secondary) == before


# -- 4: every row, whatever its rowid or column names --------------------------------------------

def generic_source(path: Path, ddl: str, rows: list[tuple], columns: str) -> Path:
    conn = apsw.Connection(str(path))
    conn.execute(ddl)
    marks = ", ".join("?" * len(rows[0]))
    with conn:
        conn.executemany(f"INSERT INTO t({columns}) VALUES ({marks})", rows)
    conn.close()
    return path


def vector(i: int) -> bytes:
    return np.random.default_rng(i).standard_normal(DIM).astype("<f4").tobytes()


GENERIC = ["--table", "t", "--id-column", "id", "--text-columns", "body", "--embedding-column", "emb",
           "--dimension", str(DIM), "--no-backup", "--batch-size", "25"]


@pytest.mark.parametrize("shape", ["integer-key", "rowid-column", "__rowid-column", "all-aliases"])
def test_rows_with_any_rowid_or_column_names_are_all_migrated(tmp_path, target, cli, shape):
    ids = [-2**63, -5, 0, *range(1, 100), 2**63 - 1]
    if shape == "integer-key":
        ddl, cols = "CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT, emb BLOB)", "id, body, emb"
        rows = [(i, f"row {i}", vector(n)) for n, i in enumerate(ids)]
    elif shape == "rowid-column":
        ddl, cols = "CREATE TABLE t(rowid TEXT, id TEXT, body TEXT, emb BLOB)", "rowid, id, body, emb"
        rows = [("same", f"p{i}", f"row {i}", vector(n)) for n, i in enumerate(ids)]
    elif shape == "__rowid-column":
        ddl, cols = "CREATE TABLE t(__rowid TEXT, id TEXT, body TEXT, emb BLOB)", "__rowid, id, body, emb"
        rows = [(f"mine {i}", f"p{i}", f"row {i}", vector(n)) for n, i in enumerate(ids)]
    else:
        ddl = "CREATE TABLE t(rowid TEXT, _rowid_ TEXT, oid TEXT, k INTEGER PRIMARY KEY, id TEXT, body TEXT, emb BLOB)"
        cols = "rowid, _rowid_, oid, k, id, body, emb"
        rows = [("a", "b", "c", i, f"p{i}", f"row {i}", vector(n)) for n, i in enumerate(ids)]
    source = generic_source(tmp_path / "odd.db", ddl, rows, cols)
    _, result = cli.json("migrate", "--source", source, "--target", target, *GENERIC)
    assert result["migrated_count"] == len(ids) and not result["quarantined"], result
    conn = apsw.Connection(str(target / "patterns.sqlite"), flags=apsw.SQLITE_OPEN_READONLY)
    stored = conn.execute("SELECT count(*), count(DISTINCT id) FROM patterns").fetchall()[0]
    conn.close()
    assert stored == (len(ids), len(ids))
    if shape == "__rowid-column":  # the column's own value is kept, not taken for the rowid
        conn = apsw.Connection(str(target / "patterns.sqlite"), flags=apsw.SQLITE_OPEN_READONLY)
        metadata = conn.execute("SELECT metadata FROM patterns WHERE id = 't:p0'").fetchall()[0][0]
        conn.close()
        assert "mine 0" in metadata
    _, report = cli.json("verify", "--target", target, "--source", source)
    assert report["ok"], report
    _, again = cli.json("migrate", "--source", source, "--target", target, *GENERIC)  # never stuck
    assert again["unchanged"] == len(ids) and again["migrated_count"] == 0  # incremental: nothing to redo


def test_a_run_killed_among_negative_rowids_resumes_to_every_row(tmp_path, target, cli):
    ids = list(range(-120, 0))
    source = generic_source(tmp_path / "neg.db", "CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT, emb BLOB)",
                            [(i, f"row {i}", vector(n)) for n, i in enumerate(ids)], "id, body, emb")
    args = ["migrate", "--source", source, "--target", target, *GENERIC]
    out = run_vecmigrate(*args, env_extra={"VECMIGRATE_CRASH_AT": "batch-committed:2"})
    assert out.returncode == -9
    _, result = cli.json(*args)
    assert result["skipped_count"] == 50 and result["migrated_count"] == 120, result
    conn = apsw.Connection(str(target / "patterns.sqlite"), flags=apsw.SQLITE_OPEN_READONLY)
    assert conn.execute("SELECT count(*) FROM patterns").fetchall()[0][0] == 120
    conn.close()


def test_a_table_whose_rows_have_no_stable_order_is_refused_in_one_line(tmp_path, target):
    source = generic_source(tmp_path / "hopeless.db", "CREATE TABLE t(rowid, _rowid_, oid, id TEXT, body TEXT, emb BLOB)",
                            [(1, 2, 3, "a", "x", vector(0))], "rowid, _rowid_, oid, id, body, emb")
    out = run_vecmigrate("migrate", "--source", source, "--target", target, *GENERIC)
    assert out.returncode == 1 and "rowid, _rowid_ and oid" in out.stderr and "Traceback" not in out.stderr
    assert not target.exists()


# -- 9: exit 1 leaves the live target byte for byte ---------------------------------------------

def test_duplicate_side_table_rows_migrate_the_last_one(tmp_path, target, cli):
    fixture = qe_v3(tmp_path / "memory.db", 40)
    conn = apsw.Connection(str(fixture.path))
    conn.execute("ALTER TABLE qe_pattern_embeddings RENAME TO old")
    conn.execute("CREATE TABLE qe_pattern_embeddings (pattern_id TEXT, embedding BLOB NOT NULL, dimension INTEGER,"
                 " model TEXT, created_at TEXT)")
    conn.execute("INSERT INTO qe_pattern_embeddings SELECT * FROM old")
    conn.execute("INSERT INTO qe_pattern_embeddings SELECT * FROM old")  # every vector twice
    conn.execute("DROP TABLE old")
    conn.close()
    _, result = cli.json("migrate", "--source", fixture.path, "--target", target, "--no-backup", "--embedder", "lexical")
    assert result["migrated_count"] + len(result["quarantined"]) == 40 and not result["errors"], result


def test_a_run_failing_its_checks_is_not_made_live(make_source, target, monkeypatch):
    """The checks run before the swap: a generation that fails them is discarded, exit 1."""
    migrate_module = sys.modules["vecmigrate.verbs.migrate"]
    source = make_source("legacy-qe", 60)
    Migrator(source, target).migrate(dimension=DIM, backup=False)
    before = live_files(target)
    change_source(source, "-2")
    real = migrate_module.validate_target

    def failing(conn, run_id, index_count, total):  # what a miscount after a write bug would look like
        return real(conn, run_id, index_count + 1, total)
    monkeypatch.setattr(migrate_module, "validate_target", failing)
    with pytest.raises(TargetError, match="failed its checks and was not made live"):
        Migrator(source, target).migrate(backup=False)
    assert live_files(target) == before
    assert [g.number for g in Layout(target).generations()] == [1]


# -- 10: a resume over a changed source ---------------------------------------------------------

def test_a_resume_after_the_source_changed_starts_over_and_matches_a_fresh_run(make_source, tmp_path, target):
    source = make_source("legacy-qe", 150)
    args = ["--dimension", DIM, "--no-backup", "--batch-size", "40"]
    out = run_vecmigrate("migrate", "--source", source, "--target", target, *args,
                         env_extra={"VECMIGRATE_CRASH_AT": "batch-committed:2"})
    assert out.returncode == -9
    conn = apsw.Connection(str(source))
    conn.execute("UPDATE patterns SET description = 'changed early' WHERE rowid = 1")
    conn.execute("DELETE FROM patterns WHERE rowid = 2")
    conn.close()
    out = run_vecmigrate("migrate", "--source", source, "--target", target, *args, "--json")
    assert out.returncode == 0, out.stderr
    assert "the source changed since it began" in out.stdout  # said in the result's notes
    fresh = tmp_path / "fresh"
    Migrator(source, fresh).migrate(dimension=DIM, backup=False, batch_size=40)
    db = apsw.Connection(str(target / "patterns.sqlite"), flags=apsw.SQLITE_OPEN_READONLY)
    ref = apsw.Connection(str(fresh / "patterns.sqlite"), flags=apsw.SQLITE_OPEN_READONLY)
    query = "SELECT id, content, metadata FROM patterns ORDER BY id"
    assert db.execute(query).fetchall() == ref.execute(query).fetchall()
    assert "changed early" in db.execute("SELECT content FROM patterns ORDER BY key LIMIT 1").fetchall()[0][0]
    out = run_vecmigrate("verify", "--target", target, "--source", source)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_usage_error_for_a_source_inside_the_target_changes_nothing(make_source, target):
    source = make_source("legacy-qe", 30)
    Migrator(source, target).migrate(dimension=DIM, backup=False)
    with pytest.raises(UsageError):
        Migrator(target / "patterns.sqlite", target).migrate(backup=False)
    assert sha256(target / "gen-000001" / "patterns.sqlite")


# -- 7: hostile values quarantine their row; nothing gets stuck -----------------------------------

@pytest.fixture
def hostile_source(make_source):
    source = make_source("legacy-qe", 50)
    conn = apsw.Connection(str(source))
    conn.execute("UPDATE patterns SET examples = ? WHERE rowid = 1", ("[" * 5000 + "]" * 5000,))
    conn.execute("UPDATE patterns SET created_at = 1e300 WHERE rowid = 3")
    conn.execute("UPDATE patterns SET usage_count = 1e300 WHERE rowid = 4")
    conn.execute("UPDATE patterns SET created_at = 1e18 WHERE rowid = 5")
    conn.execute("INSERT INTO pattern_usage(pattern_id) VALUES (CAST(x'fffe41' AS TEXT))")
    conn.close()
    return source


def test_hostile_values_are_quarantined_and_history_copied_byte_for_byte(hostile_source, target, cli, tmp_path):
    args = ["--source", hostile_source, "--dimension", DIM, "--no-backup"]
    _, dry = cli.json("migrate", "--target", tmp_path / "dry", *args, "--dry-run")
    out, result = cli.json("migrate", "--target", target, *args)
    assert out.exit_code == 3
    reasons = {q["source_rowid"]: q["reason"] for q in result["quarantined"]}
    assert set(reasons) == {1, 3, 4}, reasons
    assert "RecursionError" in reasons[1] and "created_at" in reasons[3] and "usage_count" in reasons[4]
    assert result["migrated_count"] + len(reasons) == 50
    assert [q["source_rowid"] for q in dry["quarantined"]] == [q["source_rowid"] for q in result["quarantined"]]
    assert not (tmp_path / "dry").exists()
    query = "SELECT id, typeof(pattern_id), hex(pattern_id) FROM pattern_usage ORDER BY id"
    src = apsw.Connection(str(hostile_source), flags=apsw.SQLITE_OPEN_READONLY)
    dst = apsw.Connection(str(target / "patterns.sqlite"), flags=apsw.SQLITE_OPEN_READONLY)
    assert src.execute(query).fetchall() == dst.execute(query).fetchall()
    assert dst.execute(query).fetchall()[-1][1:] == ("text", "FFFE41")
    out, again = cli.json("migrate", "--target", target, *args)  # the same command is never stuck
    assert out.exit_code == 3 and again["unchanged"] + len(again["quarantined"]) == 50 and again["migrated_count"] == 0


def test_strict_writes_no_generation_for_hostile_values(hostile_source, target, make_source):
    Migrator(make_source("legacy-qe", 20, name="first.db"), target).migrate(dimension=DIM, backup=False)
    before = tree_digest(target)
    out = run_vecmigrate("migrate", "--source", hostile_source, "--target", target, "--no-backup", "--strict")
    refused(out, "--strict", "rowid 1")
    assert tree_digest(target) == before


@pytest.mark.parametrize("key,value", [("dimension", "abc"), ("metric", "dot"), ("expansion_search", "-1"),
                                       ("index_count", "many"), ("model_notes", "{not json")])
def test_a_hand_edited_meta_is_reported_as_damage_in_one_line(make_source, target, tmp_path, key, value):
    source = make_source("legacy-qe", 30)
    Migrator(source, target).migrate(dimension=DIM, backup=False)
    conn = apsw.Connection(str(target / "patterns.sqlite"))
    conn.execute("UPDATE vecmigrate_meta SET value = ? WHERE key = ?", (value, key))
    conn.close()
    before = live_files(target)
    secondary = tmp_path / "other"
    Migrator(make_source("legacy-qe", 10, name="o.db"), secondary).migrate(dimension=DIM, backup=False)
    for args in (["search", "--target", target, "--id", "pattern-000001"], ["verify", "--target", target],
                 ["status", "--target", target], ["migrate", "--source", source, "--target", target, "--no-backup"],
                 ["reconcile", "--primary", target, "--secondary", secondary]):
        refused(run_vecmigrate(*args), "damaged", f"vecmigrate_meta.{key}")
    assert live_files(target) == before


# -- 8: strange source files ----------------------------------------------------------------------

def test_a_fifo_source_is_refused_at_once(tmp_path, target):
    fifo = tmp_path / "source.db"
    os.mkfifo(fifo)
    out = run_vecmigrate("migrate", "--source", fifo, "--target", target, "--dimension", DIM, timeout=60)
    refused(out, "not a regular file")
    assert not target.exists()


def test_a_source_with_a_hot_journal_is_read_as_committed_and_left_alone(make_source, tmp_path, target, cli):
    source = make_source("legacy-qe", 80)
    committed = apsw.Connection(str(source), flags=apsw.SQLITE_OPEN_READONLY).execute(
        "SELECT count(*), sum(length(description)) FROM patterns").fetchall()[0]
    writer = apsw.Connection(str(source))
    writer.execute("PRAGMA cache_size = 1")  # pages spill into the file before the commit
    writer.execute("BEGIN; UPDATE patterns SET description = hex(randomblob(400)); DELETE FROM patterns WHERE rowid > 40")
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for suffix in ("", "-journal"):  # the files as a writer killed mid-transaction leaves them
        shutil.copyfile(str(source) + suffix, crashed / f"memory.db{suffix}")
    writer.execute("ROLLBACK")
    writer.close()
    hot = crashed / "memory.db"
    files_before = tree_digest(crashed)
    _, result = cli.json("migrate", "--source", hot, "--target", target, "--dimension", DIM, "--no-backup")
    assert result["total_patterns"] == committed[0] == 80 and result["migrated_count"] == 80
    assert tree_digest(crashed) == files_before  # the hot journal is rolled back in a private copy only


@pytest.fixture
def small_mount(tmp_path):
    """A real 768 KiB tmpfs (root only): a disk that fills, or is remounted read-only."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    if os.geteuid() != 0 or os.system(f"mount -t tmpfs -o size=768k tmpfs {mount} 2>/dev/null") != 0:
        pytest.skip("needs root to mount a small tmpfs")
    yield mount
    os.system(f"umount {mount}")


def test_a_backup_on_a_full_disk_names_the_backup_and_leaves_nothing(small_mount, make_source, target):
    source = make_source("legacy-qe", 200, dimension=384)
    placed = small_mount / "memory.db"
    shutil.copyfile(source, placed)
    filler = small_mount / "filler"
    with open(filler, "wb") as handle:  # leave less room than the backup needs
        handle.write(b"\0" * (768 * 1024 - placed.stat().st_size - 64 * 1024))
    names = sorted(p.name for p in small_mount.iterdir())
    out = run_vecmigrate("migrate", "--source", placed, "--target", target)
    refused(out, "cannot write the source backup", "--no-backup")
    assert "memory.db.backup-" in out.stderr and f"{placed}:" not in out.stderr
    assert sorted(p.name for p in small_mount.iterdir()) == names  # no *.tmp or -journal left
    assert not target.exists()


def test_a_wal_source_on_a_read_only_disk_is_read_with_its_wal(small_mount, make_source, target, cli):
    source = make_source("legacy-qe", 60)
    placed = small_mount / "memory.db"
    shutil.copyfile(source, placed)
    conn = apsw.Connection(str(placed))
    conn.execute("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0")
    conn.execute("INSERT INTO patterns(id, name, template, category) VALUES ('in-wal', 'n', 't', 'unit')")
    shutil.copyfile(str(placed) + "-wal", small_mount / "saved-wal")
    conn.close()  # (a clean close checkpoints and removes the -wal: put it back, as a live writer leaves it)
    shutil.copyfile(small_mount / "saved-wal", str(placed) + "-wal")
    os.remove(small_mount / "saved-wal")
    assert os.system(f"mount -o remount,ro {small_mount}") == 0
    out = run_vecmigrate("migrate", "--source", placed, "--target", target, "--dimension", DIM)
    refused(out, "cannot write the source backup", "--no-backup")
    _, result = cli.json("migrate", "--source", placed, "--target", target, "--dimension", DIM, "--no-backup")
    assert result["total_patterns"] == 61


# -- 11: nothing in a target makes vecmigrate run code ---------------------------------------------

def test_a_recorded_embedder_never_runs_code(make_source, target, tmp_path):
    source = make_source("legacy-qe", 30)
    Migrator(source, target).migrate(dimension=DIM, backup=False)
    script = tmp_path / "payload.sh"
    marker = tmp_path / "PAYLOAD-RAN"
    script.write_text(f"#!/bin/sh\ntouch {marker}\n")
    script.chmod(0o755)
    conn = apsw.Connection(str(target / "patterns.sqlite"))
    conn.execute("UPDATE vecmigrate_meta SET value = 'subprocess:check_output' WHERE key IN ('embedder', 'model')")
    conn.close()
    for args in (["search", "--target", target, "--text", script],
                 ["migrate", "--source", source, "--target", target, "--no-backup"],
                 ["verify", "--target", target, "--model"], ["status", "--target", target]):
        out = run_vecmigrate(*args)
        assert "Traceback" not in out.stderr and not marker.exists(), (args, out.stderr)
    out = run_vecmigrate("search", "--target", target, "--text", script)
    assert out.returncode == 1 and "--embedder subprocess:check_output" in out.stderr, out.stderr


# -- 12: the read-only verbs write nothing anywhere -----------------------------------------------

def test_sql_cannot_write_a_copy_anywhere_or_attach(migrated, target, tmp_path):
    before = tree_digest(target)
    for query in (f"VACUUM INTO '{tmp_path / 'copy.db'}'", f"ATTACH '{tmp_path / 'a.db'}' AS a",
                  "CREATE TEMP TABLE t(x)", "DELETE FROM patterns", "VACUUM"):
        out = run_vecmigrate("sql", "--target", target, query)
        assert out.returncode == 2 and "reads only" in out.stderr, (query, out.stderr)
    assert not (tmp_path / "copy.db").exists() and not (tmp_path / "a.db").exists()
    assert tree_digest(target) == before


def test_the_read_only_shell_stays_on_its_target_and_writes_nothing(migrated, target, tmp_path):
    before = tree_digest(target)
    escape = tmp_path / "escape.db"
    script = (f".open {escape}\nCREATE TABLE pwn(x);\n.output {tmp_path / 'out.txt'}\n.backup {tmp_path / 'b.db'}\n"
              f".py open('{tmp_path / 'py.txt'}', 'w')\n.shell touch {tmp_path / 'sh.txt'}\n"
              f".load /nonexistent\n.read {tmp_path / 'code.py'}\nSELECT count(*) FROM patterns;\n")
    (tmp_path / "code.py").write_text(f"open({str(tmp_path / 'py2.txt')!r}, 'w').write('x')\n")
    out = run_vecmigrate("shell", "--target", target, input=script)
    assert ".open is not available" in out.stderr and ".py is not available" in out.stderr, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "61"  # it still answers queries on the target
    assert sorted(p.name for p in tmp_path.iterdir() if p.name in
                  {"escape.db", "out.txt", "b.db", "py.txt", "py2.txt", "sh.txt"}) == []
    assert ".read of a Python file is not available" in out.stderr
    assert tree_digest(target) == before


# -- 13: permissions follow the source ------------------------------------------------------------

def test_backups_and_targets_are_never_wider_than_the_source(make_source, target, tmp_path):
    source = make_source("legacy-qe", 40)
    os.chmod(source, 0o600)
    original = os.umask(0o022)
    os.umask(original)
    result = Migrator(source, target).migrate(dimension=DIM)
    files = [Path(result.backup_path), *(p for p in target.rglob("*") if p.is_file() and not p.is_symlink())]
    modes = {str(p.relative_to(tmp_path)): oct(p.stat().st_mode & 0o777) for p in files}
    assert set(modes.values()) == {"0o600"}, modes
    dirs = {oct(p.stat().st_mode & 0o777) for p in [target, *target.glob("gen-*")]}
    assert dirs == {"0o700"}, dirs
    from vecmigrate.stores import open_store
    with open_store(target, writable=True) as store:  # a store's index save keeps the mode too
        store.delete("pattern-000001")
    assert (target / "gen-000001" / "patterns.usearch").stat().st_mode & 0o777 == 0o600
    now = os.umask(original)
    assert now == original  # and the process's umask was given back
    wide = make_source("legacy-qe", 10, name="wide.db")
    os.chmod(wide, 0o644)
    Migrator(wide, target).migrate(backup=False, namespace="wide")  # the next generation copies the 0600 rows: it stays 0600
    assert (target / "gen-000002" / "patterns.sqlite").stat().st_mode & 0o777 == 0o600


# -- every exit 1: the live target byte for byte as it was ---------------------------------------

def _hold_lock(target, source, tmp_path):
    import fcntl
    handle = open(target / ".lock", "a")
    fcntl.flock(handle, fcntl.LOCK_EX)
    return ["migrate", "--source", source, "--target", target, "--no-backup"], handle


def _missing_source(target, source, tmp_path):
    return ["migrate", "--source", tmp_path / "gone.db", "--target", target, "--no-backup"], None


def _corrupt_source(target, source, tmp_path):
    bad = tmp_path / "corrupt.db"
    data = bytearray(source.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)
    bad.write_bytes(bytes(data))
    return ["migrate", "--source", bad, "--target", target, "--no-backup"], None


def _fifo_source(target, source, tmp_path):
    os.mkfifo(tmp_path / "fifo.db")
    return ["migrate", "--source", tmp_path / "fifo.db", "--target", target, "--no-backup"], None


def _strict_bad_rows(target, source, tmp_path):
    conn = apsw.Connection(str(source))
    conn.execute("UPDATE patterns SET created_at = 1e300 WHERE rowid = 2")
    conn.close()
    return ["migrate", "--source", source, "--target", target, "--no-backup", "--strict"], None


def _unreadable_table(target, source, tmp_path):
    odd = generic_source(tmp_path / "odd.db", "CREATE TABLE t(rowid, _rowid_, oid, id TEXT, body TEXT, emb BLOB)",
                         [(1, 2, 3, "a", "x", vector(0))], "rowid, _rowid_, oid, id, body, emb")
    return ["migrate", "--source", odd, "--target", target, *GENERIC], None


def _nothing_to_roll_back(target, source, tmp_path):
    shutil.rmtree(target / "gen-000001")
    return ["rollback", "--target", target], None


@pytest.mark.parametrize("scenario", [_hold_lock, _missing_source, _corrupt_source, _fifo_source, _strict_bad_rows,
                                      _unreadable_table, _nothing_to_roll_back],
                         ids=lambda f: f.__name__.strip("_"))
def test_every_exit_1_leaves_the_live_generation_byte_for_byte(migrated, target, tmp_path, scenario):
    args, holder = scenario(target, migrated, tmp_path)
    live = Layout(target).current().path
    before = tree_digest(live)
    out = run_vecmigrate(*args, cwd=tmp_path, env_extra={"PYTHONPATH": str(tmp_path)}, timeout=60)
    if holder is not None:
        holder.close()
    refused(out)
    assert Layout(target).current().path == live
    assert tree_digest(live) == before


def test_a_full_disk_under_the_target_exits_1_with_the_live_generation_intact(small_mount, make_source):
    source = make_source("legacy-qe", 40)
    target = small_mount / "target"
    Migrator(source, target).migrate(dimension=DIM, backup=False)
    live = Layout(target).current().path
    before = tree_digest(live)
    big = make_source("legacy-qe", 3000, name="big.db")
    out = run_vecmigrate("migrate", "--source", big, "--target", target, "--dimension", DIM, "--no-backup")
    refused(out, "cannot write the target")
    assert Layout(target).current().path == live and tree_digest(live) == before


def test_an_embedder_failing_mid_run_exits_1_with_the_live_generation_intact(make_source, tmp_path, target):
    (tmp_path / "flaky_embedder.py").write_text(
        "import os, numpy as np\ncalls = 0\n"
        "def embed(texts):\n    global calls\n    calls += 1\n"
        "    if os.environ.get('EMBED_FAIL') and calls > 3:\n        raise RuntimeError('model server down')\n"
        f"    return np.ones((len(texts), {DIM}), dtype='float32') + np.arange(len(texts))[:, None]\n")
    source = make_source("legacy-qe", 120)
    args = ["migrate", "--source", source, "--target", target, "--no-backup", "--dimension", DIM,
            "--embedder", "flaky_embedder:embed", "--batch-size", "10"]
    env = {"PYTHONPATH": str(tmp_path)}
    assert run_vecmigrate(*args, cwd=tmp_path, env_extra=env).returncode == 0
    change_source(source, "-2")
    live = Layout(target).current().path
    before = tree_digest(live)
    out = run_vecmigrate(*args, cwd=tmp_path, env_extra={**env, "EMBED_FAIL": "1"})
    refused(out, "model server down")
    assert Layout(target).current().path == live and tree_digest(live) == before
    out = run_vecmigrate(*args, cwd=tmp_path, env_extra=env)  # and the same command then resumes and finishes
    assert out.returncode == 0, out.stderr


def test_backups_and_index_saves_never_write_through_a_planted_link(make_source, tmp_path, target):
    from datetime import datetime, timezone

    from vecmigrate.sources.backup import backup_path_for
    source = make_source("legacy-qe", 20)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    outside = tmp_path / "outside.db"
    os.symlink(outside, backup_path_for(source, when))  # dangling: exists() says no, a write would follow it
    chosen = backup_path_for(source, when)
    assert not os.path.lexists(chosen) and chosen.name.endswith("-1.db")
    Migrator(source, target).migrate(dimension=DIM, backup=False)
    os.symlink(outside, target / "gen-000001" / "patterns.usearch.tmp")
    refused(run_vecmigrate("migrate", "--source", source, "--target", target, "--no-backup"), "link")
    assert not outside.exists()


def test_verify_counts_every_source_row_it_reads(tmp_path, target, cli):
    ids = [-3, 0, 1, 2]
    source = generic_source(tmp_path / "few.db", "CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT, emb BLOB)",
                            [(i, f"row {i}", vector(n)) for n, i in enumerate(ids)], "id, body, emb")
    cli.json("migrate", "--source", source, "--target", target, *GENERIC)
    _, report = cli.json("verify", "--target", target, "--source", source)
    assert report["ok"] and report["checks"]["source_ids"]["source_rows"] == 4, report["checks"]["source_ids"]


def test_a_source_corrupt_midway_leaves_no_generation_behind(make_source, target):
    source = make_source("legacy-qe", 3000)
    data = bytearray(source.read_bytes())
    middle = (len(data) // 4096 * 3 // 5) * 4096
    data[middle:middle + 4096] = b"\xa5" * 4096
    source.write_bytes(bytes(data))
    out = run_vecmigrate("migrate", "--source", source, "--target", target, "--dimension", DIM, "--no-backup")
    refused(out, "corrupt")
    assert not target.exists() or not Layout(target).generations()  # nothing half-built is left to "resume"


def test_a_source_a_live_writer_is_changing_is_read_in_place_as_committed(make_source, target, cli):
    source = make_source("legacy-qe", 80)
    writer = apsw.Connection(str(source))  # (its changes stay in its cache: readers are not blocked)
    writer.execute("BEGIN; UPDATE patterns SET description = 'uncommitted'; DELETE FROM patterns WHERE rowid > 40")
    try:  # the journal is there but live (its writer holds the lock): not hot, read in place
        assert Path(str(source) + "-journal").exists()
        out = run_vecmigrate("migrate", "--source", source, "--target", target, "--dimension", DIM, "--no-backup",
                             "--json")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert out.returncode == 0, out.stderr
    assert '"migrated_count": 80' in out.stdout
    conn = open_target(target / "patterns.sqlite", readonly=True)
    assert conn.execute("SELECT count(*) FROM patterns WHERE content LIKE '%uncommitted%'").fetchall()[0][0] == 0
    conn.close()


def test_a_writer_killed_mid_transaction_does_not_lock_readers_out(migrated, target, tmp_path):
    """A store writing the live generation is killed inside a transaction, leaving a hot journal:
    readers and writers roll it back (the last commit is restored) and go on."""
    live = Layout(target).current()
    committed = apsw.Connection(str(live.db), flags=apsw.SQLITE_OPEN_READONLY)
    count = committed.execute("SELECT count(*) FROM patterns").fetchall()[0][0]
    committed.close()
    writer = tmp_path / "writer.py"
    writer.write_text(
        "import apsw, os, signal, sys\n"
        "c = apsw.Connection(sys.argv[1]); c.execute('PRAGMA cache_size = 1')\n"
        "c.execute('BEGIN; DELETE FROM patterns WHERE key % 2 = 0; UPDATE patterns SET content = hex(randomblob(900))')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n")
    import subprocess
    assert subprocess.run([sys.executable, writer, live.db]).returncode == -9
    assert Path(str(live.db) + "-journal").stat().st_size > 0
    for args in (["status"], ["search", "--id", "pattern-000001"], ["sql", "SELECT count(*) FROM patterns"]):
        out = run_vecmigrate(*args, "--target", target)
        assert out.returncode == 0, (args, out.stderr)
    out = run_vecmigrate("sql", "--target", target, "SELECT count(*) FROM patterns", "--json")
    assert f"[{count}]" in out.stdout.replace(" ", ""), out.stdout
    assert run_vecmigrate("verify", "--target", target).returncode == 0


def test_an_index_file_that_will_not_load_is_rebuilt_not_a_traceback(migrated, target):
    live = Layout(target).current()
    data = bytearray(live.index.read_bytes())
    start = data.find(b"usearch") + 64 + 40
    data[start:start + 4096] = bytes(4096)  # the graph's first levels zeroed, the header intact
    live.index.write_bytes(bytes(data))
    conn = apsw.Connection(str(live.db))  # and the checksum recorded to match: only loading can tell
    conn.execute("UPDATE vecmigrate_meta SET value = ? WHERE key = 'index_checksum'", (sha256(live.index),))
    conn.close()
    import subprocess
    probe = subprocess.run([sys.executable, "-c", "import sys; from usearch.index import Index; "
                            "Index(ndim=int(sys.argv[2]), metric='cos', dtype='f32').load(sys.argv[1])",
                            str(live.index), str(DIM)], capture_output=True, text=True)
    if probe.returncode == 0:  # (an older USearch loads this damage silently: the README's crafted-file limit)
        pytest.skip("this USearch version does not detect the damaged graph when loading")
    out = run_vecmigrate("search", "--target", target, "--id", "pattern-000001", "--json")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert "rebuilt from the vec0 mirror" in out.stdout
    out = run_vecmigrate("verify", "--target", target)
    assert out.returncode == 1 and "Traceback" not in out.stderr and "cannot be loaded" in out.stdout + out.stderr


# -- found by an independent attack on the first round of these fixes -----------------------------

@pytest.fixture
def three_generations(make_source, target):
    source = make_source("legacy-qe", 60)
    migrate_generations(source, target, 3)
    return source


def test_a_target_without_current_is_refused_and_no_generation_deleted(three_generations, target, make_source):
    (target / "current").unlink()
    before = tree_digest(target)
    other = make_source("legacy-qe", 10, name="other.db")
    for args in (["rollback"], ["migrate", "--source", other, "--no-backup"], ["status"]):
        refused(run_vecmigrate(*args, "--target", target), "no `current` link")
    assert tree_digest(target) == before


def test_current_moved_back_by_hand_keeps_the_newer_generations(three_generations, target, make_source):
    kept = {n: tree_digest(target / f"gen-00000{n}") for n in (2, 3)}
    (target / "current").unlink()
    os.symlink("gen-000001", target / "current")  # what the lost-generation message tells a user to do
    refused(run_vecmigrate("rollback", "--target", target), "other generations are kept")
    assert run_vecmigrate("migrate", "--source", three_generations, "--target", target, "--no-backup").returncode == 0
    assert {n: tree_digest(target / f"gen-00000{n}") for n in (2, 3)} == kept
    assert Layout(target).current().number == 4 and Layout(target).current().parent == 1


@pytest.mark.parametrize("entry", ["rollback-tmp-link", "rollback-tmp-dir", "current-tmp-dir", "lock-fifo",
                                   "lock-hardlink", "db-hardlink"])
def test_odd_entries_where_vecmigrate_writes_are_refused_not_followed(migrated, target, tmp_path, entry):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    if entry == "rollback-tmp-link":
        os.symlink(victim, target / ".rollback.tmp")
    elif entry == "rollback-tmp-dir":
        (target / ".rollback.tmp").mkdir()
    elif entry == "current-tmp-dir":
        (target / "current.tmp").mkdir()
    elif entry == "lock-hardlink":
        (target / ".lock").unlink(missing_ok=True)
        os.link(victim, target / ".lock")
    elif entry == "db-hardlink":
        shutil.copyfile(target / "gen-000002" / "patterns.sqlite", victim)
        (target / "gen-000002" / "patterns.sqlite").unlink()
        os.link(victim, target / "gen-000002" / "patterns.sqlite")
        victim_bytes = victim.read_bytes()
    else:
        (target / ".lock").unlink(missing_ok=True)
        os.mkfifo(target / ".lock")
    before = tree_digest(target)
    for args in (["rollback"], ["migrate", "--source", migrated, "--no-backup"]):
        out = run_vecmigrate(*args, "--target", target, timeout=60)
        refused(out)
    assert tree_digest(target) == before
    assert victim.read_bytes() == (victim_bytes if entry == "db-hardlink" else b"keep me")


def test_nothing_after_the_swap_can_turn_a_live_migration_into_exit_1(make_source, tmp_path, target):
    source = make_source("legacy-qe", 40)
    moved = tmp_path / "moved.db"

    def embed_then_move_the_source(pattern):  # the source disappears while the run finishes
        if source.exists():
            source.rename(moved)
        return np.ones(DIM, dtype=np.float32)
    result = Migrator(source, target).migrate(dimension=DIM, backup=False, pattern_embedder=embed_then_move_the_source)
    assert result.generation == 1 and Layout(target).current().number == 1
    assert any("could not be read again" in note for note in result.notes), result.notes


def test_status_shows_the_target_when_its_recorded_source_is_gone(migrated, target, cli):
    migrated.unlink()
    _, report = cli.json("status", "--target", target)
    assert report["target_count"] > 0 and report["generation"] == 2
    assert any("no longer there" in note for note in report["notes"])


def test_tables_named_in_invalid_utf8_and_generated_rowid_columns(tmp_path, target, cli):
    source = generic_source(tmp_path / "gen.db", "CREATE TABLE t(id TEXT, body TEXT, emb BLOB, "
                            "rowid INTEGER GENERATED ALWAYS AS (1) VIRTUAL)",
                            [(f"p{i}", f"row {i}", vector(i)) for i in range(40)], "id, body, emb")
    conn = apsw.Connection(str(source))
    conn.execute("CREATE TABLE zzz(a)")
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_schema SET name = CAST(x'7a7aff' AS TEXT), tbl_name = CAST(x'7a7aff' AS TEXT),"
                 " sql = CAST(x'435245415445205441424c45207a7aff286129' AS TEXT) WHERE name = 'zzz'")
    conn.close()
    args = ["migrate", "--source", source, "--target", target, *GENERIC]
    assert run_vecmigrate(*args, env_extra={"VECMIGRATE_CRASH_AT": "batch-committed:1"}).returncode == -9
    _, result = cli.json(*args)  # resumed by the true rowid, not the generated column named rowid
    assert result["skipped_count"] == 25 and result["migrated_count"] == 40, result


def test_a_legacy_target_without_parent_records_rolls_back_one_step(make_source, target):
    source = make_source("legacy-qe", 40)
    states = migrate_generations(source, target, 3)
    for generation in Layout(target).generations():
        (generation.path / "PARENT").unlink()  # as a target made before generations recorded it
    assert rollback(target).now_at == 2 and live_files(target) == states[1]


def test_an_interrupted_rollback_whose_restore_point_vanished_changes_nothing(make_source, target):
    source = make_source("legacy-qe", 40)
    states = migrate_generations(source, target, 2)
    out = run_vecmigrate("rollback", "--target", target, env_extra={"VECMIGRATE_CRASH_AT": "rollback-marked"})
    assert out.returncode == -9
    shutil.rmtree(target / "gen-000001")
    refused(run_vecmigrate("rollback", "--target", target), "no longer there", "stays live")
    assert live_files(target) == states[1] and not (target / ".rollback").exists()


def test_a_rerun_after_a_kill_just_after_the_swap_finishes_instead_of_migrating_again(make_source, target, cli):
    source = make_source("legacy-qe", 60)
    args = ["migrate", "--source", source, "--target", target, "--dimension", DIM, "--no-backup",
            "--keep-generations", "2"]
    assert run_vecmigrate(*args).returncode == 0
    change_source(source, "-2")
    assert run_vecmigrate(*args, env_extra={"VECMIGRATE_CRASH_AT": "after-swap"}).returncode == -9
    _, result = cli.json(*args)
    assert result["generation"] == 2 and "already live" in " ".join(result["notes"]), result
    assert [g.number for g in Layout(target).generations()] == [1, 2]  # the rollback point an uninterrupted run keeps
    assert rollback(target).now_at == 1


def test_a_migration_reads_the_target_only_under_its_lock(make_source, tmp_path, target):
    """Another migration finishing between this one's start and its lock: this one sees it (and
    refuses to mix another dimension in) instead of building on what it read before."""
    from vecmigrate.errors import VecmigrateError
    inner = make_source("legacy-qe", 30, name="inner.db")
    outer = qe_v3(tmp_path / "memory.db", 20).path
    fired = []

    def log(message: str) -> None:
        if message.startswith("source ") and not fired:
            fired.append(Migrator(inner, target).migrate(dimension=DIM, backup=False))
    with pytest.raises(VecmigrateError):
        Migrator(outer, target, log=log).migrate(backup=False)
    assert fired and live_files(target)["generation"] == 1
    conn = open_target(target / "patterns.sqlite", readonly=True)
    assert conn.execute("SELECT count(*) FROM patterns").fetchall()[0][0] == 30
    conn.close()


def test_paths_that_are_not_utf8_are_refused_in_one_line(tmp_path, make_source):
    source = make_source("legacy-qe", 5)
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/s\xff.db"))
    shutil.copyfile(source, odd)
    out = run_vecmigrate("migrate", "--source", odd, "--target", tmp_path / "t", "--dimension", DIM, "--no-backup")
    assert out.returncode in (1, 2) and "Traceback" not in out.stderr and "UTF-8" in out.stderr, out.stderr
