"""The named SQL files ship inside the wheel (not only in the source tree)."""

import subprocess
import sys
import zipfile
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_the_sql_files(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = next(tmp_path.glob("vecmigrate-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {Path(n).name for n in names if n.startswith("vecmigrate/sql/")}
    assert {p.name for p in (ROOT / "src" / "vecmigrate" / "sql").glob("*.sql")} == shipped
    assert "vecmigrate/cli.py" in names
