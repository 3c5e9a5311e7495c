"""What a crash and an undo cost: resume after a SIGKILL at 90 %, and rollback, at scale.

What it measures, on N clustered 384-d float32 vectors stored in an agentdb-adapter source,
each migration a real `vecmigrate migrate` subprocess (default checkpoint interval):
  - full_s: an uninterrupted migration into a new target
  - resume_s: after a run SIGKILLed once 90 % of its batches were committed, the time the
    same command takes to finish; resume_fraction = resume_s / full_s
  - rollback_ms: `vecmigrate rollback` of a second generation (in-process call), and the
    whole CLI process time
How to run:
  python benchmarks/resume_and_rollback.py --size 100000      # figures for the README
  python benchmarks/resume_and_rollback.py --size 2000 --smoke  # seconds; what CI runs
Writes benchmarks/results/resume_and_rollback-<size>.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from figures import save

from vecmigrate import rollback
from vecmigrate.sources.samples import build_source, clustered_vectors


def run(*args: str, crash_at: str | None = None) -> tuple[float, int]:
    env = dict(os.environ)
    if crash_at:
        env["VECMIGRATE_CRASH_AT"] = crash_at
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "vecmigrate", *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode not in (0, -9):
        raise SystemExit(f"vecmigrate {' '.join(args)} failed: {out.stderr}")
    return elapsed, out.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--smoke", action="store_true", help="tiny run that only checks the script works")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="vecmigrate-resume-"))
    work.mkdir(parents=True, exist_ok=True)
    source = work / f"source-{args.size}.db"
    if not source.exists():
        build_source(source, "agentdb-adapter", args.size, dimension=args.dimension,
                     vectors=clustered_vectors(args.size, args.dimension, seed=1))
    batches = -(-args.size // args.batch_size)
    kill_at = max(1, int(batches * 0.9))
    common = ["--source", str(source), "--dimension", str(args.dimension), "--batch-size", str(args.batch_size),
              "--no-backup"]

    full_target, crash_target = work / "full.vecdb", work / "crash.vecdb"
    for path in (full_target, crash_target):
        shutil.rmtree(path, ignore_errors=True)
    full_s, _ = run("migrate", *common, "--target", str(full_target))
    killed_s, code = run("migrate", *common, "--target", str(crash_target), crash_at=f"batch-committed:{kill_at}")
    assert code == -9, "the run was expected to be killed"
    resume_s, code = run("migrate", *common, "--target", str(crash_target))
    assert code == 0

    run("migrate", *common, "--target", str(full_target))  # a second generation to undo
    start = time.perf_counter()
    rolled = rollback(full_target)
    rollback_ms = (time.perf_counter() - start) * 1000
    run("migrate", *common, "--target", str(full_target))
    cli_rollback_s, _ = run("rollback", "--target", str(full_target))

    figures = {"size": args.size, "dimension": args.dimension, "batches": batches, "killed_after_batch": kill_at,
               "full_s": round(full_s, 2), "killed_run_s": round(killed_s, 2), "resume_s": round(resume_s, 2),
               "resume_fraction": round(resume_s / full_s, 3), "rollback_ms": round(rollback_ms, 2),
               "rollback_cli_process_s": round(cli_rollback_s, 3), "rolled_back_generation": rolled.rolled_back}
    save(f"resume_and_rollback-{args.size}", figures)


if __name__ == "__main__":
    main()
