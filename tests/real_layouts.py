"""Source databases shaped like the files users of agentic-qe, agentdb, agentic-flow and
claude-flow commit (../shared/real-layouts.md): the real DDL of each layout, with its quirks.
The rows are invented; the shapes and quirks are not.

Each builder writes a file and returns a `Fixture` saying what a migration must find:
the layout, the vector tables and their row counts, and the rows that have a stored vector
(id in the target -> the exact float32 bytes the target must hold)."""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import apsw
import numpy as np

from vecmigrate.embed.embedders import LexicalEmbedder

WORDS = ["login", "checkout", "payment", "retry", "flaky", "timeout", "cache", "schema", "migration", "token",
         "session", "upload", "invoice", "audit", "search", "queue", "webhook", "rate", "limit", "snapshot"]


@dataclass
class Fixture:
    path: Path
    layout: str
    tables: dict[str, int]                       # vector table -> its rows
    stored: dict[str, bytes] = field(default_factory=dict)   # target id -> exact float32 bytes
    without_vector: list[str] = field(default_factory=list)  # target ids of rows with no stored vector
    texts: dict[str, str] = field(default_factory=dict)      # target id -> the text its vector was made from
    model: str = "unknown"                       # the label the stored vectors carry


def sentence(rng: random.Random, n: int = 8) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def unit_vectors(rng: np.random.Generator, count: int, dimension: int) -> np.ndarray:
    v = rng.standard_normal((count, dimension)).astype(np.float32)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def _connect(path: Path) -> apsw.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    return apsw.Connection(str(path))


# -- 1. agentic-qe v3 .agentic-qe/memory.db (qe-v3) -----------------------------------------
def qe_v3(path: Path, count: int = 60, *, vectors: Callable[[list[str]], np.ndarray] | None = None,
          missing_every: int = 7, label: str = "all-MiniLM-L6-v2") -> Fixture:
    """qe_patterns + qe_pattern_embeddings (model label all-MiniLM-L6-v2 on every row) + FTS5
    tables + `vectors`; about 14 % of patterns without an embedding row, a third of the vectors
    byte-identical copies, one vector of norm 12. `vectors(texts)` makes the stored vectors
    (default: random unit vectors)."""
    rng = random.Random(1)
    conn = _connect(path)
    conn.execute("""CREATE TABLE qe_patterns (id TEXT PRIMARY KEY, pattern_type TEXT NOT NULL, qe_domain TEXT NOT NULL,
        domain TEXT NOT NULL, name TEXT NOT NULL, description TEXT, confidence REAL DEFAULT 0.5,
        usage_count INTEGER DEFAULT 0, success_rate REAL DEFAULT 0.0, quality_score REAL DEFAULT 0.0,
        tier TEXT DEFAULT 'short-term', template_json TEXT, context_json TEXT,
        created_at TEXT DEFAULT (datetime('now')), updated_at TEXT DEFAULT (datetime('now')), last_used_at TEXT,
        successful_uses INTEGER DEFAULT 0, deprecated_at TEXT, consecutive_failures INTEGER DEFAULT 0,
        promotion_date TEXT, provenance_tier TEXT)""")
    conn.execute("CREATE UNIQUE INDEX idx_qe_patterns_unique ON qe_patterns(name, qe_domain, pattern_type)")
    conn.execute("CREATE VIRTUAL TABLE qe_patterns_fts USING fts5(id UNINDEXED, name, description)")
    conn.execute("""CREATE TABLE qe_pattern_embeddings (pattern_id TEXT PRIMARY KEY REFERENCES qe_patterns(id)
        ON DELETE CASCADE, embedding BLOB NOT NULL, dimension INTEGER NOT NULL,
        model TEXT DEFAULT 'all-MiniLM-L6-v2', created_at TEXT DEFAULT (datetime('now')))""")
    conn.execute("""CREATE TABLE vectors (id TEXT PRIMARY KEY, namespace TEXT, embedding BLOB, dimensions INTEGER,
        metadata TEXT)""")
    conn.execute("CREATE TABLE qe_pattern_usage (id INTEGER PRIMARY KEY AUTOINCREMENT, pattern_id TEXT, success INTEGER)")
    names, descriptions = [], []
    for i in range(count):
        names.append(f"{rng.choice(WORDS)}-{rng.choice(WORDS)}-{i}")
        descriptions.append(sentence(rng))
    texts = [f"{n} {d}" for n, d in zip(names, descriptions)]  # agentic-qe's own embedding text
    made = vectors(texts) if vectors else unit_vectors(np.random.default_rng(1), count, 384)
    fixture = Fixture(path, "qe-v3", {"qe_patterns": count}, model=label)
    with conn:
        for i in range(count):
            pid = f"pattern-{i:04d}-{rng.randrange(10**6):06d}"
            conn.execute("INSERT INTO qe_patterns(id, pattern_type, qe_domain, domain, name, description, confidence,"
                         " usage_count, success_rate, quality_score, template_json, context_json, created_at,"
                         " last_used_at, provenance_tier) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         (pid, rng.choice(["test-template", "assertion-pattern"]), "test-generation",
                          rng.choice(["api", "ui"]), names[i], descriptions[i], 0.5, rng.randrange(9),
                          round(rng.random(), 2), round(rng.random(), 2), json.dumps({"steps": [names[i]]}),
                          json.dumps({"framework": rng.choice(["jest", "vitest"])}),
                          f"2025-0{1 + i % 9}-1{i % 10} 10:2{i % 10}:00", None, "seed"))
            conn.execute("INSERT INTO qe_patterns_fts(id, name, description) VALUES (?,?,?)", (pid, names[i],
                                                                                               descriptions[i]))
            fixture.texts[pid] = texts[i]
            if i % missing_every == 3:
                fixture.without_vector.append(pid)
                continue
            vector = made[i]
            if i % 3 == 2 and vectors is None:   # byte-identical copies
                vector = made[i - 1]
            if i == 5 and vectors is None:        # the one non-normalised vector
                vector = vector * 12.0
            blob = np.asarray(vector, dtype="<f4").tobytes()
            conn.execute("INSERT INTO qe_pattern_embeddings(pattern_id, embedding, dimension, model) VALUES (?,?,?,?)",
                         (pid, blob, 384, label))
            fixture.stored[pid] = blob
        conn.execute("INSERT INTO vectors VALUES ('v1', 'default', ?, 384, '{}')", (made[0].tobytes(),))
    conn.close()
    return fixture


# -- 2. agentic-qe's own AgentDB file .agentic-qe/agentdb.db --------------------------------
def agentic_qe_agentdb(path: Path, count: int = 12) -> Fixture:
    """agentdb-adapter without pattern_id; every embedding NULL."""
    conn = _connect(path)
    conn.execute("""CREATE TABLE patterns (id TEXT PRIMARY KEY, type TEXT NOT NULL,
      confidence REAL NOT NULL DEFAULT 0.5, embedding BLOB, metadata TEXT,
      created_at INTEGER NOT NULL DEFAULT (unixepoch()))""")
    fixture = Fixture(path, "agentdb-adapter", {"patterns": count})
    with conn:
        for i in range(count):
            pid = f"qe-test-generator_pattern_{i}"
            conn.execute("INSERT INTO patterns(id, type, confidence, embedding, metadata, created_at) VALUES (?,?,?,?,?,?)",
                         (pid, "test-pattern", 0.7, None, json.dumps({"content": f"generate tests for module {i}"}),
                          1735689600 + i))
            fixture.without_vector.append(pid)
    conn.close()
    return fixture


# -- 3. ReasoningBank memory .swarm/memory.db ------------------------------------------------
def reasoningbank_memory(path: Path, count: int = 40, *, vectors: Callable[[list[str]], np.ndarray] | None = None
                         ) -> Fixture:
    """patterns(pattern_data JSON) + pattern_embeddings labelled text-embedding-3-small; one
    pattern without a vector; a fifth of the vectors duplicated; TEXT timestamps; the other
    tables of the file beside them (memory_entries holds text only)."""
    rng = random.Random(3)
    conn = _connect(path)
    conn.execute("""CREATE TABLE patterns (id TEXT PRIMARY KEY, type TEXT NOT NULL, pattern_data TEXT NOT NULL,
      confidence REAL NOT NULL DEFAULT 0.5, usage_count INTEGER NOT NULL DEFAULT 0,
      created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, last_used TEXT)""")
    conn.execute("""CREATE TABLE pattern_embeddings (id TEXT PRIMARY KEY, model TEXT NOT NULL, dims INTEGER NOT NULL,
      vector BLOB NOT NULL, created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
      FOREIGN KEY (id) REFERENCES patterns(id) ON DELETE CASCADE)""")
    conn.execute("CREATE TABLE pattern_links (src_id TEXT, dst_id TEXT, relation TEXT, weight REAL)")
    conn.execute("CREATE TABLE task_trajectories (task_id TEXT PRIMARY KEY, agent_id TEXT, query TEXT, trajectory_json TEXT)")
    conn.execute("CREATE TABLE matts_runs (run_id TEXT PRIMARY KEY, task_id TEXT, mode TEXT)")
    conn.execute("CREATE TABLE consolidation_runs (run_id TEXT PRIMARY KEY, items_processed INTEGER)")
    conn.execute("CREATE TABLE metrics_log (id INTEGER PRIMARY KEY, metric_name TEXT, value REAL)")
    conn.execute("""CREATE TABLE memory_entries (key TEXT, value TEXT, namespace TEXT, created_at INTEGER,
      PRIMARY KEY (key, namespace))""")
    contents = [f"When {sentence(rng, 4)} fails, {sentence(rng, 6)}" for _ in range(count)]
    made = vectors(contents) if vectors else unit_vectors(np.random.default_rng(3), count, 384)
    fixture = Fixture(path, "reasoningbank-memory", {"patterns": count}, model="text-embedding-3-small")
    with conn:
        for i in range(count):
            pid = f"{rng.randrange(16**8):08x}-{i:04d}-4000-8000-{rng.randrange(16**12):012x}"
            data = {"title": f"memory {i}", "description": sentence(rng, 5), "content": contents[i],
                    "domain": rng.choice(["web", "api"]), "agent": "coder", "source": "trajectory",
                    "tags": ["a", "b"]}
            conn.execute("INSERT INTO patterns VALUES (?,?,?,?,?,?,?)",
                         (pid, "reasoning_memory", json.dumps(data), 0.6, i % 4, f"2025-10-{1 + i % 28:02d} 08:15:{i % 60:02d}",
                          None if i % 2 else f"2025-11-0{1 + i % 9} 09:00:00"))
            fixture.texts[pid] = contents[i]
            if i == 7:
                fixture.without_vector.append(pid)
                continue
            vector = made[i - 1] if (i % 5 == 4 and vectors is None) else made[i]
            blob = np.asarray(vector, dtype="<f4").tobytes()
            conn.execute("INSERT INTO pattern_embeddings(id, model, dims, vector) VALUES (?,?,?,?)",
                         (pid, "text-embedding-3-small", 384, blob))
            fixture.stored[pid] = blob
        conn.execute("INSERT INTO pattern_links VALUES ('a', 'b', 'entails', 0.5)")
        conn.execute("INSERT INTO task_trajectories VALUES ('t1', 'coder', 'q', '{}')")
        conn.executemany("INSERT INTO memory_entries VALUES (?,?,?,?)",
                         [(f"note-{i}", json.dumps({"text": sentence(rng, 12)}), "default", 1735689600 + i)
                          for i in range(5)])
    conn.close()
    return fixture


# -- 4. ReasoningBank "pre-trained model" files ----------------------------------------------
def reasoningbank_model(path: Path, count: int = 30) -> Fixture:
    """Integer ids, 128-d float32 vectors not normalised (norms 5.6-7.7), the embedding
    table's own id differs from pattern_id, links beside them."""
    rng = random.Random(4)
    nprng = np.random.default_rng(4)
    conn = _connect(path)
    conn.execute("""CREATE TABLE patterns (id INTEGER PRIMARY KEY AUTOINCREMENT, problem TEXT NOT NULL,
      solution TEXT NOT NULL, rationale TEXT, confidence REAL DEFAULT 0.5,
      success_rate REAL DEFAULT 0.5, domain TEXT NOT NULL, tags TEXT,
      created_at DATETIME DEFAULT CURRENT_TIMESTAMP)""")
    conn.execute("""CREATE TABLE pattern_embeddings (id INTEGER PRIMARY KEY AUTOINCREMENT,
      pattern_id INTEGER NOT NULL REFERENCES patterns(id), embedding BLOB)""")
    conn.execute("""CREATE TABLE pattern_links (id INTEGER PRIMARY KEY AUTOINCREMENT, source_id INTEGER NOT NULL,
      target_id INTEGER NOT NULL, link_type TEXT NOT NULL)""")
    fixture = Fixture(path, "reasoningbank-model", {"patterns": count})
    with conn:
        for i in range(count):
            conn.execute("INSERT INTO patterns(problem, solution, rationale, confidence, success_rate, domain, tags)"
                         " VALUES (?,?,?,?,?,?,?)", (sentence(rng, 6), sentence(rng, 9), None if i % 3 else sentence(rng),
                                                     0.8, round(rng.random(), 2), rng.choice(["coding", "security"]),
                                                     json.dumps(["x", "y"])))
        order = list(range(1, count + 1))
        rng.shuffle(order)  # embedding rows in another order: their ids differ from pattern_id
        for pattern_id in order:
            vector = nprng.standard_normal(128).astype(np.float32)
            vector *= np.float32(rng.uniform(5.6, 7.7) / np.linalg.norm(vector))
            blob = vector.astype("<f4").tobytes()
            conn.execute("INSERT INTO pattern_embeddings(pattern_id, embedding) VALUES (?, ?)", (pattern_id, blob))
            fixture.stored[str(pattern_id)] = blob
        conn.executemany("INSERT INTO pattern_links(source_id, target_id, link_type) VALUES (?,?,?)",
                         [(i, i % count + 1, "similar") for i in range(1, count + 1)])
    conn.close()
    return fixture


def add_model_rows(conn: apsw.Connection, count: int) -> int:
    """`count` more reasoningbank-model patterns, each with a 128-d vector (rows for a -wal)."""
    for i in range(count):
        conn.execute("INSERT INTO patterns(problem, solution, domain) VALUES (?, ?, 'wal')", (f"p{i}", f"s{i}"))
        conn.execute("INSERT INTO pattern_embeddings(pattern_id, embedding) VALUES (?, ?)",
                     (conn.last_insert_rowid(), np.full(128, i + 1, dtype="<f4").tobytes()))
    return count


# -- 5. claude-flow v3 (ruflo) .swarm/memory.db ----------------------------------------------
def claude_flow_v3(path: Path, count: int = 30) -> Fixture:
    """memory_entries with JSON-text embeddings (model 'onnx', 384 values), an empty `patterns`
    and an empty `reasoning_patterns`, vector_indexes claiming 768."""
    rng = random.Random(5)
    conn = _connect(path)
    conn.execute("""CREATE TABLE memory_entries (id TEXT PRIMARY KEY, key TEXT NOT NULL, namespace TEXT DEFAULT 'default',
      content TEXT NOT NULL, type TEXT DEFAULT 'semantic' CHECK(type IN ('semantic','episodic','procedural','working','pattern')),
      embedding TEXT, embedding_model TEXT DEFAULT 'local', embedding_dimensions INTEGER, tags TEXT, metadata TEXT,
      owner_id TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, expires_at INTEGER,
      last_accessed_at INTEGER, access_count INTEGER DEFAULT 0,
      status TEXT DEFAULT 'active' CHECK(status IN ('active','archived','deleted')), UNIQUE(namespace, key))""")
    conn.execute("""CREATE TABLE patterns (id TEXT PRIMARY KEY, name TEXT NOT NULL, pattern_type TEXT NOT NULL
      CHECK(pattern_type IN ('task-routing','error-recovery','optimization','learning','coordination','prediction')),
      condition TEXT NOT NULL, action TEXT NOT NULL, description TEXT, confidence REAL DEFAULT 0.5,
      success_count INTEGER DEFAULT 0, failure_count INTEGER DEFAULT 0, decay_rate REAL DEFAULT 0.01,
      half_life_days INTEGER DEFAULT 30, embedding TEXT, embedding_dimensions INTEGER, version INTEGER DEFAULT 1,
      parent_id TEXT, tags TEXT, metadata TEXT, source TEXT, created_at INTEGER, updated_at INTEGER,
      last_matched_at INTEGER, status TEXT DEFAULT 'active')""")
    conn.execute("""CREATE TABLE reasoning_patterns (id TEXT PRIMARY KEY, task_type TEXT, approach TEXT,
      success_rate REAL, embedding TEXT)""")
    conn.execute("""CREATE TABLE vector_indexes (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, dimensions INTEGER NOT NULL,
      metric TEXT DEFAULT 'cosine', hnsw_m INTEGER DEFAULT 16, hnsw_ef_construction INTEGER DEFAULT 200,
      hnsw_ef_search INTEGER DEFAULT 100, quantization_type TEXT, total_vectors INTEGER DEFAULT 0)""")
    made = unit_vectors(np.random.default_rng(5), count, 384)
    fixture = Fixture(path, "claude-flow-v3", {"memory_entries": count, "patterns": 0}, model="onnx")
    with conn:
        conn.execute("INSERT INTO vector_indexes(id, name, dimensions) VALUES ('i1', 'default', 768)")
        for i in range(count):
            mid = f"entry_{1700000000000 + i}_{rng.randrange(36**6):06d}"
            values = [float(x) for x in made[i]]
            embedding = json.dumps(values) if i % 10 != 9 else None
            conn.execute("INSERT INTO memory_entries(id, key, namespace, content, type, embedding, embedding_model,"
                         " embedding_dimensions, tags, metadata, created_at, updated_at, access_count)"
                         " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         (mid, f"key-{i}", rng.choice(["default", "patterns"]), sentence(rng, 10),
                          rng.choice(["semantic", "episodic"]), embedding, "onnx", 384 if embedding else None,
                          json.dumps(["t"]), json.dumps({"source": "hook"}), 1735689600000 + i, 1735689600000 + i, i))
            if embedding is None:
                fixture.without_vector.append(f"memory:{mid}")
            else:
                fixture.stored[f"memory:{mid}"] = np.asarray(values, dtype="<f4").tobytes()
    conn.close()
    return fixture


# -- 6. AgentDB native agentdb.db ------------------------------------------------------------
def agentdb_native(path: Path, episodes: int = 40, with_vectors: int = 6, *, vectors=None) -> Fixture:
    """episodes (few of them with an embedding), skills, notes, exp_nodes, each with its
    *_embeddings table; agentdb_config naming the model; causal_edges beside them."""
    rng = random.Random(6)
    nprng = np.random.default_rng(6)
    conn = _connect(path)
    conn.execute("""CREATE TABLE episodes (id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL,
      session_id TEXT NOT NULL, task TEXT NOT NULL, input TEXT, output TEXT, critique TEXT,
      reward REAL DEFAULT 0.0, success BOOLEAN DEFAULT 0, latency_ms INTEGER, tokens_used INTEGER,
      tags TEXT, metadata JSON, created_at INTEGER NOT NULL)""")
    conn.execute("""CREATE TABLE episode_embeddings (episode_id INTEGER PRIMARY KEY, embedding BLOB NOT NULL,
      embedding_model TEXT DEFAULT 'all-MiniLM-L6-v2', FOREIGN KEY(episode_id) REFERENCES episodes(id) ON DELETE CASCADE)""")
    conn.execute("""CREATE TABLE skills (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL,
      description TEXT, signature JSON NOT NULL, code TEXT, success_rate REAL, uses INTEGER,
      avg_reward REAL, avg_latency_ms INTEGER, created_from_episode INTEGER, created_at INTEGER,
      updated_at INTEGER, last_used_at INTEGER, metadata JSON)""")
    conn.execute("CREATE TABLE skill_embeddings (skill_id INTEGER PRIMARY KEY, embedding BLOB NOT NULL, embedding_model TEXT)")
    conn.execute("""CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT, text TEXT NOT NULL,
      summary TEXT, note_type TEXT DEFAULT 'general', importance REAL, access_count INTEGER,
      last_accessed_at INTEGER, created_at INTEGER, updated_at INTEGER, metadata JSON)""")
    conn.execute("CREATE TABLE note_embeddings (note_id INTEGER PRIMARY KEY, embedding BLOB NOT NULL, embedding_model TEXT)")
    conn.execute("CREATE TABLE exp_nodes (id INTEGER PRIMARY KEY AUTOINCREMENT, label TEXT, content TEXT, created_at INTEGER)")
    conn.execute("CREATE TABLE exp_node_embeddings (node_id INTEGER PRIMARY KEY, embedding BLOB NOT NULL, embedding_model TEXT)")
    conn.execute("CREATE TABLE causal_edges (id INTEGER PRIMARY KEY, from_id INTEGER, to_id INTEGER, weight REAL)")
    conn.execute("CREATE TABLE agentdb_config (key TEXT PRIMARY KEY, value TEXT)")
    fixture = Fixture(path, "agentdb-native", {"episodes": episodes, "skills": 5, "notes": 4, "exp_nodes": 3},
                      model="all-MiniLM-L6-v2")

    def vec(text: str) -> bytes:
        v = vectors([text])[0] if vectors else unit_vectors(nprng, 1, 384)[0]
        return np.asarray(v, dtype="<f4").tobytes()
    with conn:
        conn.executemany("INSERT INTO agentdb_config VALUES (?,?)",
                         [("backend", "sqlite"), ("dimension", "384"), ("embedding_model", "all-MiniLM-L6-v2")])
        for i in range(1, episodes + 1):
            task = f"fix {sentence(rng, 4)}"
            conn.execute("INSERT INTO episodes(ts, session_id, task, input, output, critique, reward, success, latency_ms,"
                         " tokens_used, tags, metadata, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         (1735689600 + i, f"s{i % 3}", task, sentence(rng, 5), sentence(rng, 5), None, rng.random(),
                          i % 2, 120, 800, json.dumps(["t"]), json.dumps({"k": i}), 1735689600 + i))
            text = f"Task: {task}"
            if i <= with_vectors:
                blob = vec(task)
                conn.execute("INSERT INTO episode_embeddings VALUES (?,?,?)", (i, blob, "all-MiniLM-L6-v2"))
                fixture.stored[f"episode:{i}"] = blob
            else:
                fixture.without_vector.append(f"episode:{i}")
            fixture.texts[f"episode:{i}"] = text
        for i in range(1, 6):
            conn.execute("INSERT INTO skills(name, description, signature, code, success_rate, uses, created_at)"
                         " VALUES (?,?,?,?,?,?,?)", (f"skill_{i}", sentence(rng), json.dumps({"inputs": ["a"]}),
                                                     "return a", 0.9, i, 1735689600))
            blob = vec(f"skill_{i}")
            conn.execute("INSERT INTO skill_embeddings VALUES (?,?,?)", (i, blob, None))  # unlabelled: config says
            fixture.stored[f"skill:{i}"] = blob
        for i in range(1, 5):
            conn.execute("INSERT INTO notes(title, text, note_type, importance, access_count, created_at)"
                         " VALUES (?,?,?,?,?,?)", (f"note {i}", sentence(rng, 12), "insight", 0.5, 0, 1735689600))
            blob = vec(f"note {i}")
            conn.execute("INSERT INTO note_embeddings VALUES (?,?,?)", (i, blob, "all-MiniLM-L6-v2"))
            fixture.stored[f"note:{i}"] = blob
        for i in range(1, 4):
            conn.execute("INSERT INTO exp_nodes(label, content, created_at) VALUES (?,?,?)", (f"n{i}", sentence(rng), 1735689600))
            blob = vec(f"n{i}")
            conn.execute("INSERT INTO exp_node_embeddings VALUES (?,?,?)", (i, blob, "all-MiniLM-L6-v2"))
            fixture.stored[f"experience:{i}"] = blob
        conn.execute("INSERT INTO causal_edges VALUES (1, 1, 2, 0.5)")
    conn.close()
    return fixture


# -- 7. text-only memories ---------------------------------------------------------------
def agentic_qe_v2_memory(path: Path, count: int = 10) -> Fixture:
    """SwarmMemoryManager: patterns (the swarm-memory layout) + memory_entries with a composite key."""
    rng = random.Random(7)
    conn = _connect(path)
    conn.execute("""CREATE TABLE patterns (id TEXT PRIMARY KEY, pattern TEXT NOT NULL UNIQUE, confidence REAL,
      usage_count INTEGER, metadata TEXT, ttl INTEGER, expires_at INTEGER, created_at INTEGER, agent_id TEXT,
      domain TEXT, success_rate REAL)""")
    conn.execute("""CREATE TABLE memory_entries (key TEXT NOT NULL, partition TEXT NOT NULL DEFAULT 'default',
      value TEXT NOT NULL, metadata TEXT, created_at INTEGER NOT NULL, expires_at INTEGER, owner TEXT,
      access_level TEXT, team_id TEXT, swarm_id TEXT, PRIMARY KEY (key, partition))""")
    fixture = Fixture(path, "swarm-memory", {"patterns": count})
    with conn:
        for i in range(count):
            conn.execute("INSERT INTO patterns VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                         (f"p{i}", f"test-generation:variant-{i}", 0.5, 1, "{}", 0, None, 1735689600000 + i, "agent",
                          "qe", 0.9))
        for i in range(count):
            for partition in ("default", "coordination"):  # the same key in two partitions
                conn.execute("INSERT INTO memory_entries(key, partition, value, created_at) VALUES (?,?,?,?)",
                             (f"aqe/task/{i}", partition, json.dumps({"status": "done", "summary": sentence(rng, 9)}),
                              1735689600000 + i))
    conn.close()
    return fixture


def hive_mind(path: Path, count: int = 8) -> Path:
    """.hive-mind/hive.db: collective_memory beside swarms, agents, tasks (no known layout)."""
    rng = random.Random(8)
    conn = _connect(path)
    conn.execute("""CREATE TABLE collective_memory (id TEXT PRIMARY KEY, swarm_id TEXT, key TEXT NOT NULL, value TEXT,
      type TEXT DEFAULT 'knowledge', confidence REAL DEFAULT 1.0, created_by TEXT,
      created_at DATETIME DEFAULT CURRENT_TIMESTAMP, accessed_at DATETIME, access_count INTEGER DEFAULT 0,
      compressed INTEGER DEFAULT 0, size INTEGER DEFAULT 0)""")
    conn.execute("CREATE TABLE swarms (id TEXT PRIMARY KEY, name TEXT, objective TEXT, status TEXT)")
    conn.execute("CREATE TABLE agents (id TEXT PRIMARY KEY, swarm_id TEXT, name TEXT, type TEXT)")
    with conn:
        for i in range(count):
            conn.execute("INSERT INTO collective_memory(id, swarm_id, key, value) VALUES (?,?,?,?)",
                         (f"cm-{i}", "swarm-1", f"k{i}", sentence(rng, 14)))
        conn.execute("INSERT INTO swarms VALUES ('swarm-1', 'hive', 'ship', 'active')")
    conn.close()
    return path


def claude_flow_v2_memory(path: Path, count: int = 12) -> Path:
    """claude-flow v2 .swarm/memory.db: memory_entries(id INTEGER, key, value JSON, namespace, ...)."""
    rng = random.Random(9)
    conn = _connect(path)
    conn.execute("""CREATE TABLE memory_entries (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, value TEXT NOT NULL,
      namespace TEXT NOT NULL DEFAULT 'default', metadata TEXT, created_at INTEGER DEFAULT (strftime('%s', 'now')),
      updated_at INTEGER DEFAULT (strftime('%s', 'now')), accessed_at INTEGER DEFAULT (strftime('%s', 'now')),
      access_count INTEGER DEFAULT 0, ttl INTEGER, expires_at INTEGER, UNIQUE(key, namespace))""")
    with conn:
        for i in range(count):
            conn.execute("INSERT INTO memory_entries(key, value, namespace) VALUES (?,?,?)",
                         (f"swarm/agent/{i}", json.dumps({"content": sentence(rng, 10), "step": i}),
                          rng.choice(["default", "hooks"])))
    conn.close()
    return path


# -- seen across all of them: WAL files ----------------------------------------------------
def with_uncheckpointed_wal(build: Callable[[Path], Fixture], folder: Path, extra_rows: Callable[[apsw.Connection], int]
                            ) -> tuple[Fixture, int]:
    """The fixture as a user commits it: the main file plus a -wal holding rows the main file
    lacks. Returns (fixture at the committed path, rows only the WAL holds)."""
    work = folder / "work"
    fixture = build(work / "memory.db")
    conn = apsw.Connection(str(fixture.path))
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    with conn:
        added = extra_rows(conn)
    committed = folder / "committed"
    committed.mkdir()
    shutil.copyfile(fixture.path, committed / "memory.db")
    shutil.copyfile(str(fixture.path) + "-wal", committed / "memory.db-wal")
    conn.close()
    fixture.path = committed / "memory.db"
    return fixture, added


def committed_wal_model_source(folder: Path, with_wal: bool, wal_rows: int) -> tuple[Fixture, int]:
    """A reasoningbank-model file in WAL mode as committed to a repository (no -shm): with a -wal
    holding `wal_rows` more rows, or checkpointed (a WAL header, no -wal file). Returns (fixture,
    rows only the WAL holds)."""
    if with_wal:
        return with_uncheckpointed_wal(reasoningbank_model, folder, lambda conn: add_model_rows(conn, wal_rows))
    fixture = reasoningbank_model(folder / "committed" / "memory.db")
    conn = apsw.Connection(str(fixture.path))
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()  # the last close checkpoints: a WAL header, no -wal file
    return fixture, 0


def lexical_vectors(texts: list[str]) -> np.ndarray:
    """agentic-qe's "hash fallback": a hash of the text, not a model (vecmigrate's lexical
    hashing stands in for it)."""
    return LexicalEmbedder(384)(texts)
