"""The package's folders tell the flow a row takes (sources/, embed/, target/, stores/), and
every verb of the command line has its own module in verbs/: a newcomer finds each by name."""

from pathlib import Path

import vecmigrate
from vecmigrate.cli import app

PACKAGE = Path(vecmigrate.__file__).parent


def test_every_verb_has_its_module():
    names = {command.name or command.callback.__name__ for command in app.registered_commands}
    assert {"migrate", "sync", "export", "repair", "reconcile", "rollback", "verify", "status", "bench"} <= names
    missing = [n for n in names - {"search"} if not (PACKAGE / "verbs" / f"{n}.py").exists()]
    assert missing == []


def test_the_folders_hold_their_flows_and_the_top_holds_only_the_face():
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top <= {"__init__", "__main__", "commands", "errors", "models", "codec", "db", "files", "faults", "defaults"}
    assert {"app", "output"} <= {p.stem for p in (PACKAGE / "cli").glob("*.py")}  # parsing apart from printing
    for folder, modules in {"sources": {"base", "reverse", "writer", "generic"}, "embed": {"embedders", "minilm"},
                            "target": {"database", "changelog", "lineage", "generations", "index_file", "lock"},
                            "stores": {"legacy", "dual_write", "usearch_store", "sqlite_vec_store"}}.items():
        assert modules <= {p.stem for p in (PACKAGE / folder).glob("*.py")}, folder
