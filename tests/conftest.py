"""Shared fixtures: real source databases in tmp_path, the CLI runner, file hashes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import apsw
import pytest
from typer.testing import CliRunner

from vecmigrate.cli import app
from vecmigrate.db import load_vec
from vecmigrate.samples import build_source

DIM = 32  # small vectors keep the suite fast; the benchmarks use 384


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
