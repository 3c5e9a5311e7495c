"""Rollback by swapping generations: byte-identical restores, from any process, crash-safe."""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest
from conftest import DIM, live_files, run_vecmigrate, sha256

from vecmigrate import Migrator, rollback, status
from vecmigrate.errors import TargetError
from vecmigrate.target.generations import Layout
from vecmigrate.verbs.rollback import NothingToRollBack


def change_source(source, note: str) -> None:
    conn = apsw.Connection(str(source))
    conn.execute("UPDATE patterns SET description = description || ? WHERE rowid % 3 = 0", (note,))
    conn.execute("INSERT INTO patterns(id, name, template, category) VALUES (?, 'n', 't', 'unit')", (f"extra-{note}",))
    conn.close()


@pytest.fixture
def two_generations(make_source, target):
    source = make_source("legacy-qe", 150)
    Migrator(source, target).migrate(dimension=DIM, backup=False)
    after_a = live_files(target)
    change_source(source, "B")
    Migrator(source, target).migrate(backup=False)
    after_b = live_files(target)
    assert after_a != after_b
    return source, after_a, after_b


def test_rollback_restores_each_generation_byte_for_byte(two_generations, target):
    source, after_a, after_b = two_generations
    result = rollback(target)
    assert (result.rolled_back, result.now_at, result.target_removed) == (2, 1, False)
    assert live_files(target) == after_a
    assert result.duration_ms < 1000
    result = rollback(target)
    assert result.target_removed and not target.exists()
    with pytest.raises(NothingToRollBack, match="nothing to roll back"):
        rollback(target)


def test_rollback_from_a_new_process(two_generations, target, cli):
    _, after_a, _ = two_generations
    out = run_vecmigrate("rollback", "--target", target, "--json")
    assert out.returncode == 0, out.stderr
    assert live_files(target) == after_a
    assert status(target).target_count == 150
    out = run_vecmigrate("rollback", "--target", target)
    assert out.returncode == 0 and "target is removed" in out.stdout
    out = run_vecmigrate("rollback", "--target", target)
    assert out.returncode == 1 and out.stderr.strip().startswith("error: nothing to roll back")


@pytest.mark.parametrize("point", ["rollback-marked", "rollback-swapped"])
@pytest.mark.parametrize("next_command", ["status", "rollback", "search"])
def test_a_killed_rollback_is_finished_by_the_next_command(two_generations, target, point, next_command):
    _, after_a, after_b = two_generations
    out = run_vecmigrate("rollback", "--target", target, env_extra={"VECMIGRATE_CRASH_AT": point})
    assert out.returncode == -9, out.stderr
    # one pair or the other is fully in place, the same for every reader (symlink and our tools)
    live = Layout(target).current().number
    assert live == (2 if point == "rollback-marked" else 1)
    assert live_files(target) == (after_b if live == 2 else after_a)
    if next_command == "status":
        assert status(target).generation == live
    elif next_command == "search":
        out = run_vecmigrate("search", "--target", target, "--id", "pattern-000001", "--json")
        assert out.returncode == 0, out.stderr
    else:
        out = run_vecmigrate("rollback", "--target", target, "--json")
        assert out.returncode == 0, out.stderr
        assert '"rolled_back": 2' in out.stdout  # the interrupted rollback was finished, not repeated
        assert live_files(target) == after_a
    assert [g.number for g in Layout(target).generations()] in ([1], [1, 2])
    Migrator(two_generations[0], target).migrate(backup=False)  # any writer cleans up the rest
    assert [g.number for g in Layout(target).generations()] == [1, 2]
    assert not (Path(target) / ".rollback").exists()  # the rollback's record is gone once finished


def test_a_migration_killed_after_finishing_but_before_the_swap_is_made_live(make_source, target):
    source = make_source("legacy-qe", 60)
    out = run_vecmigrate("migrate", "--source", source, "--target", target, "--dimension", DIM, "--no-backup",
                         env_extra={"VECMIGRATE_CRASH_AT": "before-swap"})
    assert out.returncode == -9
    assert not Layout(target).exists()
    out = run_vecmigrate("migrate", "--source", source, "--target", target, "--dimension", DIM, "--no-backup")
    assert out.returncode == 0, out.stderr
    assert status(target).target_count == 60


def test_generations_are_pruned_and_listed(make_source, target):
    source = make_source("legacy-qe", 30)
    pruned = []
    for n in range(4):
        change_source(source, f"v{n}")
        pruned.append(Migrator(source, target).migrate(dimension=DIM, backup=False, keep_generations=2)
                      .pruned_generations)
    assert pruned == [[], [], [1], [2]]
    report = status(target)
    assert [g["generation"] for g in report.generations] == [4, 3]
    assert report.generations[0]["state"] == "live" and report.generation == 4


def test_status_shows_an_interrupted_migration(make_source, target):
    source = make_source("legacy-qe", 300)
    Migrator(source, target).migrate(dimension=DIM, backup=False)
    change_source(source, "x")
    out = run_vecmigrate("migrate", "--source", source, "--target", target, "--no-backup", "--batch-size", 50,
                         env_extra={"VECMIGRATE_CRASH_AT": "batch-committed:2"})
    assert out.returncode == -9
    states = [g["state"] for g in status(target).generations]
    assert states[0].startswith("interrupted migration") and states[1] == "live"
    with pytest.raises(TargetError, match="locked"):
        from vecmigrate.target.lock import TargetLock
        with TargetLock(target):
            rollback(target)
    assert sha256(source)  # the source is still readable
