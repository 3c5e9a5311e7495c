"""What the way back costs: export, repair, and writing back into the legacy database.

What it measures, on N clustered 384-d float32 vectors in a qe-v3 source (agentic-qe v3's
memory.db; every command a real `vecmigrate` subprocess):
  - migrate_s: the migration (which now also keeps every source row's image for export)
  - export_s: `vecmigrate export` of the whole target; rows_equal: the export equals the
    source column by column (True/False), checked afterwards
  - repair_noop_s: `vecmigrate repair` on the consistent target (the cost of looking)
  - repair_s: `repair` after 1 % of the vec0 rows and 1 % of the change-log entries were
    removed by hand (vectors restored from the index file, the log mended, the index rebuilt)
  - dual_write_per_s: patterns per second written through `create_dual_write` (target +
    the legacy file in its own schema), one call per pattern
  - sync_echo_s: the `sync` pass that reads those writes back (no conflicts expected)
How to run:
  python benchmarks/way_back.py --size 100000           # figures for the README
  python benchmarks/way_back.py --size 2000 --smoke     # what CI runs
Writes benchmarks/results/way_back-<size>.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from figures import save

from vecmigrate.models import Pattern
from vecmigrate.sources.samples import build_source
from vecmigrate.stores import create_dual_write


def run(*args) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "vecmigrate", *map(str, args), "--json"], capture_output=True,
                          text=True)
    took = time.perf_counter() - started
    if done.returncode not in (0, 3):
        raise SystemExit(f"vecmigrate {' '.join(map(str, args))} failed: {done.stderr.strip()}")
    return took, json.loads(done.stdout.strip().splitlines()[-1])


def equal(a: Path, b: Path) -> bool:
    for query in ("SELECT rowid, * FROM qe_patterns", "SELECT pattern_id, * FROM qe_pattern_embeddings"):
        left, right = sqlite3.connect(a), sqlite3.connect(b)
        try:
            if sorted(left.execute(query).fetchall()) != sorted(right.execute(query).fetchall()):
                return False
        finally:
            left.close()
            right.close()
    return True


def damage(target: Path, share: float) -> int:
    import apsw
    import sqlite_vec
    live = (target / "current").resolve() / "patterns.sqlite"
    conn = apsw.Connection(str(live))
    conn.enable_load_extension(True)
    conn.load_extension(sqlite_vec.loadable_path())
    keys = [r[0] for r in conn.execute("SELECT key FROM patterns ORDER BY key")]
    hit = keys[:: max(1, int(1 / share))]
    with conn:
        for key in hit:
            conn.execute("DELETE FROM patterns_vec WHERE rowid = ?", (key,))
        conn.execute("DELETE FROM vecmigrate_changes WHERE seq % ? = 0", (max(1, int(1 / share)),))
    conn.close()
    return len(hit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--writes", type=int, default=500)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="way-back-"))
    source, target = folder / "memory.db", folder / "patterns.vecdb"
    build_source(source, "qe-v3", args.size)
    figures: dict = {"size": args.size}
    figures["migrate_s"], _ = run("migrate", "--source", source, "--target", target, "--no-backup")
    figures["export_s"], result = run("export", "--target", target, "--to", folder / "out.db")
    figures["rows_equal"] = equal(source, folder / "out.db") and result["exact"] == args.size
    figures["repair_noop_s"], _ = run("repair", "--target", target)
    figures["damaged_vectors"] = damage(target, 0.01)
    figures["repair_s"], report = run("repair", "--target", target)
    figures["restored"] = report["restored_count"]
    figures["unrecoverable"] = report["unrecoverable_count"]
    rng = np.random.default_rng(3)
    with create_dual_write(target, source) as proxy:
        started = time.perf_counter()
        for i in range(args.writes):
            proxy.store(Pattern(id=f"agent-{i:05d}", content=f"agent pattern {i}", type="unit"),
                        rng.standard_normal(384).astype(np.float32))
        figures["dual_write_per_s"] = round(args.writes / (time.perf_counter() - started), 1)
        assert proxy.journal() == []
    figures["sync_echo_s"], passed = run("sync", "--source", source, "--target", target)
    figures["sync_conflicts"] = len(passed.get("conflicts", []))
    figures = {k: round(v, 2) if isinstance(v, float) else v for k, v in figures.items()}
    save(f"way_back-{args.size}", figures)
    if args.smoke and not (figures["rows_equal"] and figures["unrecoverable"] == 0 and not figures["sync_conflicts"]):
        raise SystemExit("smoke run: the way back did not hold")


if __name__ == "__main__":
    main()
