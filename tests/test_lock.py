"""One writer per target: a second one fails at once naming the holder; a dead holder's lock is taken over."""

import os
import subprocess
import sys

from conftest import DIM, lock_held_elsewhere, run_vecmigrate

from vecmigrate import Migrator
from vecmigrate.target.lock import TargetLock


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(make_source, target):
    source = make_source("legacy-qe", 20)
    Migrator(source, target).migrate(dimension=DIM, backup=False)
    with lock_held_elsewhere(target) as holder:
        for command in (["migrate", "--source", source, "--target", target, "--no-backup"],
                        ["rollback", "--target", target]):
            out = run_vecmigrate(*command, timeout=30)
            assert out.returncode == 1
            assert out.stderr.strip() == (f"error: target {target} is locked by PID {holder.pid} "
                                          f"(another migrate or rollback is running)")
        # readers are never blocked by a writer's lock
        assert run_vecmigrate("status", "--target", target).returncode == 0


def test_a_lock_left_by_a_dead_process_is_taken_over(make_source, target):
    source = make_source("legacy-qe", 20)
    Migrator(source, target).migrate(dimension=DIM, backup=False)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (target / ".lock").write_text(dead.stdout.strip())
    out = run_vecmigrate("migrate", "--source", source, "--target", target, "--no-backup", "--verbose")
    assert out.returncode == 0, out.stderr
    assert f"took over a lock left by PID {dead.stdout.strip()}" in out.stderr
    with TargetLock(target) as lock:
        assert lock.took_over_from is None  # the previous holder released it cleanly
        assert (target / ".lock").read_text() == str(os.getpid())
