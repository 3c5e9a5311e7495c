"""The README's Python example runs as written, against a sample source in a temp folder."""

import re
from pathlib import Path

from vecmigrate.sources.samples import build_source

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    block = re.search(r"## Python API\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    monkeypatch.chdir(tmp_path)
    build_source(tmp_path / "data" / "agentic-qe.db", "legacy-qe", 300)
    exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "300 migrated, 0 quarantined" in out
    assert "1.0" in out
    assert len([line for line in out.splitlines() if line.startswith("pattern-")]) == 5


def test_readme_shows_the_two_commands_first():
    text = README.read_text()
    assert text.index("make demo") < text.index("## Commands") and "make test" in text
    for command in ("migrate", "sync", "status", "rollback", "search", "verify", "reconcile", "export", "repair",
                    "shell", "sql"):
        assert f"### `vecmigrate {command}`" in text


def test_the_four_phases_example_runs_as_written(tmp_path):
    """The README's zero-downtime worked example, run by bash in an empty folder."""
    import os
    import subprocess
    import sys
    block = re.search(r"## Zero-downtime move.*?```bash\n(.*?)```", README.read_text(), re.S).group(1)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "export equals the legacy database, column by column" in done.stdout
    assert "agent-0001" in done.stdout and "Traceback" not in done.stderr
