"""Write-back into the legacy database (stores/legacy.py) as the secondary of a dual write:
the old application, reading its own file, sees every pattern written through the proxy, in
its own schema; `sync` from that file takes the echoes of the proxy's writes for what they
are (no conflict); `reconcile` replays failed legacy writes; `export` equals the legacy file."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import apsw
import numpy as np
import pytest
from real_layouts import (
    agentdb_native,
    agentic_qe_agentdb,
    claude_flow_v3,
    qe_v3,
    reasoningbank_memory,
    reasoningbank_model,
)

from vecmigrate import Migrator
from vecmigrate.commands import reconcile, sync
from vecmigrate.models import Pattern
from vecmigrate.sources.samples import build_source
from vecmigrate.stores import LegacyStore, create_dual_write, open_store
from vecmigrate.verbs.export import export
from vecmigrate.verbs.migrate import MigrateOptions
from vecmigrate.verbs.verify import verify

INTEGER_IDS = {"reasoningbank-model", "agentdb-native", "agentdb-service", "reasoning-bank"}


def sample(name):
    def build(path: Path):
        build_source(path, name, 30, dimension=384)
        return type("F", (), {"path": path, "layout": name})()
    return build


BUILDERS = {"qe-v3": qe_v3, "agentdb-adapter (agentic-qe)": agentic_qe_agentdb,
            "reasoningbank-memory": reasoningbank_memory, "reasoningbank-model": reasoningbank_model,
            "claude-flow-v3": claude_flow_v3, "agentdb-native": agentdb_native,
            **{name: sample(name) for name in ("legacy-qe", "swarm-memory", "agentdb-service", "test-patterns",
                                               "reasoning-bank")}}


def table_rows(path: Path, table: str, key: str = "rowid") -> dict:
    conn = sqlite3.connect(path)   # the old application's own reader: plain sqlite3
    try:
        return {r[0]: r[1:] for r in conn.execute(f"SELECT {key}, * FROM {table}")}
    finally:
        conn.close()


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_the_old_application_sees_every_write_through_the_proxy(name, tmp_path):
    fixture = BUILDERS[name](tmp_path / "legacy.db")
    target = tmp_path / "target"
    Migrator(fixture.path, target).migrate(MigrateOptions(embedder="lexical", backup=False))
    rng = np.random.default_rng(7)
    with LegacyStore(fixture.path) as legacy:
        first_ids = [legacy.get(i) for i in _first_ids(target, 3)]
    usage_before = first_ids[2].pattern.usage_count
    with create_dual_write(target, fixture.path) as proxy:
        part = proxy.secondary.plan.parts[0]
        keeps_vectors = proxy.secondary.keeps_vectors[part.kind]  # (agentic-qe's agentdb.db keeps none)
        dimension = proxy.primary.settings.dimension
        new_id = part.id_prefix + ("900001" if part.name in INTEGER_IDS else "written-through-proxy")
        vector = rng.standard_normal(dimension).astype(np.float32)
        proxy.store(Pattern(id=new_id, content="retry the flaky checkout test", type="unit", domain="payments",
                            created_at=1_767_225_600_000, kind=part.kind), vector)
        existing = [r[0] for r in proxy.primary.conn.execute("SELECT id FROM patterns WHERE kind = ? ORDER BY key",
                                                                (part.kind,))]
        changed, gone, used = existing[0], existing[1], existing[2]
        before = proxy.primary.get(changed)
        moved = rng.standard_normal(dimension).astype(np.float32)
        proxy.store(replace(before.pattern, content=before.pattern.content + " (edited)",
                            metadata={**before.pattern.metadata, "edited": True}), moved)
        assert proxy.delete(gone)
        assert proxy.record_usage(used, when_ms=1_767_312_000_000)
        assert proxy.journal() == [], proxy.journal()
    # the legacy file, read as the old application reads it
    legacy = LegacyStore(fixture.path)
    try:
        written = legacy.get(new_id)
        assert written is not None and "retry the flaky checkout test" in written.pattern.content
        if keeps_vectors:
            assert written.vector.tobytes() == vector.tobytes()
            assert legacy.get(changed).vector.tobytes() == moved.tobytes()
        assert legacy.get(gone) is None
        usage_after = legacy.get(used).pattern.usage_count
        assert usage_after is None or usage_after == (usage_before or 0) + 1
    finally:
        legacy.close()
    with sqlite3.connect(fixture.path) as plain:
        assert plain.execute(f"SELECT count(*) FROM {part.table}").fetchone()[0] >= 1
    # sync reads the proxy's writes back as echoes: no conflict, the target keeps what the store wrote
    passes = sync(fixture.path, target, MigrateOptions(embedder="lexical"))
    assert passes[-1].conflicts == [] and passes[-1].quarantined == []
    with open_store(target) as store:
        assert store.get(new_id).pattern.content == "retry the flaky checkout test"
        assert store.get(new_id).vector.tobytes() == vector.tobytes()
        assert store.get(changed).pattern.content.endswith("(edited)")
        assert store.get(gone) is None
    assert verify(target, source=fixture.path).ok
    # export equals the legacy file, column by column, vectors byte for byte
    export(target, tmp_path / "out.db")
    assert table_rows(tmp_path / "out.db", part.table) == table_rows(fixture.path, part.table)
    if part.embedding_table is not None:   # side rows by the pattern they belong to (their rowid is no column)
        side, key = part.embedding_table.table, part.embedding_table.keys[0]
        assert table_rows(tmp_path / "out.db", side, key) == table_rows(fixture.path, side, key)


def _first_ids(target: Path, n: int) -> list[str]:
    with open_store(target) as store:
        kind = store.conn.execute("SELECT kind FROM patterns ORDER BY key LIMIT 1").fetchone()[0]
        return [r[0] for r in store.conn.execute("SELECT id FROM patterns WHERE kind = ? ORDER BY key LIMIT ?",
                                                  (kind, n))]


def test_a_failed_legacy_write_is_journaled_and_reconcile_replays_it(tmp_path):
    fixture = qe_v3(tmp_path / "legacy.db", count=10)
    target = tmp_path / "target"
    Migrator(fixture.path, target).migrate(MigrateOptions(embedder="lexical", backup=False))
    with create_dual_write(target, fixture.path) as proxy:
        proxy.secondary.conn.setbusytimeout(50)
        lock = apsw.Connection(str(fixture.path))
        lock.execute("BEGIN EXCLUSIVE")          # the old application holds its file
        vector = np.ones(384, dtype=np.float32)
        proxy.store(Pattern(id="while-locked", content="written while the legacy file was locked"), vector)
        assert [j["pattern_id"] for j in proxy.journal()] == ["while-locked"]
        lock.execute("ROLLBACK")
        lock.close()
    report = reconcile(target, fixture.path)
    assert report.journal_replayed == 1 and report.copied_to_secondary == 1
    with LegacyStore(fixture.path) as legacy:
        assert legacy.get("while-locked").pattern.metadata.get("name") == "written while the legacy file was locked"
    with create_dual_write(target, fixture.path) as proxy:
        assert proxy.journal() == []


def test_an_id_the_legacy_schema_cannot_hold_is_journaled_not_lost(tmp_path):
    fixture = reasoningbank_model(tmp_path / "legacy.db")
    target = tmp_path / "target"
    Migrator(fixture.path, target).migrate(MigrateOptions(embedder="lexical", backup=False))
    with create_dual_write(target, fixture.path) as proxy:
        proxy.store(Pattern(id="not-a-number", content="text"), np.ones(128, dtype=np.float32))
        journal = proxy.journal()
        assert proxy.primary.get("not-a-number") is not None
    assert len(journal) == 1 and "integers" in journal[0]["error"]
