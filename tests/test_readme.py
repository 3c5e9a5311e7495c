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


# Every shell and Python block of the README runs as written (issue 13). A block is run in the
# folder its section starts from: after `make demo` (./data/agentic-qe.db migrated into
# ./data/patterns.vecdb, as the README says the examples assume), or an empty folder where the
# README says so (`<!-- readme-test: empty folder -->` before the block). The few blocks that
# cannot run here say why, in the README itself (`<!-- readme-test: skip (why) -->`).
BLOCK = re.compile(r"(?:<!-- readme-test: (skip|empty folder)(?: \((.*?)\))? -->\n)?```(bash|python)\n(.*?)```", re.S)


def readme_blocks() -> list[dict]:
    text = README.read_text()
    blocks, section = [], ""
    for match in BLOCK.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        section = [h for h in re.findall(r"^## (.+)$", text[: match.start()], re.M)][-1]
        blocks.append({"line": line, "section": section, "mark": match.group(1), "why": match.group(2),
                       "lang": match.group(3), "code": match.group(4)})
    return blocks


def test_every_readme_block_runs_or_says_why_not():
    blocks = readme_blocks()
    assert len(blocks) >= 20
    skipped = [b for b in blocks if b["mark"] == "skip"]
    assert all(b["why"] for b in skipped), "a skipped block says why"
    assert len(skipped) <= 4, [b["line"] for b in skipped]


def _after_make_demo(folder: Path, env: dict) -> None:
    """What `make demo` leaves in ./data (a smaller sample: the examples do not depend on its size)."""
    import subprocess
    import sys
    build_source(folder / "data" / "agentic-qe.db", "legacy-qe", 1000)
    done = subprocess.run([str(Path(sys.executable).parent / "vecmigrate"), "migrate", "--source",
                           "data/agentic-qe.db", "--target", "data/patterns.vecdb"], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_readme_blocks_run_as_written(tmp_path):
    import os
    import shutil
    import subprocess
    import sys
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VECMIGRATE_TARGET", None)
    folders: dict[str, Path] = {}
    ran = 0
    for block in readme_blocks():
        if block["mark"] == "skip" or "zero-downtime" in block["section"].lower():  # (its own test above)
            continue
        if block["section"] == "Python API":  # (test_readme_python_example_runs)
            continue
        if block["code"].startswith("sqlite3 ") and shutil.which("sqlite3") is None:
            continue  # (the sqlite3 shell is optional; .ci/run installs it)
        if block["mark"] == "empty folder":
            folder = tmp_path / f"block-{block['line']}"
            folder.mkdir()
        elif block["section"] not in folders:
            folder = folders[block["section"]] = tmp_path / f"section-{len(folders)}"
            folder.mkdir()
            _after_make_demo(folder, env)
        else:
            folder = folders[block["section"]]
        command = ["bash", "-euo", "pipefail", "-c", block["code"]] if block["lang"] == "bash" else \
            [sys.executable, "-c", block["code"]]
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=600,
                              stdin=subprocess.DEVNULL)
        assert done.returncode == 0, f"README.md line {block['line']}:\n{block['code']}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr, f"README.md line {block['line']}: {done.stderr}"
        ran += 1
    assert ran >= 15
