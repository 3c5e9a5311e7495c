"""The package as users and packagers install it: the sdist, the wheel built from that sdist
(pip's path for an sdist, and distributions'), and the wheel built straight from the tree all
carry the SQL files; the wheel from the sdist, installed into a fresh virtual environment,
migrates, reports, searches and lists its SQL. No network: no build isolation (the build
backend comes from the test extra), and the fresh environment borrows this one's dependencies."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SQL = {p.name for p in (ROOT / "src" / "vecmigrate" / "sql").glob("*.sql")}


def build(*args: str, out: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), *args],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    build(str(ROOT), out=out)                         # the sdist, then the wheel from that sdist
    sdist = next(out.glob("vecmigrate-*.tar.gz"))
    from_sdist = next(out.glob("vecmigrate-*.whl"))
    tree = tmp_path_factory.mktemp("tree")
    build("--wheel", str(ROOT), out=tree)             # the wheel straight from the tree
    return {"sdist": sdist, "wheel": from_sdist, "tree_wheel": next(tree.glob("vecmigrate-*.whl"))}


def wheel_sql(wheel: Path) -> set[str]:
    return {Path(n).name for n in zipfile.ZipFile(wheel).namelist() if n.startswith("vecmigrate/sql/")}


def test_every_build_carries_the_sql_files_once(built):
    with tarfile.open(built["sdist"]) as archive:
        names = archive.getnames()
    assert {Path(n).name for n in names if "/src/vecmigrate/sql/" in n} == SQL
    assert wheel_sql(built["wheel"]) == SQL == wheel_sql(built["tree_wheel"])
    wheel_names = zipfile.ZipFile(built["wheel"]).namelist()
    assert "vecmigrate/py.typed" in wheel_names and "vecmigrate/cli/app.py" in wheel_names


def test_the_wheel_built_from_the_sdist_works_in_a_fresh_environment(built, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # dependencies come from this environment (no network); vecmigrate itself only from the wheel
    Path(site, "borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", "-q",
                           str(built["wheel"])],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    where = subprocess.run([str(python), "-c", "import vecmigrate; print(vecmigrate.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path).stdout.strip()
    assert where.startswith(site), where
    cli = str(venv / "bin" / "vecmigrate")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([cli, *args], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    sample = subprocess.run([str(python), "-m", "vecmigrate.sources.samples", "src.db", "--variant", "qe-v3", "--count", "50",
                             "--dimension", "16"], capture_output=True, text=True, cwd=tmp_path)
    assert sample.returncode == 0, sample.stderr
    migrated = run("migrate", "--source", "src.db", "--target", "t.vecdb", "--no-backup")
    assert migrated.returncode == 0, migrated.stderr
    assert run("status", "--target", "t.vecdb", "--json").returncode == 0
    found = run("search", "--target", "t.vecdb", "--id", "qe-000003", "-k", "2", "--json")
    assert found.returncode == 0 and '"qe-000003"' in found.stdout, found.stderr
    listed = run("sql", "--list")
    names = {line.split("\t")[0] for line in listed.stdout.splitlines()[1:]}  # a pipe: name<TAB>kind<TAB>what
    assert listed.returncode == 0 and names == {n[:-4] for n in SQL}
