"""The command line as a new user meets it (issue 13): text shown as typed, a truthful status,
one-line errors, nothing left behind by a failed command, full values in a pipe, labelled
progress, logging, environment variables. Each test failed before the change it covers."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import apsw
import numpy as np
import pytest
from conftest import DIM, lock_held_elsewhere

from vecmigrate.cli import app

BIN = Path(sys.executable).parent


def run(*args, cwd=None, env=None, timeout=300) -> subprocess.CompletedProcess:
    """vecmigrate in a real process (its console script, as a user runs it)."""
    return subprocess.run([str(BIN / "vecmigrate"), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def _with_stderr_on_a_terminal(*args, cwd=None) -> tuple[int, str, str]:
    """vecmigrate with stderr a terminal (a pty) and stdout a pipe: (exit code, stdout, what the terminal got)."""
    master, slave = os.openpty()
    proc = subprocess.Popen([str(BIN / "vecmigrate"), *map(str, args)], stdout=subprocess.PIPE, stderr=slave,
                            text=True, cwd=cwd, env={**os.environ, "TERM": "xterm", "COLUMNS": "200"})
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    out = proc.stdout.read()
    code = proc.wait(timeout=60)
    os.close(master)
    return code, out, seen.decode(errors="replace")


# 1. square brackets are text

def test_help_keeps_square_brackets(cli):
    text = " ".join(cli("migrate", "--help").stdout.split())  # (lines wrap differently across typer versions)
    assert "[default: cos]" in text and "HNSW M [default: 16]" in text and "[default: 1000]" in text
    assert "\\[" not in text


def test_user_input_in_brackets_is_shown_as_typed(cli, make_source, target):
    cli("migrate", "--source", make_source("legacy-qe", 20), "--target", target, "--dimension", DIM, "--no-backup")
    result = cli("search", "--target", target, "--id", "[bold]x[/bold]")
    assert result.exit_code == 2 and "[bold]x[/bold]" in one_line(result.stderr)
    result = cli("migrate", "--[bold]x[/bold]")  # in a parser's error too
    assert result.exit_code == 2 and "--[bold]x[/bold]" in one_line(result.stderr)


def test_the_minilm_hint_keeps_its_extra(cli, make_source, target, tmp_path, monkeypatch):
    monkeypatch.setenv("VECMIGRATE_MINILM_DIR", str(tmp_path / "no-model-here"))
    result = cli("migrate", "--source", make_source("legacy-qe", 5), "--target", target, "--embedder", "minilm",
                 "--no-backup")
    assert result.exit_code != 0 and "vecmigrate[embed]" in result.stderr, result.stderr


# 2. status tells the truth

def test_status_of_a_path_that_is_no_target_is_an_error(cli, tmp_path):
    for path in (tmp_path / "nothing.vecdb", tmp_path):
        result = cli("status", "--target", path)
        assert result.exit_code == 1, result.stdout
        assert "no vecmigrate target at" in one_line(result.stderr)
    (tmp_path / "file.db").write_bytes(b"x")
    result = cli("status", "--target", tmp_path / "file.db")
    assert result.exit_code == 1 and "is a file" in one_line(result.stderr)


def test_status_compares_with_the_recorded_source_not_the_default_path(make_source, tmp_path):
    source = make_source("qe-v3", 30, name="elsewhere.db")
    target = tmp_path / "t.vecdb"
    assert run("migrate", "--source", source, "--target", target, "--dimension", DIM, "--no-backup").returncode == 0
    cwd = tmp_path / "project"
    (cwd / "data").mkdir(parents=True)
    make_source("legacy-qe", 7, name="project/data/agentic-qe.db")  # the default path holds another file
    status = json.loads(run("status", "--target", target, "--json", cwd=cwd).stdout)
    assert status["source"] == str(source.resolve()) and status["source_count"] == 30
    assert status["schema"] == "qe-v3"
    elsewhere = run("status", "--target", tmp_path / "not-migrated.vecdb", cwd=cwd)  # no target: not compared
    assert elsewhere.returncode == 1 and "data/agentic-qe.db" not in elsewhere.stdout + elsewhere.stderr


def test_status_names_the_layout_of_the_source_it_is_given(cli, make_source, target):
    cli("migrate", "--source", make_source("legacy-qe", 10), "--target", target, "--dimension", DIM, "--no-backup")
    _, status = cli.json("status", "--target", target, "--source", make_source("qe-v3", 10))
    assert status["schema"] == "qe-v3"


def test_status_never_rounds_up_to_complete(cli, make_source, target):
    source = make_source("legacy-qe", 2000)
    cli("migrate", "--source", source, "--target", target, "--dimension", DIM, "--no-backup")
    conn = apsw.Connection(str(source))
    conn.execute("INSERT INTO patterns(id, name, template, category) VALUES ('late', 'n', 't', 'unit')")
    conn.close()
    text = cli("status", "--target", target).stdout
    coverage = next(line for line in text.splitlines() if line.startswith("coverage"))
    assert "99.95 %" in coverage and "100" not in coverage, coverage


@pytest.mark.parametrize("content", [b"99999999999999999999999 migrate", b"4294967296 x", b"9" * 5000,
                                     "\u00b2 migrate".encode(), b"\xff\xfe", b"7" * 300_000 + b" migrate"])
def test_a_lock_file_holding_no_pid_is_no_holder(cli, make_source, target, content):
    """A hostile review: a number no process can have (or digits that are not ASCII) in the lock
    file ended status, migrate and sync in an OverflowError or ValueError traceback."""
    source = make_source("legacy-qe", 5)
    cli("migrate", "--source", source, "--target", target, "--dimension", DIM, "--no-backup")
    (target / ".lock").write_bytes(content)
    result, status = cli.json("status", "--target", target)
    assert result.exit_code == 0 and "running" not in status["generations"][0]["state"]
    for args in (["migrate", "--source", source, "--target", target, "--no-backup"],
                 ["sync", "--source", source, "--target", target]):
        result = cli(*args)
        assert result.exit_code == 0, (args, result.stderr)


def test_status_counts_only_the_generations_it_was_removing(cli, make_source, target, tmp_path):
    """A link named like a leftover was followed (a whole venv counted), and a name that is not
    UTF-8 made status --json write bytes that are not UTF-8 (a hostile review)."""
    cli("migrate", "--source", make_source("legacy-qe", 5), "--target", target, "--dimension", DIM, "--no-backup")
    elsewhere = tmp_path / "big"
    elsewhere.mkdir()
    (elsewhere / "f").write_bytes(b"x" * 100_000)
    (target / ".trash-gen-000007").symlink_to(elsewhere)
    os.mkdir(os.path.join(os.fsencode(target), b".trash-\xff"))
    done = subprocess.run([str(BIN / "vecmigrate"), "status", "--target", str(target), "--json"], capture_output=True)
    assert done.returncode == 0 and json.loads(done.stdout.decode("utf-8"))["disk_use"]["being_removed"] == {}


def test_pruning_never_waits_on_a_fifo_put_in_a_backups_place(make_source, monkeypatch, tmp_path):
    """Between listing the backups and removing one, a FIFO in its place made pruning wait for a
    writer for ever, after the migration had committed (a hostile review, 2 runs in 25). The
    race is pinned here: the listing names a FIFO."""
    from vecmigrate.sources import backup
    source = make_source("legacy-qe", 5, name="qe.db")
    fifo = source.with_name("qe.db.backup-2020-01-01T00-00-00Z.db")
    os.mkfifo(fifo)
    monkeypatch.setattr(backup, "list_backups", lambda _source: [str(fifo), str(source)])
    done = []
    import threading
    worker = threading.Thread(target=lambda: done.append(backup.prune_backups(source, 1)), daemon=True)
    worker.start()
    worker.join(10)
    assert done == [[]] and fifo.exists()


def test_status_matches_a_source_the_target_never_read_by_pattern_id(cli, make_source, target, tmp_path):
    """A hostile review: a copy of the source showed coverage 0.0 % though every id was in the
    target (ids were loaded only for a source with a run), and an emptied copy showed 100 %
    beside 'complete no'."""
    source = make_source("qe-v3", 50)
    cli("migrate", "--source", source, "--target", target, "--no-backup")
    copy = tmp_path / "copy.db"
    shutil.copy(source, copy)
    _, status = cli.json("status", "--target", target, "--source", copy)
    assert (status["source_count"], status["coverage"], status["migration_complete"]) == (50, 1.0, True)
    conn = apsw.Connection(str(copy))
    conn.execute("DELETE FROM qe_patterns WHERE rowid % 5 = 0")
    conn.execute("INSERT INTO qe_patterns(id, pattern_type, qe_domain, domain, name, description) "
                 "SELECT 'new-' || id, pattern_type, qe_domain, domain, name, description "
                 "FROM qe_patterns LIMIT 2")
    conn.close()
    _, status = cli.json("status", "--target", target, "--source", copy)
    assert (status["source_count"], status["coverage"], status["migration_complete"]) == (42, 40 / 42, False)
    conn = apsw.Connection(str(copy))
    conn.execute("DELETE FROM qe_patterns")
    conn.close()
    _, status = cli.json("status", "--target", target, "--source", copy)
    assert status["source_count"] == 0 and (status["coverage"] == 1.0) == status["migration_complete"]


def test_status_tells_a_running_migration_from_an_interrupted_one(make_source, tmp_path):
    source = make_source("legacy-qe", 300)
    target = tmp_path / "t.vecdb"
    killed = run("migrate", "--source", source, "--target", target, "--dimension", DIM, "--batch-size", "50",
                 "--no-backup", env={"VECMIGRATE_CRASH_AT": "batch-committed:2"})
    assert killed.returncode == -signal.SIGKILL
    status = json.loads(run("status", "--target", target, "--json").stdout)
    assert "interrupted" in status["generations"][0]["state"]
    # another command holds the target alone: no migrate is running (a hostile review saw 'a
    # migrate is running (PID n)' with n a `shell --write`)
    with lock_held_elsewhere(target, what="shell --write") as holder:
        status = json.loads(run("status", "--target", target, "--json").stdout)
        assert "interrupted" in status["generations"][0]["state"], status["generations"]
        refused = run("migrate", "--source", source, "--target", target, "--dimension", DIM, "--no-backup")
        assert refused.returncode == 1 and f"PID {holder.pid} (`vecmigrate shell --write` is running)" in refused.stderr
    (tmp_path / "slow.py").write_text(  # a real migrate that takes its time: status while it runs
        "import time, numpy as np\n"
        "def encode(texts):\n"
        "    time.sleep(0.3)\n"
        f"    return np.ones((len(texts), {DIM}), dtype=np.float32)\n")
    other = tmp_path / "u.vecdb"
    running = subprocess.Popen([str(BIN / "vecmigrate"), "migrate", "--source", str(source), "--target", str(other),
                                "--dimension", str(DIM), "--batch-size", "20", "--no-backup", "--embedder",
                                "slow:encode"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        states = []
        while running.poll() is None and not any("running" in s for s in states):
            done = run("status", "--target", other, "--json")
            if done.returncode == 0:
                states.append(json.loads(done.stdout)["generations"][0]["state"])
        assert any(f"a migrate is running (PID {running.pid})" in s for s in states), states
    finally:
        running.kill()
        running.wait()


def test_status_goes_on_when_the_recorded_source_is_gone(cli, make_source, target):
    source = make_source("legacy-qe", 12)
    cli("migrate", "--source", source, "--target", target, "--dimension", DIM, "--no-backup")
    source.rename(source.with_name("moved.db"))
    result = cli("status", "--target", target)
    assert result.exit_code == 0 and "target count\t12" in result.stdout
    assert "is no longer there" in result.stderr


def test_status_json_has_disk_use_per_generation_and_backup(cli, make_source, target):
    source = make_source("legacy-qe", 40)
    cli("migrate", "--source", source, "--target", target, "--dimension", DIM)
    _, status = cli.json("status", "--target", target)
    use = status["disk_use"]
    generation = target / "gen-000001"
    assert use["generations"]["1"] == sum(p.stat().st_size for p in generation.iterdir() if p.is_file()) > 0
    [backup] = status["backups"]
    assert use["backups"][backup] == Path(backup).stat().st_size > 0
    assert use["total_bytes"] == use["generations"]["1"] + use["backups"][backup]
    # a hostile review: a generation a killed command was removing went uncounted, and the
    # backups of a source moved away were 'none'
    trash = target / ".trash-gen-000009"
    trash.mkdir()
    (trash / "patterns.sqlite").write_bytes(b"x" * 5000)
    source.rename(source.with_name("moved.db"))
    _, status = cli.json("status", "--target", target)
    use = status["disk_use"]
    assert status["backups"] == [backup] and use["being_removed"] == {".trash-gen-000009": 5000}
    assert use["total_bytes"] == use["generations"]["1"] + use["backups"][backup] + 5000


# 3. usage errors are one line, and exit 2

@pytest.mark.parametrize("args, fragment", [
    (["migrate", "--batch-size", "lots"], "--batch-size"),
    (["migrate", "--no-such-flag"], "--no-such-flag"),
    (["search", "--text"], "--text"),
    (["status", "--target"], "--target"),
    (["nonsense-command"], "nonsense-command"),
])
def test_parser_usage_errors_are_one_line_with_json(cli, args, fragment):
    result = cli(*args)
    assert result.exit_code == 2
    assert one_line(result.stderr).startswith("error:") and fragment in result.stderr
    result = cli(args[0], "--json", *args[1:])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    payload = json.loads(one_line(result.stdout))
    assert payload["exit_code"] == 2 and fragment in payload["error"]


def test_help_flags_version_and_completion(cli):
    text = cli("migrate", "-h").stdout
    assert "--dry-run " in text and "<bool>" not in text
    assert cli("status", "-h").exit_code == 0
    from vecmigrate import __version__
    assert cli("--version").stdout.strip() == f"vecmigrate {__version__}"
    done = run(env={"_VECMIGRATE_COMPLETE": "complete_bash", "COMP_WORDS": "vecmigrate mig", "COMP_CWORD": "1"})
    assert "migrate" in done.stdout, done.stdout + done.stderr
    assert "--install-completion" in cli("--help").stdout


def test_an_embedder_that_is_no_name_is_a_usage_error(cli, make_source, target):
    result = cli("migrate", "--source", make_source("legacy-qe", 5), "--target", target, "--embedder", "nonsense")
    assert result.exit_code == 2 and "--embedder" in one_line(result.stderr)
    assert not target.exists()


def test_an_embedder_module_in_the_current_folder_is_found(make_source, tmp_path):
    (tmp_path / "myembed.py").write_text(
        "import numpy as np\n"
        "def encode(texts):\n"
        f"    return np.ones((len(texts), {DIM}), dtype=np.float32)\n")
    source = make_source("legacy-qe", 5)
    done = run("migrate", "--source", source, "--target", tmp_path / "t.vecdb", "--embedder", "myembed:encode",
               "--dimension", DIM, "--no-backup", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["migrated_count"] == 5


@pytest.mark.parametrize("as_json", [False, True])
def test_ctrl_c_while_the_command_line_loads_is_one_line_not_a_traceback(tmp_path, as_json):
    """The console script loads typer and the commands inside its own handler: a Ctrl-C at any
    moment of start-up ends with 'error: interrupted' and 130 (or death by SIGINT before Python
    listens), never a KeyboardInterrupt traceback (seen at 20-80 ms before); under --json, stdout
    is then the error's one JSON object (a hostile review found it empty). Before `main` runs
    (Python's own start-up, ~10-15 ms here, longer on a loaded machine) no code of ours can
    answer: such a run is set aside, and most runs must reach our code."""
    reached = 0
    for delay in (0.02, 0.04, 0.06, 0.08, 0.12, 0.16, 0.2, 0.25, 0.3):
        proc = subprocess.Popen([str(BIN / "vecmigrate"), "status", "--target", str(tmp_path / "none"),
                                 *(["--json"] if as_json else [])],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        if _before_main(err):
            continue
        reached += 1
        assert "Traceback" not in err, (delay, err)
        finished = "no vecmigrate target" in err  # (the command was done before the signal came)
        assert proc.returncode in (130, -signal.SIGINT) or (finished and proc.returncode == 1), (delay, err)
        assert len(err.strip().splitlines()) <= 1 and (finished or err.strip() in ("", "error: interrupted") or
                                                       err.startswith("error: interrupted;")), (delay, err)
        assert proc.returncode != 130 or err.strip(), delay  # exit 130 always says why
        if as_json and proc.returncode > 0:
            assert json.loads(one_line(out))["exit_code"] == proc.returncode, (delay, out)
        elif not as_json or proc.returncode < 0:
            assert out == "", (delay, out)
    assert reached >= 5, reached


@pytest.mark.parametrize("as_json", [False, True])
def test_ctrl_c_that_cuts_short_a_compiled_module_is_an_interrupt(tmp_path, as_json):
    """A Ctrl-C while usearch's compiled module initialises surfaces as "ImportError: initialization
    failed" caused by the KeyboardInterrupt (pybind11), not as a KeyboardInterrupt: it is the same one
    line and exit 130 (the fresh-clone CI once printed its traceback). The interrupt is put at that
    import by a sitecustomize in the real console script, since a signal cannot be aimed at it."""
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        "class CutShort:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'usearch.compiled':\n"
        "            raise ImportError('initialization failed') from KeyboardInterrupt()\n"
        "sys.meta_path.insert(0, CutShort())\n")
    _assert_status_interrupted(tmp_path, as_json)


@pytest.mark.parametrize("as_json", [False, True])
def test_ctrl_c_while_numpy_loads_is_held_until_it_has_loaded(tmp_path, as_json):
    """numpy's compiled modules answer an interrupt during their initialisation by printing its
    traceback themselves and raising "ImportError: numpy.core.multiarray failed to import"
    (import_array: PyErr_Print, then a new ImportError; seen once in 300 runs at numpy 1.24). The
    commands are loaded with Ctrl-C held back, and it is raised once they have loaded. A
    sitecustomize sends the SIGINT as numpy.linalg's compiled module is looked for, and answers a
    KeyboardInterrupt there as import_array does."""
    (tmp_path / "sitecustomize.py").write_text(
        "import os, signal, sys, time, traceback\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'numpy.linalg._umath_linalg':\n"
        "            try:\n"
        "                os.kill(os.getpid(), signal.SIGINT)\n"
        "                time.sleep(0.05)\n"
        "            except KeyboardInterrupt:\n"
        "                traceback.print_exc()\n"
        "                raise ImportError('numpy.core.multiarray failed to import') from None\n"
        "sys.meta_path.insert(0, Interrupt())\n")
    _assert_status_interrupted(tmp_path, as_json)


def _assert_status_interrupted(tmp_path: Path, as_json: bool) -> None:
    """`status` run with tmp_path's sitecustomize: the one-line interrupt, exit 130, and under --json
    the error as stdout's one JSON object."""
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([str(BIN / "vecmigrate"), "status", "--target", str(tmp_path / "none"),
                           *(["--json"] if as_json else [])], capture_output=True, text=True, env=env, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 130 and one_line(proc.stderr).startswith("error: interrupted"), proc.stderr
    if as_json:
        assert json.loads(one_line(proc.stdout))["exit_code"] == 130
    else:
        assert proc.stdout == ""


def _before_main(err: str) -> bool:
    """A KeyboardInterrupt traceback from before vecmigrate.__main__.main ran: Python's start-up
    (site), or the console script importing vecmigrate.__main__ itself (no frame of ours below)."""
    import re
    ours = (re.search(r'vecmigrate/__main__\.py", line \d+, in main\b', err)  # (site's own main is not ours)
            or re.search(r'vecmigrate/(?!__init__\.py|__main__\.py)[^"\n]*\.py"', err))
    return ("Traceback" in err or "Fatal Python error" in err) and not ours


# 4. a failed command leaves nothing behind

def test_reconcile_with_a_missing_secondary_makes_nothing(cli, make_source, target, tmp_path):
    cli("migrate", "--source", make_source("legacy-qe", 5), "--target", target, "--dimension", DIM, "--no-backup")
    missing = tmp_path / "secondary.vecdb"
    result = cli("reconcile", "--primary", target, "--secondary", missing)
    assert result.exit_code == 1 and "secondary.vecdb" in one_line(result.stderr)
    assert not missing.exists()


def test_commands_on_a_folder_that_is_no_target_leave_no_lock_file(cli, make_source, target, tmp_path):
    """A hostile review: reconcile with an empty folder on either side, rollback and shell --write
    left a `.lock` in a folder that was no target (only migrate may make one)."""
    cli("migrate", "--source", make_source("legacy-qe", 5), "--target", target, "--dimension", DIM, "--no-backup")
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in (["reconcile", "--primary", target, "--secondary", empty],
                 ["reconcile", "--primary", empty, "--secondary", target],
                 ["rollback", "--target", empty],
                 ["shell", "--write", "--target", empty]):
        result = cli(*args)
        assert result.exit_code != 0 and "empty" in one_line(result.stderr), (args, result.stderr)
        assert list(empty.iterdir()) == [], args


def test_a_failed_first_migrate_into_an_empty_folder_leaves_it_empty(cli, make_source, tmp_path):
    """A first migrate into a folder that was there (empty) and that fails before writing (an
    embedder that cannot be imported) leaves no `.lock` there; the folder itself stays, as the user
    made it. A lock file that was there before stays too."""
    source = make_source("legacy-qe", 5)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("migrate", "--source", source, "--target", empty, "--no-backup", "--dimension", DIM,
                 "--embedder", "nonsense.mod:fn")
    assert result.exit_code == 2 and "nonsense" in one_line(result.stderr)
    assert list(empty.iterdir()) == []
    (empty / ".lock").write_text("")
    result = cli("migrate", "--source", source, "--target", empty, "--no-backup", "--dimension", DIM,
                 "--embedder", "nonsense.mod:fn")
    assert result.exit_code == 2 and [p.name for p in empty.iterdir()] == [".lock"]


def test_a_failed_migrate_leaves_no_backup(cli, make_source, target):
    """A migrate that fails after its backup (here: a store and the source changed one pattern,
    --on-conflict fail) removes that backup: exit 1 leaves nothing behind."""
    from vecmigrate import Migrator, Pattern, open_store
    source = make_source("legacy-qe", 10)
    Migrator(source, target).migrate(dimension=DIM, backup=False)
    with open_store(target, writable=True) as store:
        mine = store.get("pattern-000004")
        store.store(Pattern(**{**mine.pattern.__dict__, "content": "written by an agent"}), mine.vector)
    conn = apsw.Connection(str(source))
    conn.execute("UPDATE patterns SET name = 'changed in the source' WHERE id = 'pattern-000004'")
    conn.close()
    result = cli("migrate", "--source", source, "--target", target)
    assert result.exit_code == 1 and "--on-conflict" in result.stderr
    assert list(source.parent.glob("*.backup-*")) == []


def test_keep_backups_leaves_the_backup_of_a_run_still_under_way(cli, make_source, target, tmp_path):
    """A hostile review: a migrate into another target, from the same source with --keep-backups 1,
    removed the backup a run still under way had just made (that run then reported a path that
    was gone). A run holds its backup until it ends; pruning leaves a held one."""
    source = make_source("legacy-qe", 10, name="qe.db")
    _, first = cli.json("migrate", "--source", source, "--target", target, "--dimension", DIM)
    under_way = subprocess.Popen([sys.executable, "-c",  # the first run, still going: it holds its backup
                                  "import fcntl, os, time\n"
                                  f"fcntl.flock(os.open({first['backup_path']!r}, os.O_RDONLY), fcntl.LOCK_SH)\n"
                                  "print('held', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert under_way.stdout.readline().strip() == "held"
        _, second = cli.json("migrate", "--source", source, "--target", tmp_path / "other.vecdb", "--dimension", DIM,
                             "--keep-backups", "1")
        assert second["pruned_backups"] == [] and Path(first["backup_path"]).exists()
    finally:
        under_way.kill()
        under_way.wait()
    _, third = cli.json("migrate", "--source", source, "--target", tmp_path / "third.vecdb", "--dimension", DIM,
                        "--keep-backups", "1")  # that run is over: its backup may go now
    assert third["pruned_backups"] == [first["backup_path"], second["backup_path"]]


def test_keep_backups_prunes_only_vecmigrates_old_backups(cli, make_source, target):
    source = make_source("legacy-qe", 10, name="qe.db")
    others = {  # none of these is a backup vecmigrate made of qe.db
        "mine": source.with_name("qe.db.backup-mine.db"),
        "another source's": source.with_name("qe.sqlite.backup-2020-01-01T00-00-00Z.db"),
        "old scheme, same stem": source.with_name("qe.backup-2020-01-01T00-00-00Z.db"),
        "leading zero": source.with_name("qe.db.backup-2020-01-01T00-00-00Z-00.db"),
        "unicode digits": source.with_name("qe.db.backup-\u0662\u0660\u0662\u0664-01-01T00-00-00Z.db"),
        "not SQLite": source.with_name("qe.db.backup-2020-01-01T00-00-00Z.db"),
    }
    for path in others.values():
        path.write_bytes(b"a user's own file")
    import shutil as sh
    sh.copyfile(source, source.with_name("elsewhere.db"))
    link = source.with_name("qe.db.backup-2020-01-02T00-00-00Z.db")
    link.symlink_to(source.with_name("elsewhere.db"))
    made = []
    for n in range(4):
        conn = apsw.Connection(str(source))
        conn.execute("INSERT INTO patterns(id, name, template, category) VALUES (?, 'n', 't', 'unit')", (f"new-{n}",))
        conn.close()
        _, payload = cli.json("migrate", "--source", source, "--target", target, "--dimension", DIM,
                              "--keep-backups", "2")
        made.append(payload["backup_path"])
        if n == 1:  # a backup whose time on disk says newer (touched, copied): order is by name
            os.utime(made[0], (4102444800, 4102444800))
    assert sorted(str(p) for p in source.parent.glob("qe.db.backup-2026*.db")) == sorted(made[-2:])
    assert payload["pruned_backups"] == [made[1]]
    assert cli.json("status", "--target", target)[1]["backups"] == made[-2:]  # oldest first
    assert all(path.exists() for path in others.values()) and link.is_symlink()


# 6. a pipe gets every value whole

def test_a_pipe_gets_full_values_as_tab_separated_rows(cli, make_source, target):
    long_id = "pattern-" + "x" * 120
    source = make_source("legacy-qe", 20)
    conn = apsw.Connection(str(source))
    conn.execute("UPDATE patterns SET id = ? WHERE rowid = 1", (long_id,))
    conn.close()
    cli("migrate", "--source", source, "--target", target, "--dimension", DIM, "--no-backup")
    _, payload = cli.json("search", "--target", target, "--id", long_id, "-k", "3")
    text = cli("search", "--target", target, "--id", long_id, "-k", "3").stdout
    header, *rows = text.splitlines()
    assert header.split("\t")[:4] == ["rank", "id", "score", "distance"]
    first = rows[0].split("\t")
    assert first[1] == long_id and float(first[2]) == payload["hits"][0]["score"]
    assert [float(r.split("\t")[2]) for r in rows] == [h["score"] for h in payload["hits"]]
    status = cli("status", "--target", target).stdout
    assert f"target\t{target}/patterns.sqlite" in status and "…" not in status + text


# 7 and 8. labelled phases, logging, quiet, environment variables

def test_log_level_info_names_every_phase_and_batch(cli, make_source, target):
    result = cli("--log-level", "info", "migrate", "--source", make_source("legacy-qe", 120), "--target", target,
                 "--dimension", DIM, "--batch-size", "50")
    assert result.exit_code == 0
    log = result.stderr
    phases = ["backing up the source", "creating the target", "migrating rows", "finishing the index",
              "saving the index", "checking the new generation", "making the new generation live"]
    assert [log.index(p) for p in phases] == sorted(log.index(p) for p in phases), log
    assert log.count("batch ") >= 3 and "rows/s" in log and " INFO " in log


def test_quiet_keeps_results_and_errors_only(cli, make_source, target):
    source = make_source("legacy-qe", 10)
    cli("migrate", "--source", source, "--target", target, "--dimension", DIM, "--no-backup")
    source.rename(source.with_name("gone.db"))
    loud = cli("status", "--target", target)
    quiet = cli("-q", "status", "--target", target)
    assert "note:" in loud.stderr and quiet.stderr == "" and quiet.stdout == loud.stdout
    assert cli("-q", "status", "--target", target.parent / "none").stderr.startswith("error:")


def test_settings_come_from_the_environment(make_source, tmp_path):
    source = make_source("legacy-qe", 9)
    env = {"VECMIGRATE_SOURCE": str(source), "VECMIGRATE_TARGET": str(tmp_path / "env.vecdb"),
           "VECMIGRATE_LOG_LEVEL": "debug"}
    done = run("migrate", "--dimension", DIM, "--no-backup", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert " DEBUG " in done.stderr or " INFO " in done.stderr
    status = json.loads(run("status", "--json", cwd=tmp_path, env=env).stdout)
    assert status["target_count"] == 9


def test_progress_is_labelled_on_a_terminal_even_under_json(make_source, tmp_path):
    """stderr a terminal (a pty), stdout a pipe: the bar names its phases, stdout stays one JSON object."""
    source = make_source("legacy-qe", 400)
    code, out, screen = _with_stderr_on_a_terminal("migrate", "--source", source, "--target", tmp_path / "t.vecdb",
                                                   "--dimension", DIM, "--batch-size", 20, "--json")
    assert code == 0
    assert json.loads(one_line(out))["migrated_count"] == 400
    assert "migrating rows" in screen and "/400" in screen.replace(" ", ""), screen[-2000:]


# 11. start-up loads only what the command needs

def test_the_command_line_starts_without_numpy_apsw_or_usearch():
    code = ("import sys, vecmigrate.cli; "
            "print(sorted(m for m in ('numpy', 'apsw', 'usearch', 'sqlite_vec', 'rich.progress') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    assert shutil.which("vecmigrate", path=str(BIN))


# 10. sql: a table per statement, the examples listed apart with what they do

def test_sql_prints_each_statement_apart(cli, make_source, target):
    cli("migrate", "--source", make_source("legacy-qe", 12), "--target", target, "--dimension", DIM, "--no-backup")
    _, payload = cli.json("sql", "--target", target, "SELECT count(*) AS n FROM patterns; SELECT id, type FROM patterns "
                          "ORDER BY key LIMIT 2")
    first, second = payload["statements"]
    assert first["columns"] == ["n"] and first["rows"] == [[12]]
    assert second["columns"] == ["id", "type"] and len(second["rows"]) == 2
    text = cli("sql", "--target", target, "SELECT count(*) AS n FROM patterns; SELECT id, type FROM patterns "
               "ORDER BY key LIMIT 2").stdout
    blocks = text.split("\n\n")
    assert blocks[0].splitlines() == ["n", "12"] and blocks[1].splitlines()[0] == "id\ttype"


def test_sql_list_puts_the_examples_first_with_what_they_do(cli):
    _, payload = cli.json("sql", "--list")
    kinds = [f["kind"] for f in payload["files"]]
    assert kinds == sorted(kinds, key=lambda k: k != "example") and "internal" in kinds
    examples = [f for f in payload["files"] if f["kind"] == "example"]
    assert all(f["name"].startswith("example_") and f["description"] for f in examples)
    knn = next(f for f in examples if f["name"] == "example_knn")
    assert "nearest" in knn["description"]
    filtered = next(f for f in examples if f["name"] == "example_filtered_knn")  # a comment of two lines, whole
    assert filtered["description"].endswith("whenever 10 exist).") and "vecmigrate sql" not in filtered["description"]


# 9. bench: speed-up, a summary, honest p99 and QPS, a chart

def test_bench_shows_speedups_a_summary_and_draws_a_chart(cli, make_source, target, tmp_path):
    pytest.importorskip("matplotlib")
    cli("migrate", "--source", make_source("legacy-qe", 300), "--target", target, "--dimension", DIM, "--no-backup")
    chart = tmp_path / "bench.png"
    _, report = cli.json("bench", "--target", target, "--queries", "60", "--slow-queries", "20", "--chart", chart)
    rows = {r["backend"]: r for r in report["rows"]}
    baseline = rows["AgentDB-style baseline"]
    assert baseline["speedup"] == 1.0 and baseline["p99_ms"] is None  # 20 queries give no p99
    store = rows["vecmigrate usearch store"]
    assert store["speedup"] == round(baseline["p50_ms"] / store["p50_ms"], 1)
    raw, raw1 = rows["usearch raw Index.search"], rows["usearch raw Index.search, threads=1"]
    assert raw["qps"] != raw1["qps"] and "one core" in raw1["note"]
    assert "the AgentDB-style baseline (" in report["summary"]  # (faster or slower: timing on a busy CI machine)
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and report["chart"] == str(chart)
    text = cli("bench", "--target", target, "--queries", "30", "--slow-queries", "5")
    assert text.stdout.splitlines()[0].split("\t")[:4] == ["backend", "p50 ms", "p99 ms", "speed-up"]
    assert "the AgentDB-style baseline (" in text.stderr
    refused = cli("bench", "--target", target, "--chart", tmp_path / "chart.txt")
    assert refused.exit_code == 2 and ".png" in one_line(refused.stderr)


def test_ctrl_c_during_the_backup_leaves_nothing(make_source, target, monkeypatch):
    from vecmigrate import Migrator
    from vecmigrate.sources import backup

    def interrupted(conn, path):
        Path(path).write_bytes(b"half a copy")
        raise KeyboardInterrupt
    monkeypatch.setattr(backup, "copy_database", interrupted)
    source = make_source("legacy-qe", 10)
    with pytest.raises(KeyboardInterrupt):
        Migrator(source, target).migrate(dimension=DIM)
    assert sorted(p.name for p in source.parent.iterdir()) == [source.name]


# what a hostile review found in the above

def test_a_stderr_that_cannot_be_written_does_not_fail_a_finished_migrate(make_source, tmp_path):
    source = make_source("legacy-qe", 30)
    with open("/dev/full", "w") as full:
        done = subprocess.run([str(BIN / "vecmigrate"), "--log-level", "info", "migrate", "--source", str(source),
                               "--target", str(tmp_path / "t.vecdb"), "--no-backup", "--dimension", str(DIM)],
                              stdout=subprocess.PIPE, stderr=full, text=True, timeout=120)
    assert done.returncode == 0 and "migrated\t30 of 30" in done.stdout


def test_a_stdout_that_cannot_be_written_is_one_line_for_help_and_version():
    for args in (["--help"], ["--version"], ["migrate", "-h"], []):
        with open("/dev/full", "w") as full:
            done = subprocess.run([str(BIN / "vecmigrate"), *args], stdout=full, stderr=subprocess.PIPE, text=True,
                                  timeout=60)
        assert done.returncode == 1 and one_line(done.stderr).startswith("error: cannot write to stdout"), args


def test_control_characters_from_data_never_reach_a_terminal_raw(tmp_path):
    code, _, screen = _with_stderr_on_a_terminal("status", "--target", tmp_path / "a\x1b[2Jb\x07")
    assert code == 1 and "\x1b[2J" not in screen and "\\x1b[2J" in screen and "\x07" not in screen


def test_json_stays_json_with_infinite_values_and_tsv_keeps_every_value_apart(cli, make_source, target):
    cli("migrate", "--source", make_source("legacy-qe", 5), "--target", target, "--dimension", DIM, "--no-backup")
    result, payload = cli.json("sql", "--target", target, "SELECT 1e400 AS big, -1e400 AS small")
    json.loads(result.stdout, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert payload["rows"] == [["Infinity", "-Infinity"]]
    text = cli("sql", "--target", target, "SELECT 1 AS \"a\tb\", 'NULL' AS s, NULL AS n, x'00ff' AS blob, "
               "'x' || char(0) || 'y' AS nul").stdout
    assert text.splitlines() == ["a\\tb\ts\tn\tblob\tnul", "1\tNULL\t\\N\tX'00ff'\tx\\0y"]


def test_json_after_a_double_dash_is_an_argument_not_the_flag(cli):
    result = cli("sql", "--no-such-option", "--", "--json")
    assert result.exit_code == 2 and result.stdout == ""


def test_each_phase_is_logged_once(cli, make_source, target):
    log = cli("--log-level", "info", "migrate", "--source", make_source("legacy-qe", 20), "--target", target,
              "--dimension", DIM, "--no-backup").stderr
    assert log.count("INFO migrating rows") == 1 and log.count("INFO reading the source") == 1


@pytest.mark.parametrize("spec", ["../x:y", ".x:y"])
def test_a_relative_embedder_module_is_a_usage_error(cli, make_source, target, spec):
    result = cli("migrate", "--source", make_source("legacy-qe", 5), "--target", target, "--embedder", spec,
                 "--no-backup")
    assert result.exit_code == 2 and "--embedder" in one_line(result.stderr)


def test_an_embedder_that_exits_fails_the_migration(make_source, tmp_path):
    (tmp_path / "exits.py").write_text("import sys\ndef encode(texts):\n    sys.exit(0)\n")
    (tmp_path / "exits_on_import.py").write_text("import sys\nsys.exit(0)\n")
    for spec in ("exits:encode", "exits_on_import:encode"):
        done = run("migrate", "--source", make_source("legacy-qe", 5, name=f"{spec[:5]}{len(spec)}.db"), "--target",
                   tmp_path / "t.vecdb", "--embedder", spec, "--dimension", DIM, "--no-backup", cwd=tmp_path)
        assert done.returncode == 1 and "SystemExit" in one_line(done.stderr), (spec, done.stderr)
        assert not (tmp_path / "t.vecdb").exists()


def test_bench_with_one_query_and_a_store_slower_than_the_baseline_says_so(cli, make_source, target):
    cli("migrate", "--source", make_source("legacy-qe", 30), "--target", target, "--dimension", DIM, "--no-backup")
    result, report = cli.json("bench", "--target", target, "--queries", "1", "--slow-queries", "1")
    assert result.exit_code == 0 and report["summary"]
    from vecmigrate.verbs.bench import _times
    assert _times(0.2, 0.25) == "1.2x slower than" and _times(3.0, 0.1) == "30.0x faster than"


def test_status_takes_no_leftover_pid_for_a_running_migration(make_source, tmp_path):
    source = make_source("legacy-qe", 200)
    target = tmp_path / "t.vecdb"
    run("migrate", "--source", source, "--target", target, "--dimension", DIM, "--batch-size", "50",
        "--no-backup", env={"VECMIGRATE_CRASH_AT": "batch-committed:2"})
    (target / ".lock").write_text("1")  # PID 1 is alive, and holds no lock on this file
    status = json.loads(run("status", "--target", target, "--json").stdout)
    assert "interrupted" in status["generations"][0]["state"]
    if Path("/proc/locks").exists():  # a real holder: the kernel's flock, as a running migrate has it
        import fcntl
        with open(target / ".lock", "r+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(str(os.getpid()))
            handle.flush()
            status = json.loads(run("status", "--target", target, "--json").stdout)
        assert "a migrate is running" in status["generations"][0]["state"]


def test_status_counts_the_rows_as_they_are_now(cli, make_source, target):
    source = make_source("legacy-qe", 100)
    cli("migrate", "--source", source, "--target", target, "--dimension", DIM, "--no-backup")
    conn = apsw.Connection(str(source))
    with conn:
        for n in range(10):
            conn.execute("INSERT INTO patterns(id, name, template, category) VALUES (?, 'n', 't', 'unit')", (f"n{n}",))
        conn.execute("DELETE FROM patterns WHERE rowid IN (SELECT rowid FROM patterns ORDER BY rowid LIMIT 10)")
    conn.close()
    _, status = cli.json("status", "--target", target)
    assert (status["source_count"], status["coverage"], status["migration_complete"]) == (100, 0.9, False)
    conn = apsw.Connection(str(source))
    conn.execute("DELETE FROM patterns WHERE rowid IN (SELECT rowid FROM patterns ORDER BY rowid LIMIT 50)")
    conn.close()
    _, status = cli.json("status", "--target", target)
    assert status["coverage"] <= 1.0 and not status["migration_complete"]


@pytest.mark.parametrize("replacement", ["directory", "text", "other layout"])
def test_status_goes_on_when_the_recorded_source_path_holds_something_else(cli, make_source, target, replacement):
    source = make_source("qe-v3", 12)
    cli("migrate", "--source", source, "--target", target, "--no-backup")
    source.unlink()
    if replacement == "directory":
        source.mkdir()
    elif replacement == "text":
        source.write_text("hi")
    else:
        make_source("legacy-qe", 5, name=source.name)
    result = cli("status", "--target", target)
    assert result.exit_code == 0 and "target count\t12" in result.stdout
    assert "cannot be read now" in result.stderr or "no longer there" in result.stderr
    # a hostile review: status still named the layout qe-v3, and called a directory 'behind'
    _, status = cli.json("status", "--target", target)
    assert status["schema"] is None, status["schema"]
    assert status["sources"][0]["layout"] == "qe-v3" and (status["sources"][0]["in_step"] is None) == (
        replacement == "directory")


def test_search_and_reconcile_refuse_what_cannot_mean_anything(cli, make_source, target):
    cli("migrate", "--source", make_source("legacy-qe", 10), "--target", target, "--dimension", DIM, "--no-backup")
    result = cli("search", "--target", target, "--id", "pattern-000001", "--threshold", "nan")
    assert result.exit_code == 2 and "--threshold" in one_line(result.stderr)
    result = cli("search", "--target", target, "--vector", ",".join(["1e39"] * DIM))
    assert result.exit_code == 2 and "--vector" in one_line(result.stderr)
    result = cli("reconcile", "--primary", target, "--secondary", target)
    assert result.exit_code == 2 and "the same" in one_line(result.stderr)


def test_status_still_lists_backups_named_the_earlier_way_and_prune_leaves_them(cli, make_source, target):
    source = make_source("legacy-qe", 10, name="qe.db")
    earlier = source.with_name("qe.backup-2026-01-01T00-00-00Z.db")  # how vecmigrate 0.1 named them
    import shutil as sh
    sh.copyfile(source, earlier)
    _, payload = cli.json("migrate", "--source", source, "--target", target, "--dimension", DIM, "--keep-backups", "1")
    assert payload["pruned_backups"] == [] and earlier.exists()
    assert cli.json("status", "--target", target)[1]["backups"] == [str(earlier), payload["backup_path"]]


def test_backups_made_at_once_never_take_one_name(make_source):
    """Eight runs backing up one source in the same second: eight backups, each whole."""
    import threading

    from vecmigrate.sources.backup import backup_source
    source = make_source("legacy-qe", 200)
    made, failed = [], []

    def one() -> None:
        conn = apsw.Connection(str(source), flags=apsw.SQLITE_OPEN_READONLY)
        try:
            made.append(backup_source(conn, source))
        except Exception as exc:  # noqa: BLE001
            failed.append(exc)
        finally:
            conn.close()
    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failed == [] and len(set(made)) == 8
    for path in made:
        assert apsw.Connection(str(path)).execute("SELECT count(*) FROM patterns").fetchall() == [(200,)]


def test_a_source_named_like_a_backup_keeps_its_newest_backups(cli, make_source, tmp_path):
    source = make_source("qe-v3", 10, name="x.db.backup-2020-01-01T00-00-00Z.db")
    made = []
    for n in range(4):
        _, payload = cli.json("migrate", "--source", source, "--target", tmp_path / f"t{n}.vecdb", "--keep-backups",
                              "2")
        made.append(payload["backup_path"])
    from vecmigrate.sources.backup import list_backups
    assert list_backups(source) == made[-2:]


def test_a_command_started_with_stdout_or_stderr_closed_finishes_with_one_line(make_source, tmp_path):
    """`vecmigrate migrate ... >&-`: Python leaves sys.stdout None; the migration finished and then
    an AttributeError traceback ended it with exit 1 (a hostile review). Now: exit 0, and one
    line saying the result could not be written; with stderr closed, the result as usual."""
    import shlex
    source = make_source("qe-v3", 300)
    vecmigrate = shlex.quote(str(BIN / "vecmigrate"))
    args = f"migrate --source {shlex.quote(str(source))} --no-backup --json --target "
    done = subprocess.run(f"{vecmigrate} {args}{shlex.quote(str(tmp_path / 'a.vecdb'))} >&-", shell=True,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "could not be written to stdout" in one_line(done.stderr), done.stderr
    assert json.loads(run("status", "--target", tmp_path / "a.vecdb", "--json").stdout)["migration_complete"]
    done = subprocess.run(f"{vecmigrate} {args}{shlex.quote(str(tmp_path / 'b.vecdb'))} 2>&- <&-", shell=True,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and json.loads(done.stdout)["migrated_count"] == 300
    done = subprocess.run(f"{vecmigrate} status --target {shlex.quote(str(tmp_path / 'none'))} --json >&-",
                          shell=True, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1


def test_a_stderr_gone_mid_run_does_not_fail_a_migrate_that_finishes(make_source, tmp_path):
    """A closed pipe reading the log (-v), and a terminal that goes away while the bar is drawn:
    the migration finishes, exit 0, its JSON on stdout."""
    import time
    source = make_source("qe-v3", 6000)
    out = tmp_path / "out.json"
    with open(out, "w") as stdout:
        proc = subprocess.Popen([str(BIN / "vecmigrate"), "migrate", "--source", str(source), "--target",
                                 str(tmp_path / "a.vecdb"), "--no-backup", "-v", "--json", "--batch-size", "200"],
                                stdout=stdout, stderr=subprocess.PIPE)
        proc.stderr.read(1)
        proc.stderr.close()  # as `| head -1` does
        assert proc.wait(timeout=300) == 0
    assert json.loads(out.read_text())["migrated_count"] == 6000
    master, slave = os.openpty()
    with open(out, "w") as stdout:
        proc = subprocess.Popen([str(BIN / "vecmigrate"), "migrate", "--source", str(source), "--target",
                                 str(tmp_path / "b.vecdb"), "--no-backup", "--json", "--batch-size", "200"],
                                stdout=stdout, stderr=slave, env={**os.environ, "TERM": "xterm"})
        os.close(slave)
        time.sleep(1.0)
        os.close(master)  # the terminal goes away (an ssh session dropped)
        assert proc.wait(timeout=300) == 0
    assert json.loads(out.read_text())["migrated_count"] == 6000


class _TerminalThatGoes:
    """A terminal whose writes fail (EIO) once `gone` is set, while isatty() still says yes: the
    moment between rich's check and its write when an ssh session drops."""

    def __init__(self) -> None:
        self.gone, self.text = False, []

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        raise OSError("no descriptor")

    def write(self, text: str) -> int:
        if self.gone:
            raise OSError(5, "Input/output error")
        self.text.append(text)
        return len(text)

    def flush(self) -> None:
        if self.gone:
            raise OSError(5, "Input/output error")


@pytest.mark.parametrize("fails_at", ["start", "phase", "stop"])
def test_a_bar_that_cannot_be_drawn_leaves_stdout_and_stderr_as_they_were(monkeypatch, capsys, fails_at):
    """The fresh-clone CI lost a migrate's JSON (exit 0, stdout empty) when its terminal went
    away: a failed drawing left rich's live display unstopped, with sys.stdout sent through the
    stderr console, and the result was written there."""
    from rich.console import Console

    from vecmigrate.cli import output
    terminal = _TerminalThatGoes()
    monkeypatch.setitem(output._consoles, "err", Console(file=terminal, markup=False, highlight=False,
                                                          force_terminal=True))
    monkeypatch.delenv("VECMIGRATE_NO_PROGRESS", raising=False)
    stdout, stderr = sys.stdout, sys.stderr
    terminal.gone = fails_at == "start"
    with output.Progress("migrating") as progress:
        assert progress.enabled
        progress.update(10, 100)
        terminal.gone = terminal.gone or fails_at == "phase"
        progress.phase("saving the index")
        progress.update(1, None)
        terminal.gone = True
    assert sys.stdout is stdout and sys.stderr is stderr
    output.emit_json({"migrated_count": 100})
    assert json.loads(capsys.readouterr().out) == {"migrated_count": 100}
    assert fails_at == "start" or "migrating" in "".join(terminal.text)


@pytest.mark.parametrize("backend", ["usearch", "sqlite-vec"])
def test_a_query_vector_of_any_finite_scale_finds_what_its_direction_finds(cli, make_source, target, backend):
    cli("migrate", "--source", make_source("qe-v3", 60), "--target", target, "--no-backup")
    _, stored = cli.json("sql", "--target", target, "--file", "example_pattern_vector", "--param", "id=qe-000007")
    vector = json.loads(stored["rows"][0][2])
    found = {}
    for scale in (1.0, 1e20, 1e-40):
        result, payload = cli.json("search", "--target", target, "--backend", backend, "-k", "3", "--vector",
                                   json.dumps([x * scale for x in vector]))
        assert result.exit_code == 0 and "RuntimeWarning" not in result.stderr
        found[scale] = [h["id"] for h in payload["hits"]]
    assert found[1e20] == found[1e-40] == found[1.0] and found[1.0][0] == "qe-000007"
    result = cli("search", "--target", target, "--backend", backend, "--vector", json.dumps([0.0] * len(vector)))
    assert result.exit_code == 2 and "zero vector" in one_line(result.stderr)


def test_what_an_embedder_prints_stays_off_stdout(make_source, tmp_path):
    (tmp_path / "chatty.py").write_text(
        "import numpy as np\nprint('loading model')\n"
        "def encode(texts):\n"
        "    print('embedding', len(texts))\n"
        f"    return np.ones((len(texts), {DIM}))\n")
    done = run("migrate", "--source", make_source("legacy-qe", 5), "--target", tmp_path / "t.vecdb", "--embedder",
               "chatty:encode", "--dimension", DIM, "--no-backup", "--json", cwd=tmp_path)
    assert done.returncode == 0 and json.loads(done.stdout)["migrated_count"] == 5
    assert "embedding 5" in done.stderr


def test_sql_limit_stops_reading_the_last_statement(cli, make_source, target):
    """--limit ends an endless query, as it did before statements were printed apart."""
    cli("migrate", "--source", make_source("legacy-qe", 5), "--target", target, "--dimension", DIM, "--no-backup")
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c"
    _, payload = cli.json("sql", "--target", target, f"SELECT 1 AS one; {endless}", "--limit", "3")
    assert [s["rows"] for s in payload["statements"]] == [[[1]], [[1], [2], [3]]]


@pytest.mark.parametrize("tail", ["", ";", "; -- the endless one", " /* c */ ; /* d */", "\n-- end\n"])
def test_sql_limit_knows_the_last_statement_by_its_place_not_its_text(cli, make_source, target, tail):
    """A hostile review: a last statement whose text ends like an earlier one stopped reading
    in the earlier one (IncompleteExecutionError, exit 1), and a comment after the last
    statement made --limit read an endless query for ever."""
    cli("migrate", "--source", make_source("legacy-qe", 5), "--target", target, "--dimension", DIM, "--no-backup")
    twice = "SELECT rowid AS r FROM patterns; SELECT rowid AS r FROM patterns"
    result, payload = cli.json("sql", "--target", target, "--limit", "2", twice + tail)
    assert result.exit_code == 0 and [len(s["rows"]) for s in payload["statements"]] == [2, 2]
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c"
    done = run("sql", "--target", target, "--limit", "3", endless + tail, timeout=60)
    assert done.returncode == 0 and done.stdout.splitlines() == ["x", "1", "2", "3"], done.stderr


def test_sql_a_query_too_big_is_the_querys_fault(cli, make_source, target):
    cli("migrate", "--source", make_source("legacy-qe", 5), "--target", target, "--dimension", DIM, "--no-backup")
    result = cli("sql", "--target", target, "SELECT zeroblob(2000000000)")
    assert result.exit_code == 2 and "SQL error: TooBigError" in one_line(result.stderr)


def test_sql_streams_rows_into_a_pipe_and_a_reader_that_stops_ends_it(cli, make_source, target):
    """In a pipe, rows are written as SQLite reads them: an endless query feeds `head`, and the
    query ends, quietly and with exit 0, when the reader closes the pipe (collected first, it
    never printed a row)."""
    cli("migrate", "--source", make_source("legacy-qe", 5), "--target", target, "--dimension", DIM, "--no-backup")
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x, 'row ' || x AS label FROM c"
    proc = subprocess.Popen([str(BIN / "vecmigrate"), "sql", "--target", str(target), f"SELECT 7 AS n; {endless}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        head = [proc.stdout.readline() for _ in range(6)]
    finally:
        proc.stdout.close()
    assert proc.wait(timeout=60) == 0
    assert head == ["n\n", "7\n", "\n", "x\tlabel\n", "1\trow 1\n", "2\trow 2\n"]
    assert proc.stderr.read() == ""


def test_a_pipe_keeps_empty_last_lines_of_every_chunk(cli, make_source, target):
    """Rows go out 1,000 lines at a time: a chunk (or a table) whose last row is an empty text
    keeps that line."""
    cli("migrate", "--source", make_source("legacy-qe", 5), "--target", target, "--dimension", DIM, "--no-backup")
    query = ("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000) "
             "SELECT CASE WHEN i % 10 = 9 THEN '' ELSE i END AS v FROM c")
    out = run("sql", "--target", target, query).stdout
    assert out.count("\n") == 3001 and out.splitlines()[999] == ""
    assert run("sql", "--target", target, "SELECT '' AS a").stdout == "a\n\n"


@pytest.mark.parametrize("good_rows", [5, 2500])
def test_a_statement_failing_midway_in_a_pipe_leaves_the_rows_before_it_then_one_error(cli, make_source, target,
                                                                                        good_rows):
    """As the sqlite3 shell does: the rows SQLite gave before the error, all of them (not those of
    the chunks already written), then one error line and exit 2."""
    cli("migrate", "--source", make_source("legacy-qe", 5), "--target", target, "--dimension", DIM, "--no-backup")
    query = (f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {good_rows + 10}) "
             f"SELECT CASE WHEN x > {good_rows} THEN abs(-9223372036854775807 - 1) ELSE x END AS v FROM c")
    done = run("sql", "--target", target, query)
    assert done.returncode == 2 and "integer overflow" in one_line(done.stderr)
    assert done.stdout.splitlines() == ["v", *map(str, range(1, good_rows + 1))]


@pytest.mark.parametrize("args", [
    ["status", "--target", "{t}", "--source", b"\xff.db"],
    ["verify", "--target", "{t}", "--source", b"\xff.db"],
    ["repair", "--target", "{t}", "--source", b"\xff.db"],
    ["export", "--target", "{t}", "--to", b"\xff.db"],
    ["reconcile", "--primary", "{t}", "--secondary", b"\xff.vecdb"],
    ["sql", "--target", "{t}", "--param", b"x=\xff", "SELECT :x"],
    ["sql", "--target", "{t}", b"SELECT '\xff'"],
    ["search", "--target", "{t}", "--id", b"\xff"],
])
def test_a_path_or_value_that_is_not_utf8_is_a_usage_error_in_every_command(make_source, tmp_path, args):
    """A hostile review: six commands answered bytes that are not UTF-8 with a UnicodeEncodeError
    traceback (exit 1, no JSON); migrate and sync already said it in one line."""
    target = tmp_path / "t.vecdb"
    run("migrate", "--source", make_source("legacy-qe", 5), "--target", target, "--dimension", DIM, "--no-backup")
    argv = [os.fsencode(str(BIN / "vecmigrate")),
            *[str(target).encode() if a == "{t}" else a if isinstance(a, bytes) else a.encode() for a in args], b"--json"]
    done = subprocess.run(argv, capture_output=True, timeout=120, cwd=tmp_path)
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 2 and "not valid UTF-8" in one_line(err) and "Traceback" not in err, err
    before = args[next(i for i, a in enumerate(args) if isinstance(a, bytes)) - 1]  # the flag it was given to
    assert one_line(err).startswith(f"error: {before if before.startswith('--') else 'the query'} "), err
    assert json.loads(done.stdout)["exit_code"] == 2


def test_an_error_naming_a_path_with_a_newline_is_still_one_line(make_source, tmp_path):
    done = run("status", "--target", tmp_path / "a\nb")
    assert done.returncode == 1 and "a\\nb" in one_line(done.stderr)
    done = run("migrate", "--source", tmp_path / "x\ny.db", "--target", tmp_path / "t.vecdb")
    assert done.returncode == 1 and "x\\ny.db" in one_line(done.stderr)


# what a second hostile review found

def test_a_folder_given_as_the_source_is_one_line(cli, make_source, target, tmp_path):
    """`--source .`, `/` or an empty value: a ValueError traceback from reading the file's state."""
    cli("migrate", "--source", make_source("legacy-qe", 5), "--target", target, "--dimension", DIM, "--no-backup")
    for source in (".", "/", ""):
        for command in ("migrate", "sync"):
            result = cli(command, "--source", source, "--target", target if command == "sync" else tmp_path / "n")
            assert result.exit_code == 1 and "is a directory" in one_line(result.stderr), (command, source)
    assert not (tmp_path / "n").exists()


def test_values_out_of_range_are_usage_errors(cli, make_source, target):
    """verify -k 0 / --queries -1 gave tracebacks (and no JSON); a dimension above vec0's 8,192 an
    SQLError (exit 1); NaN or infinite seconds were taken (sync --follow spun at full speed, no
    checkpoint was ever saved); a recall of NaN or 2 could never pass."""
    source = make_source("legacy-qe", 5)
    cli("migrate", "--source", source, "--target", target, "--dimension", DIM, "--no-backup")
    for args in (["verify", "-k", "0"], ["verify", "-k", "99999999999"], ["verify", "--queries", "-1"],
                 ["verify", "--min-recall", "nan"], ["verify", "--min-recall", "2"],
                 ["migrate", "--source", source, "--dimension", "9000"],
                 ["migrate", "--source", source, "--dimension", "999999999999", "--dry-run"],
                 ["migrate", "--source", source, "--checkpoint-seconds", "nan"],
                 ["sync", "--source", source, "--follow", "--interval", "nan"],
                 ["sync", "--source", source, "--follow", "--interval", "inf"]):
        result, error = cli.json(*args, "--target", target)
        assert result.exit_code == 2 and error["exit_code"] == 2, (args, result.stderr)
        assert args[-2] in one_line(result.stderr) or "-k" in result.stderr, (args, result.stderr)


def test_quiet_wins_over_a_log_level_from_the_environment(cli, make_source, target):
    """README: a flag wins over VECMIGRATE_LOG_LEVEL; -q printed every INFO line under it."""
    source = make_source("legacy-qe", 5)
    result = cli.runner.invoke(app, ["-q", "migrate", "--source", str(source), "--target", str(target),
                                     "--dimension", str(DIM), "--no-backup"], env={"VECMIGRATE_LOG_LEVEL": "info"})
    assert result.exit_code == 0 and result.stderr == "", result.stderr
    result = cli.runner.invoke(app, ["migrate", "--source", str(source), "--target", str(target)],
                               env={"VECMIGRATE_LOG_LEVEL": "info"})
    assert result.exit_code == 0 and " INFO " in result.stderr


def test_a_source_from_the_environment_leaves_a_mistyped_target_an_error(cli, make_source, tmp_path):
    """VECMIGRATE_SOURCE set, `status --target typo` showed a table and exit 0 (coverage 0 %): a
    script saw a target. An explicit --source still shows what a first migration would take."""
    source = make_source("legacy-qe", 5)
    typo = tmp_path / "typo.vecdb"
    result = cli.runner.invoke(app, ["status", "--target", str(typo)], env={"VECMIGRATE_SOURCE": str(source)})
    assert result.exit_code == 1 and "no vecmigrate target" in one_line(result.stderr)
    result = cli("status", "--target", typo, "--source", source)
    assert result.exit_code == 0 and "source count\t5" in result.stdout


def test_readers_name_a_first_migration_under_way_rather_than_advise_resuming_it(make_source, tmp_path):
    """While a first migrate runs, search/sql/verify said 'an interrupted first migration is
    there: run the same migrate command to resume it', which the lock then refused."""
    source = make_source("legacy-qe", 30)
    target = tmp_path / "t.vecdb"
    killed = run("migrate", "--source", source, "--target", target, "--dimension", DIM, "--no-backup",
                 env={"VECMIGRATE_CRASH_AT": "batch-committed"})
    assert killed.returncode == -signal.SIGKILL
    interrupted = run("search", "--target", target, "--text", "x")
    assert interrupted.returncode == 1 and "resume it" in one_line(interrupted.stderr)
    with lock_held_elsewhere(target, "migrate") as holder:
        for args in (["search", "--text", "x"], ["sql", "SELECT 1"], ["verify"]):
            done = run(*args, "--target", target)
            assert done.returncode == 1, (args, done.stderr)
            assert f"a first migration is running: PID {holder.pid}" in one_line(done.stderr), (args, done.stderr)


def test_report_lines_cannot_be_forged_by_newlines_in_the_data(cli, tmp_path):
    """An id and a table name with newlines made one quarantined row three lines on stderr, the
    last one starting as the data chose."""
    source = tmp_path / "nl.db"
    conn = apsw.Connection(str(source))
    conn.execute('CREATE TABLE "k\nv"(key TEXT, value TEXT)')
    conn.execute('INSERT INTO "k\nv" VALUES (?, ?), (?, ?)', ("dup\nFAKE: error line", "a", "dup\nFAKE: error line", "b"))
    conn.close()
    result = cli("migrate", "--source", source, "--target", tmp_path / "t.vecdb", "--table", "k\nv", "--id-column",
                 "key", "--text-columns", "value", "--no-backup", "--dimension", DIM)
    assert result.exit_code == 3
    assert one_line(result.stderr).startswith("quarantined k\\nv:dup\\nFAKE: error line (source rowid 2)")


def test_an_answer_that_cannot_be_written_is_exit_1(cli, make_source, target):
    """status, search, verify, sql and bench exist for their output: a full disk or closed stdout is
    a failure (exit 1), as for --help; a migrate that did its work still exits 0 (its own test)."""
    cli("migrate", "--source", make_source("legacy-qe", 20), "--target", target, "--dimension", DIM, "--no-backup")
    for args in (["status"], ["status", "--json"], ["search", "--text", "x"], ["verify"], ["sql", "SELECT 1"],
                 ["sql", "SELECT 1", "--json"], ["bench", "--queries", "3"]):
        with open("/dev/full", "w") as full:
            done = subprocess.run([str(BIN / "vecmigrate"), *args, "--target", str(target)], stdout=full,
                                  stderr=subprocess.PIPE, text=True, timeout=120)
        assert done.returncode == 1, (args, done.stderr)
        assert one_line(done.stderr) == "error: cannot write to stdout (No space left on device)", args


def test_shell_fed_a_script_stops_at_a_gone_reader_and_fails_on_a_failed_statement(cli, make_source, target):
    """`yes ... | vecmigrate shell | head -1` wrote two lines of 'Broken pipe' per statement left;
    a statement that failed in a script exited 0 (sqlite3 exits non-zero)."""
    cli("migrate", "--source", make_source("legacy-qe", 20), "--target", target, "--dimension", DIM, "--no-backup")
    script = target.parent / "script.sql"
    script.write_text("SELECT * FROM patterns;\n" * 2000)
    with open(script) as stdin:
        proc = subprocess.Popen([str(BIN / "vecmigrate"), "shell", "--target", str(target)], stdin=stdin,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.readline()
        proc.stdout.close()  # the reader goes (head -1)
        err = proc.stderr.read()
        assert proc.wait(timeout=120) == 0 and err == b"", err[:500]
    for script, code in (("SELECT count(*) FROM patterns;\n", 0), ("DELETE FROM patterns;\n", 2),
                         ("SELECT 1;\nSELEC oops;\nSELECT 2;\n", 2)):
        done = subprocess.run([str(BIN / "vecmigrate"), "shell", "--target", str(target)], input=script,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == code, (script, done.stderr)
        assert "Traceback" not in done.stderr and (code == 0) == (done.stderr == ""), (script, done.stderr)
    assert "20" in subprocess.run([str(BIN / "vecmigrate"), "sql", "--target", str(target),
                                   "SELECT count(*) FROM patterns"], capture_output=True, text=True).stdout


def test_an_embedder_name_that_is_none_is_a_usage_error_in_search_and_bench_checks_k_first(cli, make_source, target):
    """VECMIGRATE_EMBEDDER=bogus made search say the embedder 'does not make this target's vectors'
    (exit 1), where migrate calls the name wrong (exit 2); bench -k above vec0's limit measured
    USearch first (a numpy warning on stderr) and only then refused."""
    cli("migrate", "--source", make_source("legacy-qe", 20), "--target", target, "--dimension", DIM, "--no-backup")
    result = cli.runner.invoke(app, ["search", "--target", str(target), "--text", "x"],
                               env={"VECMIGRATE_EMBEDDER": "bogus"})
    assert result.exit_code == 2 and "expected 'lexical', 'minilm' or 'module:function'" in one_line(result.stderr)
    done = run("bench", "--target", target, "-k", "5000", "--queries", "3")
    assert done.returncode == 2 and one_line(done.stderr) == "error: -k 5000 is above sqlite-vec's limit of 4096"


# what a third hostile review found

def test_ctrl_c_that_usearch_catches_is_still_an_interrupt(make_source, target, tmp_path):
    """USearch checks for signals while it searches and ends the search with 'RuntimeError:
    Operation has been terminated' (the KeyboardInterrupt is gone): verify and bench printed that
    traceback, exit 1 (6 runs in 100). A sitecustomize does what USearch does, at the first search."""
    run("migrate", "--source", make_source("legacy-qe", 30), "--target", target, "--dimension", DIM, "--no-backup")
    (tmp_path / "sitecustomize.py").write_text(
        "import os, signal, sys, time\n"
        "import usearch.index\n"
        "def search(self, *args, **kwargs):\n"
        "    stopped = False\n"
        "    try:\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "        time.sleep(0.05)\n"
        "    except KeyboardInterrupt:\n"
        "        stopped = True  # (raised outside: USearch's error carries no trace of it)\n"
        "    if stopped:\n"
        "        raise RuntimeError('Operation has been terminated')\n"
        "usearch.index.Index.search = search\n")
    for args in (["verify"], ["bench", "--queries", "3"], ["search", "--text", "x", "--json"]):
        done = run(*args, "--target", target, env={"PYTHONPATH": str(tmp_path)})
        assert "Traceback" not in done.stderr, (args, done.stderr)
        assert done.returncode == 130 and one_line(done.stderr).startswith("error: interrupted"), (args, done.stderr)


def test_shell_scripts_keep_their_failures_their_writes_and_one_line_for_a_lost_stdout(cli, make_source, target):
    """A failed statement before `.exit` exited 0; `shell --write ... | head -1` dropped the
    writes after the first row and exited 0; a full disk named every statement as failed."""
    cli("migrate", "--source", make_source("legacy-qe", 20), "--target", target, "--dimension", DIM, "--no-backup")
    shell = [str(BIN / "vecmigrate"), "shell", "--target", str(target)]
    done = subprocess.run(shell, input="SELECT nosuch;\n.exit\n", capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    with open("/dev/full", "w") as full:
        done = subprocess.run(shell, input="SELECT 1;\nSELECT 2;\n", stdout=full, stderr=subprocess.PIPE, text=True,
                              timeout=60)
    assert done.returncode == 1 and one_line(done.stderr) == "error: cannot write to stdout (No space left on device)"
    script = target.parent / "write.sql"
    script.write_text("SELECT id FROM patterns;\n" * 200 + "DELETE FROM patterns WHERE id = 'pattern-000001';\n")
    with open(script) as stdin:
        proc = subprocess.Popen([*shell, "--write"], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.readline()
        proc.stdout.close()  # the reader goes (head -1)
        err = proc.stderr.read()
        assert proc.wait(timeout=120) == 0 and err == b"", err[:300]
    _, rows = cli.json("sql", "--target", target, "SELECT count(*) FROM patterns WHERE id = 'pattern-000001'")
    assert rows["rows"] == [[0]]


def test_verify_keeps_its_verdict_when_its_reader_goes(cli, make_source, target):
    """`vecmigrate verify ... | true` exited 0 on a failed check: a closed pipe was taken for the
    whole answer."""
    cli("migrate", "--source", make_source("legacy-qe", 20), "--target", target, "--dimension", DIM, "--no-backup")
    conn = apsw.Connection(str(target / "patterns.sqlite"))
    conn.execute("UPDATE vecmigrate_meta SET value = '0' WHERE key = 'index_checksum'")  # a check that fails
    conn.close()
    proc = subprocess.Popen([str(BIN / "vecmigrate"), "verify", "--target", str(target)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()
    proc.stderr.read()
    assert proc.wait(timeout=120) == 1


def test_search_by_id_with_mmr_answers_the_pattern_first(cli, make_source, target):
    """With --mmr, a byte-identical copy could come first (different ones on each backend), and
    sqlite-vec refused -k above 1,024 naming a k of four times that."""
    from vecmigrate import open_store
    from vecmigrate.models import Pattern
    cli("migrate", "--source", make_source("legacy-qe", 1500), "--target", target, "--dimension", DIM, "--no-backup")
    copies = [f"copy-{n}" for n in range(6)]
    vector = np.random.default_rng(3).standard_normal(DIM).astype(np.float32)
    with open_store(target, writable=True) as store:
        store.store_batch([Pattern(id=c, content=f"copy {c}") for c in copies], np.tile(vector, (6, 1)))
    for backend in ("usearch", "sqlite-vec"):
        for pattern_id in copies:
            for mmr in ("1", "0.5", "0"):
                _, hits = cli.json("search", "--target", target, "--id", pattern_id, "-k", "3", "--mmr", mmr,
                                   "--backend", backend)
                assert hits["hits"][0]["id"] == pattern_id, (backend, pattern_id, mmr)
        _, hits = cli.json("search", "--target", target, "--text", "x", "-k", "1025", "--mmr", "0.5", "--backend", backend)
        assert len(hits["hits"]) == 1025


def test_data_never_turns_into_emoji_and_an_interval_is_checked_without_follow(cli, make_source, target, tmp_path):
    source = make_source("legacy-qe", 5)
    conn = apsw.Connection(str(source))
    conn.execute("INSERT INTO patterns(id, name) VALUES ('pattern-:white_check_mark:-ok', '')")  # no template: quarantined
    conn.close()
    result = cli("migrate", "--source", source, "--target", target, "--dimension", DIM, "--no-backup")
    assert result.exit_code == 3 and "pattern-:white_check_mark:-ok" in result.stderr and "✅" not in result.stderr
    result = cli("sync", "--source", source, "--target", target, "--interval", "nan")
    assert result.exit_code == 2 and "--interval" in one_line(result.stderr)
