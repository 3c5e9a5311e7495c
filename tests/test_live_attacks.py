"""What a hostile review of the live path found, kept as tests: rows that move (INSERT OR
REPLACE, a rebuilt table, swapped ids), duplicates whose original goes, rowid reuse beside a
store's write, a store's delete, usage counts, rollback replays, quarantined rows tried again,
history-only changes, targets with no source, and a follow that meets a conflict."""

from __future__ import annotations

import sqlite3

import pytest
from conftest import DIM
from test_live_migration import legacy_app, target_ids, unit

from vecmigrate.models import Pattern
from vecmigrate.stores import create_store, open_store
from vecmigrate.verbs.migrate import Migrator
from vecmigrate.verbs.status import status
from vecmigrate.verbs.sync import Syncer


@pytest.fixture
def fed(make_source, target):
    source = make_source("legacy-qe", 40)
    Migrator(source, target).migrate(dimension=DIM, backup=False)
    return source, target


def synced_equal_to_a_fresh_migration(source, target, tmp_path, cli) -> dict:
    """`verify --source` is green and the target's ids are exactly a fresh migration's."""
    _, report = cli.json("verify", "--target", target, "--source", source)
    assert report["ok"], report["differences"]
    fresh = tmp_path / "fresh.vecdb"
    Migrator(source, fresh).migrate(dimension=DIM, backup=False)
    assert set(target_ids(target)) == set(target_ids(fresh))
    return target_ids(target)


def test_insert_or_replace_moves_a_row_and_keeps_its_pattern(fed, tmp_path, cli):
    source, target = fed
    legacy_app(source, ("INSERT OR REPLACE INTO patterns(id, name, description) VALUES ('pattern-000005', 'u', 'up')",
                        ()))
    out, result = cli.json("sync", "--source", source, "--target", target)
    assert out.exit_code == 0, result
    assert (result["updated"], result["deleted"], result["conflicts"]) == (1, 0, [])
    assert "Pattern: u" in synced_equal_to_a_fresh_migration(source, target, tmp_path, cli)["pattern-000005"]


def test_a_table_rebuilt_with_new_rowids_keeps_every_pattern(make_source, target, tmp_path, cli):
    source = make_source("legacy-qe", 40)
    legacy_app(source, ("DELETE FROM patterns WHERE rowid IN (3, 7, 20)", ()))
    Migrator(source, target).migrate(dimension=DIM, backup=False)
    conn = sqlite3.connect(str(source))
    ddl = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'patterns'").fetchone()[0]
    with conn:
        conn.execute(ddl.replace("CREATE TABLE patterns", "CREATE TABLE patterns_new", 1))
        conn.execute("INSERT INTO patterns_new SELECT * FROM patterns ORDER BY id DESC")
        conn.execute("DROP TABLE patterns")
        conn.execute("ALTER TABLE patterns_new RENAME TO patterns")
    conn.close()
    out, result = cli.json("sync", "--source", source, "--target", target)
    assert out.exit_code == 0 and not result["conflicts"] and not result["quarantined"], result
    assert len(synced_equal_to_a_fresh_migration(source, target, tmp_path, cli)) == 37


def test_swapped_ids_follow_and_nothing_is_stuck_in_quarantine(fed, tmp_path, cli):
    source, target = fed
    legacy_app(source, ("UPDATE patterns SET id = 'tmp' WHERE id = 'pattern-000010'", ()),
               ("UPDATE patterns SET id = 'pattern-000010' WHERE id = 'pattern-000011'", ()),
               ("UPDATE patterns SET id = 'pattern-000011' WHERE id = 'tmp'", ()))
    out, result = cli.json("sync", "--source", source, "--target", target)
    assert out.exit_code in (0, 3), result
    cli.json("sync", "--source", source, "--target", target)  # a row quarantined in the middle is tried again
    held = synced_equal_to_a_fresh_migration(source, target, tmp_path, cli)
    assert len(held) == 40


def test_a_duplicate_takes_the_id_once_its_original_is_gone(tmp_path, cli):
    source, target = tmp_path / "notes.db", tmp_path / "t.vecdb"
    legacy_app(source, ("CREATE TABLE notes (k INTEGER PRIMARY KEY, pid TEXT, body TEXT)", ()),
               *[("INSERT INTO notes(pid, body) VALUES (?, ?)", (f"p{i}", f"note number {i}")) for i in range(10)])
    flags = ["--table", "notes", "--id-column", "pid", "--text-columns", "body", "--dimension", str(DIM)]
    cli.json("migrate", "--source", source, "--target", target, "--no-backup", *flags)
    legacy_app(source, ("INSERT INTO notes(pid, body) VALUES ('p3', 'the second p3')", ()))
    out, result = cli.json("sync", "--source", source, "--target", target)
    assert out.exit_code == 3 and [q["source_rowid"] for q in result["quarantined"]] == [11]
    legacy_app(source, ("DELETE FROM notes WHERE k = 4", ()))  # the original p3
    out, result = cli.json("sync", "--source", source, "--target", target)
    assert out.exit_code == 0, result
    held = target_ids(target)
    assert len(held) == 10 and "the second p3" in held["notes:p3"]
    _, report = cli.json("verify", "--target", target, "--source", source)
    assert report["ok"], report["differences"]


def test_a_reused_rowid_never_deletes_a_stores_write_silently(fed, cli):
    source, target = fed
    with open_store(target, writable=True) as store:
        mine = store.get("pattern-000039")
        store.store(Pattern(**{**mine.pattern.__dict__, "content": "curated"}), mine.vector)
    legacy_app(source, ("DELETE FROM patterns WHERE rowid = 40", ()),
               ("INSERT INTO patterns(id, name, description) VALUES ('newcomer', 'n', 'x')", ()))  # rowid 40 again
    out, result = cli.json("sync", "--source", source, "--target", target)
    assert out.exit_code == 1 and "pattern-000039" in result["error"]
    assert target_ids(target)["pattern-000039"] == "curated"
    _, kept = cli.json("sync", "--source", source, "--target", target, "--on-conflict", "target")
    assert target_ids(target)["pattern-000039"] == "curated" and "newcomer" in target_ids(target)


def test_keep_deleted_survives_the_rowid_being_reused(fed, cli):
    source, target = fed
    legacy_app(source, ("DELETE FROM patterns WHERE rowid = 40", ()))
    cli.json("sync", "--source", source, "--target", target, "--keep-deleted")
    legacy_app(source, ("INSERT INTO patterns(id, name, description) VALUES ('newcomer', 'n', 'x')", ()))
    _, result = cli.json("sync", "--source", source, "--target", target, "--keep-deleted")
    assert {"pattern-000039", "newcomer"} <= set(target_ids(target)), result


def test_a_stores_delete_is_not_undone_silently(fed, cli):
    source, target = fed
    with open_store(target, writable=True) as store:
        assert store.delete("pattern-000002")
    legacy_app(source, ("UPDATE patterns SET description = 'edited' WHERE id = 'pattern-000002'", ()))
    out, result = cli.json("sync", "--source", source, "--target", target)
    assert out.exit_code == 1 and "deleted through a store" in result["error"]
    assert "pattern-000002" not in target_ids(target)
    _, taken = cli.json("sync", "--source", source, "--target", target, "--on-conflict", "source")
    assert "pattern-000002" in target_ids(target) and taken["conflicts"]


def test_usage_counts_are_no_conflict(fed, cli):
    source, target = fed
    with open_store(target, writable=True) as store:
        store.record_usage("pattern-000004")
    legacy_app(source, ("UPDATE patterns SET name = 'renamed' WHERE id = 'pattern-000004'", ()))
    out, result = cli.json("sync", "--source", source, "--target", target)
    assert out.exit_code == 0 and result["updated"] == 1 and not result["conflicts"]


def test_a_replayed_sync_write_is_not_taken_for_a_stores_after_rollback(fed, cli):
    source, target = fed
    legacy_app(source, ("UPDATE patterns SET name = 'v2' WHERE rowid = 2", ()))
    Migrator(source, target).migrate(backup=False)
    legacy_app(source, ("UPDATE patterns SET name = 'v3' WHERE rowid = 8", ()))
    cli.json("sync", "--source", source, "--target", target)
    assert cli.json("rollback", "--target", target, "--keep-writes")[0].exit_code == 0
    legacy_app(source, ("UPDATE patterns SET name = 'v4' WHERE rowid = 8", ()))
    out, result = cli.json("sync", "--source", source, "--target", target)
    assert out.exit_code == 0 and not result["conflicts"], result


def test_quarantined_rows_are_tried_again_when_options_change(make_source, target, cli):
    source = make_source("legacy-qe", 20)
    Migrator(source, target).migrate(dimension=DIM, backup=False)
    legacy_app(source, ("UPDATE patterns SET examples = '[[[' WHERE rowid = 3", ()))  # malformed JSON
    out, result = cli.json("migrate", "--source", source, "--target", target, "--no-backup")
    assert out.exit_code == 3 and len(result["quarantined"]) == 1 and result["deleted"] == 1
    legacy_app(source, ("UPDATE patterns SET examples = '[]' WHERE rowid = 3", ()))
    out, result = cli.json("migrate", "--source", source, "--target", target, "--no-backup")
    assert out.exit_code == 0 and result["inserted"] == 1 and len(target_ids(target)) == 20


def test_a_history_only_change_is_migrated(fed, cli):
    source, target = fed
    legacy_app(source, ("INSERT INTO pattern_usage(pattern_id) VALUES ('pattern-000001')", ()))
    _, result = cli.json("migrate", "--source", source, "--target", target, "--no-backup")
    assert result["generation"] == 2
    conn = sqlite3.connect(str(source))
    count = conn.execute("SELECT count(*) FROM pattern_usage").fetchone()[0]
    conn.close()
    _, rows = cli.json("sql", "--target", target, "SELECT count(*) FROM pattern_usage")
    assert rows["rows"][0][0] == count


def test_status_and_sync_on_a_target_fed_from_no_source(make_source, tmp_path, cli):
    target = tmp_path / "api.vecdb"
    created = create_store(target, dimension=DIM)
    created.store.store(Pattern(id="a", content="a"), unit(1))
    created.store.close()
    out, shown = cli.json("status", "--target", target)
    assert out.exit_code == 0 and shown["sources"] == [] and shown["target_count"] == 1
    source = make_source("legacy-qe", 10)
    out, result = cli.json("sync", "--source", source, "--target", target)
    assert out.exit_code == 0 and result["inserted"] == 10


def test_follow_keeps_going_past_a_refused_pass(fed):
    source, target = fed
    with open_store(target, writable=True) as store:
        mine = store.get("pattern-000006")
        store.store(Pattern(**{**mine.pattern.__dict__, "content": "agent"}), mine.vector)
    legacy_app(source, ("UPDATE patterns SET name = 'clash' WHERE id = 'pattern-000006'", ()))
    syncer = Syncer(source, target)
    with syncer.session():
        passes = syncer.follow(0.05, lambda result: None, passes=2)
    assert all(p.refused and "pattern-000006" in p.refused for p in passes)
    assert target_ids(target)["pattern-000006"] == "agent"


def test_a_status_source_with_a_namespace_counts_its_own_patterns(make_source, target, cli):
    first = make_source("legacy-qe", 30, name="a.db")
    second = make_source("legacy-qe", 20, seed=3, name="b.db")
    Migrator(first, target).migrate(dimension=DIM, backup=False)
    Migrator(second, target).migrate(backup=False, namespace="B")
    shown = status(target, second)
    assert (shown.source_count, shown.coverage, shown.migration_complete) == (20, 1.0, True)


# -- a second hostile review, of the release-and-collect design ----------------------------
def _mem_source(tmp_path, rows):
    source = tmp_path / "mem.db"
    legacy_app(source, ("CREATE TABLE mem (k TEXT, txt TEXT)", ()),
               *[("INSERT INTO mem VALUES (?, ?)", row) for row in rows])
    return source, ["--table", "mem", "--id-column", "k", "--text-columns", "txt", "--dimension", str(DIM)]


def _lineage(target) -> dict:
    from vecmigrate.db import open_target
    from vecmigrate.target.generations import Layout
    conn = open_target(Layout(target).current().db, readonly=True)
    try:
        return dict(conn.execute("SELECT l.source_rowid, p.id FROM vecmigrate_lineage l LEFT JOIN patterns p"
                                 " ON p.key = l.key").fetchall())
    finally:
        conn.close()


@pytest.mark.parametrize("verb", ["migrate", "sync"])
def test_an_id_moving_across_batches_is_no_stores_write(make_source, target, tmp_path, cli, verb):
    source = make_source("legacy-qe", 20)
    Migrator(source, target).migrate(dimension=DIM, backup=False)
    legacy_app(source, ("UPDATE patterns SET description = 'edited' WHERE rowid = 5", ()))
    cli.json("sync", "--source", source, "--target", target)
    legacy_app(source, ("UPDATE patterns SET id = 'tmp' WHERE rowid = 5", ()),
               ("UPDATE patterns SET id = 'pattern-000004' WHERE rowid = 15", ()),
               ("UPDATE patterns SET id = 'pattern-000014' WHERE rowid = 5", ()))
    out, result = cli.json(verb, "--source", source, "--target", target, "--batch-size", "1",
                           *(["--no-backup"] if verb == "migrate" else []))
    assert out.exit_code == 0 and not result["conflicts"], result
    synced_equal_to_a_fresh_migration(source, target, tmp_path, cli)


def test_keeping_the_targets_write_while_ids_swap_keeps_every_rows_lineage(tmp_path, cli):
    source, flags = _mem_source(tmp_path, [("X", "alpha beta"), ("Y", "gamma delta"), ("Z", "eps zeta")])
    target = tmp_path / "t.vecdb"
    cli.json("migrate", "--source", source, "--target", target, "--no-backup", *flags)
    with open_store(target, writable=True) as store:
        store.store(Pattern(id="mem:Y", content="agent wrote Y", kind="mem"), unit(2))
    legacy_app(source, ("UPDATE mem SET k = 'tmp' WHERE rowid = 1", ()), ("UPDATE mem SET k = 'X' WHERE rowid = 2", ()),
               ("UPDATE mem SET k = 'Y' WHERE rowid = 1", ()))
    out, result = cli.json("sync", "--source", source, "--target", target, "--on-conflict", "target")
    assert out.exit_code == 0 and [c["id"] for c in result["conflicts"]] == ["mem:Y"], result
    assert _lineage(target) == {1: "mem:Y", 2: "mem:X", 3: "mem:Z"}
    assert target_ids(target)["mem:Y"] == "agent wrote Y"
    shown = status(target, source)
    assert (shown.coverage, shown.migration_complete) == (1.0, True)
    legacy_app(source, ("UPDATE mem SET txt = 'eps zeta eta' WHERE rowid = 3", ()))  # unrelated
    out, again = cli.json("sync", "--source", source, "--target", target)
    assert out.exit_code == 0 and not again["conflicts"], again  # a settled conflict stays settled


def test_keeping_the_targets_write_still_lets_the_old_pattern_go(tmp_path, cli):
    source, flags = _mem_source(tmp_path, [("A", "alpha beta"), ("C", "gamma delta")])
    target = tmp_path / "t.vecdb"
    cli.json("migrate", "--source", source, "--target", target, "--no-backup", *flags)
    with open_store(target, writable=True) as store:
        store.store(Pattern(id="mem:B", content="agent wrote B", kind="mem"), unit(3))
    legacy_app(source, ("UPDATE mem SET k = 'B' WHERE k = 'A'", ()))
    out, result = cli.json("sync", "--source", source, "--target", target, "--on-conflict", "target")
    assert out.exit_code == 0, result
    assert set(target_ids(target)) == {"mem:B", "mem:C"}  # A is no more in the source: not kept


def test_another_sources_quarantined_row_is_never_listed_as_yours(make_source, target, cli):
    first = make_source("legacy-qe", 10, name="a.db")
    second = make_source("legacy-qe", 10, seed=4, name="b.db")
    Migrator(first, target).migrate(dimension=DIM, backup=False)
    Migrator(second, target).migrate(backup=False, namespace="nb")
    legacy_app(second, ("UPDATE patterns SET examples = '[[[' WHERE rowid = 3", ()))
    _, mine = cli.json("migrate", "--source", second, "--target", target, "--no-backup", "--namespace", "nb")
    legacy_app(first, ("UPDATE patterns SET examples = '{\"a\": }' WHERE rowid = 3", ()))
    _, theirs = cli.json("migrate", "--source", first, "--target", target, "--no-backup")
    assert mine["quarantined"][0]["reason"] != theirs["quarantined"][0]["reason"]
    _, again = cli.json("migrate", "--source", second, "--target", target, "--no-backup", "--namespace", "nb")
    assert again["quarantined"] == mine["quarantined"]
