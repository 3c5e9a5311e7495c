"""What both backends share: the write path (patterns + vec0 in one transaction), payload
lookup, scores, filters, thresholds, MMR re-ranking, metrics and stats."""

from __future__ import annotations

import json
import math
import time
from abc import ABC, abstractmethod
from collections import deque
from typing import Any, Sequence

import apsw
import numpy as np

from ..codec import VectorError, check_vector, invalid_rows
from ..db import atomic, sql
from ..defaults import VEC0_MAX_K
from ..embed.embedders import embed, model_of, query_embedder
from ..errors import UsageError
from ..models import Pattern, SearchHit, StoredPattern, StoreStats
from ..target import changelog
from ..target import database as tgt
from ..target.generations import Generation
from ..target.index_file import IndexSettings
from ..target.lock import TargetLock

FILTER_COLUMNS = ("type", "domain", "framework", "kind")
MMR_POOL = 4  # MMR re-ranks the best k * MMR_POOL candidates
TIE = 1e-6  # distances this close to the nearest are a tie (identical vectors score identically)


def mmr_order(vectors: np.ndarray, query: np.ndarray, k: int, lam: float) -> list[int]:
    """Maximal marginal relevance over candidate `vectors`: the indexes of up to k of them, each
    pick the most similar to the query and least like those picked before. Each candidate's
    likeness to the picked ones is kept as a running maximum (one matrix-vector product a pick):
    O(k * n * d), where a fresh maximum over all picks each time took minutes at k = 2,000."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    relevance = unit @ (query / np.linalg.norm(query))
    penalty = np.zeros(len(unit))  # (nothing picked yet)
    taken = np.zeros(len(unit), dtype=bool)
    chosen: list[int] = []
    while len(chosen) < min(k, len(unit)):
        score = lam * relevance - (1 - lam) * penalty
        score[taken] = -np.inf
        best = int(np.argmax(score))
        chosen.append(best)
        taken[best] = True
        likeness = unit @ unit[best]
        penalty = likeness if len(chosen) == 1 else np.maximum(penalty, likeness)
    return chosen


class StoreBase(ABC):
    backend = "base"
    max_k = VEC0_MAX_K  # search by id looks past at most this many tied copies (sqlite-vec's k limit)

    def __init__(self, conn: apsw.Connection, meta: dict[str, str], where: Generation, *,
                 lock: TargetLock | None = None, metrics: bool = False, origin: str = changelog.STORE) -> None:
        self.conn = conn
        self.origin = origin
        self.meta = meta
        self.where = where
        self.settings: IndexSettings = tgt.settings_of(meta)
        self.notices: list[str] = []
        self._embedder = None
        self._lock = lock
        self._latencies: deque[float] | None = deque(maxlen=1000) if metrics else None

    @property
    def writable(self) -> bool:
        return self._lock is not None

    # -- reads -------------------------------------------------------------------------
    def search(self, vector: Sequence[float], *, k: int = 10, filters: dict[str, str] | None = None,
               threshold: float | None = None, mmr_lambda: float | None = None,
               exact: bool = False) -> list[SearchHit]:
        """The k nearest patterns that pass `filters` (applied before the top-k); `threshold`
        drops weaker hits; `mmr_lambda` in [0, 1] re-ranks for diversity (1 = pure relevance);
        `exact` asks USearch for brute force."""
        started = time.perf_counter()
        self._catch_up()
        if k < 1:
            raise UsageError(f"-k must be a positive integer, got {k}")
        if mmr_lambda is not None and not 0.0 <= mmr_lambda <= 1.0:
            raise UsageError(f"--mmr must be between 0 and 1, got {mmr_lambda}")
        query = self.query_vector(vector)
        filters = check_filters(filters)
        pool = k if mmr_lambda is None else min(k * MMR_POOL, max(k, self.max_k))  # (vec0 takes k up to max_k)
        keys, distances = self._knn(query, pool, filters, exact)
        if mmr_lambda is not None:
            keys, distances = self._mmr(query, keys, distances, k, mmr_lambda)
        hits = self._hits(keys, distances)
        if threshold is not None:
            hits = [h for h in hits if h.score >= threshold]
        if self._latencies is not None:
            self._latencies.append(time.perf_counter() - started)
        return hits

    def search_batch(self, vectors: np.ndarray, *, k: int = 10) -> list[list[SearchHit]]:
        """Many queries at once (the USearch store answers them in one multi-threaded call)."""
        return [self.search(v, k=k) for v in np.asarray(vectors, dtype=np.float32)]

    def search_text(self, text: str, *, embedder: str | None = None, **kwargs: Any) -> list[SearchHit]:
        return self.search(self.embed_text(text, embedder=embedder), **kwargs)

    def search_id(self, pattern_id: str, **kwargs: Any) -> list[SearchHit]:
        """The pattern's nearest neighbours, the pattern itself first: byte-identical copies of
        its vector (common: a third of some agentic-qe files) tie with it, and a tie must not
        put a copy first or cut the pattern itself off at k."""
        vector = self.vector_of(pattern_id)
        if kwargs.get("mmr_lambda") is not None:  # MMR picks one of equal vectors first: make it the pattern
            hits = self.search(vector, **kwargs)
            if hits and hits[0].id != pattern_id:
                own = next((i for i, hit in enumerate(hits) if hit.id == pattern_id), None)
                if own is not None and hits[own].distance <= hits[0].distance + TIE:
                    hits[0], hits[own] = hits[own], hits[0]
                elif own is None:  # (a byte-identical copy scores as the pattern would, in MMR too)
                    hits[:1] = self._as_copy_of(pattern_id, vector, hits[0],
                                                check_filters(kwargs.get("filters"))) or hits[:1]
            return hits
        k = kwargs.pop("k", 10)
        fetch, most = k, max(k, self.max_k)
        while True:
            hits = self.search(vector, k=fetch, **kwargs)
            own = next((i for i, hit in enumerate(hits) if hit.id == pattern_id), None)
            if (own is not None or len(hits) < fetch or hits[-1].distance > hits[0].distance + TIE
                    or fetch >= most):
                break
            fetch = min(most, fetch * 2)  # every hit ties with the first: the pattern is among copies cut off at k
        if own and hits[own].distance <= hits[0].distance + TIE:
            hits.insert(0, hits.pop(own))
        elif own is None and hits:  # past the copies a search can look through (vec0's k limit)
            hits[:0] = self._as_copy_of(pattern_id, vector, hits[0], check_filters(kwargs.get("filters")))
        return hits[:k]

    def _as_copy_of(self, pattern_id: str, vector: np.ndarray, first: SearchHit,
                    filters: dict[str, str]) -> list[SearchHit]:
        """The pattern's own hit, at the distance of `first` when its vector is byte for byte
        `first`'s (so the same distance on any backend) and it passes `filters`; else none."""
        if self._vectors_for([first.key])[0].tobytes() != vector.tobytes():
            return []
        key = self.conn.execute("SELECT key FROM patterns WHERE id = ?", (pattern_id,)).fetchall()[0][0]
        hit = self._hits([key], [first.distance])
        passes = bool(hit) and all(value == ("unknown" if getattr(hit[0], column) is None else getattr(hit[0], column))
                                   for column, value in filters.items())  # (NULL matches 'unknown', as vec0 stores it)
        return hit if passes else []

    @abstractmethod
    def _knn(self, query: np.ndarray, k: int, filters: dict[str, str],
             exact: bool = False) -> tuple[list[int], list[float]]:
        """Keys and distances (vec0 units) of the k nearest vectors that pass `filters`."""

    def _vectors_for(self, keys: list[int]) -> np.ndarray:
        """Exact float32 vectors of `keys` from the vec0 mirror, in order."""
        rows = [self.conn.execute("SELECT embedding FROM patterns_vec WHERE rowid = ?", (k,)).fetchall()[0][0]
                for k in keys]
        return np.frombuffer(b"".join(rows), dtype="<f4").reshape(len(keys), self.settings.dimension)

    def _mmr(self, query: np.ndarray, keys: list[int], distances: list[float], k: int,
             lam: float) -> tuple[list[int], list[float]]:
        """Maximal marginal relevance: greedily pick what is similar to the query and unlike
        what was already picked."""
        if len(keys) <= 1:
            return keys, distances
        chosen = mmr_order(self._vectors_for(keys), query, k, lam)
        return [keys[i] for i in chosen], [distances[i] for i in chosen]

    def count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM patterns").fetchall()[0][0]

    def get(self, pattern_id: str) -> StoredPattern | None:
        return tgt.read_stored(self.conn, pattern_id=pattern_id)

    def vector_of(self, pattern_id: str) -> np.ndarray:
        row = self.conn.execute(sql("vector_for_id"), {"id": pattern_id}).fetchall()
        if not row:
            raise UsageError(f"no pattern with id {pattern_id!r} in {self.where.db}")
        return np.frombuffer(row[0][0], dtype="<f4").copy()

    def embed_text(self, text: str, *, embedder: str | None = None) -> np.ndarray:
        """The query vector of `text`, made by the model of this target's vectors (`embedder`
        names a `module:function` the user trusts, for targets made with one)."""
        if self._embedder is None:
            self._embedder = query_embedder(self.meta, self.settings.dimension, embedder)
            mix = tgt.vectors_by_model(self.conn)
            if len(mix) > 1:
                listed = ", ".join(f"{model} ({count})" for model, count in mix.items())
                self.notices.append(f"this target mixes vectors of several models: {listed}; the query is "
                                    f"embedded with {model_of(self._embedder.spec)}")
            if self.meta.get("model_unverified"):
                self.notices.append(f"{self.meta['model_unverified']}: text search on these vectors is not "
                                    f"meaningful (`vecmigrate verify --model` checks them)")
        vector = embed(self._embedder, [text], self.settings.dimension)[0]
        if not np.any(vector):
            raise UsageError(f"--text {text!r} has nothing the embedder {self._embedder.spec!r} can use")
        return vector

    def query_vector(self, vector: Sequence[float]) -> np.ndarray:
        array = np.asarray(vector, dtype=np.float32).reshape(-1)
        try:
            check_vector(array, self.settings.dimension)
        except VectorError as exc:
            raise UsageError(f"query {exc}") from None
        return array

    def _hits(self, keys: list[int], distances: list[float]) -> list[SearchHit]:
        if not keys:
            return []
        return self._hits_from(self._payloads(keys), keys, distances)

    def _payloads(self, keys: list[int]) -> dict[int, tuple]:
        """The rows behind `keys`, in one statement."""
        return {r[0]: r for r in self.conn.execute(sql("fetch_hits"), (json.dumps(keys),))}

    def _hits_from(self, rows: dict[int, tuple], keys: list[int], distances: list[float]) -> list[SearchHit]:
        cosine = self.settings.metric == "cos"  # (score() inlined: this loop runs for every hit)
        hits = []
        for key, distance in zip(keys, distances):
            row = rows.get(key)
            if row is None:  # a vector without its pattern row: never reported as a hit
                continue
            hits.append(SearchHit(key, row[1], 1.0 - distance if cosine else 1.0 / (1.0 + distance), distance,
                                  row[2], row[3], row[4], row[5] or "", row[6]))
        return hits

    def score(self, distance: float) -> float:
        """Similarity in [0, 1] for cosine (1 - distance); 1 / (1 + distance) for L2."""
        if self.settings.metric == "cos":
            return 1.0 - float(distance)
        return 1.0 / (1.0 + float(distance))

    # -- writes ------------------------------------------------------------------------
    def store(self, pattern: Pattern, vector: Sequence[float]) -> int:
        return self.store_batch([pattern], np.asarray(vector, dtype=np.float32).reshape(1, -1))[0]

    def store_batch(self, patterns: Sequence[Pattern], vectors: np.ndarray) -> list[int]:
        """Insert or update patterns by id: `patterns`, vec0 and the index stay consistent
        (vec0 has no upsert: its row is deleted and inserted again)."""
        self._require_writable()
        patterns = list(patterns)
        vectors = self._checked_vectors(patterns, vectors)
        ids = [p.id for p in patterns]
        if len(set(ids)) != len(ids):
            raise UsageError("store_batch: the same pattern id appears twice in one batch")
        with atomic(self.conn):
            self._catch_up()  # others' writes first: within this transaction nobody else writes
            keys, replaced, _ = tgt.assign_keys(self.conn, ids, tgt.next_key(self.conn))
            tgt.write_patterns(self.conn, keys, patterns, vectors, replaced, self.origin)
            seq = changelog.position(self.conn)
        self._index_put(keys, vectors, replaced)
        self._applied(seq)
        return keys

    def delete(self, pattern_id: str) -> bool:
        self._require_writable()
        with atomic(self.conn):
            self._catch_up()
            row = self.conn.execute("SELECT key FROM patterns WHERE id = ?", (pattern_id,)).fetchall()
            if not row:
                return False
            key = row[0][0]
            tgt.delete_patterns(self.conn, [key], self.origin)
            seq = changelog.position(self.conn)
        self._index_drop([key])
        self._applied(seq)
        return True

    def record_usage(self, pattern_id: str, *, when_ms: int | None = None) -> bool:
        self._require_writable()
        when_ms = int(time.time() * 1000) if when_ms is None else int(when_ms)
        with atomic(self.conn):
            row = self.conn.execute("UPDATE patterns SET usage_count = coalesce(usage_count, 0) + 1, last_used = ?"
                                    " WHERE id = ? RETURNING key", (when_ms, pattern_id)).fetchall()
            if row:
                changelog.append(self.conn, [row[0][0]], [pattern_id], changelog.USAGE, self.origin)
            return bool(row)

    def clear(self) -> None:
        self._require_writable()
        with atomic(self.conn):
            self._catch_up()
            keys = [r[0] for r in self.conn.execute("SELECT key FROM patterns")]
            tgt.delete_patterns(self.conn, keys, self.origin)
            seq = changelog.position(self.conn)
        self._index_drop(keys)
        self._applied(seq)

    def _catch_up(self) -> None:
        """Bring this store's own index up to the change log (others' writes); nothing for vec0."""

    def _applied(self, seq: int) -> None:
        """This store's index now reflects the change log up to `seq` (nothing for vec0)."""

    def optimize(self) -> None:
        """Compact the index (where there is one) and VACUUM the database."""
        self._require_writable()
        self.build_index()
        self.conn.execute("VACUUM")

    def build_index(self) -> None:
        """Nothing to build for an exact store; the USearch store rebuilds its index."""

    def _index_put(self, keys: list[int], vectors: np.ndarray, replaced: list[int]) -> None:
        """Keep the backend's own index in step after a committed write (nothing for vec0)."""

    def _index_drop(self, keys: list[int]) -> None:
        """Remove keys from the backend's own index after a committed delete (nothing for vec0)."""

    def _checked_vectors(self, patterns: list[Pattern], vectors: np.ndarray) -> np.ndarray:
        matrix = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
        if matrix.shape != (len(patterns), self.settings.dimension):
            raise UsageError(f"vectors have shape {matrix.shape}, expected ({len(patterns)}, {self.settings.dimension})")
        bad = invalid_rows(matrix)
        if bad:
            first = min(bad)
            raise UsageError(f"pattern {patterns[first].id!r}: {bad[first]}")
        return matrix

    def _require_writable(self) -> None:
        if not self.writable:
            raise UsageError("this store was opened read-only (open it with writable=True to change it)")

    # -- stats and lifecycle -------------------------------------------------------------
    def stats(self) -> StoreStats:
        latencies = sorted(self._latencies) if self._latencies else []
        return StoreStats(
            backend=self.backend, count=self.count(), dimension=self.settings.dimension, metric=self.settings.metric,
            dtype=self.settings.dtype if self.backend == "usearch" else "f32", memory_bytes=self._memory_bytes(),
            searches=len(latencies),
            qps=round(len(latencies) / sum(latencies), 1) if latencies else None,
            p50_ms=round(_percentile(latencies, 50) * 1000, 4) if latencies else None,
            p99_ms=round(_percentile(latencies, 99) * 1000, 4) if latencies else None)

    def _memory_bytes(self) -> int:
        """SQLite's page cache in use by this connection."""
        return int(apsw.status(apsw.SQLITE_STATUS_MEMORY_USED)[0])

    def close(self) -> None:
        try:
            self.conn.close()
        finally:
            if self._lock is not None:
                self._lock.__exit__(None, None, None)
                self._lock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _percentile(sorted_values: list[float], q: float) -> float:
    return float(np.percentile(sorted_values, q))


def check_filters(filters: dict[str, str] | None) -> dict[str, str]:
    clean = {k: v for k, v in (filters or {}).items() if v is not None}
    unknown = set(clean) - set(FILTER_COLUMNS)
    if unknown:
        raise UsageError(f"unknown filter(s) {', '.join(sorted(unknown))}; use {', '.join(FILTER_COLUMNS)}")
    return clean


def l2_from_l2sq(distances: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(distances, 0))


def oversample(k: int, total: int, matching: int) -> int:
    return min(total, max(k, math.ceil(k * total / max(matching, 1) * 2)))
