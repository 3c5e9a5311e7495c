"""`vecmigrate` and `python -m vecmigrate`. `main` loads the command line itself, so that a
Ctrl-C while it loads (typer, the commands) is the same one line and exit 130 as a Ctrl-C
later, not a KeyboardInterrupt traceback."""

# The C module under `signal`, loaded at every Python start-up: `import signal` would first load
# enum and functools (~5 ms of imports that a Ctrl-C could interrupt with a traceback).
import _signal
import os
import sys


def _interrupted_while_loading(_signum, _frame) -> None:
    # Nothing has been done yet, so nothing needs undoing: end here. (A KeyboardInterrupt raised
    # inside the import machinery can be swallowed as "Exception ignored", and the command run.)
    _say_interrupted(json=True)
    os._exit(130)


def _say_interrupted(*, json: bool) -> None:
    """The error line, and under --json (when `json`) the error as stdout's one JSON object, as
    `fail` writes it."""
    argv = sys.argv[1:]
    try:
        os.write(2, b"error: interrupted\n")
        if json and "--json" in (argv[: argv.index("--")] if "--" in argv else argv):
            os.write(1, b'{"error": "interrupted", "exit_code": 130}\n')
    except OSError:  # (a closed stderr or stdout: nothing more can be said)
        pass


# From here (as this module is imported) until the command line is loaded in main, a Ctrl-C is
# that one line: only Python's own start-up and the lines above come before it.
_LOADING = _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler
if _LOADING:
    _signal.signal(_signal.SIGINT, _interrupted_while_loading)


class _ClosedStdout:
    """stdout when the command started with it closed (`>&-`): every write fails as on a closed
    file, so a command ends as it does on a full disk ("its output could not be written")."""

    encoding = "utf-8"
    errors = "strict"

    def write(self, _text: str) -> int:
        raise OSError(9, "stdout is closed")  # (EBADF)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _hold_closed_descriptors() -> None:
    """Descriptors 0-2 closed at start leave sys.stdin/stdout/stderr None (a traceback at the first
    print), and the next file opened (a backup, an index) would take their number, where a write
    meant for stdout would land. Each is held on /dev/null instead."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is not None:
            continue
        held = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
        if held != fd:
            os.dup2(held, fd)
            os.close(held)
        setattr(sys, name, _ClosedStdout() if fd == 1 else open(fd, "r" if fd == 0 else "w", closefd=False))


def _end_interrupted() -> None:
    from .cli import output
    _say_interrupted(json=not output.stdout_used)  # (never a second JSON object after the result)
    sys.exit(130)


def main() -> None:
    _hold_closed_descriptors()
    try:
        from .cli import app
    finally:
        if _LOADING and _signal.getsignal(_signal.SIGINT) is _interrupted_while_loading:
            _signal.signal(_signal.SIGINT, _signal.default_int_handler)
    try:
        app(prog_name="vecmigrate")
    except KeyboardInterrupt:  # (later ones are caught per command, with what to do next)
        _end_interrupted()
    except Exception as exc:
        from .cli.app import caused_by_ctrl_c
        if not caused_by_ctrl_c(exc):  # (an ImportError a Ctrl-C caused in a compiled module, say)
            raise
        _end_interrupted()
    finally:  # the command is over: a Ctrl-C now would only interrupt Python's own shutdown
        _signal.signal(_signal.SIGINT, _signal.SIG_IGN)


if __name__ == "__main__":
    main()
