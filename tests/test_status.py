import apsw
import pytest
from conftest import DIM, sha256, tree_digest

from vecmigrate import Migrator, status


def test_status_before_any_migration(make_source, target):
    source = make_source("legacy-qe", 15)
    report = status(target, source)
    assert (report.source_count, report.target_count, report.coverage, report.migration_complete) == (15, 0, 0.0, False)
    assert not target.exists()


def test_status_tracks_coverage_and_completeness(make_source, target):
    source = make_source("legacy-qe", 40)
    Migrator(source, target).migrate(dimension=DIM, backup=False)
    report = status(target)
    assert (report.source_count, report.target_count, report.coverage, report.migration_complete) == (40, 40, 1.0, True)
    assert report.schema == "legacy-qe" and report.index_count == 40 and report.generation == 1

    conn = apsw.Connection(str(source))
    conn.execute("INSERT INTO patterns(id, name, template, category) VALUES ('new-1', 'n', 't', 'unit')")
    conn.close()
    before = tree_digest(target), sha256(source)
    report = status(target)
    assert (report.source_count, report.migration_complete) == (41, False)
    assert report.coverage == 40 / 41
    assert (tree_digest(target), sha256(source)) == before, "status must not write"


def test_quarantined_rows_count_as_accounted_for(make_source, target):
    source = make_source("legacy-qe", 20)
    conn = apsw.Connection(str(source))
    conn.execute("UPDATE patterns SET examples = 'not json' WHERE id = 'pattern-000003'")
    conn.close()
    Migrator(source, target).migrate(dimension=DIM, backup=False)
    report = status(target)
    assert report.quarantined_count == 1 and report.target_count == 19
    assert report.migration_complete and report.coverage == 19 / 20


def test_status_names_what_wrote_the_target_and_a_foreign_sqlite_vec_is_refused(cli, make_source, target):
    import apsw

    from vecmigrate.target.generations import Layout
    cli("migrate", "--source", make_source("legacy-qe", 20), "--target", target, "--dimension", "32", "--no-backup")
    _, status = cli.json("status", "--target", target)
    written = status["versions"]["written_by"]
    assert written["sqlite_vec"].startswith("v0.1.") and written["usearch"] and written["vecmigrate"]
    assert written["embedder"].startswith("vecmigrate") and status["versions"]["created_by"] == written
    conn = apsw.Connection(str(Layout(target).current().db))
    conn.execute("UPDATE vecmigrate_meta SET value = 'v0.2.0' WHERE key = 'sqlite_vec_version'")
    conn.close()
    for command in ("status", "search"):
        result = cli(command, "--target", target, *(["--id", "pattern-000001"] if command == "search" else []))
        lines = [l for l in result.stderr.splitlines() if l.strip()]
        assert result.exit_code == 1 and len(lines) == 1, result.stderr
        assert "sqlite-vec v0.2.0" in lines[0] and "v0.1." in lines[0]


@pytest.mark.parametrize("row, value", [("written_by", "garbage"), ("written_by", "[1, 2]"),
                                        ("created_by", '{"embedder": 5}'), ("sqlite_vec_version", " V0.1.9 "),
                                        ("sqlite_vec_version", "")])
def test_damaged_version_rows_are_shown_not_a_traceback(cli, make_source, target, row, value):
    import apsw

    from vecmigrate.target.generations import Layout
    cli("migrate", "--source", make_source("legacy-qe", 20), "--target", target, "--dimension", "32", "--no-backup")
    conn = apsw.Connection(str(Layout(target).current().db))
    conn.execute("UPDATE vecmigrate_meta SET value = ? WHERE key = ?", (value, row))
    conn.close()
    assert cli("status", "--target", target).exit_code == 0
    result, status = cli.json("status", "--target", target)
    assert result.exit_code == 0 and all(isinstance(v, str) for v in status["versions"]["created_by"].values())


def test_an_untested_sqlite_vec_writes_nothing(cli, make_source, target, monkeypatch):
    from vecmigrate.target.database import versions
    source = make_source("legacy-qe", 20)
    monkeypatch.setattr(versions, "READABLE_VEC_SERIES", {"0.0"})  # as if the installed series were unknown
    result = cli("migrate", "--source", source, "--target", target, "--dimension", "32")
    assert result.exit_code == 1 and "not a release this vecmigrate has been tested with" in result.stderr
    assert not target.exists() and not list(source.parent.glob("*.backup-*"))
