"""The target is readable from Node.js too (issue 13): examples/node/knn.mjs opens
patterns.sqlite with better-sqlite3 + the sqlite-vec npm package and patterns.usearch with the
usearch npm package, and finds the same ids at the same distances as `vecmigrate search`.

Needs Node.js and `npm ci` in examples/node (`make test` runs it when npm is there; .ci/run
installs Node.js). Without them the test is skipped and says why."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "node"

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed here (.ci/run installs it)"),
    pytest.mark.skipif(not (EXAMPLE / "node_modules" / ".installed").exists(),
                       reason="the npm packages of examples/node are not installed (make test runs npm ci there)"),
]


def node_knn(target: Path, *args: str) -> dict:
    done = subprocess.run(["node", str(EXAMPLE / "knn.mjs"), "--target", str(target), *args], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# 2,500 rows: above EXACT_INDEX, both search the HNSW graph; 1,500: both search exactly
@pytest.mark.parametrize(("settings", "count"), [([], 2500), (["--metric", "l2sq", "--dtype", "f16"], 1500)],
                         ids=["cos-f32-graph", "l2sq-f16-exact"])
def test_node_finds_what_vecmigrate_search_finds(cli, make_source, tmp_path, settings, count):
    target = tmp_path / "t.vecdb"
    source = make_source("qe-v3", count)
    assert cli("migrate", "--source", source, "--target", target, "--no-backup", *settings).exit_code == 0
    for pattern_id in ("qe-000001", "qe-000500", "qe-001499"):
        from_node = node_knn(target, "--id", pattern_id, "-k", "10")
        for backend, key in (("usearch", "usearch"), ("sqlite-vec", "sqlite_vec")):
            _, ours = cli.json("search", "--target", target, "--id", pattern_id, "-k", "10", "--backend", backend)
            theirs = from_node[key]
            if "f16" in settings and backend == "usearch":
                # f16 distances come from each USearch build's own kernels (the Python side may be 2.16,
                # the npm one 2.25): near-ties can swap, and where HNSW misses a pattern's own vector
                # knn.mjs answers over vec0's float32 vectors, vecmigrate over the index's f16 ones
                assert theirs[0]["id"] == ours["hits"][0]["id"] == pattern_id
                same = {h["id"] for h in theirs} & {h["id"] for h in ours["hits"]}
                assert len(same) >= 9, (backend, pattern_id)
                continue
            assert [h["id"] for h in theirs] == [h["id"] for h in ours["hits"]], (backend, pattern_id)
            assert [h["distance"] for h in theirs] == pytest.approx([h["distance"] for h in ours["hits"]], abs=1e-6)


def test_node_takes_a_vector_too(cli, make_source, tmp_path):
    target = tmp_path / "t.vecdb"
    cli("migrate", "--source", make_source("qe-v3", 300), "--target", target, "--no-backup")
    _, stored = cli.json("sql", "--target", target, "--file", "example_pattern_vector", "--param", "id=qe-000007")
    vector = stored["rows"][0][2]
    from_node = node_knn(target, "--vector", vector, "-k", "5", "--backend", "sqlite-vec")
    _, ours = cli.json("search", "--target", target, "--vector", vector, "-k", "5", "--backend", "sqlite-vec")
    assert [h["id"] for h in from_node["sqlite_vec"]] == [h["id"] for h in ours["hits"]]
    assert "usearch" not in from_node


def test_node_says_in_one_line_when_there_is_no_live_generation(tmp_path):
    done = subprocess.run(["node", str(EXAMPLE / "knn.mjs"), "--target", str(tmp_path / "none.vecdb"), "--id", "x"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stderr.strip() == f"no vecmigrate target with a live generation at " \
                                                           f"{tmp_path / 'none.vecdb'}"


def test_node_takes_comma_separated_numbers_and_refuses_bad_queries_in_one_line(cli, make_source, tmp_path):
    target = tmp_path / "t.vecdb"
    cli("migrate", "--source", make_source("qe-v3", 50), "--target", target, "--no-backup")
    _, stored = cli.json("sql", "--target", target, "--file", "example_pattern_vector", "--param", "id=qe-000007")
    as_commas = ",".join(str(x) for x in json.loads(stored["rows"][0][2]))
    assert node_knn(target, "--vector", as_commas, "-k", "1")["sqlite_vec"][0]["id"] == "qe-000007"
    for args in (["--vector", "1,2,x"], ["--vector", ",".join(["0"] * 384)], ["--id", "qe-000007", "-k", "5000"]):
        done = subprocess.run(["node", str(EXAMPLE / "knn.mjs"), "--target", str(target), *args], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode in (1, 2) and len(done.stderr.strip().splitlines()) == 1, (args, done.stderr)


def test_node_puts_the_pattern_before_its_byte_identical_copies(cli, make_source, tmp_path):
    """Copies of one vector tie (a third of qe-v3's): knn.mjs answers the pattern itself first for
    every copy, even with more copies than k, as `vecmigrate search --id` does on both backends."""
    import numpy as np
    from conftest import DIM

    from vecmigrate import open_store
    from vecmigrate.models import Pattern
    target = tmp_path / "t.vecdb"
    cli("migrate", "--source", make_source("qe-v3", 200), "--target", target, "--no-backup")
    copies = [f"copy-{n}" for n in range(7)]
    vector = np.random.default_rng(3).standard_normal(DIM).astype(np.float32)
    with open_store(target, writable=True) as store:
        store.store_batch([Pattern(id=c, content=f"copy {c}") for c in copies], np.tile(vector, (7, 1)))
    for pattern_id in copies:
        for k in ("1", "3"):
            from_node = node_knn(target, "--id", pattern_id, "-k", k)
            for backend, key in (("usearch", "usearch"), ("sqlite-vec", "sqlite_vec")):
                _, ours = cli.json("search", "--target", target, "--id", pattern_id, "-k", k, "--backend", backend)
                theirs = from_node[key]
                assert theirs[0]["id"] == ours["hits"][0]["id"] == pattern_id, (backend, k)
                assert {h["id"] for h in theirs} <= set(copies) and len(theirs) == int(k)
