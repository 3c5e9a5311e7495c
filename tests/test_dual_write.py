"""The dual-write path with real failures: an APSW VFS failing the secondary's writes, a
closed primary connection, a secondary that disagrees."""

from __future__ import annotations

import apsw
import numpy as np
import pytest
from conftest import DIM
from test_stores import patterns_for

from vecmigrate.errors import TargetError
from vecmigrate.sources.samples import clustered_vectors
from vecmigrate.stores import DualWriteStore, create_store
from vecmigrate.verbs.reconcile import reconcile
from vecmigrate.verbs.verify import verify


@pytest.fixture(scope="module")
def vectors():
    return clustered_vectors(300, DIM, clusters=8, seed=21)


def test_secondary_failures_are_journaled_and_reconciled(tmp_path, faulty_vfs, vectors):
    vfs = faulty_vfs(only="secondary.vecdb", fail_write_at=1, active=False)
    primary = create_store(tmp_path / "primary.vecdb", backend="usearch", dimension=DIM).store
    secondary = create_store(tmp_path / "secondary.vecdb", backend="sqlite-vec", dimension=DIM).store
    store = DualWriteStore(primary, secondary)
    store.store_batch(patterns_for(20), vectors[:20])  # both sides healthy
    vfs.active = True
    items = patterns_for(120)[20:]
    for pattern, vector in zip(items, vectors[20:120]):  # 100 writes, each failing on the secondary
        store.store(pattern, vector)
    store.delete("p-0005")
    vfs.active = False
    assert primary.count() == 119 and secondary.count() == 20
    journal = store.journal()
    assert len(journal) == 101 and {j["operation"] for j in journal} == {"store", "delete"}
    assert "injected" in journal[0]["error"] and journal[-1]["pattern_id"] == "p-0005"
    assert store.stats().extra["secondary_failures"] == 101
    store.close()

    assert not verify(tmp_path / "primary.vecdb", against=tmp_path / "secondary.vecdb").ok
    report = reconcile(tmp_path / "primary.vecdb", tmp_path / "secondary.vecdb")
    assert (report.journal_replayed, report.copied_to_secondary, report.deleted_from_secondary) == (101, 100, 1)
    for side, other in (("primary", "secondary"), ("secondary", "primary")):
        result = verify(tmp_path / f"{side}.vecdb", against=tmp_path / f"{other}.vecdb")
        assert result.ok, result.differences
    again = reconcile(tmp_path / "primary.vecdb", tmp_path / "secondary.vecdb")
    assert (again.journal_replayed, again.copied_to_secondary, again.copied_to_primary) == (0, 0, 0)


def test_a_primary_failure_fails_the_call_and_leaves_the_secondary_alone(tmp_path, faulty_vfs, vectors):
    vfs = faulty_vfs(only="primary.vecdb", fail_write_at=1, active=False)
    primary = create_store(tmp_path / "primary.vecdb", backend="usearch", dimension=DIM).store
    secondary = create_store(tmp_path / "secondary.vecdb", backend="sqlite-vec", dimension=DIM).store
    store = DualWriteStore(primary, secondary)
    vfs.active = True
    with pytest.raises(apsw.IOError):
        store.store_batch(patterns_for(5), vectors[:5])
    vfs.active = False
    assert primary.count() == 0 and secondary.count() == 0
    store.close()


def test_reads_fall_back_to_the_secondary(tmp_path, vectors):
    primary = create_store(tmp_path / "primary.vecdb", backend="usearch", dimension=DIM).store
    secondary = create_store(tmp_path / "secondary.vecdb", backend="sqlite-vec", dimension=DIM).store
    store = DualWriteStore(primary, secondary)
    store.store_batch(patterns_for(50), vectors[:50])
    primary.conn.close()  # the primary's database is gone from under it
    hits = store.search(vectors[7], k=3)
    assert hits[0].id == "p-0007" and store.fallbacks == 1 and "answered by the secondary" in store.notices[0]
    assert store.get("p-0008").pattern.id == "p-0008" and store.fallbacks == 2
    secondary.close()
    primary._lock.__exit__(None, None, None)


def test_shadow_reads_record_disagreements(tmp_path, vectors):
    primary = create_store(tmp_path / "primary.vecdb", backend="usearch", dimension=DIM).store
    secondary = create_store(tmp_path / "secondary.vecdb", backend="sqlite-vec", dimension=DIM).store
    primary.store_batch(patterns_for(100), vectors[:100])
    secondary.store_batch(patterns_for(100, prefix="other"), vectors[100:200])  # a secondary out of step
    store = DualWriteStore(primary, secondary, shadow_rate=1.0, shadow_min_recall=0.8, seed=1)
    for i in range(5):
        store.search(vectors[i], k=5)
    stats = store.stats()
    assert stats.extra["shadow_checks"] == 5 and stats.extra["shadow_disagreements"] == 5
    row = primary.conn.execute("SELECT recall, primary_ids FROM shadow_disagreements LIMIT 1").fetchall()[0]
    assert row[0] == 0.0 and "p-0000" in row[1]
    store.close()


def test_reconcile_repairs_both_directions_and_changed_vectors(tmp_path, vectors):
    primary = create_store(tmp_path / "a.vecdb", backend="usearch", dimension=DIM).store
    secondary = create_store(tmp_path / "b.vecdb", backend="sqlite-vec", dimension=DIM).store
    primary.store_batch(patterns_for(30), vectors[:30])
    secondary.store_batch(patterns_for(30)[:20] + patterns_for(5, prefix="legacy"),
                          np.concatenate([vectors[:19], vectors[200:201], vectors[250:255]]))
    primary.close()
    secondary.close()
    report = reconcile(tmp_path / "a.vecdb", tmp_path / "b.vecdb")
    assert (report.copied_to_secondary, report.copied_to_primary, report.updated_in_secondary) == (10, 5, 1)
    assert verify(tmp_path / "a.vecdb", against=tmp_path / "b.vecdb").ok


def test_reconcile_cli(tmp_path, cli, vectors):
    for name, backend in (("a", "usearch"), ("b", "sqlite-vec")):
        store = create_store(tmp_path / f"{name}.vecdb", backend=backend, dimension=DIM).store
        store.store_batch(patterns_for(10 if name == "a" else 7), vectors[:10 if name == "a" else 7])
        store.close()
    result, payload = cli.json("reconcile", "--primary", tmp_path / "a.vecdb", "--secondary", tmp_path / "b.vecdb")
    assert result.exit_code == 0 and payload["copied_to_secondary"] == 3
    result = cli("verify", "--target", tmp_path / "b.vecdb", "--against", tmp_path / "a.vecdb")
    assert result.exit_code == 0
    with pytest.raises(TargetError):
        from vecmigrate.stores import open_store
        open_store(tmp_path / "missing.vecdb")
