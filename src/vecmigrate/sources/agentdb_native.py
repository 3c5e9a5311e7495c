"""agentdb-native: the native AgentDB file (`agentdb.db`, npm agentdb 1.x/2.x): `episodes`, `skills`,
`notes` and `exp_nodes`, each with its own `*_embeddings` table. Every table present migrates
in one run; ids become "{kind}:{id}" (the tables' integer ids overlap).

episodes (kind 'episode'):
  content = "Task: {task}" + "\\nInput: {input}" + "\\nOutput: {output}" + "\\nCritique: {critique}" (those present)
  type = NULL      domain = session_id      verdict = success (success = 1) / failure
  created_at = created_at, else ts (unix seconds) in ms
  metadata = source metadata + task, input, output, critique, sessionId, reward, success, latencyMs, tokensUsed, tags, ts
skills (kind 'skill'):
  content = "Skill: {name}\\nDescription: {description}\\nSignature: {signature}"
  usage_count = uses     flakiness / verdict from success_rate     created_at / last_used = created_at / last_used_at
  metadata = source metadata + name, description, signature (parsed), code, successRate, avgReward,
             avgLatencyMs, createdFromEpisode, updatedAt
notes (kind 'note'):
  content = text      type = note_type     usage_count = access_count
  created_at / last_used = created_at / last_accessed_at     metadata = source metadata + title, summary, importance, updatedAt
exp_nodes (kind 'experience'):
  content = the first of content | text | description | summary | name | label | title, else the row as JSON
  metadata = every column under sourceColumns
embedding = `<kind>_embeddings.embedding` (float32 BLOB); its `embedding_model` label is recorded,
else `agentdb_config.embedding_model`. Every other column is kept under sourceColumns.
"""

from __future__ import annotations

import json

from ..models import Pattern, jsonable
from . import reverse as r
from . import transform as t
from .base import EmbeddingTable, Variant


def _extra(v: dict, consumed: set[str], extra: dict) -> dict:
    leftovers = t.leftover_columns(v, consumed | {"__embedding", "__embedding_model"})
    if leftovers:
        extra["sourceColumns"] = leftovers
    return t.merge_metadata(t.parse_metadata(v), extra)


def episode(v: dict) -> Pattern:
    task = t.required_text(v, "task")
    parts = [f"Task: {task}"] + [f"{label}: {v[c]}" for c, label in
                                 (("input", "Input"), ("output", "Output"), ("critique", "Critique"))
                                 if isinstance(v.get(c), str) and v[c].strip()]
    success = v.get("success")
    extra = {"task": task, "input": v.get("input"), "output": v.get("output"), "critique": v.get("critique"),
             "sessionId": v.get("session_id"), "reward": t.optional_float(v, "reward"),
             "success": success, "latencyMs": v.get("latency_ms"), "tokensUsed": v.get("tokens_used"),
             "tags": t.parse_json(v, "tags", default=None), "ts": v.get("ts")}
    consumed = {"id", "ts", "session_id", "task", "input", "output", "critique", "reward", "success", "latency_ms",
                "tokens_used", "tags", "metadata", "created_at"}
    created = v.get("created_at") if v.get("created_at") is not None else v.get("ts")
    return Pattern(id=t.required_text(v, "id"), content="\n".join(parts), domain=t.optional_text(v, "session_id"),
                   verdict=None if success is None else ("success" if success in (1, True, "1", "true") else "failure"),
                   created_at=t.to_epoch_ms(created, "created_at"), metadata=_extra(v, consumed, extra))


def skill(v: dict) -> Pattern:
    name = t.required_text(v, "name")
    description = t.optional_text(v, "description")
    signature = t.parse_json(v, "signature", default=None)
    success_rate = t.optional_float(v, "success_rate")
    content = f"Skill: {name}\nDescription: {description or 'N/A'}\nSignature: {v.get('signature') or ''}"
    extra = {"name": name, "description": description, "signature": signature, "code": v.get("code"),
             "successRate": success_rate, "avgReward": t.optional_float(v, "avg_reward"),
             "avgLatencyMs": v.get("avg_latency_ms"), "createdFromEpisode": v.get("created_from_episode"),
             "updatedAt": t.to_epoch_ms(v.get("updated_at"), "updated_at")}
    consumed = {"id", "name", "description", "signature", "code", "success_rate", "uses", "avg_reward",
                "avg_latency_ms", "created_from_episode", "created_at", "updated_at", "last_used_at", "metadata"}
    return Pattern(id=t.required_text(v, "id"), content=content,
                   flakiness_score=t.flakiness_for(success_rate), verdict=t.verdict_for(success_rate),
                   created_at=t.to_epoch_ms(v.get("created_at"), "created_at"),
                   last_used=t.to_epoch_ms(v.get("last_used_at"), "last_used_at"),
                   usage_count=t.optional_int(v, "uses"), metadata=_extra(v, consumed, extra))


def note(v: dict) -> Pattern:
    text = t.required_text(v, "text")
    title = t.optional_text(v, "title")
    extra = {"title": title, "summary": v.get("summary"), "importance": t.optional_float(v, "importance"),
             "updatedAt": t.to_epoch_ms(v.get("updated_at"), "updated_at")}
    consumed = {"id", "title", "text", "summary", "note_type", "importance", "access_count", "last_accessed_at",
                "created_at", "updated_at", "metadata"}
    return Pattern(id=t.required_text(v, "id"), content=text,
                   type=t.optional_text(v, "note_type"), created_at=t.to_epoch_ms(v.get("created_at"), "created_at"),
                   last_used=t.to_epoch_ms(v.get("last_accessed_at"), "last_accessed_at"),
                   usage_count=t.optional_int(v, "access_count"), metadata=_extra(v, consumed, extra))


TEXT_COLUMNS = ("content", "text", "description", "summary", "name", "label", "title")


def experience(v: dict) -> Pattern:
    content = next((v[c] for c in TEXT_COLUMNS if isinstance(v.get(c), str) and v[c].strip()), None)
    if content is None:
        content = json.dumps({k: jsonable(x) for k, x in v.items() if not k.startswith("__")}, ensure_ascii=False,
                             sort_keys=True)
    return Pattern(id=t.required_text(v, "id"), content=content,
                   created_at=t.to_epoch_ms(v.get("created_at"), "created_at"),
                   metadata=_extra(v, {"id", "metadata"}, {}))


def _metadata(p: Pattern, added: set[str]) -> str | None:
    return r.metadata_text(p, added)


def episode_to_row(p: Pattern) -> dict:
    """The reverse of episodes: the task from metadata, else the content; session_id is the domain."""
    md = p.metadata
    success = md.get("success")
    if success is None and p.verdict is not None:
        success = 1 if p.verdict == "success" else 0
    created = r.timestamp(p.created_at if p.created_at is not None else r.now_ms(), "ms")
    return {**r.leftovers(p), "id": r.integer_id(p, PARTS[0]), "ts": md.get("ts") if md.get("ts") is not None else created,
            "session_id": p.domain or md.get("sessionId") or "", "task": md.get("task") or p.content,
            "input": md.get("input"), "output": md.get("output"), "critique": md.get("critique"),
            "reward": md.get("reward"), "success": success, "latency_ms": md.get("latencyMs"),
            "tokens_used": md.get("tokensUsed"), "tags": r.json_text(md.get("tags")),
            "metadata": _metadata(p, EPISODE_ADDED), "created_at": created}


def skill_to_row(p: Pattern) -> dict:
    """The reverse of skills: the name from metadata, else the content."""
    md = p.metadata
    signature = md.get("signature")
    return {**r.leftovers(p), "id": r.integer_id(p, PARTS[1]), "name": md.get("name") or p.content,
            "description": md.get("description"), "signature": r.json_text(signature if signature is not None else {}),
            "code": md.get("code"), "success_rate": md.get("successRate"), "uses": p.usage_count,
            "avg_reward": md.get("avgReward"), "avg_latency_ms": md.get("avgLatencyMs"),
            "created_from_episode": md.get("createdFromEpisode"), "created_at": r.timestamp(p.created_at, "ms"),
            "updated_at": r.timestamp(md.get("updatedAt"), "ms"), "last_used_at": r.timestamp(p.last_used, "ms"),
            "metadata": _metadata(p, SKILL_ADDED)}


def note_to_row(p: Pattern) -> dict:
    """The reverse of notes: the text is the content."""
    md = p.metadata
    return {**r.leftovers(p), "id": r.integer_id(p, PARTS[2]), "title": md.get("title"), "text": p.content,
            "summary": md.get("summary"), "note_type": p.type, "importance": md.get("importance"),
            "access_count": p.usage_count, "last_accessed_at": r.timestamp(p.last_used, "ms"),
            "created_at": r.timestamp(p.created_at, "ms"), "updated_at": r.timestamp(md.get("updatedAt"), "ms"),
            "metadata": _metadata(p, NOTE_ADDED)}


def experience_to_row(p: Pattern) -> dict:
    """The reverse of exp_nodes: its own columns come back from metadata.sourceColumns."""
    return {**r.leftovers(p), "id": r.integer_id(p, PARTS[3]), "content": p.content,
            "created_at": r.timestamp(p.created_at, "ms"), "metadata": _metadata(p, set())}


EPISODE_ADDED = {"task", "input", "output", "critique", "sessionId", "reward", "success", "latencyMs", "tokensUsed",
                 "tags", "ts"}
SKILL_ADDED = {"name", "description", "signature", "code", "successRate", "avgReward", "avgLatencyMs",
               "createdFromEpisode", "updatedAt"}
NOTE_ADDED = {"title", "summary", "importance", "updatedAt"}


def _variant(table: str, kind: str, side: str, key: str, telling: set[str], map_row, to_row, ddl: str) -> Variant:
    return Variant(name="agentdb-native", table=table, kind=kind, id_prefix=f"{kind}:",
                   telling_columns=frozenset(telling), map_row=map_row, to_row=to_row,
                   ddl=(ddl, f"CREATE TABLE {side} ({key} INTEGER PRIMARY KEY, embedding BLOB NOT NULL,"
                             f" embedding_model TEXT DEFAULT 'all-MiniLM-L6-v2')"), embedding_column="__embedding",
                   model_column="__embedding_model", embedding_table=EmbeddingTable(side, key),
                   history_tables=HISTORY, description=__doc__.strip().splitlines()[0])


HISTORY = ("causal_*", "learning_*", "recall_certificates", "agentdb_config", "exp_edges")
PARTS = (
    _variant("episodes", "episode", "episode_embeddings", "episode_id", {"id", "session_id", "task", "reward"}, episode,
             episode_to_row, "CREATE TABLE episodes (id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL,"
             " session_id TEXT NOT NULL, task TEXT NOT NULL, input TEXT, output TEXT, critique TEXT,"
             " reward REAL DEFAULT 0.0, success BOOLEAN DEFAULT 0, latency_ms INTEGER, tokens_used INTEGER,"
             " tags TEXT, metadata JSON, created_at INTEGER NOT NULL)"),
    _variant("skills", "skill", "skill_embeddings", "skill_id", {"id", "name", "signature"}, skill, skill_to_row,
             "CREATE TABLE skills (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL, description TEXT,"
             " signature JSON NOT NULL, code TEXT, success_rate REAL, uses INTEGER, avg_reward REAL,"
             " avg_latency_ms INTEGER, created_from_episode INTEGER, created_at INTEGER, updated_at INTEGER,"
             " last_used_at INTEGER, metadata JSON)"),
    _variant("notes", "note", "note_embeddings", "note_id", {"id", "text"}, note, note_to_row,
             "CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT, text TEXT NOT NULL, summary TEXT,"
             " note_type TEXT DEFAULT 'general', importance REAL, access_count INTEGER, last_accessed_at INTEGER,"
             " created_at INTEGER, updated_at INTEGER, metadata JSON)"),
    _variant("exp_nodes", "experience", "exp_node_embeddings", "node_id", {"id"}, experience, experience_to_row,
             "CREATE TABLE exp_nodes (id INTEGER PRIMARY KEY AUTOINCREMENT, label TEXT, content TEXT, created_at INTEGER,"
             " metadata JSON)"),
)
