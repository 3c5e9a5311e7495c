"""Faults injected for real: I/O errors from an APSW VFS, a file-size limit standing in for a
full disk, broken and unreadable sources, a concurrent writer. After each, the source is
unchanged, the live target is as it was (or complete after a resume), and SQLite is intact."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys

import apsw
import pytest

from conftest import DIM, live_files, run_vecmigrate, sha256, target_state
from vecmigrate import Migrator, status
from vecmigrate.errors import TargetError

ROWS, BATCH = 600, 100


@pytest.fixture
def sources(make_source, tmp_path):
    """A full source, and `older(action)`: runs `action(path)` while the source's file holds an
    older, smaller state of itself (the same file: a target keeps each source's lineage)."""
    full = make_source("agentdb-adapter", ROWS, seed=5)

    def older(action):
        saved = tmp_path / "full.saved"
        shutil.copyfile(full, saved)
        conn = apsw.Connection(str(full))
        conn.execute("DELETE FROM patterns WHERE rowid > 250")
        conn.close()
        try:
            return action(full)
        finally:
            shutil.copyfile(saved, full)
    return full, older


def reference_state(source, tmp_path):
    reference = tmp_path / "reference.vecdb"
    Migrator(source, reference).migrate(dimension=DIM, batch_size=BATCH, backup=False)
    return target_state(reference)


def assert_complete(target, expected):
    state = target_state(target)
    assert state["integrity"] == "ok" and state["duplicate_ids"] == 0
    assert state["vectors"] == expected["vectors"] and state["index_keys"] == expected["index_keys"]
    assert {k: v[0] for k, v in state["patterns"].items()} == {k: v[0] for k, v in expected["patterns"].items()}


@pytest.mark.parametrize("existing", [False, True])
@pytest.mark.parametrize("fault", [dict(fail_write_at=1), dict(fail_write_at=40), dict(fail_write_at=400),
                                   dict(fail_write_at=40, error=apsw.FullError), dict(fail_sync_at=1),
                                   dict(fail_sync_at=12)])
def test_io_faults_leave_the_live_target_as_it_was_and_a_rerun_completes(sources, target, tmp_path, faulty_vfs,
                                                                         existing, fault):
    full, older = sources
    expected = reference_state(full, tmp_path)
    if existing:
        older(lambda path: Migrator(path, target).migrate(dimension=DIM, batch_size=BATCH, backup=False))
    before, source_hash = live_files(target), sha256(full)
    vfs = faulty_vfs(**fault)
    with pytest.raises(TargetError, match=r"cannot write the target .*(IOError|FullError)"):
        Migrator(full, target).migrate(dimension=DIM, batch_size=BATCH, backup=False)
    vfs.unregister()
    assert live_files(target) == before and sha256(full) == source_hash
    if existing:
        assert target_state(target)["integrity"] == "ok"
    result = Migrator(full, target).migrate(dimension=DIM, batch_size=BATCH, backup=False)
    assert result.validation.target_valid
    assert_complete(target, expected)


def test_a_file_size_limit_stands_in_for_a_full_disk(sources, target, tmp_path):
    full, older = sources
    expected = reference_state(full, tmp_path)
    assert older(lambda path: run_vecmigrate("migrate", "--source", path, "--target", target, "--dimension", DIM,
                                             "--no-backup")).returncode == 0
    before, source_hash = live_files(target), sha256(full)
    limit = os.path.getsize(target / "patterns.sqlite") + 64 * 1024

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    out = run_vecmigrate("migrate", "--source", full, "--target", target, "--batch-size", BATCH, "--no-backup",
                         preexec_fn=small_disk)
    assert out.returncode == 1, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot write the target") and "Traceback" not in out.stderr
    assert live_files(target) == before and sha256(full) == source_hash
    assert target_state(target)["integrity"] == "ok"
    out = run_vecmigrate("migrate", "--source", full, "--target", target, "--batch-size", BATCH, "--no-backup")
    assert out.returncode == 0, out.stderr
    assert_complete(target, expected)


@pytest.mark.parametrize("damage", ["truncated", "random"])
def test_broken_sources_fail_cleanly_and_change_nothing(sources, target, cli, damage):
    full, older = sources
    older(lambda path: Migrator(path, target).migrate(dimension=DIM, backup=False))
    before = live_files(target)
    broken = full.with_name(f"{damage}.db")
    data = full.read_bytes()
    broken.write_bytes(data[: len(data) // 2] if damage == "truncated" else os.urandom(len(data)))
    broken_hash = sha256(broken)
    result = cli("migrate", "--source", broken, "--target", target, "--no-backup")
    assert result.exit_code == 1
    message = result.stderr.strip()
    assert "\n" not in message and str(broken) in message
    assert ("corrupt" in message) if damage == "truncated" else ("not a SQLite database" in message)
    assert live_files(target) == before and sha256(broken) == broken_hash
    assert not list(broken.parent.glob(f"{damage}.backup-*"))


def test_an_unreadable_source(make_source, tmp_path):
    source = tmp_path / "secret.db"
    shutil.copyfile(make_source("legacy-qe", 20), source)
    os.chmod(source, 0)
    command = [sys.executable, "-m", "vecmigrate", "migrate", "--source", str(source), "--target",
               str(tmp_path / "t.vecdb"), "--no-backup"]
    if os.geteuid() == 0:  # root reads anything: drop the capabilities that let it
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot make a file unreadable")
        caps = "-dac_override,-dac_read_search"
        command = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", "--", *command]
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stderr
    assert out.stderr.strip() == f"error: source database is not readable (permission denied): {source}"
    assert not (tmp_path / "t.vecdb").exists()


def test_a_concurrent_writer_does_not_break_the_snapshot(make_source, target):
    source = make_source("legacy-qe", 500)
    writer = apsw.Connection(str(source))
    writer.execute("PRAGMA journal_mode=WAL")
    added = []

    def write_while_migrating(done, total):
        if 0 < done < total and len(added) < 3:
            with writer:
                writer.execute("INSERT INTO patterns(id, name, template, category) VALUES (?, 'late', 't', 'unit')",
                               (f"late-{len(added)}",))
            added.append(done)
    result = Migrator(source, target, on_progress=write_while_migrating).migrate(dimension=DIM, batch_size=100,
                                                                                 backup=False)
    assert len(added) == 3
    assert result.total_patterns == result.migrated_count == 500  # one snapshot, seen whole
    assert result.source_rows_added == 3
    assert not status(target).migration_complete
    again = Migrator(source, target).migrate(backup=False)
    assert (again.inserted, again.unchanged) == (3, 500) and status(target).migration_complete
    writer.close()
