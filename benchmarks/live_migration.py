"""What the live path costs: incremental re-runs, `sync --follow` latency, and several writers
and a reader sharing one target.

What it measures, on N clustered 384-d float32 vectors in an agentdb-adapter source (every
migrate and sync a real `vecmigrate` subprocess; the legacy application a stdlib sqlite3 writer):
  - full_s: a migration into a new target
  - unchanged_s: the same command again over the unchanged source (fraction of full_s)
  - changed_s: again after 1 % of the rows changed (N/300 inserted, updated and deleted each)
  - follow_latency_s: `sync --follow --interval I`: from a committed source write until a
    reader in another process finds the row by its vector (worst of several writes; target:
    I + 1 s)
  - writers: two store processes writing (and a third reading) one target for D seconds:
    writes made, writes lost (must be 0), and how long after each write the reader's index
    held it (worst and p99; target: 1 s): found by its own vector in the top 10 of an HNSW
    search, or else (counted: HNSW recall, not the change log) by USearch's exact search
How to run:
  python benchmarks/live_migration.py --size 100000 --seconds 60   # figures for the README
  python benchmarks/live_migration.py --size 2000 --seconds 3 --smoke  # what CI runs
Writes benchmarks/results/live_migration-<size>.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
from figures import save

from vecmigrate.sources.samples import build_source, clustered_vectors
from vecmigrate.stores import open_store


def vecmigrate(*args: str) -> tuple[float, dict]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "vecmigrate", *args, "--json"], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode not in (0, 3):
        raise SystemExit(f"vecmigrate {' '.join(args)} failed: {out.stderr}")
    return elapsed, json.loads(out.stdout)


def change_one_percent(source: Path, size: int, dimension: int) -> int:
    """The legacy application inserts, updates and deletes N/300 rows each (1 % in all)."""
    each = max(1, size // 300)
    rng = np.random.default_rng(7)
    conn = sqlite3.connect(str(source))
    with conn:
        rowids = rng.choice(np.arange(1, size + 1), 2 * each, replace=False).tolist()
        conn.executemany("UPDATE patterns SET confidence = confidence + 0.5 WHERE rowid = ?",
                         [(r,) for r in rowids[:each]])
        conn.executemany("DELETE FROM patterns WHERE rowid = ?", [(r,) for r in rowids[each:]])
        vectors = rng.standard_normal((each, dimension)).astype("<f4")
        conn.executemany("INSERT INTO patterns(id, type, confidence, embedding, metadata, created_at) VALUES"
                         " (?, 'unit', 0.5, ?, '{}', 1700000000)",
                         [(f"added-{i}", vectors[i].tobytes()) for i in range(each)])
    conn.close()
    return 3 * each


def near_existing(store, rng: np.random.Generator) -> np.ndarray:
    """A new pattern like the ones there (an existing vector moved a little): what agents write.
    (A random vector far from every cluster is the one thing any HNSW graph reaches poorly.)"""
    top = store.conn.execute("SELECT max(id) FROM patterns WHERE id LIKE 'adapter-%'").fetchall()[0][0]
    start = f"adapter-{int(rng.integers(0, int(top.split('-')[1]) + 1)):06d}"
    row = store.conn.execute("SELECT id FROM patterns WHERE id >= ? AND id LIKE 'adapter-%' ORDER BY id LIMIT 1",
                             (start,)).fetchall() or store.conn.execute(
        "SELECT id FROM patterns WHERE id LIKE 'adapter-%' ORDER BY id LIMIT 1").fetchall()
    base = store.vector_of(row[0][0])
    noise = rng.standard_normal(base.size).astype("<f4")
    vector = base / np.linalg.norm(base) + noise * (0.2 / np.linalg.norm(noise))  # about 11 degrees away
    return (vector / np.linalg.norm(vector)).astype("<f4")


def follow_latency(source: Path, target: Path, dimension: int, interval: float, writes: int) -> list[float]:
    follower = subprocess.Popen([sys.executable, "-m", "vecmigrate", "sync", "--source", str(source), "--target",
                                 str(target), "--follow", "--interval", str(interval)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latencies = []
    try:
        time.sleep(2.0)  # started, first pass done
        rng = np.random.default_rng(11)
        with open_store(target) as reader:
            for i in range(writes):
                vector = near_existing(reader, rng)
                conn = sqlite3.connect(str(source))
                with conn:
                    conn.execute("INSERT INTO patterns(id, type, confidence, embedding, metadata, created_at) VALUES"
                                 " (?, 'unit', 0.5, ?, '{}', 1700000000)", (f"followed-{i}", vector.tobytes()))
                conn.close()
                written = time.monotonic()
                while time.monotonic() - written < 30:
                    if f"followed-{i}" in {h.id for h in reader.search(vector, k=10)}:
                        latencies.append(time.monotonic() - written)
                        break
                    time.sleep(0.01)
                else:
                    raise SystemExit(f"followed-{i} was not searchable after 30 s")
                time.sleep(float(rng.uniform(0, interval)))  # writes land anywhere in the interval
    finally:
        follower.terminate()
        follower.wait(timeout=60)
    return latencies


WRITER = textwrap.dedent("""
    import sys, time, numpy as np
    sys.path.insert(0, sys.argv[5])
    from live_migration import near_existing
    from vecmigrate.models import Pattern
    from vecmigrate.stores import open_store
    target, name, dimension, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    count = 0
    rng = np.random.default_rng(len(name) + ord(name[-1]))
    with open_store(target, writable=True, origin=name) as store:
        end = time.time() + seconds
        while time.time() < end:
            vector = near_existing(store, rng)
            store.store(Pattern(id=f"{name}-{count}", content="w", metadata={"at": time.time()}), vector)
            count += 1
            time.sleep(0.02)
    print(count)
""")

READER = textwrap.dedent("""
    import json, sys, time
    import apsw
    from vecmigrate.db import open_target
    from vecmigrate.stores import open_store
    target, seconds = sys.argv[1], float(sys.argv[2])
    seen, missed = {}, []
    with open_store(target) as store:
        log = open_target(store.where.db, readonly=True)
        after = store.seq
        end = time.time() + seconds + 5
        pending = []
        while time.time() < end:
            for seq, pattern_id in log.execute("SELECT seq, pattern_id FROM vecmigrate_changes WHERE seq > ? "
                                               "AND op = 'upsert' ORDER BY seq", (after,)).fetchall():
                after = seq
                pending.append(pattern_id)
            still = []
            for pattern_id in pending:
                found = store.get(pattern_id)
                hits = {h.id for h in store.search(found.vector, k=10)} if found else set()
                if found and pattern_id not in hits:  # HNSW missed it: is it in the index at all?
                    hits = {h.id for h in store.search(found.vector, k=1, exact=True)}
                    missed.append(pattern_id)
                if pattern_id in hits:
                    seen[pattern_id] = time.time() - found.pattern.metadata["at"]
                else:
                    still.append(pattern_id)
            pending = still
            time.sleep(0.005)
    print(json.dumps({"seen": seen, "hnsw_missed": len(set(missed))}))
""")


def writers_and_reader(target: Path, dimension: int, seconds: float) -> dict:
    reader = subprocess.Popen([sys.executable, "-c", READER, str(target), str(seconds)], stdout=subprocess.PIPE,
                              text=True)
    time.sleep(1.5)
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(target), name, str(dimension), str(seconds),
                                 str(Path(__file__).parent)],
                                stdout=subprocess.PIPE, text=True) for name in ("writer-a", "writer-b")]
    made = {name: int(w.communicate(timeout=seconds + 120)[0]) for name, w in zip(("writer-a", "writer-b"), writers)}
    answer = json.loads(reader.communicate(timeout=seconds + 120)[0])
    seen = answer["seen"]
    with open_store(target) as store:
        held = {r[0] for r in store.conn.execute("SELECT id FROM patterns WHERE id LIKE 'writer-%'")}
    expected = {f"{name}-{i}" for name, n in made.items() for i in range(n)}
    lags = sorted(seen.values())
    return {"writes": len(expected), "lost": len(expected - held), "reader_saw": len(set(seen) & expected),
            "reader_hnsw_missed_top10": answer["hnsw_missed"],
            "reader_lag_max_s": round(lags[-1], 3) if lags else None,
            "reader_lag_p99_s": round(float(np.percentile(lags, 99)), 3) if lags else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--interval", type=float, default=1.0, help="sync --follow --interval")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the two writers write")
    parser.add_argument("--smoke", action="store_true", help="tiny run that only checks the script works")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="vecmigrate-live-"))
    work.mkdir(parents=True, exist_ok=True)
    source, target = work / f"live-source-{args.size}.db", work / "live.vecdb"
    source.unlink(missing_ok=True)
    shutil.rmtree(target, ignore_errors=True)
    build_source(source, "agentdb-adapter", args.size, dimension=args.dimension,
                 vectors=clustered_vectors(args.size, args.dimension, seed=1))
    common = ["migrate", "--source", str(source), "--target", str(target), "--dimension", str(args.dimension),
              "--no-backup"]
    full_s, _ = vecmigrate(*common)
    unchanged_s, unchanged = vecmigrate(*common)
    changed_rows = change_one_percent(source, args.size, args.dimension)
    changed_s, changed = vecmigrate(*common)
    latencies = follow_latency(source, target, args.dimension, args.interval, 3 if args.smoke else 10)
    shared = writers_and_reader(target, args.dimension, args.seconds)

    figures = {"size": args.size, "dimension": args.dimension, "full_s": round(full_s, 2),
               "unchanged_s": round(unchanged_s, 2), "unchanged_fraction": round(unchanged_s / full_s, 3),
               "unchanged_report": {k: unchanged[k] for k in ("inserted", "updated", "unchanged", "deleted")},
               "changed_rows": changed_rows, "changed_s": round(changed_s, 2),
               "changed_fraction": round(changed_s / full_s, 3),
               "changed_report": {k: changed[k] for k in ("inserted", "updated", "unchanged", "deleted")},
               "follow_interval_s": args.interval, "follow_latency_max_s": round(max(latencies), 3),
               "follow_latency_median_s": round(float(np.median(latencies)), 3),
               "writers_seconds": args.seconds, **{f"shared_{k}": v for k, v in shared.items()}}
    save(f"live_migration-{args.size}", figures)
    if shared["lost"]:
        raise SystemExit(f"{shared['lost']} writes were lost")


if __name__ == "__main__":
    main()
