"""The backends side by side, on the same data in one run, and the migration that feeds them.

What it measures, for each size (default 10k and 100k; 1M with --million), on clustered
384-d float32 vectors (Gaussian blobs of about 100) stored in an agentdb-adapter source:
  - migration: a real `vecmigrate migrate` process per dtype (f32, bf16, i8) with default
    settings: seconds, patterns/s, peak RSS (its VmHWM), USearch memory, file sizes
  - raw HNSW build: `usearch.Index.add` of the same vectors with the same settings, all cores
  - search, from `vecmigrate.verbs.bench`: the AgentDB-style baseline (BLOB table, every row read
    and scored in numpy per query), sqlite-vec vec0 (exact), numpy brute force in RAM, raw
    `usearch.Index.search`, and vecmigrate's USearch store at f32 / bf16 / i8: single-query
    p50/p99, batch QPS, recall@10 against exact brute force
  - with --migration-size N (default 150000): f32 and bf16 migrations of N patterns, time,
    peak RSS against the index's own memory, and bf16 recall
  - with the embed extra installed: the same comparison on MiniLM embeddings of 10k
    generated pattern texts (real sentence embeddings rather than synthetic ones)
How to run:
  python benchmarks/compare_backends.py                      # the README's tables (~15 min)
  python benchmarks/compare_backends.py --size 2000 --smoke  # seconds; what CI runs
Writes benchmarks/results/compare_backends.json and .md (and .png when matplotlib is
installed: pip install --group bench, or pip install matplotlib), and prints the markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from usearch.index import Index

from vecmigrate.sources.samples import build_source, clustered_vectors
from vecmigrate.target.generations import Layout
from vecmigrate.target.index_file import IndexSettings, load_index
from vecmigrate.verbs.bench import bench

RESULTS = Path(__file__).parent / "results"


def peak_rss_kb(pid: int) -> int | None:
    """VmHWM: the process's peak resident set since its exec (so not the forking parent's)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def migrate(source: Path, target: Path, dimension: int, dtype: str) -> dict:
    """One `vecmigrate migrate` process: wall time and its own peak RSS."""
    command = [sys.executable, "-m", "vecmigrate", "migrate", "--source", str(source), "--target", str(target),
               "--dimension", str(dimension), "--dtype", dtype, "--no-backup", "--json"]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:  # VmHWM only grows: the last reading before exit holds the peak
        peak = max(peak, peak_rss_kb(process.pid) or 0)
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    out, err = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"migration failed: {err.decode()}")
    result = json.loads(out)
    live = Layout(target).current()
    settings = IndexSettings(dimension=dimension, dtype=dtype)
    index = load_index(live.index, settings)
    figures = {"dtype": dtype, "seconds": round(seconds, 2), "patterns": result["migrated_count"],
               "patterns_per_s": round(result["migrated_count"] / seconds),
               "peak_rss_mb": round(peak / 1024, 1),
               "index_memory_mb": round(index.memory_usage / 2**20, 1),
               "usearch_file_mb": round(live.index.stat().st_size / 2**20, 1),
               "sqlite_file_mb": round(live.db.stat().st_size / 2**20, 1)}
    figures["rss_over_index_mb"] = round(figures["peak_rss_mb"] - figures["index_memory_mb"], 1)
    del index
    return figures


def raw_build(vectors: np.ndarray) -> dict:
    index = Index(ndim=vectors.shape[1], metric="cos", dtype="f32", connectivity=16, expansion_add=128,
                  expansion_search=64)
    started = time.perf_counter()
    index.add(np.arange(1, len(vectors) + 1, dtype=np.uint64), vectors, threads=0)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "patterns_per_s": round(len(vectors) / seconds)}


def compare(name: str, vectors: np.ndarray, work: Path, args, dtypes: list[str]) -> dict:
    size, dimension = vectors.shape
    source = work / f"{name}.db"
    if not source.exists():
        build_source(source, "agentdb-adapter", size, dimension=dimension, vectors=vectors)
    section = {"name": name, "size": size, "dimension": dimension, "raw_build": raw_build(vectors),
               "migrations": [], "search": []}
    for dtype in dtypes:
        target = work / f"{name}-{dtype}.vecdb"
        subprocess.run(["rm", "-rf", str(target)], check=True)
        section["migrations"].append(migrate(source, target, dimension, dtype))
        report = bench(target, queries=args.queries, slow_queries=args.slow_queries, label=f"({dtype})",
                       fast_only=dtype != "f32")
        section["search"] += [r.__dict__ for r in report.rows if dtype == "f32" or "store" in r.backend]
    f32 = section["migrations"][0]
    section["migrate_vs_raw_build"] = round(f32["patterns_per_s"] / section["raw_build"]["patterns_per_s"], 3)
    return section


def minilm_vectors(count: int) -> np.ndarray | None:
    try:
        from vecmigrate.embed.embedders import embed, load_embedder
        model = load_embedder("minilm", 384)
    except Exception:
        return None
    import random

    from vecmigrate.sources.samples import _pattern_text
    rng = random.Random(3)
    texts = []
    for i in range(count):
        t = _pattern_text(rng, i)
        texts.append(f"{t['description']}. {t['template']} Examples: {'; '.join(t['examples'])}")
    return embed(model, texts, 384)


def markdown(results: dict) -> str:
    lines = []
    for section in results["sections"]:
        lines += [f"### {section['name']}: {section['size']:,} × {section['dimension']}-d", "",
                  f"Raw USearch build: {section['raw_build']['seconds']} s "
                  f"({section['raw_build']['patterns_per_s']:,} patterns/s); migration throughput / raw build: "
                  f"{section['migrate_vs_raw_build']}", "",
                  "| migration | seconds | patterns/s | peak RSS MB | index memory MB | RSS − index MB | usearch MB | sqlite MB |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {m['dtype']} | {m['seconds']} | {m['patterns_per_s']:,} | {m['peak_rss_mb']} | {m['index_memory_mb']} "
                  f"| {m['rss_over_index_mb']} | {m['usearch_file_mb']} | {m['sqlite_file_mb']} |" for m in section["migrations"]]
        lines += ["", "| search backend | p50 ms | p99 ms | batch QPS | recall@10 | queries |", "|---|---|---|---|---|---|"]
        lines += [f"| {r['backend']} | {r['p50_ms']:.4f} | {'-' if r['p99_ms'] is None else format(r['p99_ms'], '.4f')} | {r['qps']:,.0f} | {r['recall_at_k']:.4f} | "
                  f"{r['queries']} |" for r in section["search"]]
        lines.append("")
    if results.get("migration_at_scale"):
        lines += ["### Migration at scale", "", "| dtype | patterns | seconds | patterns/s | peak RSS MB | index memory MB | "
                  "RSS − index MB | recall@10 |", "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {m['dtype']} | {m['patterns']:,} | {m['seconds']} | {m['patterns_per_s']:,} | {m['peak_rss_mb']} | "
                  f"{m['index_memory_mb']} | {m['rss_over_index_mb']} | {m['recall_at_10']} |"
                  for m in results["migration_at_scale"]]
        lines.append("")
    if results.get("targets"):
        lines += ["### Targets", "", "| target | measured | met |", "|---|---|---|"]
        lines += [f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else 'no'} |" for t in results["targets"]]
    return "\n".join(lines)


def targets(results: dict) -> list[dict]:
    out = []
    big = max((s for s in results["sections"] if s["name"].startswith("clustered")), key=lambda s: s["size"])
    rows = {r["backend"]: r for r in big["search"]}
    store, raw = rows["vecmigrate usearch store (f32)"], rows["usearch raw Index.search (f32)"]
    out.append({"target": f"store p50 ≤ 1.3 × raw p50 at {big['size']:,}, recall ≥ 0.99",
                "measured": f"{store['p50_ms'] / raw['p50_ms']:.2f} × ({store['p50_ms']:.3f} / {raw['p50_ms']:.3f} ms), "
                            f"recall {store['recall_at_k']:.4f}",
                "met": store["p50_ms"] <= 1.3 * raw["p50_ms"] and store["recall_at_k"] >= 0.99})
    for name, factor in (("sqlite-vec vec0 (exact)", 100), ("AgentDB-style baseline", 500)):
        ratio = rows[name]["p50_ms"] / store["p50_ms"]
        out.append({"target": f"store p50 ≥ {factor}× faster than {name}", "measured": f"{ratio:,.0f}×",
                    "met": ratio >= factor})
    out.append({"target": "migrate throughput ≥ 0.85 × raw build", "measured": f"{big['migrate_vs_raw_build']}",
                "met": big["migrate_vs_raw_build"] >= 0.85})
    for m in results.get("migration_at_scale", []):
        if m["dtype"] == "f32":
            out.append({"target": f"{m['patterns']:,} patterns migrate in < 60 s at f32", "measured": f"{m['seconds']} s",
                        "met": m["seconds"] < 60})
            out.append({"target": f"peak RSS ≤ index memory + 200 MB at {m['patterns']:,}",
                        "measured": f"{m['peak_rss_mb']} MB = index {m['index_memory_mb']} + {m['rss_over_index_mb']} MB",
                        "met": m["rss_over_index_mb"] <= 200})
        else:
            out.append({"target": f"bf16 migration of {m['patterns']:,}: time and recall reported",
                        "measured": f"{m['seconds']} s, recall@10 {m.get('recall_at_10')}", "met": True})
    return out


def chart(results: dict, path: Path) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    sections = results["sections"]
    fig, axes = plt.subplots(1, len(sections), figsize=(6 * len(sections), 4.5), squeeze=False)
    for axis, section in zip(axes[0], sections):
        names = [r["backend"] for r in section["search"]]
        axis.barh(names, [r["p50_ms"] for r in section["search"]], color="#4477aa")
        axis.set_xscale("log")
        axis.set_xlabel("single-query p50, ms (log)")
        axis.set_title(f"{section['name']}: {section['size']:,} × {section['dimension']}")
        axis.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, action="append", help="repeatable; default 10000 and 100000")
    parser.add_argument("--million", action="store_true", help="add a 1,000,000-pattern run")
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--slow-queries", type=int, default=10)
    parser.add_argument("--migration-size", type=int, default=150_000, help="0 to skip the at-scale migration")
    parser.add_argument("--smoke", action="store_true", help="tiny run that only checks the script works")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    sizes = args.size or [10_000, 100_000]
    if args.million:
        sizes.append(1_000_000)
    if args.smoke:
        args.queries, args.slow_queries, args.migration_size = 30, 3, 0
    work = Path(args.workdir or tempfile.mkdtemp(prefix="vecmigrate-compare-"))
    work.mkdir(parents=True, exist_ok=True)

    results: dict = {"machine": {"cores": os.cpu_count()}, "sections": []}
    for size in sizes:
        vectors = clustered_vectors(size, args.dimension, seed=1)
        results["sections"].append(compare(f"clustered-{size}", vectors, work, args, ["f32", "bf16", "i8"]))
        print(f"done: {size:,}", file=sys.stderr, flush=True)
    if not args.smoke:
        semantic = minilm_vectors(10_000)
        if semantic is not None:
            results["sections"].append(compare("minilm-10000", semantic, work, args, ["f32", "bf16", "i8"]))
    if args.migration_size:
        vectors = clustered_vectors(args.migration_size, args.dimension, seed=2)
        source = work / f"scale-{args.migration_size}.db"
        if not source.exists():
            build_source(source, "agentdb-adapter", args.migration_size, dimension=args.dimension, vectors=vectors)
        results["migration_at_scale"] = []
        for dtype in ("f32", "bf16"):
            target = work / f"scale-{dtype}.vecdb"
            subprocess.run(["rm", "-rf", str(target)], check=True)
            figures = migrate(source, target, args.dimension, dtype)
            report = bench(target, queries=args.queries, fast_only=True)
            figures["recall_at_10"] = next(r.recall_at_k for r in report.rows if "store" in r.backend)
            results["migration_at_scale"].append(figures)
    if not args.smoke:
        results["targets"] = targets(results)
    RESULTS.mkdir(exist_ok=True)
    stem = "compare_backends-smoke" if args.smoke else "compare_backends"
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=2))
    text = markdown(results)
    (RESULTS / f"{stem}.md").write_text(text + "\n")
    if chart(results, RESULTS / f"{stem}.png"):
        print(f"chart: {RESULTS / f'{stem}.png'}", file=sys.stderr)
    print(text)


if __name__ == "__main__":
    main()
