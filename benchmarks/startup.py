"""How long `vecmigrate` takes to start: `--help`, a command's `--help`, `--version`, and a
command that fails at once (what a user waits for before anything happens). Issue 13's
target: `vecmigrate --help` under 0.3 s on the CI machine (2 cores).

    python benchmarks/startup.py [--runs 20]

Each figure is the median (and the slowest) wall time of real processes started through the
console script, as a user's shell starts them. Also lists which heavy modules the command
line imports before it parses (there should be none)."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from figures import save

BIN = Path(sys.executable).parent
TARGET_SECONDS = 0.3
COMMANDS = {
    "vecmigrate --help": ["--help"],
    "vecmigrate migrate --help": ["migrate", "--help"],
    "vecmigrate --version": ["--version"],
    "vecmigrate status on no target (error)": ["status", "--target", "/nonexistent/t.vecdb"],
}


def wall(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([str(BIN / "vecmigrate"), *args], capture_output=True, check=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    figures = {}
    for name, command in COMMANDS.items():
        wall(command)  # one warm-up (the page cache)
        times = sorted(wall(command) for _ in range(args.runs))
        figures[f"{name}: median s"] = round(statistics.median(times), 3)
        figures[f"{name}: slowest s"] = round(times[-1], 3)
    heavy = subprocess.run([sys.executable, "-c", "import sys, vecmigrate.cli; print(','.join(m for m in "
                            "('numpy', 'apsw', 'usearch', 'sqlite_vec') if m in sys.modules) or 'none')"],
                           capture_output=True, text=True, check=True).stdout.strip()
    figures["heavy modules imported by the command line"] = heavy
    help_median = figures["vecmigrate --help: median s"]
    figures[f"--help under {TARGET_SECONDS} s"] = "yes" if help_median < TARGET_SECONDS else "NO"
    save("startup", figures)


if __name__ == "__main__":
    main()
