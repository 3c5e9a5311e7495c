import apsw

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
