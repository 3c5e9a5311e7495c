"""A migration SIGKILLed at any moment resumes with the same command and ends equal to an
uninterrupted run. Real subprocesses, real kills."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import apsw
import pytest
from conftest import DIM, live_files, run_vecmigrate, sha256, target_state

from vecmigrate import Migrator
from vecmigrate.target.generations import Layout

ROWS, BATCH = 1000, 100  # ten batches


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of the same source, for comparison."""
    from vecmigrate.sources.samples import build_source
    root = tmp_path_factory.mktemp("reference")
    source = build_source(root / "source.db", "agentdb-adapter", ROWS, dimension=DIM, seed=3)
    target = root / "t.vecdb"
    Migrator(source, target).migrate(dimension=DIM, batch_size=BATCH, backup=False)
    return source, target_state(target)


def migrate_args(source, target, *extra):
    return ("migrate", "--source", source, "--target", target, "--dimension", DIM, "--batch-size", BATCH,
            "--no-backup", *extra)


def assert_equal_to_reference(target, reference_state):
    state = target_state(target)
    assert state["integrity"] == "ok" and state["duplicate_ids"] == 0
    assert state["patterns"] == reference_state["patterns"]
    assert state["vectors"] == reference_state["vectors"]
    assert state["index_keys"] == sorted(state["vectors"]) == reference_state["index_keys"]
    assert state["index_vectors"] == state["vectors"]


@pytest.mark.parametrize("point, extra", [
    ("batch-committed:1", []),                                   # first batch
    ("batch-committed:5", []),                                   # middle
    ("batch-committed:10", []),                                  # last batch
    ("index-temp-written", []),                                  # during the final index save
    ("checkpoint-temp-written:3", ["--checkpoint-seconds", "0"]),  # during a checkpoint
    ("batch-committed:7", ["--checkpoint-seconds", "0"]),          # after checkpoints
    ("run-finished", []),                                        # last commit done, still BUILDING
    ("before-swap", []),                                         # finished, not yet live
    ("after-swap", []),                                          # live, still marked BUILDING
    ("index-temp-written", ["--checkpoint-seconds", "0"]),       # final save after checkpoints
])
def test_killed_first_migration_resumes_to_the_same_result(reference, tmp_path, point, extra):
    source, reference_state = reference
    source_hash = sha256(source)
    target = tmp_path / "t.vecdb"
    killed = run_vecmigrate(*migrate_args(source, target, *extra), env_extra={"VECMIGRATE_CRASH_AT": point})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # nothing is live until a migration finishes (and once it is live, it is whole)
    assert Layout(target).exists() == (point == "after-swap")
    resumed = run_vecmigrate(*migrate_args(source, target, "--json", *extra))
    assert resumed.returncode == 0, resumed.stderr
    assert_equal_to_reference(target, reference_state)
    assert sha256(source) == source_hash
    if point.startswith("batch-committed"):
        committed = int(point.split(":")[1]) * BATCH
        assert f'"skipped_count": {committed}' in resumed.stdout


def test_killed_remigration_leaves_the_live_generation_untouched(reference, tmp_path):
    source, reference_state = reference
    target = tmp_path / "t.vecdb"
    copy = tmp_path / "source.db"  # the same source file, first in an older state with fewer rows
    conn = apsw.Connection(str(copy))
    with conn.backup("main", apsw.Connection(str(source)), "main") as b:
        b.step()
    conn.execute("DELETE FROM patterns WHERE rowid > 600")
    conn.close()
    assert run_vecmigrate(*migrate_args(copy, target)).returncode == 0
    shutil.copyfile(source, copy)
    before = live_files(target)
    killed = run_vecmigrate(*migrate_args(copy, target), env_extra={"VECMIGRATE_CRASH_AT": "batch-committed:8"})
    assert killed.returncode == -signal.SIGKILL
    assert live_files(target) == before  # the live target is as it was
    resumed = run_vecmigrate(*migrate_args(copy, target))
    assert resumed.returncode == 0, resumed.stderr
    assert_equal_to_reference(target, reference_state)


def test_a_kill_at_an_arbitrary_moment(reference, tmp_path):
    """An external SIGKILL from another process once a few batches are committed."""
    source, reference_state = reference
    target = tmp_path / "t.vecdb"
    proc = subprocess.Popen([sys.executable, "-m", "vecmigrate", *map(str, migrate_args(source, target,
                             "--batch-size", "20"))], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        building = [g for g in Layout(target).generations() if g.building]
        if building and building[0].db.exists():
            try:
                conn = apsw.Connection(str(building[0].db), flags=apsw.SQLITE_OPEN_READONLY)
                conn.set_busy_timeout(1000)
                if conn.execute("SELECT count(*) FROM vecmigrate_batches").fetchall()[0][0] >= 3:
                    conn.close()
                    break
                conn.close()
            except apsw.Error:
                pass
        time.sleep(0.01)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    resumed = run_vecmigrate(*migrate_args(source, target))
    assert resumed.returncode == 0, resumed.stderr
    assert_equal_to_reference(target, reference_state)


def test_a_resume_with_other_options_starts_over(reference, tmp_path):
    source, reference_state = reference
    target = tmp_path / "t.vecdb"
    killed = run_vecmigrate(*migrate_args(source, target), env_extra={"VECMIGRATE_CRASH_AT": "batch-committed:3"})
    assert killed.returncode == -signal.SIGKILL
    other = run_vecmigrate(*migrate_args(source, target, "--connectivity", "8", "--json"))
    assert other.returncode == 0 and '"skipped_count": 0' in other.stdout
    assert target_state(target)["vectors"] == reference_state["vectors"]


@pytest.mark.parametrize("point", ["batch-committed:8", "batch-committed:9", "batch-committed:10", "run-finished"])
def test_a_killed_run_over_several_tables_resumes_to_the_same_result(tmp_path, point):
    """agentdb-native: episodes (8 batches of 5), then skills, notes and exp_nodes (one each)."""
    import real_layouts as rl
    fixture = rl.agentdb_native(tmp_path / "agentdb.db")
    args = ("migrate", "--source", fixture.path, "--batch-size", 5, "--no-backup", "--embedder", "lexical")
    reference = tmp_path / "reference.vecdb"
    assert run_vecmigrate(*args, "--target", reference).returncode == 0
    target = tmp_path / "t.vecdb"
    killed = run_vecmigrate(*args, "--target", target, env_extra={"VECMIGRATE_CRASH_AT": point})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = run_vecmigrate(*args, "--target", target, "--json")
    assert resumed.returncode == 0, resumed.stderr
    committed = {"batch-committed:8": 40, "batch-committed:9": 45, "batch-committed:10": 49, "run-finished": 52}
    assert f'"skipped_count": {committed[point]}' in resumed.stdout
    assert_equal_to_reference(target, target_state(reference))
