"""verify passes on a good target and catches each planted fault."""

from __future__ import annotations

import shutil

import apsw
import numpy as np
import pytest
from conftest import DIM

from vecmigrate import Migrator
from vecmigrate.db import load_vec
from vecmigrate.target.database import read_meta, settings_of, write_meta
from vecmigrate.target.generations import Layout
from vecmigrate.target.index_file import load_index, save_index
from vecmigrate.verbs.verify import verify


@pytest.fixture
def migrated(make_source, target):
    source = make_source("agentdb-adapter", 400)
    Migrator(source, target).migrate(dimension=DIM, backup=False)
    return source, target


def writable(target):
    return load_vec(apsw.Connection(str(Layout(target).current().db)))


def test_a_good_target_passes_every_check(migrated, cli):
    source, target = migrated
    report = verify(target, source=source)
    assert report.ok, report.differences
    assert set(report.checks) >= {"index_file", "counts", "key_sets", "vectors", "exact_search", "ann_recall",
                                  "sqlite_integrity", "source_ids", "source_embeddings"}
    assert report.checks["vectors"]["compared"] == 400 and report.checks["source_embeddings"]["compared"] == 400
    result, payload = cli.json("verify", "--target", target, "--source", source, "--sample", "50")
    assert result.exit_code == 0 and payload["ok"] and payload["checks"]["vectors"]["compared"] == 50


def plant_missing_key(target):
    """A key taken out of the USearch file, with the file re-recorded as if it were good."""
    conn = writable(target)
    live = Layout(target).current()
    index = load_index(live.index, settings_of(read_meta(conn)))
    index.remove(17)
    checksum = save_index(index, live.index)
    write_meta(conn, {"index_checksum": checksum, "index_count": str(len(index))})
    return "key 17 is in vec0 but not in USearch"


def plant_altered_vector(target):
    conn = writable(target)
    blob = conn.execute("SELECT embedding FROM patterns_vec WHERE rowid = 23").fetchall()[0][0]
    changed = np.frombuffer(blob, "<f4").copy()
    changed[0] += 0.5
    conn.execute("DELETE FROM patterns_vec WHERE rowid = 23")
    conn.execute("INSERT INTO patterns_vec(rowid, embedding, type, domain, framework, kind) VALUES (23, ?, 'x', 'x', 'x', 'x')",
                 (changed.tobytes(),))
    return "key 23: USearch vector differs from vec0"


def plant_foreign_index(target, make_source):
    other = target.parent / "other.vecdb"
    Migrator(make_source("agentdb-adapter", 400, seed=77, name="other.db"), other).migrate(dimension=DIM, backup=False)
    shutil.copyfile(other / "patterns.usearch", Layout(target).current().index)
    return "does not match its recorded checksum"


def plant_vec0_row_deleted(target):
    writable(target).execute("DELETE FROM patterns_vec WHERE rowid = 31")
    return "key 31 is in patterns but not in vec0"


def plant_pattern_row_deleted(target):
    writable(target).execute("DELETE FROM patterns WHERE key = 32")
    return "key 32 is in vec0 but not in patterns"


@pytest.mark.parametrize("plant", ["missing_key", "altered_vector", "foreign_index", "vec0_row_deleted",
                                   "pattern_row_deleted"])
def test_each_planted_fault_is_caught(migrated, make_source, cli, plant):
    source, target = migrated
    planted = {"missing_key": plant_missing_key, "altered_vector": plant_altered_vector,
               "vec0_row_deleted": plant_vec0_row_deleted, "pattern_row_deleted": plant_pattern_row_deleted,
               "foreign_index": lambda t: plant_foreign_index(t, make_source)}[plant]
    expected = planted(target)
    report = verify(target)
    assert not report.ok
    assert any(expected in d for d in report.differences), report.differences
    result = cli("verify", "--target", target)
    assert result.exit_code == 1 and expected in result.stderr


def test_source_differences_are_caught(migrated):
    source, target = migrated
    conn = apsw.Connection(str(source))
    conn.execute("UPDATE patterns SET embedding = ? WHERE id = 'adapter-000009'", (np.ones(DIM, "<f4").tobytes(),))
    conn.execute("INSERT INTO patterns(id, type, embedding, metadata) VALUES ('new-one', 't', ?, '{}')",
                 (np.ones(DIM, "<f4").tobytes(),))
    conn.close()
    report = verify(target, source=source)
    assert not report.checks["source_ids"]["ok"] and not report.checks["source_embeddings"]["ok"]
    assert any("'new-one'" in d for d in report.differences)
    assert any("'adapter-000009'" in d for d in report.differences)
