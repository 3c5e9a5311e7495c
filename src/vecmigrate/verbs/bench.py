"""`bench`: how the backends compare on one target, measured in one run on the same queries.

Rows: the AgentDB-style baseline (vectors as BLOBs in a plain table, every row read and
scored in numpy per query, as the original system searched), sqlite-vec's exact vec0 KNN,
numpy brute force over a matrix already in memory (the exact in-RAM reference), the USearch
index through vecmigrate's store API, and raw `usearch.Index.search` on the same index (the
difference is vecmigrate's own overhead). Ground truth is computed once by brute force.
Queries are stored vectors moved by a perturbation of norm 0.1 (a near-duplicate pattern).

Figures: p50/p99 single-query latency (p99 only from MIN_P99_QUERIES queries or more: fewer say
nothing about a 1-in-100 query), batch QPS (every query in one call), recall@k, and the speed-up
of each backend's p50 over the baseline's.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import apsw
import numpy as np

from ..defaults import VEC0_MAX_K
from ..errors import UsageError
from ..stores import open_store
from ..stores.usearch_store import EXACT_INDEX

MIN_P99_QUERIES = 100  # a p99 from fewer queries is their maximum, not a percentile


@dataclass(frozen=True)
class BenchRow:
    backend: str
    p50_ms: float
    p99_ms: float | None      # None: fewer than MIN_P99_QUERIES queries
    qps: float                # batch throughput (queries per second)
    recall_at_k: float
    queries: int
    note: str = ""
    speedup: float | None = None  # the baseline's p50 over this backend's (None without a baseline)


@dataclass(frozen=True)
class BenchReport:
    target: str
    count: int
    dimension: int
    k: int
    rows: list[BenchRow]

    def to_dict(self) -> dict:
        return {**asdict(self), "summary": self.summary()}

    def markdown(self) -> str:
        lines = ["| backend | p50 ms | p99 ms | batch QPS | recall@k | queries | note |",
                 "|---|---|---|---|---|---|---|"]
        lines += [f"| {r.backend} | {r.p50_ms:.4f} | {_ms(r.p99_ms)} | {r.qps:,.0f} | {r.recall_at_k:.4f} | "
                  f"{r.queries} | {r.note} |" for r in self.rows]
        return "\n".join(lines)

    def summary(self) -> str:
        """One line: how vecmigrate's USearch store compares with the baseline and the exact search."""
        store = next((r for r in self.rows if r.backend.startswith("vecmigrate usearch store")), None)
        if store is None:
            return ""
        line = (f"{self.count} patterns, k={self.k}: the USearch store answers in {store.p50_ms:.3f} ms (p50) "
                f"at recall@{self.k} {store.recall_at_k:.3f}")
        baseline = next((r for r in self.rows if r.backend == BASELINE), None)
        if baseline is not None:
            line += f", {_times(baseline.p50_ms, store.p50_ms)} the AgentDB-style baseline ({baseline.p50_ms:.3f} ms)"
        exact = next((r for r in self.rows if r.backend == EXACT), None)
        if exact is not None:
            line += f" and {_times(exact.p50_ms, store.p50_ms)} sqlite-vec's exact search ({exact.p50_ms:.3f} ms)"
        return line


def _times(theirs: float, ours: float) -> str:
    """'12x faster than' / '1.3x slower than' / 'as fast as' (p50s within 5 %)."""
    if ours <= 0 or theirs <= 0 or abs(theirs / ours - 1) < 0.05:
        return "about as fast as"
    return f"{theirs / ours:,.1f}x faster than" if theirs > ours else f"{ours / theirs:,.1f}x slower than"


BASELINE = "AgentDB-style baseline"
EXACT = "sqlite-vec vec0 (exact)"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def with_speedups(rows: list[BenchRow]) -> list[BenchRow]:
    """Each row with the baseline's p50 over its own (the baseline is 1x)."""
    baseline = next((r for r in rows if r.backend == BASELINE), None)
    if baseline is None:
        return rows
    return [replace(r, speedup=round(baseline.p50_ms / r.p50_ms, 1) if r.p50_ms > 0 else None) for r in rows]


def near_duplicate_queries(matrix: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(matrix), min(count, len(matrix)), replace=False)
    noise = rng.standard_normal((len(picks), matrix.shape[1])) * (0.1 / np.sqrt(matrix.shape[1]))
    return (matrix[picks] + noise).astype(np.float32)


def exact_top_k(unit_matrix: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    scores = unit_matrix @ (query / np.linalg.norm(query))
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top])]


def timed(search: Callable[[np.ndarray], list[int]], queries: np.ndarray) -> tuple[list[float], list[list[int]]]:
    latencies, results = [], []
    for query in queries:
        started = time.perf_counter()
        results.append(search(query))
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies, results


def timed_round_robin(searches: dict[str, Callable[[np.ndarray], list[int]]], queries: np.ndarray
                      ) -> dict[str, tuple[list[float], list[list[int]], list[int]]]:
    """Time several searches fairly: query i goes to method i mod m, so every method answers
    fresh queries (none is warmed by another's run of the same query) under the same cache
    and CPU conditions. Returns latencies, results and the query positions per method."""
    names = list(searches)
    for name in names:  # one warm-up call each (first-call costs are not search costs)
        searches[name](queries[0])
    out = {name: ([], [], []) for name in names}
    for i, query in enumerate(queries):
        name = names[i % len(names)]
        started = time.perf_counter()
        result = searches[name](query)
        out[name][0].append((time.perf_counter() - started) * 1000)
        out[name][1].append(result)
        out[name][2].append(i)
    return out


class Truth:
    """Exact answers, tie-aware: a returned key counts as a true neighbour when it is at least
    as similar to the query as the k-th true neighbour (real embeddings hold exact duplicates,
    and which of several equal vectors an exact method returns is arbitrary)."""

    def __init__(self, keys: np.ndarray, unit: np.ndarray, queries: np.ndarray, k: int) -> None:
        self.keys, self.unit, self.k = keys, unit, k
        self.queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        self.kth = []
        for q in self.queries:
            scores = unit @ q
            self.kth.append(float(np.partition(-scores, k - 1)[k - 1]) * -1)

    def hits(self, position: int, result: list[int]) -> int:
        rows = np.searchsorted(self.keys, np.asarray(result, dtype=np.int64))
        similarity = self.unit[rows] @ self.queries[position]
        return int(np.sum(similarity >= self.kth[position] - 1e-6))


def row(name: str, latencies: list[float], results: list[list[int]], positions: list[int], truth: Truth, k: int,
        qps: float | None = None, note: str = "") -> BenchRow:
    recall = float(np.mean([truth.hits(p, r) / k for r, p in zip(results, positions)]))
    return BenchRow(backend=name, p50_ms=round(float(np.percentile(latencies, 50)), 4),
                    p99_ms=round(float(np.percentile(latencies, 99)), 4) if len(latencies) >= MIN_P99_QUERIES else None,
                    qps=round(qps if qps is not None else 1000 / float(np.mean(latencies)), 1),
                    recall_at_k=round(recall, 4), queries=len(latencies), note=note)


def bench(target: str | Path, *, queries: int = 300, slow_queries: int = MIN_P99_QUERIES, k: int = 10, seed: int = 0,
          label: str = "", fast_only: bool = False) -> BenchReport:
    """Measure every backend on `target` (read-only; the baseline table lives in a temp file).
    `fast_only` keeps the USearch rows (raw and store) and skips the exact and slow ones."""
    if queries < 1 or slow_queries < 1 or k < 1:
        raise UsageError("--queries, --slow-queries and -k must be positive integers")
    if k > VEC0_MAX_K and not fast_only:  # (before any measuring: the exact rows could not be had)
        raise UsageError(f"-k {k} is above sqlite-vec's limit of {VEC0_MAX_K}")
    with open_store(target, "usearch") as fast, open_store(target, "sqlite-vec") as exact:
        if fast.settings.metric != "cos":
            raise UsageError("bench compares cosine targets only")
        keys_and_blobs = fast.conn.execute("SELECT rowid, embedding FROM patterns_vec ORDER BY rowid").fetchall()
        if len(keys_and_blobs) < k:
            raise UsageError(f"the target holds {len(keys_and_blobs)} patterns; bench needs at least k={k}")
        keys = np.array([r[0] for r in keys_and_blobs], dtype=np.int64)
        matrix = np.frombuffer(b"".join(r[1] for r in keys_and_blobs), dtype="<f4").reshape(len(keys), -1)
        unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
        query_set = near_duplicate_queries(matrix, queries, seed)
        truth = Truth(keys, unit, query_set, k)
        suffix = f" {label}" if label else ""
        rows: list[BenchRow] = []

        many = near_duplicate_queries(matrix, 3 * queries, seed + 1)
        many_truth = Truth(keys, unit, many, k)
        fast_ones = timed_round_robin({
            "raw": lambda q: fast.index.search(q, k).keys.tolist(),
            "raw1": lambda q: fast.index.search(q, k, threads=1).keys.tolist(),
            "store": lambda q: [h.key for h in fast.search(q, k=k)],
        }, many)
        qps = {}
        for threads in (0, 1):  # batch QPS: every query in one call, on all cores, then on one
            started = time.perf_counter()
            fast.index.search(query_set, k, threads=threads)
            qps[threads] = len(query_set) / (time.perf_counter() - started)
        rows.append(row(f"usearch raw Index.search{suffix}", *fast_ones["raw"], many_truth, k,
                        qps=qps[0], note=f"dtype {fast.settings.dtype}; batch on all cores"))
        rows.append(row(f"usearch raw Index.search, threads=1{suffix}", *fast_ones["raw1"], many_truth,
                        k, qps=qps[1], note="batch on one core"))
        started = time.perf_counter()
        fast.search_batch(query_set, k=k)
        rows.append(row(f"vecmigrate usearch store{suffix}", *fast_ones["store"], many_truth, k,
                        qps=len(query_set) / (time.perf_counter() - started), note="payloads included" + (
                            f"; exact search (at most {EXACT_INDEX:,} vectors)" if len(fast.index) <= EXACT_INDEX else "")))

        if fast_only:
            return BenchReport(target=str(target), count=len(keys), dimension=matrix.shape[1], k=k, rows=rows)
        # numpy streams the whole matrix through the caches, so it is timed on its own, after the others
        numpy_times = timed(lambda q: keys[exact_top_k(unit, q, k)].tolist(), query_set)
        started = time.perf_counter()
        scores = (query_set / np.linalg.norm(query_set, axis=1, keepdims=True)) @ unit.T
        np.argpartition(-scores, k - 1, axis=1)[:, :k]
        rows.insert(0, row("numpy brute force (in RAM)", *numpy_times, list(range(len(query_set))), truth, k,
                           qps=len(query_set) / (time.perf_counter() - started), note="exact reference"))
        slow = query_set[:slow_queries]
        lat, res = timed(lambda q: [h.key for h in exact.search(q, k=k)], slow)
        rows.append(row(EXACT, lat, res, list(range(len(slow))), truth, k, note="batch QPS: one query at a time"))

        lat, res = _baseline(keys, matrix, slow, k)
        rows.append(row(BASELINE, lat, res, list(range(len(slow))), truth, k,
                        note="BLOB table, all rows read and scored per query"))
        return BenchReport(target=str(target), count=len(keys), dimension=matrix.shape[1], k=k,
                           rows=with_speedups(rows))


def _baseline(keys: np.ndarray, matrix: np.ndarray, queries: np.ndarray, k: int) -> tuple[list[float], list[list[int]]]:
    """The original system's search: a plain table of BLOBs, every row read and scored per query."""
    folder = Path(tempfile.mkdtemp(prefix="vecmigrate-baseline-"))
    try:
        conn = apsw.Connection(str(folder / "agentdb.db"))
        conn.execute("CREATE TABLE patterns (id INTEGER PRIMARY KEY, embedding BLOB)")
        with conn:
            conn.executemany("INSERT INTO patterns VALUES (?, ?)",
                             ((int(key), vector.tobytes()) for key, vector in zip(keys, matrix)))

        def search(query: np.ndarray) -> list[int]:
            rows = conn.execute("SELECT id, embedding FROM patterns").fetchall()
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1)
            scores = (vectors @ query) / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
            top = np.argpartition(-scores, k - 1)[:k]
            return ids[top[np.argsort(-scores[top])]].tolist()
        result = timed(search, queries)
        conn.close()
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)
