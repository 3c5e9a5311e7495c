"""Seeded SIGKILLs at random moments of migrate, rollback and reconcile, each followed by the
same command again; after every recovery the target is compared with an uninterrupted run.

The moments are drawn from a seed: a named crash point and which time it is reached (exactly
reproducible), or a delay after start (a moment no crash point names). Set
VECMIGRATE_KILL_SEED to try another seed; a failure prints the seed that found it.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import apsw
import pytest
from conftest import DIM, live_files, run_vecmigrate, target_state

from vecmigrate import Migrator
from vecmigrate.db import open_target
from vecmigrate.sources.samples import build_source
from vecmigrate.target.generations import Layout

SEED = int(os.environ.get("VECMIGRATE_KILL_SEED", "20261130"))
# a named moment and how many times a run reaches it (a kill picks one of those times)
MIGRATE_POINTS = {"batch-committed": 30, "checkpoint-temp-written": 30, "index-temp-written": 1, "run-finished": 1,
                  "before-swap": 1, "after-swap": 1, "generation-renamed-to-trash": 1}
ROLLBACK_POINTS = {"rollback-marked": 1, "rollback-swapped": 1, "generation-renamed-to-trash": 1}
ROWS, BATCH = 800, 25


def killed(rng: random.Random, points: dict[str, int], moments: list[str], *args, named: float = 0.6) -> bool:
    """Run the CLI and kill it at a seeded moment (noted in `moments`); True if the kill landed
    before the command finished."""
    if points and rng.random() < named:
        name = rng.choice(sorted(points))
        point = f"{name}:{rng.randint(1, points[name])}"
        out = run_vecmigrate(*args, env_extra={"VECMIGRATE_CRASH_AT": point})
        moments.append(f"{args[0]} at {point}" + ("" if out.returncode == -9 else " (finished first)"))
        return out.returncode == -9
    delay = rng.uniform(0.6, 1.4)  # (start-up takes ~0.5 s)
    process = subprocess.Popen([sys.executable, "-m", "vecmigrate", *map(str, args)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    landed = process.wait() == -9
    moments.append(f"{args[0]} after {delay:.2f} s" + ("" if landed else " (finished first)"))
    return landed


def change(source, n: int) -> None:
    conn = apsw.Connection(str(source))
    conn.execute("UPDATE patterns SET description = coalesce(description, '') || ? WHERE rowid % 5 = ?", (f" v{n}", n % 5))
    conn.execute("INSERT INTO patterns(id, name, template, category) VALUES (?, 'n', 't', 'unit')", (f"added-{n}",))
    conn.close()


def pairs(target) -> list[tuple]:
    conn = open_target(Path(target) / "patterns.sqlite", readonly=True)
    try:
        return sorted(conn.execute("SELECT p.id, v.embedding FROM patterns p JOIN patterns_vec v ON v.rowid = p.key"))
    finally:
        conn.close()


def test_seeded_kills_of_migrate_rollback_and_reconcile_always_recover(tmp_path):
    rng = random.Random(SEED)
    print(f"VECMIGRATE_KILL_SEED={SEED}")
    source = build_source(tmp_path / "memory.db", "legacy-qe", ROWS, dimension=DIM, seed=SEED % 1000)
    target, reference = tmp_path / "target", tmp_path / "reference"
    args = ["--source", source, "--dimension", DIM, "--no-backup", "--batch-size", str(BATCH), "--checkpoint-seconds", "0"]
    moments: list[str] = []
    seen: dict[int, dict] = {}  # generation -> its live files, whenever it was live
    for n in range(3):  # three source states, each migration killed once, then run again
        if n:
            change(source, n)
        Migrator(source, reference).migrate(dimension=DIM, backup=False, batch_size=BATCH)
        if killed(rng, MIGRATE_POINTS, moments, "migrate", "--target", target, *args):
            if Layout(target).current() is not None:
                seen.setdefault(Layout(target).current().number, live_files(target))
            out = run_vecmigrate("migrate", "--target", target, *args)
            assert out.returncode == 0, (SEED, moments, out.stderr)
        assert target_state(target) == target_state(reference), (SEED, moments)
        assert run_vecmigrate("verify", "--target", target, "--source", source).returncode == 0, (SEED, moments)
        seen[Layout(target).current().number] = live_files(target)
    for _ in range(2):  # two rollbacks, each killed once, then run again: one step back each, never two
        parent = Layout(target).current().parent
        if killed(rng, ROLLBACK_POINTS, moments, "rollback", "--target", target, named=1.0):
            out = run_vecmigrate("rollback", "--target", target)  # finishes the killed one, never a second
            assert out.returncode == 0, (SEED, moments, out.stderr)
        assert Layout(target).current().number == parent, (SEED, moments)
        assert live_files(target) == seen[parent], (SEED, moments)
    secondary = tmp_path / "secondary"
    Migrator(build_source(tmp_path / "other.db", "legacy-qe", 150, dimension=DIM, seed=7), secondary).migrate(
        dimension=DIM, backup=False)
    killed(rng, {}, moments, "reconcile", "--primary", target, "--secondary", secondary)
    out = run_vecmigrate("reconcile", "--primary", target, "--secondary", secondary)
    assert out.returncode == 0, (SEED, moments, out.stderr)
    assert pairs(target) == pairs(secondary), (SEED, moments)
    assert run_vecmigrate("verify", "--target", target).returncode == 0, (SEED, moments)


@pytest.mark.parametrize("point", sorted(MIGRATE_POINTS))
def test_every_named_moment_of_a_migration_is_recoverable(tmp_path, point):
    source = build_source(tmp_path / "memory.db", "legacy-qe", 120, dimension=DIM)
    target, reference = tmp_path / "target", tmp_path / "reference"
    args = ["--source", source, "--dimension", DIM, "--no-backup", "--batch-size", "30", "--checkpoint-seconds", "0",
            "--keep-generations", "1"]
    for n in range(2):
        if n:
            change(source, n)
        Migrator(source, reference).migrate(dimension=DIM, backup=False, batch_size=30, keep_generations=1)
        run_vecmigrate("migrate", "--target", target, *args, env_extra={"VECMIGRATE_CRASH_AT": point})
        out = run_vecmigrate("migrate", "--target", target, *args)
        assert out.returncode == 0, out.stderr
        assert target_state(target) == target_state(reference)
