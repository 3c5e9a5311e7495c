"""A seconds-long smoke run of each benchmark script, so that they cannot rot."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def test_resume_and_rollback_smoke(tmp_path):
    out = subprocess.run([sys.executable, str(BENCH / "resume_and_rollback.py"), "--size", "1200", "--dimension", "32",
                          "--batch-size", "100", "--smoke", "--workdir", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    figures = json.loads((BENCH / "results" / "resume_and_rollback-1200.json").read_text())
    assert figures["killed_after_batch"] == 10 and figures["resume_s"] > 0 and figures["rollback_ms"] < 1000


def test_compare_backends_smoke(tmp_path):
    out = subprocess.run([sys.executable, str(BENCH / "compare_backends.py"), "--size", "1500", "--dimension", "32",
                          "--smoke", "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    results = json.loads((BENCH / "results" / "compare_backends-smoke.json").read_text())
    section = results["sections"][0]
    assert [m["dtype"] for m in section["migrations"]] == ["f32", "bf16", "i8"]
    names = [r["backend"] for r in section["search"]]
    assert "AgentDB-style baseline" in names and "sqlite-vec vec0 (exact)" in names
    assert "vecmigrate usearch store (i8)" in names
    assert all(m["peak_rss_mb"] > 0 for m in section["migrations"])
    assert "| search backend |" in out.stdout
    if importlib.util.find_spec("matplotlib"):  # the bench dependency group (installed by make test-min)
        assert (BENCH / "results" / "compare_backends-smoke.png").stat().st_size > 0


def test_bench_cli(cli, make_source, target):
    from vecmigrate import Migrator
    Migrator(make_source("agentdb-adapter", 300), target).migrate(dimension=32, backup=False)
    result, payload = cli.json("bench", "--target", target, "--queries", "30", "--slow-queries", "2")
    assert result.exit_code == 0
    names = [r["backend"] for r in payload["rows"]]
    assert names[0] == "numpy brute force (in RAM)" and "AgentDB-style baseline" in names
    assert all(0 <= r["recall_at_k"] <= 1 and r["p50_ms"] > 0 for r in payload["rows"])


def test_minilm_embedder_smoke():
    out = subprocess.run([sys.executable, str(BENCH / "minilm_embedder.py"), "--size", "60"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    figures = json.loads((BENCH / "results" / "minilm_embedder-60.json").read_text())
    assert figures["min_cosine"] >= 0.999 and figures["texts_per_s"] > 0 and figures["rows_per_s"] > 0


def test_live_migration_smoke(tmp_path):
    out = subprocess.run([sys.executable, str(BENCH / "live_migration.py"), "--size", "1500", "--dimension", "32",
                          "--seconds", "2", "--interval", "0.5", "--smoke", "--workdir", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    figures = json.loads((BENCH / "results" / "live_migration-1500.json").read_text())
    assert figures["unchanged_report"] == {"inserted": 0, "updated": 0, "unchanged": 1500, "deleted": 0}
    assert figures["changed_report"] == {"inserted": 5, "updated": 5, "unchanged": 1490, "deleted": 5}
    assert figures["shared_lost"] == 0 and figures["shared_reader_saw"] == figures["shared_writes"] > 0
    assert 0 < figures["follow_latency_max_s"] < 5  # (the target, interval + 1 s, is checked by the full run)


def test_way_back_smoke():
    out = subprocess.run([sys.executable, str(BENCH / "way_back.py"), "--size", "1200", "--writes", "30", "--smoke"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    figures = json.loads((BENCH / "results" / "way_back-1200.json").read_text())
    assert figures["rows_equal"] is True and figures["restored"] == figures["damaged_vectors"] > 0
    assert figures["unrecoverable"] == 0 and figures["sync_conflicts"] == 0


def test_startup_smoke():
    out = subprocess.run([sys.executable, str(BENCH / "startup.py"), "--runs", "2"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    figures = json.loads((BENCH / "results" / "startup.json").read_text())
    assert figures["vecmigrate --help: median s"] > 0
    assert figures["heavy modules imported by the command line"] == "none"
