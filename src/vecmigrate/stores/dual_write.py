"""DualWriteStore: the zero-downtime path. Writes go to both stores; reads come from the
primary and fall back to the secondary; every secondary failure is journaled durably (in the
primary's database) for `reconcile`; shadow reads compare the two on a sample of searches."""

from __future__ import annotations

import json
import random
import time
from dataclasses import replace
from typing import Any, Callable, Sequence

import numpy as np

from ..db import atomic
from ..models import Pattern, SearchHit, StoredPattern, StoreStats
from .base import StoreBase


def now_ms() -> int:
    return int(time.time() * 1000)


class DualWriteStore:
    def __init__(self, primary: StoreBase, secondary: StoreBase, *, shadow_rate: float = 0.0,
                 shadow_min_recall: float = 0.8, seed: int | None = None) -> None:
        self.primary = primary
        self.secondary = secondary
        self.backend = f"dual({primary.backend}+{secondary.backend})"
        self.shadow_rate = shadow_rate
        self.shadow_min_recall = shadow_min_recall
        self._random = random.Random(seed)
        self.fallbacks = 0
        self.shadow_checks = 0
        self.notices: list[str] = []

    # -- writes: the primary must succeed, the secondary may fail (journaled) -------------
    def store(self, pattern: Pattern, vector: Sequence[float]) -> int:
        return self.store_batch([pattern], np.asarray(vector, dtype=np.float32).reshape(1, -1))[0]

    def store_batch(self, patterns: Sequence[Pattern], vectors: np.ndarray) -> list[int]:
        patterns = list(patterns)
        extra: dict[str, Any] = {}
        if getattr(self.secondary, "backend", "").startswith("legacy:"):
            # the legacy schema needs a creation time: both sides get the same one; and the legacy
            # file gets only what each write changes (its application's own edits stay)
            stamp = now_ms()
            patterns = [p if p.created_at is not None else replace(p, created_at=stamp) for p in patterns]
            extra["previous"] = [self.primary.get(p.id) for p in patterns]
        keys = self.primary.store_batch(patterns, vectors)
        self._mirror("store", [p.id for p in patterns], lambda: self.secondary.store_batch(patterns, vectors, **extra))
        return keys

    def delete(self, pattern_id: str) -> bool:
        found = self.primary.delete(pattern_id)
        self._mirror("delete", [pattern_id], lambda: self.secondary.delete(pattern_id))
        return found

    def record_usage(self, pattern_id: str, *, when_ms: int | None = None) -> bool:
        when_ms = now_ms() if when_ms is None else when_ms
        found = self.primary.record_usage(pattern_id, when_ms=when_ms)
        self._mirror("usage", [pattern_id], lambda: self.secondary.record_usage(pattern_id, when_ms=when_ms))
        return found

    def clear(self) -> None:
        self.primary.clear()
        self._mirror("clear", [None], self.secondary.clear)

    def _mirror(self, operation: str, ids: list[str | None], write: Callable[[], Any]) -> None:
        try:
            write()
        except Exception as exc:  # any failure of the secondary is recorded, never raised or forgotten
            error = f"{type(exc).__name__}: {exc}"
            with atomic(self.primary.conn):
                self.primary.conn.executemany(
                    "INSERT INTO dual_write_journal(operation, pattern_id, error, at) VALUES (?, ?, ?, ?)",
                    [(operation, pattern_id, error, now_ms()) for pattern_id in ids])

    # -- reads: primary first, secondary on error; shadow comparisons on a sample ----------
    def search(self, vector: Sequence[float], **kwargs: Any) -> list[SearchHit]:
        try:
            hits = self.primary.search(vector, **kwargs)
        except Exception as exc:
            self.fallbacks += 1
            self.notices.append(f"primary search failed ({type(exc).__name__}: {exc}); answered by the secondary")
            return self.secondary.search(vector, **kwargs)
        if self.shadow_rate and self._random.random() < self.shadow_rate:
            self._shadow(vector, hits, kwargs)
        return hits

    def _shadow(self, vector: Sequence[float], hits: list[SearchHit], kwargs: dict[str, Any]) -> None:
        try:
            other = self.secondary.search(vector, **kwargs)
        except Exception:
            return  # a failing secondary read is the secondary's problem, not a disagreement
        self.shadow_checks += 1
        mine, theirs = [h.id for h in hits], [h.id for h in other]
        recall = len(set(mine) & set(theirs)) / max(len(theirs), 1) if theirs else 1.0
        if recall < self.shadow_min_recall:
            with atomic(self.primary.conn):
                self.primary.conn.execute(
                    "INSERT INTO shadow_disagreements(at, k, recall, primary_ids, secondary_ids) VALUES (?, ?, ?, ?, ?)",
                    (now_ms(), kwargs.get("k", 10), recall, json.dumps(mine), json.dumps(theirs)))

    def search_text(self, text: str, *, embedder: str | None = None, **kwargs: Any) -> list[SearchHit]:
        return self.search(self.primary.embed_text(text, embedder=embedder), **kwargs)

    def get(self, pattern_id: str) -> StoredPattern | None:
        try:
            return self.primary.get(pattern_id)
        except Exception:
            self.fallbacks += 1
            return self.secondary.get(pattern_id)

    # -- maintenance ---------------------------------------------------------------------
    def build_index(self) -> None:
        self.primary.build_index()
        self._mirror("build_index", [None], self.secondary.build_index)

    def optimize(self) -> None:
        self.primary.optimize()
        self._mirror("optimize", [None], self.secondary.optimize)

    def journal(self, *, unresolved_only: bool = True) -> list[dict[str, Any]]:
        where = " WHERE resolved_at IS NULL" if unresolved_only else ""
        cursor = self.primary.conn.execute(f"SELECT jid, operation, pattern_id, error, at FROM dual_write_journal{where}"
                                           " ORDER BY jid")
        return [dict(zip(("jid", "operation", "pattern_id", "error", "at"), row)) for row in cursor]

    def stats(self) -> StoreStats:
        base = self.primary.stats()
        failures = self.primary.conn.execute(
            "SELECT count(*) FROM dual_write_journal WHERE resolved_at IS NULL").fetchall()[0][0]
        disagreements = self.primary.conn.execute("SELECT count(*) FROM shadow_disagreements").fetchall()[0][0]
        return StoreStats(**{**base.to_dict(), "backend": self.backend, "extra": {
            "secondary_failures": failures, "fallbacks": self.fallbacks, "shadow_checks": self.shadow_checks,
            "shadow_disagreements": disagreements, "secondary_count": _safe_count(self.secondary)}})

    def close(self) -> None:
        try:
            self.primary.close()
        finally:
            self.secondary.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _safe_count(store: StoreBase) -> int | None:
    try:
        return store.count()
    except Exception:
        return None
