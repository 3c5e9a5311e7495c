"""The guide's zero-downtime move, its four phases end to end, each actor a real process:

1. dual write: an agent writes through `create_dual_write` into the target and, in its own
   schema, into the legacy database the old application still reads;
2. backfill and follow: `vecmigrate sync --follow` runs while the old application (a plain
   sqlite3 writer) inserts, updates and deletes in that same database;
3. verify: `vecmigrate verify --source` is green;
4. cut over: the application reads the target; `vecmigrate export` gives back a database equal
   to the legacy one, column by column, vectors byte for byte.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from conftest import run_vecmigrate
from real_layouts import qe_v3

LEGACY_APP = textwrap.dedent("""
    # the old application: agentic-qe v3 writing its own memory.db with the stdlib sqlite3
    import random, sqlite3, struct, sys, time
    path, seconds = sys.argv[1], float(sys.argv[2])
    rng = random.Random(11)
    db = sqlite3.connect(path, timeout=60, isolation_level=None)
    mine = [r[0] for r in db.execute("SELECT id FROM qe_patterns WHERE id LIKE 'pattern-00%' ORDER BY id")]
    made = 0
    end = time.time() + seconds
    while time.time() < end:
        vector = struct.pack("<384f", *[rng.uniform(-1, 1) for _ in range(384)])
        db.execute("BEGIN IMMEDIATE")
        action = rng.choice(["insert", "insert", "update", "update", "delete", "vector"])
        if action == "insert":
            made += 1
            pid = f"app-{made:04d}"
            db.execute("INSERT INTO qe_patterns(id, pattern_type, qe_domain, domain, name, description, confidence,"
                       " usage_count, success_rate, quality_score, template_json, context_json, created_at)"
                       " VALUES (?, 'test-template', 'test-generation', 'api', ?, ?, 0.5, 0, 0.9, 0.8, '{}',"
                       " '{\\"framework\\": \\"jest\\"}', datetime('now'))", (pid, f"app pattern {made}", f"made by the app {made}"))
            db.execute("INSERT INTO qe_pattern_embeddings(pattern_id, embedding, dimension, model) VALUES (?, ?, 384,"
                       " 'all-MiniLM-L6-v2')", (pid, vector))
            mine.append(pid)
        elif action == "update" and mine:
            db.execute("UPDATE qe_patterns SET usage_count = usage_count + 1, description = ?, updated_at ="
                       " datetime('now') WHERE id = ?", (f"edited {time.time()}", rng.choice(mine)))
        elif action == "vector" and mine:
            db.execute("UPDATE qe_pattern_embeddings SET embedding = ? WHERE pattern_id = ?", (vector, rng.choice(mine)))
        elif action == "delete" and len(mine) > 5:
            gone = mine.pop(rng.randrange(len(mine)))
            db.execute("DELETE FROM qe_pattern_embeddings WHERE pattern_id = ?", (gone,))
            db.execute("DELETE FROM qe_patterns WHERE id = ?", (gone,))
        db.execute("COMMIT")
        time.sleep(0.02)
    print(made)
""")

AGENT = textwrap.dedent("""
    # an agent on the new path: every write goes to the target and back into the legacy database
    import sys, time
    import numpy as np
    from dataclasses import replace
    from vecmigrate.models import Pattern
    from vecmigrate.stores import create_dual_write
    target, legacy, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    rng = np.random.default_rng(5)
    written = []
    with create_dual_write(target, legacy) as proxy:
        ours = [r[0] for r in proxy.primary.conn.execute("SELECT id FROM patterns WHERE id LIKE 'pattern-01%'")]
        end, n = time.time() + seconds, 0
        while time.time() < end:
            n += 1
            action = ("new", "new", "edit", "use", "delete")[n % 5]
            vector = rng.standard_normal(384).astype(np.float32)
            if action == "new":
                pid = f"agent-{n:04d}"
                proxy.store(Pattern(id=pid, content=f"agent pattern {n}", type="assertion-pattern",
                                    domain="ui", created_at=1767225600000 + n), vector)
                written.append(pid)
            elif action == "edit" and ours:
                found = proxy.get(ours[n % len(ours)])
                proxy.store(replace(found.pattern, usage_count=(found.pattern.usage_count or 0) + 10), vector)
            elif action == "use" and written:
                proxy.record_usage(written[-1], when_ms=1767312000000 + n)
            elif action == "delete" and len(ours) > 3:
                proxy.delete(ours.pop())
            time.sleep(0.05)
        assert proxy.journal() == [], proxy.journal()
    print(len(written))
""")


def table(path: Path, name: str, key: str) -> dict:
    conn = sqlite3.connect(path)
    try:
        return {r[0]: r[1:] for r in conn.execute(f"SELECT {key}, * FROM {name}")}
    finally:
        conn.close()


def test_the_guides_four_phases(tmp_path):
    legacy = qe_v3(tmp_path / "memory.db", count=120).path
    target = tmp_path / "patterns.vecdb"
    # backfill
    done = run_vecmigrate("migrate", "--source", legacy, "--target", target, "--embedder", "lexical")
    assert done.returncode == 0, done.stderr
    # phases 1 and 2: the agent, the old application and the follower, at the same time
    follower = subprocess.Popen([sys.executable, "-m", "vecmigrate", "sync", "--source", str(legacy), "--target",
                                 str(target), "--follow", "--interval", "0.5", "--embedder", "lexical", "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    app = subprocess.Popen([sys.executable, "-c", LEGACY_APP, str(legacy), "6"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    agent = subprocess.Popen([sys.executable, "-c", AGENT, str(target), str(legacy), "6"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    app_out, app_err = app.communicate(timeout=120)
    agent_out, agent_err = agent.communicate(timeout=120)
    assert app.returncode == 0, app_err
    assert agent.returncode == 0, agent_err
    assert int(app_out) > 5 and int(agent_out) > 5
    time.sleep(2.0)                                   # a few passes after the last write
    follower.send_signal(signal.SIGINT)
    out, err = follower.communicate(timeout=120)
    assert follower.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["refused_passes"] == 0 and summary["totals"]["inserted"] > 0, summary
    last = run_vecmigrate("sync", "--source", legacy, "--target", target, "--embedder", "lexical", "--json")
    assert last.returncode == 0, last.stderr
    settled = json.loads(last.stdout)
    assert settled["inserted"] + settled["updated"] + settled["deferred"] == 0, settled  # nothing left behind
    # phase 3: verify, the target against the legacy database
    check = run_vecmigrate("verify", "--target", target, "--source", legacy, "--json")
    assert check.returncode == 0, check.stdout + check.stderr
    # phase 4: cut over: the agent reads the target; export is the legacy database again
    found = run_vecmigrate("search", "--target", target, "--id", "agent-0001", "--k", "1", "--json")
    assert found.returncode == 0 and json.loads(found.stdout)["hits"][0]["id"] == "agent-0001"
    out_db = tmp_path / "exported.db"
    exported = run_vecmigrate("export", "--target", target, "--to", out_db, "--json")
    assert exported.returncode == 0, exported.stderr
    assert table(out_db, "qe_patterns", "rowid") == table(legacy, "qe_patterns", "rowid")
    assert table(out_db, "qe_pattern_embeddings", "pattern_id") == table(legacy, "qe_pattern_embeddings", "pattern_id")
