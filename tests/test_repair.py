"""`repair`: one damaged target made consistent again (patterns ⇄ vec0 ⇄ index ⇄ change log)
from what survives in it (the index file, the source, the target's own model), and a store
opened on the damaged target before the repair destroys nothing."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import apsw
import numpy as np
import pytest
from conftest import load_vec, run_vecmigrate
from real_layouts import agentic_qe_agentdb, qe_v3, reasoningbank_model

from vecmigrate import Migrator
from vecmigrate.commands import sync
from vecmigrate.db import open_target
from vecmigrate.models import Pattern
from vecmigrate.stores import open_store
from vecmigrate.target import database as tgt
from vecmigrate.target.generations import Layout
from vecmigrate.target.index_file import load_index
from vecmigrate.verbs.migrate import MigrateOptions
from vecmigrate.verbs.repair import repair
from vecmigrate.verbs.verify import verify


def live(target: Path):
    return Layout(target).current()


def vector_of(target: Path, key: int) -> bytes | None:
    conn = load_vec(open_target(live(target).db, readonly=True))
    try:
        row = conn.execute("SELECT embedding FROM patterns_vec WHERE rowid = ?", (key,)).fetchall()
        return row[0][0] if row else None
    finally:
        conn.close()


def damage(target: Path, *, keep_checksum: bool) -> dict:
    """Remove by hand: one vec0 row (key a), one index entry (key b), the last change-log entry
    of key c. `keep_checksum`: record the edited index file as SQLite's (else it no longer matches)."""
    where = live(target)
    conn = load_vec(open_target(where.db))
    keys = [r[0] for r in conn.execute("SELECT key FROM patterns ORDER BY key")]
    a, b, c = keys[1], keys[2], keys[3]
    lost = conn.execute("SELECT embedding FROM patterns_vec WHERE rowid = ?", (a,)).fetchall()[0][0]
    with conn:
        conn.execute("DELETE FROM patterns_vec WHERE rowid = ?", (a,))
        conn.execute("DELETE FROM vecmigrate_changes WHERE seq = (SELECT max(seq) FROM vecmigrate_changes WHERE key = ?)",
                     (c,))
    meta = tgt.read_meta(conn)
    index = load_index(where.index, tgt.settings_of(meta))
    index.remove(b)
    if keep_checksum:
        with conn:
            tgt.save_checked_index(conn, index, where, int(meta["index_seq"]))
    else:
        index.save(str(where.index))
    conn.close()
    return {"a": a, "b": b, "c": c, "lost": lost}


def migrated(tmp_path: Path, build=qe_v3) -> tuple[Path, object]:
    fixture = build(tmp_path / "source.db")
    target = tmp_path / "target"
    Migrator(fixture.path, target).migrate(MigrateOptions(embedder="lexical", backup=False))
    return target, fixture


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_repair_restores_vec0_index_and_log_from_the_index_file(tmp_path):
    target, _ = migrated(tmp_path)
    hurt = damage(target, keep_checksum=True)
    assert not verify(target).ok
    # a store opened on the damaged target, writing and closing, destroys nothing
    with open_store(target, writable=True) as store:
        store.store(Pattern(id="written-meanwhile", content="a write on the damaged target"),
                    np.ones(384, dtype=np.float32))
    assert index_vector(target, hurt["a"]) == hurt["lost"]
    report = repair(target)
    assert report.unrecoverable_count == 0
    assert {"key": hurt["a"], "from": "usearch index"}.items() <= next(
        r for r in report.restored if r["key"] == hurt["a"]).items()
    assert vector_of(target, hurt["a"]) == hurt["lost"]          # byte for byte
    assert report.log_entries_added >= 1 and report.index.startswith("rebuilt")
    assert verify(target).ok
    with open_store(target) as store:                             # a fresh reader finds b and a again
        for key in (hurt["a"], hurt["b"], hurt["c"]):
            pid = store.conn.execute("SELECT id FROM patterns WHERE key = ?", (key,)).fetchone()[0]
            assert store.search_id(pid, k=1)[0].id == pid
        assert store.get("written-meanwhile") is not None
    conn = open_target(live(target).db, readonly=True)
    ops = [r[0] for r in conn.execute("SELECT op FROM vecmigrate_changes WHERE key = ? ORDER BY seq", (hurt["c"],))]
    conn.close()
    assert ops[-1] == "upsert"
    again = repair(target)                                        # a second repair finds nothing to do
    assert again.restored_count == 0 and again.log_entries_added == 0 and again.index == "consistent with vec0"


def index_vector(target: Path, key: int) -> bytes | None:
    where = live(target)
    conn = open_target(where.db, readonly=True)
    index = load_index(where.index, tgt.settings_of(tgt.read_meta(conn)))
    conn.close()
    return np.asarray(index.get(key, dtype=np.float32), dtype="<f4").tobytes() if index.contains(key) else None


def test_a_store_opened_on_a_target_whose_vec0_lost_a_vector_keeps_the_index_file(tmp_path):
    """The index file may hold the only copy: a writer's rebuild from vec0 must not overwrite it."""
    target, _ = migrated(tmp_path)
    where = live(target)
    conn = open_target(where.db)
    key = conn.execute("SELECT key FROM patterns ORDER BY key LIMIT 1").fetchone()[0]
    lost = load_vec(conn).execute("SELECT embedding FROM patterns_vec WHERE rowid = ?", (key,)).fetchone()[0]
    with conn:
        conn.execute("DELETE FROM patterns_vec WHERE rowid = ?", (key,))
    conn.close()
    before = sha(where.index)
    with open_store(target, writable=True) as store:
        assert any("kept as it is" in n for n in store.notices)
        store.store(Pattern(id="written-meanwhile", content="a write on the damaged target"),
                    np.ones(384, dtype=np.float32))
        with pytest.raises(Exception, match="run `vecmigrate repair`"):
            store.build_index()
    assert sha(where.index) == before
    report = repair(target)
    assert report.restored[0]["from"] == "usearch index" and vector_of(target, key) == lost
    with open_store(target) as store:
        assert store.get("written-meanwhile") is not None
    assert verify(target).ok


def test_an_untrusted_index_file_is_not_read_and_the_source_gives_the_vector(tmp_path):
    target, fixture = migrated(tmp_path)
    hurt = damage(target, keep_checksum=False)
    report = repair(target, source=fixture.path)
    restored = next(r for r in report.restored if r["key"] == hurt["a"])
    assert restored["from"] == "source" and vector_of(target, hurt["a"]) == hurt["lost"]
    assert any("not read" in n for n in report.notes) and report.index.startswith("rebuilt")
    assert verify(target, source=fixture.path).ok


def test_the_targets_own_model_re_embeds_only_its_own_vectors(tmp_path):
    target, _ = migrated(tmp_path, agentic_qe_agentdb)   # no stored vectors: the target's model made them all
    hurt = damage(target, keep_checksum=False)
    report = repair(target)
    assert next(r for r in report.restored if r["key"] == hurt["a"])["from"].startswith("re-embedded")
    assert vector_of(target, hurt["a"]) == hurt["lost"]
    assert verify(target).ok


def test_what_cannot_be_recovered_is_named_and_kept(tmp_path, cli):
    target, _ = migrated(tmp_path, reasoningbank_model)   # stored 128-d vectors: no model of the target's made them
    hurt = damage(target, keep_checksum=False)
    result = cli("repair", "--target", target, "--json")
    payload = json.loads(result.stdout)
    assert result.exit_code == 3 and payload["unrecoverable_count"] == 1
    item = payload["unrecoverable"][0]
    assert item["key"] == hurt["a"] and "no --source given" in item["why"]
    conn = open_target(live(target).db, readonly=True)
    assert conn.execute("SELECT count(*) FROM patterns WHERE key = ?", (hurt["a"],)).fetchone()[0] == 1  # kept
    conn.close()
    done = run_vecmigrate("repair", "--target", target, "--source", tmp_path / "source.db")
    assert done.returncode == 0, done.stderr
    assert vector_of(target, hurt["a"]) == hurt["lost"]


def test_a_pattern_row_lost_is_restored_from_its_source_row(tmp_path):
    target, fixture = migrated(tmp_path)
    conn = open_target(live(target).db)
    key, pattern_id = conn.execute("SELECT key, id FROM patterns ORDER BY key LIMIT 1 OFFSET 4").fetchone()
    with conn:
        conn.execute("DELETE FROM patterns WHERE key = ?", (key,))
    conn.close()
    without = repair(target)
    assert without.unrecoverable_count == 1 and "the vector is kept" in without.unrecoverable[0]["why"]
    assert verify(target).ok                      # (set aside: out of vec0, so no search finds a hit without a row)
    report = repair(target, source=fixture.path)
    assert report.unrecoverable_count == 0 and report.restored[0]["id"] == pattern_id
    assert verify(target, source=fixture.path).ok


@pytest.mark.parametrize("flag", ["--json", None])
def test_repair_on_a_consistent_target_changes_nothing(tmp_path, cli, flag):
    target, _ = migrated(tmp_path)
    before = sha(live(target).db)
    result = cli(*[a for a in ("repair", "--target", target, flag) if a])
    assert result.exit_code == 0
    assert "0 restored" in result.stdout or json.loads(result.stdout)["restored_count"] == 0
    assert verify(target).ok and live(target).db.exists() and before


# -- what a hostile review found (each failed before its fix) -----------------------------------
def _hand(target: Path, *statements) -> None:
    conn = load_vec(open_target(live(target).db))
    with conn:
        for statement, args in statements:
            conn.execute(statement, args)
    conn.close()


def test_equal_counts_do_not_hide_a_lost_vector_from_a_writer(tmp_path):
    """A stray vec0 row made the counts agree: a writer rebuilt the index over the only copy."""
    target, _ = migrated(tmp_path, agentic_qe_agentdb)
    conn = load_vec(open_target(live(target).db))
    blob = conn.execute("SELECT embedding FROM patterns_vec WHERE rowid = 2").fetchone()[0]
    conn.close()
    _hand(target, ("DELETE FROM patterns_vec WHERE rowid = 2", ()),
          ("INSERT INTO patterns_vec(rowid, embedding, type, domain, framework, kind) VALUES (999, ?, 'x', 'x', 'x', 'x')",
           (blob,)))
    with open_store(target, writable=True) as store:
        assert store.keep_index_file
        with pytest.raises(Exception, match="run `vecmigrate repair`"):
            store.build_index()
    assert index_vector(target, 2) == blob


def test_rollback_keep_writes_refuses_while_vectors_are_lost(tmp_path, cli):
    target, fixture = migrated(tmp_path)
    conn = apsw.Connection(str(fixture.path))
    conn.execute("UPDATE qe_patterns SET description = 'changed' WHERE rowid = 1")
    conn.close()
    Migrator(fixture.path, target).migrate(MigrateOptions(embedder="lexical", backup=False))  # generation 2
    with open_store(target, writable=True) as store:
        store.store(Pattern(id="agent-written", content="x"), np.ones(384, dtype=np.float32))
    key = open_target(live(target).db, readonly=True).execute("SELECT key FROM patterns WHERE id = 'agent-written'"
                                                              ).fetchone()[0]
    _hand(target, ("DELETE FROM patterns_vec WHERE rowid = ?", (key,)))
    result = cli("rollback", "--target", target, "--keep-writes")
    assert result.exit_code == 1 and "run `vecmigrate repair" in result.stderr
    assert live(target).number == 2


def test_an_index_vector_older_than_the_log_is_not_restored(tmp_path):
    """sync changed key 1's vector (the index file still held the old one); vec0 then lost it."""
    target, fixture = migrated(tmp_path)
    conn = apsw.Connection(str(fixture.path))
    first = conn.execute("SELECT pattern_id FROM qe_pattern_embeddings ORDER BY rowid LIMIT 1").fetchone()[0]
    new = np.asarray(np.random.default_rng(3).standard_normal(384), dtype="<f4")
    conn.execute("UPDATE qe_pattern_embeddings SET embedding = ? WHERE pattern_id = ?", (new.tobytes(), first))
    conn.close()
    sync(fixture.path, target, MigrateOptions(embedder="lexical"))
    key = open_target(live(target).db, readonly=True).execute("SELECT key FROM patterns WHERE id = ?",
                                                              (first,)).fetchone()[0]
    _hand(target, ("DELETE FROM patterns_vec WHERE rowid = ?", (key,)))
    report = repair(target, source=fixture.path)
    assert report.restored[0]["from"] == "source" and vector_of(target, key) == new.tobytes()


def test_a_source_that_is_not_the_targets_is_a_usage_error(tmp_path, cli):
    target, _ = migrated(tmp_path)
    other = qe_v3(tmp_path / "other.db", count=5).path           # same layout, same kind of ids, never fed in
    before = sha(live(target).db)
    for bad in (other, tmp_path / "missing.db", tmp_path):
        result = cli("repair", "--target", target, "--source", bad)
        assert result.exit_code == 2, result.stderr
    assert sha(live(target).db) == before


def test_a_vector_a_store_caller_gave_is_never_replaced_by_a_guess(tmp_path):
    target, fixture = migrated(tmp_path, agentic_qe_agentdb)
    with open_store(target, writable=True) as store:
        first = store.conn.execute("SELECT id FROM patterns ORDER BY key LIMIT 1").fetchone()[0]
        stored = store.get(first)
        mine = np.asarray(np.random.default_rng(9).standard_normal(384), dtype=np.float32)
        store.store(replace(stored.pattern, content="the agent rewrote this"), mine)
        store.store(Pattern(id="agent-new", content="from the API"), mine)
    keys = dict(open_target(live(target).db, readonly=True).execute(
        "SELECT id, key FROM patterns WHERE id IN (?, 'agent-new')", (first,)).fetchall())
    where = live(target)
    where.index.unlink()                                       # and the index file is gone too
    _hand(target, *[("DELETE FROM patterns_vec WHERE rowid = ?", (k,)) for k in keys.values()])
    report = repair(target, source=fixture.path)
    assert report.unrecoverable_count == 2 and report.restored_count == 0
    assert all("store" in item["why"] for item in report.unrecoverable)


def test_a_namespaced_pattern_row_comes_back_with_its_namespace(tmp_path):
    fixture = qe_v3(tmp_path / "source.db", count=10)
    target = tmp_path / "target"
    Migrator(fixture.path, target).migrate(MigrateOptions(embedder="lexical", backup=False, namespace="teamA"))
    key, pattern_id = open_target(live(target).db, readonly=True).execute(
        "SELECT key, id FROM patterns ORDER BY key LIMIT 1").fetchone()
    _hand(target, ("DELETE FROM patterns WHERE key = ?", (key,)))
    repair(target, source=fixture.path)
    assert open_target(live(target).db, readonly=True).execute("SELECT id FROM patterns WHERE key = ?",
                                                               (key,)).fetchone()[0] == pattern_id
    assert verify(target, source=fixture.path).ok


def test_a_nan_vector_in_vec0_comes_back_from_the_index_and_a_rebuilt_index_keeps_the_old_file(tmp_path):
    target, _ = migrated(tmp_path)
    good = vector_of(target, 3)
    _hand(target, ("DELETE FROM patterns_vec WHERE rowid = 3", ()),
          ("INSERT INTO patterns_vec(rowid, embedding, type, domain, framework, kind) SELECT 3, ?, type, "
           "coalesce(domain, 'unknown'), coalesce(framework, 'unknown'), kind FROM patterns WHERE key = 3",
           (np.full(384, np.nan, dtype="<f4").tobytes(),)))
    report = repair(target)
    assert report.restored[0]["from"] == "usearch index" and vector_of(target, 3) == good
    assert verify(target).ok
    index = live(target).index                                   # an index that disagrees is rebuilt...
    damage(target, keep_checksum=True)
    report = repair(target)
    kept = [p for p in index.parent.iterdir() if p.name.startswith("patterns.usearch.before-repair-")]
    assert report.index.startswith("rebuilt") and len(kept) == 1  # ...and the file before is kept beside it


def test_repair_of_no_target_leaves_nothing_behind(tmp_path, cli):
    result = cli("repair", "--target", tmp_path / "nothing-here")
    assert result.exit_code == 1 and not (tmp_path / "nothing-here").exists()


def _every_layout():
    from test_write_back import BUILDERS
    return sorted(BUILDERS.items())


@pytest.mark.parametrize("name,build", _every_layout(), ids=[n for n, _ in _every_layout()])
def test_repair_on_every_layout(name, build, tmp_path):
    """Each layout of real-layouts.md: a vec0 row, an index entry and a change-log entry removed by
    hand come back, the vector byte for byte (from the index file, or from the source)."""
    fixture = build(tmp_path / "source.db")
    target = tmp_path / "target"
    Migrator(fixture.path, target).migrate(MigrateOptions(embedder="lexical", backup=False))
    hurt = damage(target, keep_checksum=False)              # (the index file is then not trusted)
    report = repair(target, source=fixture.path)
    assert report.unrecoverable_count == 0, report.unrecoverable
    assert vector_of(target, hurt["a"]) == hurt["lost"]
    assert verify(target, source=fixture.path).ok


def test_repair_and_export_killed_at_random_moments_lose_nothing(tmp_path):
    """SIGKILL in the middle: the target is as it was or mended (the next run finishes, the
    vector byte for byte), and an export leaves no file under its name."""
    import random
    import signal
    import subprocess
    import sys
    import time
    from vecmigrate.sources.samples import build_source
    build_source(tmp_path / "source.db", "qe-v3", 3000)
    target = tmp_path / "target"
    Migrator(tmp_path / "source.db", target).migrate(MigrateOptions(backup=False))
    rng = random.Random(12)
    for attempt in range(3):
        hurt = damage(target, keep_checksum=bool(attempt % 2))
        command = [sys.executable, "-m", "vecmigrate", "repair", "--target", str(target), "--source",
                   str(tmp_path / "source.db")]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert vector_of(target, hurt["a"]) in (None, hurt["lost"])        # as it was, or mended
        done = run_vecmigrate("repair", "--target", target, "--source", tmp_path / "source.db")
        assert done.returncode == 0, done.stderr
        assert vector_of(target, hurt["a"]) == hurt["lost"] and verify(target).ok
    out = tmp_path / "out.db"
    proc = subprocess.Popen([sys.executable, "-m", "vecmigrate", "export", "--target", str(target), "--to", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0.3, 1.0))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists() or proc.returncode == 0
    assert run_vecmigrate("export", "--target", target, "--to", out).returncode == 0
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]   # a killed export's leftovers go


def test_what_repair_put_back_is_no_write_of_a_store(tmp_path):
    """Repair's log entries are not writes: the source stays usable for a key repaired before,
    and a sync after a repair takes the source's change without calling it a conflict."""
    target, fixture = migrated(tmp_path)
    for _ in range(2):                                        # the same key lost, and repaired, twice
        hurt = damage(target, keep_checksum=False)
        report = repair(target, source=fixture.path)
        assert report.unrecoverable_count == 0 and vector_of(target, hurt["a"]) == hurt["lost"]
    conn = apsw.Connection(str(fixture.path))
    pid = open_target(live(target).db, readonly=True).execute("SELECT id FROM patterns WHERE key = ?",
                                                              (hurt["a"],)).fetchone()[0]
    conn.execute("UPDATE qe_patterns SET description = 'changed after the repair' WHERE id = ?", (pid,))
    conn.close()
    passed = sync(fixture.path, target, MigrateOptions(embedder="lexical"))[-1]
    assert passed.conflicts == [] and passed.updated == 1
