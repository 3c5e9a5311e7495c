"""Property-based source fuzzer: real SQLite sources built with hostile schemas and values,
migrated by the real CLI, held to DESIGN.md promise 3 ("every row is accounted for ...
whatever its rowid or values ... never a traceback and never a stuck state").

Each example writes a source file with APSW, runs `migrate --json --no-backup`, runs the same
command again, then `verify --source --json`, and checks:

* no traceback and no exception escaping the CLI;
* migrate exits 0 or 3 (3 exactly when rows were quarantined), or - only for a table the tool
  may refuse (WITHOUT ROWID, or every rowid alias shadowed by an ordinary column) - 1 or 2 with
  a one-line `error:` message;
* migrated_count + skipped_count + len(quarantined) == the rows the source table really holds
  (SELECT count(*)), each quarantined row with a reason;
* the same command run again does not fail (no stuck state) and accounts for every row too;
* verify does not crash (exit 0 or 1, one JSON object);
* every command ends within COMMAND_SECONDS (SIGALRM in process, a timeout in a subprocess).

Layouts: the generic mapping (`--table/--id-column/--text-columns/--embedding-column`) over a
table whose column names, declared types, rowids and values are drawn at random, and the
detected legacy-qe, agentdb-adapter and qe-v3 layouts (tests/real_layouts.py, samples.py)
with hostile rows added.

Bounded for CI: derandomized (reproducible), no example database, no shrinking (a failing
property would otherwise shrink for minutes; without it Hypothesis stops at a test's first
failure, so one failure per test is reported). Set VECMIGRATE_FUZZ_SHRINK=1 to shrink failures
locally and VECMIGRATE_FUZZ_SCALE=N to run N times as many examples.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import apsw
import numpy as np
import real_layouts as rl
from conftest import DIM, run_vecmigrate
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from vecmigrate.cli import app
from vecmigrate.db import quote_identifier
from vecmigrate.sources.samples import build_source

SCALE = max(1, int(os.environ.get("VECMIGRATE_FUZZ_SCALE", "1")))
PHASES = (Phase.explicit, Phase.generate) + ((Phase.shrink,) if os.environ.get("VECMIGRATE_FUZZ_SHRINK") else ())


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=examples * SCALE, deadline=None, derandomize=True, database=None, phases=PHASES,
                    print_blob=False,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.large_base_example,
                                           HealthCheck.filter_too_much])


# -- values ---------------------------------------------------------------------------------
class Sql(str):
    """A value written into the INSERT as an SQL expression instead of being bound (text that
    is not UTF-8 can only be made this way)."""


BAD_TEXT = [Sql("CAST(x'ff' AS TEXT)"), Sql("CAST(x'c328' AS TEXT)"), Sql("CAST(x'80' AS TEXT)"),
            Sql("CAST(x'616263ff' AS TEXT)"), Sql("CAST(x'eda080' AS TEXT)"), Sql("CAST(x'fe' AS TEXT)"),
            Sql("CAST(x'61006200' AS TEXT)")]  # the last is valid UTF-8 with NULs inside
INT64 = st.integers(-2**63, 2**63 - 1)
EDGE_INTS = [0, 1, -1, 2**31, 2**53 + 1, 2**63 - 1, -2**63, -2**63 + 1]
EDGE_FLOATS = [1e300, -1e300, float("inf"), float("-inf"), float("nan"), 5e-324, -0.0, 1.7976931348623157e308]
ROWIDS = st.one_of(st.sampled_from([0, -1, 1, 2, 3, 2**63 - 1, 2**63 - 2, -2**63, -2**63 + 1, 2**62]),
                   st.integers(1, 1000), INT64)


def deep_json(depth: int, objects: bool) -> str:
    return ('{"a":' * depth + "1" + "}" * depth) if objects else ("[" * depth + "]" * depth)


DEEP = st.builds(deep_json, st.one_of(st.sampled_from([2, 999, 1000, 1001, 4999, 5000]), st.integers(1, 5000)),
                 st.booleans())
SHORT_TEXT = st.one_of(st.text(max_size=30),
                       st.sampled_from(["", " ", "\n", "null", "{}", "[]", "[1,2]", '{"content": "x"}', "a:b\\c",
                                        "[red]x[/red]", "1e400", "NaN", "-0", "9" * 400, "é" * 100]))
SENTENCE = st.lists(st.sampled_from(rl.WORDS), min_size=1, max_size=8).map(" ".join)
HOSTILE = st.one_of(st.none(), st.sampled_from(EDGE_INTS), INT64, st.sampled_from(EDGE_FLOATS),
                    st.floats(), SHORT_TEXT, st.binary(max_size=16), DEEP, st.sampled_from(BAD_TEXT))
TIMESTAMPS = st.one_of(HOSTILE, st.sampled_from(["2025-01-01 10:00:00", "2025-13-45 99:99:99", "0000-00-00",
                                                 "9999-12-31T23:59:59.999999999Z", "2025-01-01T00:00:00+99:99",
                                                 1735689600, 1735689600000, 10**17, -10**17]))


def f32(values) -> bytes:
    with np.errstate(over="ignore"):  # 1e39 becoming inf is the point of some examples
        return np.asarray(values, dtype="<f4").tobytes()


def vectors(dim: int) -> st.SearchStrategy:
    """Stored embeddings: mostly good float32 blobs, and every kind of bad one."""
    seeds = st.integers(0, 2**32 - 1)
    good = seeds.map(lambda s: f32(np.random.default_rng(s).standard_normal(dim)))
    nonfinite = st.tuples(seeds, st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e39])).map(
        lambda p: f32([p[1]] + list(np.random.default_rng(p[0]).standard_normal(dim - 1))))
    wrong_size = st.one_of(st.sampled_from([0, 1, 3, 4, 4 * dim - 4, 4 * dim + 4, 8 * dim, 4 * dim * 2 + 1]).map(
        lambda n: bytes(range(256)) * (n // 256) + bytes(range(n % 256))), st.binary(max_size=4 * dim + 8))
    as_json = good.map(lambda b: json.dumps(np.frombuffer(b, "<f4").tolist()))
    bad_json = st.sampled_from([json.dumps([1e300] * dim), json.dumps([0] * dim), "[]", '"x"', "[true]", "{}",
                                "[NaN" + ", 1" * (dim - 1) + "]", json.dumps([1] * (dim + 1)), "[1,2,"])
    return st.one_of(good, good, good, st.just(bytes(4 * dim)), nonfinite, wrong_size, as_json, bad_json, DEEP,
                     st.none(), st.sampled_from(EDGE_INTS + EDGE_FLOATS), st.sampled_from(BAD_TEXT))


# -- writing a source -------------------------------------------------------------------------
ALIASES = ("rowid", "_rowid_", "oid")


def insert(conn: apsw.Connection, table: str, values: dict[str, Any]) -> bool:
    """One row (Sql values inlined, the others bound); False when SQLite refuses it."""
    columns = ", ".join(quote_identifier(c) for c in values)
    marks = ", ".join(v if isinstance(v, Sql) else "?" for v in values.values())
    try:
        conn.execute(f"INSERT INTO {quote_identifier(table)} ({columns}) VALUES ({marks})",
                     [v for v in values.values() if not isinstance(v, Sql)])
        return True
    except (apsw.ConstraintError, apsw.MismatchError, apsw.TooBigError, OverflowError):
        return False


def count_rows(path: Path, table: str) -> int:
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return conn.execute(f"SELECT count(*) FROM {quote_identifier(table)}").fetchall()[0][0]
    finally:
        conn.close()


def rowid_alias(columns: list[str]) -> str | None:
    """A name that still means the rowid in this table (None when columns shadow all three)."""
    taken = {c.lower() for c in columns}
    return next((a for a in ALIASES if a not in taken), None)


def add_columns(conn: apsw.Connection, table: str, extras: list[str]) -> None:
    """Rebuild `table` with `extras` appended to its DDL (SQLite refuses ALTER TABLE ADD COLUMN
    for a name such as rowid), keeping its rows (its indexes are dropped with it)."""
    if not extras:
        return
    ddl = conn.execute("SELECT sql FROM sqlite_schema WHERE name = ?", (table,)).fetchall()[0][0].rstrip()
    new = f"{table}__fuzz_new"
    body = ddl[ddl.index("(") + 1: ddl.rindex(")")]
    conn.execute(f"CREATE TABLE {quote_identifier(new)} ({body}, "
                 + ", ".join(quote_identifier(c) for c in extras) + ")")
    conn.execute(f"INSERT INTO {quote_identifier(new)} SELECT *{', NULL' * len(extras)} FROM {quote_identifier(table)}")
    conn.execute(f"DROP TABLE {quote_identifier(table)}")
    conn.execute(f"ALTER TABLE {quote_identifier(new)} RENAME TO {quote_identifier(table)}")


@dataclass
class Case:
    """A source to build and the command that migrates it."""
    layout: str
    table: str
    build: Callable[[Path], None]
    flags: list[str] = field(default_factory=list)
    refusable: bool = False          # the tool may refuse it with a one-line error
    description: str = ""

    def __repr__(self) -> str:
        return f"Case({self.layout}, flags={self.flags}, refusable={self.refusable})\n{self.description}"


def describe(ddl: list[str], rows: list[dict]) -> str:
    def short(v: Any) -> str:
        text = v if isinstance(v, Sql) else repr(v)
        return text if len(text) <= 60 else f"{text[:40]}...({len(text)} chars)"
    lines = list(ddl)
    for row in rows:
        lines.append("  (" + ", ".join(f"{k}={short(v)}" for k, v in row.items()) + ")")
    return "\n".join(lines)


# -- the generic mapping ----------------------------------------------------------------------
NAMES = ["id", "body", "emb", "rowid", "_rowid_", "OID", "__rowid", 'q"uote', "it's", "sp ace", "ünïcødé", "名前",
         "emoji📎", "__embedding", "[br]", "select", "e.x", "$k"]
EXTRA_NAMES = ["rowid", "_rowid_", "OID", "__rowid", "created_at", "metadata", "embedding_model", "__model"]
ID_DECLS = ["", "TEXT", "INTEGER", "BLOB", "ANY", "INTEGER PRIMARY KEY", "TEXT PRIMARY KEY", "TEXT UNIQUE"]
OTHER_DECLS = ["", "TEXT", "BLOB", "INTEGER", "REAL", "JSON", "NUMERIC"]


@st.composite
def generic_cases(draw) -> Case:
    names = draw(st.permutations(NAMES))
    id_col, text_col, emb_col = names[:3]
    used = {n.lower() for n in names[:3]}
    extras = draw(st.lists(st.sampled_from([n for n in EXTRA_NAMES if n.lower() not in used]), unique=True, max_size=4))
    with_embedding = draw(st.booleans())
    without_rowid = draw(st.integers(0, 24)) == 0
    id_decl = "TEXT PRIMARY KEY" if without_rowid else draw(st.sampled_from(ID_DECLS))
    ipk = id_decl == "INTEGER PRIMARY KEY"
    columns = [id_col, text_col] + ([emb_col] if with_embedding else []) + extras
    decls = [id_decl] + [draw(st.sampled_from(OTHER_DECLS)) for _ in columns[1:]]
    table = draw(st.sampled_from(["t", "memory entries", 'we"ird', "ünï", "rowid", "patterns_vec", "select"]))
    ddl = (f"CREATE TABLE {quote_identifier(table)} ("
           + ", ".join(f"{quote_identifier(c)} {d}".strip() for c, d in zip(columns, decls))
           + (") WITHOUT ROWID" if without_rowid else ")"))
    alias = rowid_alias(columns)
    rows = []
    for i in range(draw(st.integers(1, 8))):
        rowid = draw(ROWIDS)
        row: dict[str, Any] = {}
        if ipk:
            row[id_col] = rowid
        else:
            if alias is not None and not without_rowid and draw(st.integers(0, 4)) > 0:
                row[alias] = rowid
            row[id_col] = draw(st.one_of(st.just(f"id-{i}"), st.just(f"id-{i}"), st.sampled_from(["id-0", "x:y"]),
                                         HOSTILE))
        row[text_col] = draw(st.one_of(SENTENCE, SENTENCE, HOSTILE))
        if with_embedding:
            row[emb_col] = draw(vectors(DIM))
        for extra in extras:
            row[extra] = draw(TIMESTAMPS if extra == "created_at" else HOSTILE)
        rows.append(row)

    def build(path: Path) -> None:
        conn = apsw.Connection(str(path))
        conn.execute(ddl)
        with conn:
            for row in rows:
                insert(conn, table, row)
        conn.close()

    flags = ["--table", table, "--id-column", id_col, "--text-columns", text_col]
    if with_embedding:
        flags += ["--embedding-column", emb_col]
    flags += ["--batch-size", draw(st.sampled_from(["1", "2", "1000"]))]
    if draw(st.booleans()):
        flags += ["--embedder", "lexical"]
    # No rowid at all: every alias names an ordinary column (an INTEGER PRIMARY KEY is the rowid).
    shadowed = all(a in {c.lower() for c in columns} and not (ipk and id_col.lower() == a) for a in ALIASES)
    return Case("generic", table, build, flags, refusable=without_rowid or shadowed, description=describe([ddl], rows))


# -- detected layouts with hostile rows -------------------------------------------------------
def added_columns(draw) -> list[str]:
    return draw(st.lists(st.sampled_from(["rowid", "_rowid_", "oid", "__rowid", "__embedding"]), unique=True,
                         max_size=3))


def with_extras(draw, row: dict[str, Any], extras: list[str]) -> dict[str, Any]:
    """A layout row with hostile values in the added columns, at a hostile rowid when the
    table still has a name for it."""
    for extra in extras:
        row[extra] = draw(HOSTILE)
    alias = rowid_alias(["id", *extras])
    return {alias: draw(ROWIDS), **row} if alias is not None else row


def hostile_build(base: Callable[[Path], Any], table: str, extras: list[str], rows: list[dict],
                  side: tuple[str, list[dict]] | None = None) -> Callable[[Path], None]:
    """Build the layout's real file with `base`, add the extra columns, insert the hostile rows
    (and side-table rows)."""
    def build(path: Path) -> None:
        base(path)
        conn = apsw.Connection(str(path))
        with conn:
            add_columns(conn, table, extras)
            for row in rows:
                insert(conn, table, row)
            for row in (side[1] if side else []):
                insert(conn, side[0], row)
        conn.close()
    return build


@st.composite
def legacy_qe_cases(draw) -> Case:
    """samples.py's legacy-qe `patterns` (2 good rows) plus hostile rows at hostile rowids."""
    extras = added_columns(draw)
    rows = []
    for i in range(draw(st.integers(1, 6))):
        row = {"id": draw(st.one_of(st.just(f"hostile-{i}"), HOSTILE)), "name": draw(st.one_of(SENTENCE, HOSTILE)),
               "description": draw(st.one_of(SENTENCE, HOSTILE)), "template": draw(st.one_of(SENTENCE, HOSTILE)),
               "examples": draw(st.one_of(st.just('["a", "b"]'), HOSTILE)),
               "category": draw(st.one_of(st.just("unit"), HOSTILE)), "framework": draw(st.one_of(st.just("jest"), HOSTILE)),
               "success_rate": draw(st.one_of(st.just(0.9), HOSTILE)), "usage_count": draw(st.one_of(st.just(3), HOSTILE)),
               "quality": draw(st.one_of(st.just(0.5), HOSTILE)), "metadata": draw(st.one_of(st.just("{}"), HOSTILE)),
               "created_at": draw(TIMESTAMPS), "updated_at": draw(TIMESTAMPS)}
        rows.append(with_extras(draw, row, extras))
    alters = [f"rebuilt patterns with extra column(s) {', '.join(extras)}"] if extras else []

    build = hostile_build(lambda path: build_source(path, "legacy-qe", 2, dimension=DIM), "patterns", extras, rows)
    return Case("legacy-qe", "patterns", build, ["--batch-size", draw(st.sampled_from(["1", "1000"]))],
                refusable=rowid_alias(["id", *extras]) is None,
                description=describe(["samples.build_source(legacy-qe, 2)", *alters], rows))


@st.composite
def agentdb_adapter_cases(draw) -> Case:
    """real_layouts.agentic_qe_agentdb (2 rows, NULL embeddings) plus hostile rows whose
    `embedding` holds DIM-d float32 vectors and every kind of bad one."""
    extras = added_columns(draw)
    rows = []
    for i in range(draw(st.integers(1, 6))):
        row = {"id": draw(st.one_of(st.just(f"hostile-{i}"), HOSTILE)), "type": draw(st.one_of(st.just("t"), HOSTILE)),
               "confidence": draw(st.one_of(st.just(0.5), HOSTILE)), "embedding": draw(vectors(DIM)),
               "metadata": draw(st.one_of(st.just('{"content": "some text"}'), HOSTILE)),
               "created_at": draw(TIMESTAMPS)}
        rows.append(with_extras(draw, row, extras))
    alters = [f"rebuilt patterns with extra column(s) {', '.join(extras)}"] if extras else []

    build = hostile_build(lambda path: rl.agentic_qe_agentdb(path, 2), "patterns", extras, rows)
    flags = ["--batch-size", draw(st.sampled_from(["1", "1000"]))] + (["--embedder", "lexical"] if draw(st.booleans()) else [])
    return Case("agentdb-adapter", "patterns", build, flags, refusable=rowid_alias(["id", *extras]) is None,
                description=describe(["real_layouts.agentic_qe_agentdb(2)", *alters], rows))


@st.composite
def qe_v3_cases(draw) -> Case:
    """real_layouts.qe_v3 (3 rows, 384-d) plus hostile qe_patterns rows, each with zero or
    one qe_pattern_embeddings row holding hostile vectors, dimensions and labels."""
    extras = added_columns(draw)
    rows, side = [], []
    for i in range(draw(st.integers(1, 5))):
        pid = draw(st.one_of(st.just(f"hostile-{i}"), st.just(f"hostile-{i}"), HOSTILE))
        row = {"id": pid, "pattern_type": draw(st.one_of(st.just("test-template"), HOSTILE)),
               "qe_domain": draw(st.one_of(st.just("test-generation"), HOSTILE)),
               "domain": draw(st.one_of(st.just("api"), HOSTILE)), "name": draw(st.one_of(SENTENCE, HOSTILE)),
               "description": draw(st.one_of(SENTENCE, HOSTILE)), "confidence": draw(HOSTILE),
               "usage_count": draw(HOSTILE), "success_rate": draw(HOSTILE), "quality_score": draw(HOSTILE),
               "template_json": draw(st.one_of(st.just('{"steps": []}'), HOSTILE)),
               "context_json": draw(st.one_of(st.just('{"framework": "jest"}'), HOSTILE)),
               "created_at": draw(TIMESTAMPS), "last_used_at": draw(TIMESTAMPS)}
        rows.append(with_extras(draw, row, extras))
        if draw(st.integers(0, 3)) > 0:
            side.append({"pattern_id": pid, "embedding": draw(vectors(384)),
                         "dimension": draw(st.one_of(st.just(384), HOSTILE)),
                         "model": draw(st.one_of(st.just("all-MiniLM-L6-v2"), HOSTILE))})
    alters = [f"rebuilt qe_patterns with extra column(s) {', '.join(extras)}"] if extras else []

    build = hostile_build(lambda path: rl.qe_v3(path, 3), "qe_patterns", extras, rows,
                          side=("qe_pattern_embeddings", side))
    flags = ["--batch-size", draw(st.sampled_from(["1", "1000"]))] + (["--embedder", "lexical"] if draw(st.booleans()) else [])
    # an own column named "__embedding" takes the name vecmigrate gives the side table's `embedding`:
    # refused in one line (nothing written) rather than read ambiguously
    return Case("qe-v3", "qe_patterns", build, flags,
                refusable=rowid_alias(["id", *extras]) is None or "__embedding" in extras,
                description=describe(["real_layouts.qe_v3(3)", *alters], rows)
                + "\nqe_pattern_embeddings:\n" + describe([], side))


# -- running the CLI and the invariants -------------------------------------------------------
@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str


RUNNER = CliRunner()
COMMAND_SECONDS = 10  # a command on a source of a few rows takes well under a second


class Overran(BaseException):
    """Raised by SIGALRM inside a command that does not finish (not an Exception, so neither
    vecmigrate's error handler nor the CliRunner swallows it)."""


def in_process(*args: Any) -> Outcome:
    def overran(signum, frame):
        raise Overran()
    previous = signal.signal(signal.SIGALRM, overran)
    signal.alarm(COMMAND_SECONDS)
    try:
        result = RUNNER.invoke(app, [str(a) for a in args])
    except Overran:
        result = None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert result is not None, f"vecmigrate {args[0]} did not finish within {COMMAND_SECONDS} s (an endless loop?)"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        note(f"vecmigrate {' '.join(map(str, args))} raised {type(result.exception).__name__}: {result.exception}")
        raise result.exception  # re-raised from where it happened, so each crash is reported as its own bug
    return Outcome(result.exit_code, result.stdout, result.stderr)


def subprocess_cli(*args: Any) -> Outcome:
    try:
        done = run_vecmigrate(*args, timeout=COMMAND_SECONDS + 10)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"vecmigrate {args[0]} did not finish within {COMMAND_SECONDS + 10} s (an endless loop?)") from None
    return Outcome(done.returncode, done.stdout, done.stderr)


def one_json(outcome: Outcome, what: str) -> dict:
    lines = [line for line in outcome.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"{what}: expected one JSON object on stdout, got {outcome.stdout[:500]!r}"
    return json.loads(lines[0])


def no_traceback(outcome: Outcome, what: str) -> None:
    text = outcome.stdout + outcome.stderr
    assert "Traceback" not in text, f"{what} printed a traceback:\n{text[-3000:]}"


def check_migration(outcome: Outcome, case: Case, source_rows: int, what: str) -> dict | None:
    no_traceback(outcome, what)
    errors = [line for line in outcome.stderr.splitlines() if line.strip()]
    if case.refusable and outcome.exit_code in (1, 2) and len(errors) == 1 and errors[0].startswith("error:"):
        return None  # refused, in one line
    payload = one_json(outcome, what)
    assert outcome.exit_code in (0, 3), (
        f"{what}: exit {outcome.exit_code}, expected 0 or 3; error={payload.get('error')!r} "
        f"errors={payload.get('errors')!r} migrated={payload.get('migrated_count')} "
        f"quarantined={len(payload.get('quarantined') or [])} source rows={source_rows}")
    quarantined = payload["quarantined"]
    accounted = payload["migrated_count"] + payload["skipped_count"] + payload["unchanged"] + len(quarantined)
    assert accounted == source_rows, (
        f"{what}: rows not accounted for: migrated {payload['migrated_count']} + skipped {payload['skipped_count']} "
        f"+ quarantined {len(quarantined)} != {source_rows} source rows (total_patterns={payload['total_patterns']})")
    assert outcome.exit_code == (3 if quarantined else 0), f"{what}: exit {outcome.exit_code} with {len(quarantined)} quarantined"
    assert all(q.get("reason") for q in quarantined), f"{what}: a quarantined row without a reason: {quarantined}"
    return payload


def migrate_twice_and_verify(case: Case, cli: Callable[..., Outcome] = in_process) -> None:
    note(repr(case))
    with tempfile.TemporaryDirectory(prefix="vecmigrate-fuzz-") as folder:
        source, target = Path(folder) / "source.db", Path(folder) / "target.vecdb"
        case.build(source)
        rows = count_rows(source, case.table)
        note(f"source rows in {case.table!r}: {rows}")
        command = ("migrate", "--source", source, "--target", target, "--json", "--no-backup", *case.flags)
        first = cli(*command)
        payload = check_migration(first, case, rows, "migrate")
        again = cli(*command)
        if payload is None:  # refused: refused again the same way, not stuck in between
            no_traceback(again, "migrate (again)")
            assert again.exit_code == first.exit_code, f"migrate (again): exit {again.exit_code} after a refusal"
            return
        check_migration(again, case, rows, "migrate (again)")
        verified = cli("verify", "--target", target, "--source", source, "--json")
        no_traceback(verified, "verify")
        assert verified.exit_code in (0, 1), f"verify: exit {verified.exit_code}: {verified.stderr[-500:]}"
        one_json(verified, "verify")


@fuzz_settings(200)
@given(generic_cases())
def test_generic_mapping_accounts_for_every_row(case):
    migrate_twice_and_verify(case)


@fuzz_settings(60)
@given(legacy_qe_cases())
def test_legacy_qe_with_hostile_rows(case):
    migrate_twice_and_verify(case)


@fuzz_settings(60)
@given(agentdb_adapter_cases())
def test_agentdb_adapter_with_hostile_rows(case):
    migrate_twice_and_verify(case)


@fuzz_settings(50)
@given(qe_v3_cases())
def test_qe_v3_with_hostile_rows(case):
    migrate_twice_and_verify(case)


@fuzz_settings(3)
@given(generic_cases())
def test_generic_mapping_in_a_real_process(case):
    """The same properties through `python -m vecmigrate` (real stdout/stderr, real exit codes)."""
    migrate_twice_and_verify(case, subprocess_cli)
