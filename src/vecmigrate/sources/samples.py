"""Sample AgentDB-family source databases, one builder per schema variant.

Used by `make demo`, the tests and the benchmarks. Texts are generated from a small QE
vocabulary (so lexical search finds related patterns); stored embeddings are clustered
float32 unit vectors (HNSW recall on uniform random vectors says little about real data).

    python -m vecmigrate.sources.samples data/agentic-qe.db --variant legacy-qe --count 2000
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import apsw
import numpy as np

SUBJECTS = ["login form", "checkout flow", "payment api", "user registration", "search results", "file upload",
            "password reset", "shopping cart", "order history", "profile settings", "session timeout",
            "rate limiter", "email verification", "inventory sync", "invoice export", "audit log"]
ACTIONS = ["validates input of", "mocks the backend of", "asserts error messages in", "retries flaky calls in",
           "checks accessibility of", "measures latency of", "fuzzes parameters of", "snapshots the ui of"]
CATEGORIES = ["unit", "integration", "e2e", "api", "performance", "security"]
FRAMEWORKS = ["jest", "pytest", "cypress", "playwright", "mocha", "junit"]
LANGUAGES = {"jest": "typescript", "pytest": "python", "cypress": "javascript", "playwright": "typescript",
             "mocha": "javascript", "junit": "java"}
BASE_TIME = datetime(2025, 1, 1, tzinfo=timezone.utc)


def clustered_vectors(count: int, dimension: int, *, clusters: int | None = None, spread: float = 0.35,
                      seed: int = 0) -> np.ndarray:
    """Unit float32 vectors in Gaussian blobs: `clusters` random centres (about 100 members
    each by default), members spread isotropically around them. This is the usual clustered
    benchmark shape; uniform random vectors are the worst case for any HNSW and say little
    about real embeddings."""
    rng = np.random.default_rng(seed)
    clusters = clusters or max(1, count // 100)
    centres = rng.standard_normal((clusters, dimension)).astype(np.float32) / np.sqrt(dimension)
    assignment = rng.integers(0, clusters, size=count)
    noise = rng.standard_normal((count, dimension)).astype(np.float32) / np.sqrt(dimension)
    vectors = centres[assignment] + spread * noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32)


def _pattern_text(rng: random.Random, i: int) -> dict:
    framework = rng.choice(FRAMEWORKS)
    subject = rng.choice(SUBJECTS)
    action = rng.choice(ACTIONS)
    category = rng.choice(CATEGORIES)
    return {"name": f"{category}-{subject.replace(' ', '-')}-{i}", "framework": framework, "subject": subject,
            "category": category, "language": LANGUAGES[framework],
            "description": f"{action.capitalize()} the {subject} ({category} test, {framework})",
            "template": f"describe('{subject}', () => {{ it('{action} {subject}', async () => {{ /* {framework} */ }}); }});",
            "examples": [f"{subject} with valid data", f"{subject} with missing fields"]}


def _when(rng: random.Random) -> datetime:
    return BASE_TIME + timedelta(seconds=rng.randrange(0, 300 * 86400))


def _legacy_qe(conn, rng, count, vectors):
    conn.execute("""CREATE TABLE patterns (id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, template TEXT,
        examples TEXT, category TEXT, framework TEXT, language TEXT, confidence REAL, usage_count INTEGER,
        success_rate REAL, quality REAL, metadata TEXT, created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
        updated_at DATETIME)""")
    rows = []
    for i in range(count):
        t = _pattern_text(rng, i)
        created = _when(rng)
        rows.append((f"pattern-{i:06d}", t["name"], t["description"], t["template"], json.dumps(t["examples"]),
                     t["category"], t["framework"], t["language"], round(rng.random(), 3), rng.randrange(0, 500),
                     round(rng.random(), 3), round(rng.random(), 3), json.dumps({"source": "sample", "subject": t["subject"]}),
                     created.strftime("%Y-%m-%d %H:%M:%S"), (created + timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S")))
    conn.executemany("INSERT INTO patterns VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    _history(conn, rng, [r[0] for r in rows])


def _history(conn, rng, ids: list[str]) -> None:
    conn.execute("""CREATE TABLE pattern_usage (id INTEGER PRIMARY KEY, pattern_id TEXT NOT NULL, project_id TEXT,
        usage_count INTEGER, success_count INTEGER, failure_count INTEGER, last_used DATETIME)""")
    conn.execute("""CREATE TABLE learning_history (id INTEGER PRIMARY KEY, agent_id TEXT, pattern_id TEXT,
        state_representation TEXT, action TEXT, reward REAL, timestamp DATETIME)""")
    conn.execute("""CREATE TABLE learning_metrics (id INTEGER PRIMARY KEY, agent_id TEXT, metric_type TEXT,
        metric_value REAL, timestamp DATETIME)""")
    picks = ids[: max(1, len(ids) // 4)]
    conn.executemany("INSERT INTO pattern_usage(pattern_id, project_id, usage_count, success_count, failure_count,"
                     " last_used) VALUES (?,?,?,?,?,?)",
                     [(p, f"project-{rng.randrange(5)}", rng.randrange(50), rng.randrange(40), rng.randrange(10),
                       _when(rng).strftime("%Y-%m-%d %H:%M:%S")) for p in picks])
    conn.executemany("INSERT INTO learning_history(agent_id, pattern_id, state_representation, action, reward,"
                     " timestamp) VALUES (?,?,?,?,?,?)",
                     [(f"agent-{rng.randrange(3)}", p, json.dumps({"step": n}), "apply", round(rng.random(), 3),
                       _when(rng).isoformat()) for n, p in enumerate(picks)])
    conn.executemany("INSERT INTO learning_metrics(agent_id, metric_type, metric_value, timestamp) VALUES (?,?,?,?)",
                     [(f"agent-{n % 3}", "accuracy", round(rng.random(), 3), _when(rng).isoformat())
                      for n in range(min(50, len(ids)))])


def _swarm_memory(conn, rng, count, vectors):
    conn.execute("""CREATE TABLE patterns (id TEXT PRIMARY KEY, pattern TEXT NOT NULL UNIQUE, confidence REAL,
        usage_count INTEGER DEFAULT 0, metadata TEXT, ttl INTEGER, expires_at INTEGER, created_at INTEGER,
        agent_id TEXT, domain TEXT, success_rate REAL)""")
    rows = []
    for i in range(count):
        t = _pattern_text(rng, i)
        created = int(_when(rng).timestamp() * 1000)
        rows.append((f"swarm-{i:06d}", f"{t['description']} #{i}", round(rng.random(), 3), rng.randrange(100),
                     json.dumps({"type": t["category"], "framework": t["framework"]}), 86400,
                     created + 86400_000, created, f"agent-{rng.randrange(4)}", t["subject"].split()[0],
                     round(rng.random(), 3)))
    conn.executemany("INSERT INTO patterns VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)


def _agentdb_adapter(conn, rng, count, vectors):
    conn.execute("""CREATE TABLE patterns (id TEXT PRIMARY KEY, pattern_id TEXT GENERATED ALWAYS AS (id) VIRTUAL,
        type TEXT NOT NULL, confidence REAL, embedding BLOB, metadata TEXT, created_at INTEGER)""")
    rows = []
    for i in range(count):
        t = _pattern_text(rng, i)
        rows.append((f"adapter-{i:06d}", t["category"], round(rng.random(), 3), vectors[i].tobytes(),
                     json.dumps({"content": t["description"], "domain": t["subject"].split()[0],
                                 "framework": t["framework"], "usageCount": rng.randrange(40)}),
                     int(_when(rng).timestamp())))
    conn.executemany("INSERT INTO patterns(id, type, confidence, embedding, metadata, created_at)"
                     " VALUES (?,?,?,?,?,?)", rows)


def _agentdb_service(conn, rng, count, vectors):
    conn.execute("""CREATE TABLE patterns (id INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, domain TEXT,
        data TEXT NOT NULL, confidence REAL, usage_count INTEGER DEFAULT 0, success_count INTEGER DEFAULT 0,
        embedding BLOB, created_at INTEGER, last_used INTEGER, metadata TEXT)""")
    rows = []
    for i in range(count):
        t = _pattern_text(rng, i)
        usage = rng.randrange(1, 60)
        created = int(_when(rng).timestamp() * 1000)
        rows.append((t["category"], t["subject"].split()[0], json.dumps({"content": t["description"],
                     "framework": t["framework"], "template": t["template"]}), round(rng.random(), 3), usage,
                     rng.randrange(0, usage + 1), vectors[i].tobytes(), created, created + 3600_000,
                     json.dumps({"tags": [t["category"]]})))
    conn.executemany("INSERT INTO patterns(type, domain, data, confidence, usage_count, success_count, embedding,"
                     " created_at, last_used, metadata) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)


def _test_patterns(conn, rng, count, vectors):
    conn.execute("""CREATE TABLE test_patterns (id TEXT PRIMARY KEY NOT NULL, pattern_type TEXT NOT NULL,
        framework TEXT NOT NULL, language TEXT NOT NULL, code_signature_hash TEXT NOT NULL, code_signature TEXT NOT NULL,
        test_template TEXT NOT NULL, metadata TEXT, version TEXT NOT NULL DEFAULT '1.0.0',
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, UNIQUE(code_signature_hash, framework))""")
    rows = []
    for i in range(count):
        t = _pattern_text(rng, i)
        created = int(_when(rng).timestamp())
        rows.append((f"tp-{i:06d}", t["category"], t["framework"], t["language"], f"{i:016x}",
                     json.dumps({"function": t["subject"].replace(" ", "_"), "params": ["input"]}),
                     json.dumps({"body": t["template"]}), json.dumps({"description": t["description"]}), "1.0.0",
                     created, created + 600))
    conn.executemany("INSERT INTO test_patterns VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)


def _qe_v3(conn, rng, count, vectors):
    conn.execute("""CREATE TABLE qe_patterns (id TEXT PRIMARY KEY, pattern_type TEXT NOT NULL, qe_domain TEXT NOT NULL,
        domain TEXT NOT NULL, name TEXT NOT NULL, description TEXT, confidence REAL DEFAULT 0.5,
        usage_count INTEGER DEFAULT 0, success_rate REAL DEFAULT 0.0, quality_score REAL DEFAULT 0.0,
        template_json TEXT, context_json TEXT, created_at TEXT DEFAULT (datetime('now')), last_used_at TEXT)""")
    conn.execute("""CREATE TABLE qe_pattern_embeddings (pattern_id TEXT PRIMARY KEY, embedding BLOB NOT NULL,
        dimension INTEGER NOT NULL, model TEXT DEFAULT 'all-MiniLM-L6-v2', created_at TEXT DEFAULT (datetime('now')))""")
    conn.execute("""CREATE TABLE qe_pattern_usage (id INTEGER PRIMARY KEY AUTOINCREMENT, pattern_id TEXT NOT NULL,
        success INTEGER NOT NULL, metrics_json TEXT, feedback TEXT, created_at TEXT DEFAULT (datetime('now')))""")
    rows, embeddings = [], []
    for i in range(count):
        t = _pattern_text(rng, i)
        created = _when(rng)
        rows.append((f"qe-{i:06d}", t["category"], "test-generation", t["subject"].split()[0], t["name"],
                     t["description"], round(rng.random(), 3), rng.randrange(80), round(rng.random(), 3),
                     round(rng.random(), 3), json.dumps({"code": t["template"]}),
                     json.dumps({"framework": t["framework"], "language": t["language"]}),
                     created.strftime("%Y-%m-%d %H:%M:%S"), (created + timedelta(hours=5)).isoformat()))
        embeddings.append((f"qe-{i:06d}", vectors[i].tobytes(), vectors.shape[1]))
    conn.executemany("INSERT INTO qe_patterns VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.executemany("INSERT INTO qe_pattern_embeddings(pattern_id, embedding, dimension) VALUES (?,?,?)", embeddings)
    conn.executemany("INSERT INTO qe_pattern_usage(pattern_id, success) VALUES (?, ?)",
                     [(r[0], rng.randrange(2)) for r in rows[: max(1, count // 5)]])


def _reasoning_bank(conn, rng, count, vectors):
    conn.execute("""CREATE TABLE reasoning_patterns (id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL,
        task_type TEXT NOT NULL, approach TEXT NOT NULL, success_rate REAL NOT NULL DEFAULT 0, uses INTEGER DEFAULT 0,
        avg_reward REAL DEFAULT 0, tags TEXT, metadata TEXT)""")
    conn.execute("""CREATE TABLE pattern_embeddings (pattern_id INTEGER PRIMARY KEY, model TEXT NOT NULL,
        dims INTEGER NOT NULL, embedding BLOB NOT NULL, FOREIGN KEY (pattern_id) REFERENCES reasoning_patterns(id))""")
    for i in range(count):
        t = _pattern_text(rng, i)
        conn.execute("INSERT INTO reasoning_patterns(ts, task_type, approach, success_rate, uses, avg_reward, tags,"
                     " metadata) VALUES (?,?,?,?,?,?,?,?)",
                     (int(_when(rng).timestamp()), t["category"], t["description"], round(rng.random(), 3),
                      rng.randrange(30), round(rng.random(), 3), json.dumps([t["framework"], t["category"]]),
                      json.dumps({"domain": t["subject"].split()[0], "framework": t["framework"]})))
        conn.execute("INSERT INTO pattern_embeddings VALUES (?,?,?,?)",
                     (conn.last_insert_rowid(), "sample", vectors.shape[1], vectors[i].tobytes()))


BUILDERS: dict[str, Callable] = {
    "legacy-qe": _legacy_qe, "swarm-memory": _swarm_memory, "agentdb-adapter": _agentdb_adapter,
    "agentdb-service": _agentdb_service, "test-patterns": _test_patterns, "qe-v3": _qe_v3,
    "reasoning-bank": _reasoning_bank,
}


# Layouts of several tables, written through the layout's own DDL and reverse mapping (the
# write-back store): rows of each kind in turn, as the application would hold them.
SEVERAL_TABLES = {"agentdb-native": ("episode", "skill", "note"), "claude-flow-v3": ("memory", "pattern")}


def _through_the_layout(path: Path, layout: str, rng: random.Random, count: int, vectors: np.ndarray) -> None:
    from ..models import Pattern
    from ..stores.legacy import LegacyStore
    from . import LAYOUTS
    parts = next(parts for parts in LAYOUTS if parts[0].name == layout)
    conn = apsw.Connection(str(path))
    try:
        with conn:
            for part in parts:
                for statement in part.ddl:
                    conn.execute(statement)
    finally:
        conn.close()
    kinds = SEVERAL_TABLES[layout]
    with LegacyStore(path, layout=layout, model="all-MiniLM-L6-v2") as store:
        store.keeps_vectors = dict.fromkeys(kinds, True)  # (a new file's empty tables say nothing of it)
        patterns = []
        for i in range(count):
            text = _pattern_text(rng, i)
            kind = kinds[i % len(kinds)]
            number = i // len(kinds) + 1
            patterns.append(Pattern(
                id=f"{kind}:{number}" if layout == "agentdb-native" else f"{kind}:{kind}-{number:06d}",
                content=f"{text['description']}. {text['template']}", type=text["category"],
                domain=text["subject"], framework=text["framework"], kind=kind,
                created_at=int(_when(rng).timestamp() * 1000),
                metadata={"name": text["name"], "title": text["name"], "key": text["name"], "namespace": "default",
                          "condition": text["description"], "action": text["template"], "description": text["description"],
                          "session_id": f"session-{i % 7}", "task": text["description"],
                          "signature": {"inputs": [text["subject"]]}}))
        store.store_batch(patterns, vectors[:count])


def build_source(path: str | Path, variant: str = "legacy-qe", count: int = 1000, *, dimension: int = 384,
                 seed: int = 0, vectors: np.ndarray | None = None) -> Path:
    """Write a new sample source database of `variant` with `count` patterns at `path`."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} already exists")
    path.parent.mkdir(parents=True, exist_ok=True)
    if vectors is None:
        vectors = clustered_vectors(count, dimension, seed=seed)
    if variant in SEVERAL_TABLES:
        _through_the_layout(path, variant, random.Random(seed), count, vectors)
        return path
    conn = apsw.Connection(str(path))
    try:
        with conn:
            BUILDERS[variant](conn, random.Random(seed), count, vectors)
    finally:
        conn.close()
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build a sample AgentDB-family source database.")
    parser.add_argument("path", type=Path)
    parser.add_argument("--variant", choices=sorted([*BUILDERS, *SEVERAL_TABLES]), default="legacy-qe")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--if-missing", action="store_true", help="Do nothing when the file already exists.")
    args = parser.parse_args(argv)
    if args.if_missing and args.path.exists():
        print(f"{args.path} exists; kept as it is")
        return
    build_source(args.path, args.variant, args.count, dimension=args.dimension, seed=args.seed)
    print(f"wrote {args.count} {args.variant} patterns to {args.path}")


if __name__ == "__main__":
    main()
