"""A seconds-long smoke run of each benchmark script, so that they cannot rot."""

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def test_migrate_and_search_smoke(tmp_path):
    out = subprocess.run([sys.executable, str(BENCH / "migrate_and_search.py"), "--size", "1500", "--dimension", "64",
                          "--smoke", "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    figures = json.loads((BENCH / "results" / "migrate_and_search-1500.json").read_text())
    assert figures["size"] == 1500 and figures["recall_at_10"] >= 0.9
    assert "| store_search_p50_ms |" in out.stdout


def test_resume_and_rollback_smoke(tmp_path):
    out = subprocess.run([sys.executable, str(BENCH / "resume_and_rollback.py"), "--size", "1200", "--dimension", "32",
                          "--batch-size", "100", "--smoke", "--workdir", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    figures = json.loads((BENCH / "results" / "resume_and_rollback-1200.json").read_text())
    assert figures["killed_after_batch"] == 10 and figures["resume_s"] > 0 and figures["rollback_ms"] < 1000
