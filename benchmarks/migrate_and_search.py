"""Migration throughput and search latency of one vecmigrate target, against raw USearch.

What it measures, on N clustered 384-d float32 vectors stored in an agentdb-adapter source:
  - end-to-end `Migrator.migrate` time and patterns/s (read, map, mirror, commit, HNSW build, save)
  - a raw `usearch.Index.add` build of the same vectors with the same settings, and the ratio
  - single-query latency p50/p99 of: raw `Index.search`, the USearch store API, the sqlite-vec store
  - recall@10 of the USearch store against exact vec0 KNN
How to run:
  python benchmarks/migrate_and_search.py --size 100000      # figures for the README
  python benchmarks/migrate_and_search.py --size 2000 --smoke  # seconds; what CI runs
Writes benchmarks/results/migrate_and_search-<size>.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from usearch.index import Index

from vecmigrate import Migrator, open_store
from vecmigrate.samples import build_source, clustered_vectors


def percentiles(samples: list[float]) -> tuple[float, float]:
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 99))


def time_queries(search, queries: np.ndarray) -> list[float]:
    out = []
    for q in queries:
        start = time.perf_counter()
        search(q)
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--exact-queries", type=int, default=50, help="queries also run on sqlite-vec (slow)")
    parser.add_argument("--smoke", action="store_true", help="tiny run that only checks the script works")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    if args.smoke:
        args.queries, args.exact_queries = 20, 10

    work = Path(args.workdir or tempfile.mkdtemp(prefix="vecmigrate-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    vectors = clustered_vectors(args.size, args.dimension, seed=1)
    source = work / f"source-{args.size}.db"
    if not source.exists():
        build_source(source, "agentdb-adapter", args.size, dimension=args.dimension, vectors=vectors)
    target = work / f"target-{args.size}.vecdb"
    if target.exists():
        import shutil
        shutil.rmtree(target)

    start = time.perf_counter()
    result = Migrator(source, target).migrate(dimension=args.dimension, batch_size=5000, backup=False)
    migrate_s = time.perf_counter() - start
    assert result.migrated_count == args.size, result

    raw = Index(ndim=args.dimension, metric="cos", dtype="f32", connectivity=16, expansion_add=128,
                expansion_search=64)
    start = time.perf_counter()
    raw.add(np.arange(1, args.size + 1, dtype=np.uint64), vectors, threads=0)
    raw_build_s = time.perf_counter() - start

    rng = np.random.default_rng(2)
    picks = rng.choice(args.size, args.queries, replace=False)
    # Queries: stored vectors moved by a perturbation of norm ~0.1 (a near-duplicate pattern).
    noise = rng.standard_normal((args.queries, args.dimension)) * (0.1 / np.sqrt(args.dimension))
    queries = (vectors[picks] + noise).astype(np.float32)
    with open_store(target, "usearch") as fast, open_store(target, "sqlite-vec") as exact:
        raw_ms = time_queries(lambda q: fast.index.search(q, 10), queries)
        store_ms = time_queries(lambda q: fast.search(q, k=10), queries)
        exact_queries = queries[: args.exact_queries]
        exact_ms = time_queries(lambda q: exact.search(q, k=10), exact_queries)
        hits = [len({h.key for h in fast.search(q, k=10)} & {h.key for h in exact.search(q, k=10)})
                for q in exact_queries]
    recall = sum(hits) / (10 * len(exact_queries))

    figures = {
        "size": args.size, "dimension": args.dimension,
        "migrate_s": round(migrate_s, 2), "migrate_patterns_per_s": round(args.size / migrate_s),
        "raw_build_s": round(raw_build_s, 2), "raw_build_patterns_per_s": round(args.size / raw_build_s),
        "migrate_vs_raw_build": round(raw_build_s / migrate_s, 3),
        "raw_search_p50_ms": round(percentiles(raw_ms)[0], 4), "raw_search_p99_ms": round(percentiles(raw_ms)[1], 4),
        "store_search_p50_ms": round(percentiles(store_ms)[0], 4),
        "store_search_p99_ms": round(percentiles(store_ms)[1], 4),
        "sqlite_vec_p50_ms": round(percentiles(exact_ms)[0], 3), "sqlite_vec_p99_ms": round(percentiles(exact_ms)[1], 3),
        "recall_at_10": round(recall, 4),
        "index_bytes": (target / "patterns.usearch").stat().st_size,
        "sqlite_bytes": (target / "patterns.sqlite").stat().st_size,
    }
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"migrate_and_search-{args.size}.json").write_text(json.dumps(figures, indent=2))
    print("| figure | value |\n|---|---|")
    for name, value in figures.items():
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
