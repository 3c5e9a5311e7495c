"""APSW's interactive shell, kept on the one target database it was opened on.

Commands that open another database, load code, run Python or shell commands, or write files
are refused; the read-only shell's connection also refuses every write (db.guard_reader)."""

from __future__ import annotations

import errno
import os
import sys

import apsw
from apsw.shell import Shell

# reopen, swap or close the connection (`.open` would escape the lock and the read-only mode)
_NEVER = ("open", "connection", "close", "restore", "load", "dbconfig", "limit")
# write files or run code: refused unless the user opened the shell with --write
_WRITES = ("backup", "output", "import", "autoimport", "log", "pages_svg", "py", "shell", "cd")


# stdout cannot be written: its reader went away (`| head`), a full disk, a closed stdout
_OUTPUT_LOST = (errno.EPIPE, errno.ENOSPC, errno.EDQUOT, errno.EBADF)


class OutputLost(Exception):
    """stdout could not be written (`errno`): a read-only shell stops there, as sqlite3 does."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error.strerror or str(error))
        self.errno = error.errno


def guarded_shell(conn: apsw.Connection, *, write: bool, stdin=None, stdout=None) -> Shell:
    """The shell; `shell.failed` counts the statements and commands that failed (a script fed
    on stdin then exits 2, as `vecmigrate sql` does). When stdout cannot be written, the
    read-only shell raises OutputLost; the writing one runs the rest of its statements, their
    output dropped (none of the script's writes is lost), and records it in `shell.output_lost`."""
    shell = Shell(db=conn, stdin=stdin, stdout=stdout)
    shell.failed = 0
    shell.output_lost = None
    say = shell.handle_exception

    def handle_exception() -> None:  # (APSW's: the error on stderr, after where it was)
        error = sys.exc_info()[1]
        if isinstance(error, OSError) and error.errno in _OUTPUT_LOST and shell.output_lost is None:
            if not write:
                raise OutputLost(error) from None  # (else one error per statement left: hundreds of lines)
            shell.output_lost = OutputLost(error)
            shell.stdout = open(os.devnull, "w")  # noqa: SIM115 - the shell's stdout until it ends
            return
        if not isinstance(error, SystemExit):  # (.exit, .quit)
            shell.failed += 1
        say()
    shell.handle_exception = handle_exception
    refused = _NEVER + (() if write else _WRITES)
    for name in refused:
        setattr(shell, f"command_{name}", _refusal(shell, name, write))
    if not write:
        read_sql = shell.command_read

        def read(cmd) -> None:  # APSW runs a `.py` file as Python: only SQL scripts here
            if any(str(arg).lower().endswith(".py") for arg in cmd):
                raise shell.Error(".read of a Python file is not available here: the read-only shell runs no "
                                  "code (vecmigrate shell --write allows it)")
            read_sql(cmd)
        shell.command_read = read
    return shell


def _refusal(shell: Shell, name: str, write: bool):
    def refuse(cmd) -> None:
        why = ("the shell stays on the target it opened" if name in _NEVER
               else "the read-only shell writes no file and runs no code (vecmigrate shell --write allows it)")
        raise shell.Error(f".{name} is not available here: {why}")
    return refuse
