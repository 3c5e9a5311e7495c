"""Shared fixtures: real source databases in tmp_path, the CLI runner, file hashes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import subprocess
import sys
from pathlib import Path

import apsw
import numpy as np
import pytest
from typer.testing import CliRunner

from vecmigrate.cli import app
from vecmigrate.db import load_vec
from vecmigrate.sources.samples import build_source

DIM = 32  # small vectors keep the suite fast; the benchmarks use 384


def pytest_configure(config) -> None:
    """A suite started in the background by a script (bash ignores SIGINT in `cmd &` jobs) would
    hand that on to every process it starts, and the tests that send a command Ctrl-C would see it
    ignored: Ctrl-C is delivered in the suite, as from a terminal."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file under `folder` (relative path -> sha256); {} when the folder is absent."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def make_source(tmp_path):
    def make(variant: str = "legacy-qe", count: int = 200, *, dimension: int = DIM, seed: int = 0,
             name: str | None = None, vectors=None) -> Path:
        path = tmp_path / (name or f"{variant}.db")
        return build_source(path, variant, count, dimension=dimension, seed=seed, vectors=vectors)
    return make


@pytest.fixture
def target(tmp_path) -> Path:
    return tmp_path / "patterns.vecdb"


class Cli:
    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str):
        result = self.runner.invoke(app, [str(a) for a in args])
        assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    def json(self, *args: str):
        result = self(*args, "--json")
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one JSON object on stdout, got: {result.stdout!r}"
        return result, json.loads(lines[0])


@pytest.fixture
def cli() -> Cli:
    return Cli()


def open_db(path: Path) -> apsw.Connection:
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    return load_vec(conn)


def rows(conn: apsw.Connection, query: str, params=()) -> list[dict]:
    cursor = conn.execute(query, params)
    out = []
    for row in cursor:
        out.append(dict(zip([d[0] for d in cursor.getdescription()], row)))
    return out


class FaultyFile(apsw.VFSFile):
    def __init__(self, vfs: "FaultyVFS", name, flags):
        self.vfs = vfs
        path = name.filename() if hasattr(name, "filename") else str(name or "")
        self.targeted = vfs.only is None or vfs.only in path
        super().__init__("unix", name, flags)

    def xWrite(self, data, offset):
        if self.targeted and self.vfs.active:
            self.vfs.writes += 1
            if self.vfs.fail_write_at is not None and self.vfs.writes >= self.vfs.fail_write_at:
                raise self.vfs.error("injected write fault")
        super().xWrite(data, offset)

    def xSync(self, flags):
        if self.targeted and self.vfs.active:
            self.vfs.syncs += 1
            if self.vfs.fail_sync_at is not None and self.vfs.syncs >= self.vfs.fail_sync_at:
                raise apsw.IOError("injected fsync fault")
        super().xSync(flags)


class FaultyVFS(apsw.VFS):
    """The default VFS while registered, failing real I/O from the k-th write (or fsync) on,
    for files whose path contains `only` (all files when None), while `active`."""

    def __init__(self, *, fail_write_at=None, fail_sync_at=None, error=apsw.IOError, only=None, active=True):
        self.writes = self.syncs = 0
        self.fail_write_at, self.fail_sync_at, self.error = fail_write_at, fail_sync_at, error
        self.only, self.active = only, active
        super().__init__("faulty", "unix", makedefault=True)

    def xOpen(self, name, flags):
        return FaultyFile(self, name, flags)


@pytest.fixture
def faulty_vfs():
    registered = []

    def install(**kwargs) -> FaultyVFS:
        registered.append(FaultyVFS(**kwargs))
        return registered[-1]
    yield install
    for vfs in registered:
        vfs.unregister()


@contextlib.contextmanager
def lock_held_elsewhere(target: Path, what: str = ""):
    """The target's lock held alone by another process (a real flock) until the block ends;
    yields that process (its PID is the holder's)."""
    holder = subprocess.Popen([sys.executable, "-c",
                               "import time; from vecmigrate.target.lock import TargetLock\n"
                               f"with TargetLock({str(target)!r}, what={what!r}):\n"
                               "    print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def run_vecmigrate(*args, env_extra: dict | None = None, timeout: int = 300, **kwargs):
    """The CLI in a real subprocess (for kills, resource limits and other processes)."""
    import os
    import subprocess
    import sys
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "vecmigrate", *[str(a) for a in args]], capture_output=True,
                          text=True, timeout=timeout, env=env, **kwargs)


def target_state(target: Path) -> dict:
    """Everything a migration promises about a target, for comparing two runs: pattern rows by key,
    vec0 vectors by key, the USearch key set and vectors, and SQLite's integrity verdict."""
    from vecmigrate.target.database import read_meta, settings_of
    from vecmigrate.target.generations import Layout
    from vecmigrate.target.index_file import load_index
    live = Layout(target).current()
    conn = open_db(live.db)
    patterns = {r[0]: r[1:] for r in conn.execute("SELECT * FROM patterns ORDER BY key")}
    vectors = {r[0]: r[1] for r in conn.execute("SELECT rowid, embedding FROM patterns_vec")}
    integrity = conn.execute("PRAGMA integrity_check").fetchall()[0][0]
    ids = [r[0] for r in conn.execute("SELECT id FROM patterns")]
    settings = settings_of(read_meta(conn))
    conn.close()
    index = load_index(live.index, settings)
    keys = sorted(np.asarray(index.keys).tolist())
    index_vectors = {k: index.get(k).astype("<f4").tobytes() for k in keys}
    return {"patterns": patterns, "vectors": vectors, "index_keys": keys, "index_vectors": index_vectors,
            "integrity": integrity, "duplicate_ids": len(ids) - len(set(ids))}


def live_files(target: Path) -> dict[str, str]:
    """sha256 of the target's live patterns.sqlite and patterns.usearch ({} when no target is live)."""
    from vecmigrate.target.generations import Layout
    live = Layout(target).current()
    if live is None:
        return {}
    return {"sqlite": sha256(target / "patterns.sqlite"), "usearch": sha256(target / "patterns.usearch"),
            "generation": live.number}
