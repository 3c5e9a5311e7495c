"""What the torch-free all-MiniLM-L6-v2 costs and how close it is to the reference.

What it measures (numpy over the model's safetensors, src/vecmigrate/minilm.py):
  - load_s: loading the weights and the tokenizer
  - min_cosine: the lowest cosine to sentence-transformers' vectors of the reference
    sentences (tests/data/minilm_reference.json, written by sentence-transformers on torch)
  - texts_per_s: texts embedded per second, on N pattern texts of a sample legacy-qe source
    (about 40 tokens each), in one process
  - migrate_s / rows_per_s: `vecmigrate migrate --embedder minilm` of that N-row text-only
    source, a real subprocess (every row embedded)
How to run:
  python benchmarks/minilm_embedder.py --size 5000      # figures for the README
  python benchmarks/minilm_embedder.py --size 200       # seconds; what CI runs
Writes benchmarks/results/minilm_embedder-<size>.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vecmigrate.embed.minilm import MiniLM
from vecmigrate.sources.samples import build_source

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=5000)
    args = parser.parse_args()
    started = time.perf_counter()
    model = MiniLM()
    load_s = time.perf_counter() - started
    reference = json.loads((ROOT / "tests" / "data" / "minilm_reference.json").read_text(encoding="utf-8"))
    mine = model.encode(reference["sentences"])
    min_cosine = float((mine * np.asarray(reference["vectors"], dtype=np.float32)).sum(axis=1).min())
    with tempfile.TemporaryDirectory() as folder:
        source = build_source(Path(folder) / "qe.db", "legacy-qe", args.size, dimension=384)
        import apsw
        conn = apsw.Connection(str(source), flags=apsw.SQLITE_OPEN_READONLY)
        texts = [f"Pattern: {r[0]}\nDescription: {r[1]}" for r in conn.execute("SELECT name, description FROM patterns")]
        conn.close()
        started = time.perf_counter()
        model.encode(texts)
        embed_s = time.perf_counter() - started
        started = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "vecmigrate", "migrate", "--source", str(source), "--target",
                              str(Path(folder) / "t.vecdb"), "--embedder", "minilm", "--no-backup", "--json"],
                             capture_output=True, text=True)
        migrate_s = time.perf_counter() - started
        if run.returncode != 0:
            sys.exit(f"migrate failed: {run.stderr}")
    figures = {"size": args.size, "load_s": round(load_s, 2), "min_cosine": round(min_cosine, 6),
               "texts_per_s": round(len(texts) / embed_s, 1), "migrate_s": round(migrate_s, 2),
               "rows_per_s": round(args.size / migrate_s, 1)}
    out = ROOT / "benchmarks" / "results" / f"minilm_embedder-{args.size}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print("| rows | load s | min cosine to reference | texts/s (embed only) | migrate s | rows/s (migrate) |")
    print("|---|---|---|---|---|---|")
    print(f"| {args.size} | {figures['load_s']} | {figures['min_cosine']} | {figures['texts_per_s']} | "
          f"{figures['migrate_s']} | {figures['rows_per_s']} |")


if __name__ == "__main__":
    main()
