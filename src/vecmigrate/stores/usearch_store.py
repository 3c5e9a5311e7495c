"""HNSW search through USearch; payloads read from SQLite by key in one statement.

USearch has no filtered search from Python, so a filtered query either scores the matching
keys exactly (few matches) or over-fetches from HNSW until k matching hits are found: in both
cases k results come back whenever k matching rows exist.
"""

from __future__ import annotations

import numpy as np
from usearch.index import Index

from ..db import atomic
from ..errors import TargetError, UsageError
from ..target import changelog
from ..target.database import catch_up, save_checked_index
from ..target.index_file import rebuild_from_mirror, remove_keys
from .base import FILTER_COLUMNS, StoreBase, l2_from_l2sq, oversample

EXACT_SUBSET = 4096  # at most this many matching keys: score them exactly
# At most this many vectors: search the whole index exactly. HNSW built on many threads can leave
# a node no other node links to (seen at 40 vectors, 8 threads: about 1 query in 100 missed its
# own row); at this size brute force costs what the graph does (~0.06 ms at 1,000 x 384, ~0.1 at
# 2,048, one thread) and misses nothing.
EXACT_INDEX = 2048


class USearchStore(StoreBase):
    backend = "usearch"

    def __init__(self, conn, meta, where, index: Index, seq: int = 0, **kwargs) -> None:
        super().__init__(conn, meta, where, **kwargs)
        self.index = index
        self.seq = seq  # the change-log position the in-memory index reflects
        self._dirty = False  # the in-memory index holds writes the file does not
        self.keep_index_file = False  # the file may hold vectors vec0 lost: never overwrite it (repair first)

    def search_id(self, pattern_id: str, **kwargs):
        """A pattern's own vector must come back first; when HNSW misses it (a node that the
        graph reaches poorly), the approximate answer is known to be wrong for this query,
        so it is answered again by USearch's exact search."""
        hits = super().search_id(pattern_id, **kwargs)
        filtered = any(v is not None for v in (kwargs.get("filters") or {}).values())  # (None: no filter)
        if not filtered and kwargs.get("threshold") is None and (not hits or hits[0].id != pattern_id):
            hits = super().search_id(pattern_id, exact=True, **kwargs)
        return hits

    def _knn(self, query: np.ndarray, k: int, filters: dict[str, str],
             exact: bool = False) -> tuple[list[int], list[float]]:
        total = len(self.index)
        if total == 0:
            return [], []
        if not filters:
            # one query: threads=1 (the default, all cores, pays a thread hand-off worth ~3x the search)
            wanted, exact = min(k, total), exact or total <= EXACT_INDEX
            matches = self.index.search(query, wanted, exact=exact, threads=1)
            if len(matches.keys) < wanted and not exact:  # the graph reached fewer vectors than asked for
                matches = self.index.search(query, wanted, exact=True, threads=1)  # (many identical vectors)
            return self._out(matches.keys, matches.distances)
        allowed = self._matching_keys(filters)
        if not allowed.size:
            return [], []
        if allowed.size <= EXACT_SUBSET:
            return self._exact_subset(query, allowed, k)
        allowed_set = set(allowed.tolist())
        fetch = oversample(k, total, allowed.size)
        while True:
            matches = self.index.search(query, fetch, threads=1)
            keep = [i for i, key in enumerate(matches.keys.tolist()) if key in allowed_set]
            if len(keep) >= k or fetch >= total:
                keep = keep[:k]
                return self._out(matches.keys[keep], matches.distances[keep])
            fetch = min(total, fetch * 4)

    def _matching_keys(self, filters: dict[str, str]) -> np.ndarray:
        # The same values vec0 stores: a NULL column matches the placeholder 'unknown'. Plain
        # comparisons (no coalesce) so that SQLite uses the patterns_by_* indexes.
        clauses = " AND ".join(f"({c} = :{c} OR ({c} IS NULL AND :{c} = 'unknown'))"
                               for c in FILTER_COLUMNS if c in filters)
        rows = self.conn.execute(f"SELECT key FROM patterns WHERE {clauses}", filters).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.uint64, count=len(rows))

    def _exact_subset(self, query: np.ndarray, keys: np.ndarray, k: int) -> tuple[list[int], list[float]]:
        vectors = self.index.get(keys, dtype=np.float32)
        present = [i for i, v in enumerate(vectors) if v is not None] if isinstance(vectors, tuple) else None
        if present is not None:
            keys = keys[present]
            vectors = np.stack([vectors[i] for i in present]) if present else np.zeros((0, query.size))
        vectors = np.asarray(vectors, dtype=np.float32)
        if self.settings.metric == "cos":
            norms = np.linalg.norm(vectors, axis=1) * np.linalg.norm(query)
            distances = 1.0 - (vectors @ query) / np.where(norms == 0, 1, norms)
        else:
            distances = ((vectors - query) ** 2).sum(axis=1)
        order = np.argsort(distances, kind="stable")[:k]
        return self._out(keys[order], distances[order])

    def _out(self, keys: np.ndarray, distances: np.ndarray) -> tuple[list[int], list[float]]:
        if self.settings.metric == "l2sq":  # report vec0's L2 so both backends speak the same units
            distances = l2_from_l2sq(np.asarray(distances, dtype=np.float64))
        return keys.tolist(), distances.tolist()

    def search_batch(self, vectors: np.ndarray, *, k: int = 10) -> list[list]:
        """One USearch call on all cores for every query, one SQL statement for all payloads."""
        self._catch_up()
        queries = np.asarray(vectors, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.settings.dimension:
            raise UsageError(f"queries have shape {queries.shape}, expected (n, {self.settings.dimension})")
        total = len(self.index)
        if total == 0 or len(queries) == 0:
            return [[] for _ in queries]
        matches = self.index.search(queries, min(k, total), exact=total <= EXACT_INDEX, threads=0)
        with np.errstate(invalid="ignore"):  # (the slots past a query's count hold no key: never read)
            keys, distances = np.asarray(matches.keys), np.asarray(matches.distances, dtype=np.float64)
        counts = getattr(matches, "counts", None)
        if counts is None:  # one query: USearch answers with a single result, not a batch
            keys, distances, counts = keys.reshape(1, -1), distances.reshape(1, -1), [int(getattr(matches, "count",
                                                                                                    keys.size))]
        if self.settings.metric == "l2sq":
            distances = l2_from_l2sq(distances)
        payloads = self._payloads(sorted({int(x) for row, n in zip(keys, counts) for x in row[:n]}))
        return [self._hits_from(payloads, [int(x) for x in row[:n]], dist[:n].tolist())
                for row, dist, n in zip(keys, distances, counts)]

    # -- keeping the index in step with committed writes ----------------------------------
    def _vectors_for(self, keys: list[int]) -> np.ndarray:
        if self.settings.dtype != "f32":  # lossy scalars: read the exact vectors from vec0
            return super()._vectors_for(keys)
        return np.asarray(self.index.get(np.asarray(keys, dtype=np.uint64), dtype=np.float32), dtype=np.float32)

    def _index_put(self, keys: list[int], vectors: np.ndarray, replaced: list[int]) -> None:
        remove_keys(self.index, replaced)
        self.index.add(np.asarray(keys, dtype=np.uint64), vectors, threads=0)
        self._dirty = True

    def _index_drop(self, keys: list[int]) -> None:
        remove_keys(self.index, keys)
        self._dirty = True

    def _catch_up(self) -> None:
        """Replay the changes other stores and processes logged since this index last looked
        (one indexed lookup when there are none)."""
        seq = catch_up(self.conn, self.index, self.seq, self.settings.dimension)
        if seq != self.seq:
            self.seq = seq
            self._dirty = True

    def _applied(self, seq: int) -> None:
        self.seq = seq

    def build_index(self) -> None:
        """Rebuild from the vec0 mirror (which also compacts removed slots) and save."""
        self._require_writable()
        if self.keep_index_file:
            raise TargetError("the index file may hold the only copy of vectors the vec0 mirror lost: run "
                              "`vecmigrate repair` before rebuilding it")
        with atomic(self.conn):
            self.index = rebuild_from_mirror(self.conn, self.settings)
            self.seq = changelog.position(self.conn)
        self.flush(force=True)

    def flush(self, *, force: bool = False) -> None:
        """Save the index crash-safely with the change-log position it holds (first catching up
        with other writers, inside the transaction that records it)."""
        if self.writable and (self._dirty or force) and not self.keep_index_file:
            with atomic(self.conn):
                self._catch_up()
                save_checked_index(self.conn, self.index, self.where, self.seq)
            self._dirty = False

    def _memory_bytes(self) -> int:
        return int(self.index.memory_usage) + super()._memory_bytes()

    def close(self) -> None:
        try:
            if self.conn is not None and self.writable:
                self.flush()
        finally:
            super().close()
