"""How the command line prints: results on stdout, everything else (errors, notes, logs,
progress) on stderr.

- Nothing is read as rich markup: ids, contents, paths and messages come from users and files,
  and `[...]` in them is text.
- Tables are drawn for a terminal (control characters shown escaped); in a pipe they are
  tab-separated rows with every value in full (see tsv_cell).
- Logs go through the standard `logging` module (logger "vecmigrate"); notes are warnings,
  per-batch and per-phase lines are info.
- rich is imported only when something is printed, so `--help` stays fast.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:
    from rich.console import Console

logger = logging.getLogger("vecmigrate")
LOG_LEVELS = ("debug", "info", "warning", "error")


class OutputFailed(Exception):
    """Writing the command's result to stdout failed (a full disk, a closed pipe): the command's
    work is done, so this is not exit 1 ("the live target unchanged")."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class _Stdout:
    """sys.stdout (looked up at each write, as tests swap it), whose write errors say they are that."""

    def write(self, text: str) -> int:
        try:
            return sys.stdout.write(text)
        except OSError as exc:
            raise OutputFailed(_describe(exc), exc.errno) from None

    def flush(self) -> None:
        try:
            sys.stdout.flush()
        except OSError as exc:
            raise OutputFailed(_describe(exc), exc.errno) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(sys.stdout, name)


def _describe(exc: OSError) -> str:
    return f"{exc.strerror} ({exc.filename})" if exc.strerror and exc.filename else (exc.strerror or str(exc))


_consoles: dict[str, "Console"] = {}


def console(stream: str) -> "Console":
    """The rich Console on 'out' (stdout) or 'err' (stderr), made on first use, markup off."""
    if stream not in _consoles:
        from rich.console import Console

        class ErrConsole(Console):
            def on_broken_pipe(self) -> None:
                """rich's own answer (stdout to /dev/null and SystemExit(1)) would end a command whose
                work goes on because a pipe reading its notes closed: the notes are let go instead."""
        _consoles[stream] = ErrConsole(stderr=True, markup=False, highlight=False, emoji=False) if stream == "err" else \
            Console(file=_Stdout(), markup=False, highlight=False, emoji=False)  # (":smile:" in data stays text)
    return _consoles[stream]


# control characters (ESC, BEL, NUL, C1 ...) shown as escapes on a terminal, so that an id or a
# path taken from a file cannot move the cursor, clear the screen or set the title
_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x00, 0x09), *range(0x0b, 0x20), *range(0x7f, 0xa0)]}
# and the characters that reorder or hide text (bidi overrides, zero-width, line separators)
_CONTROL.update({c: f"\\u{c:04x}" for c in [*range(0x200b, 0x2010), *range(0x2028, 0x202f), *range(0x2066, 0x206a),
                                             0xfeff]})


def visible(text: str) -> str:
    return text.translate(_CONTROL)


def _print_err(renderable) -> None:
    """Print on stderr; a stderr that cannot be written (a closed pipe, a full disk) is let be:
    losing a note must not fail a command whose work is done."""
    try:
        console("err").print(renderable, soft_wrap=True)
    except OSError:
        pass


def stdout_is_terminal() -> bool:
    return console("out").is_terminal


stdout_used = False  # whether this command wrote to stdout (through write)


def write(text: str) -> None:
    """Plain text on stdout, as it is (no markup, no wrapping, no cutting)."""
    global stdout_used
    stdout_used = True
    stdout = _Stdout()
    stdout.write(text if text.endswith("\n") else text + "\n")
    stdout.flush()


def say(text: str) -> None:
    """One line on stdout: wrapped for a terminal, whole in a pipe."""
    if stdout_is_terminal():
        console("out").print(visible(text), soft_wrap=True)
    else:
        write(text)


def emit_json(payload: dict[str, Any]) -> None:
    from ..models import jsonable
    write(json.dumps(_finite(payload), default=jsonable, ensure_ascii=False, allow_nan=False))


def _finite(value: Any) -> Any:
    """JSON has no Infinity or NaN: such a float (a SQL result, a score) becomes the string
    "Infinity", "-Infinity" or "NaN", so that every JSON parser reads the output."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


errors_shown = 0  # error lines printed by this command (the parser's Ctrl-C prints none)


def error_line(message: str) -> None:
    """`error: ...` on stderr, in red on a terminal; always shown (-q included). One line: a
    newline in it (a path, a value) is shown as \\n."""
    global errors_shown
    from rich.text import Text
    text = Text("error:", style="red")
    text.append(" " + visible(message).replace("\n", "\\n"))
    _print_err(text)
    errors_shown += 1  # (after: a Ctrl-C while rich loads leaves the line unshown)


def note(message: str) -> None:
    """A note for the user: a warning on the "vecmigrate" logger (hidden by -q)."""
    logger.warning("note: %s", message)


def tsv_cell(value: Any) -> str:
    """A value in a tab-separated row, whole: NULL is \\N (the text 'NULL' stays NULL), a blob is
    X'hex', and a backslash, tab, newline, carriage return or NUL inside text is escaped."""
    if value is None:
        return "\\N"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"X'{bytes(value).hex()}'"
    text = str(value)
    return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
            .replace("\x00", "\\0"))


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None,
          header: bool = True, styles: dict[int, Callable[[Any], str | None]] | None = None,
          no_wrap: bool = False) -> None:
    """Rows on stdout: a rich table on a terminal, tab-separated lines (header first) in a pipe."""
    if not stdout_is_terminal():
        lines = ["\t".join(tsv_cell(c) for c in columns)] if header else []
        lines += ["\t".join(tsv_cell(v) for v in row) for row in rows]
        if lines:
            write("\n".join(lines) + "\n")  # (its own newline: a last line may be empty)
        return
    from rich.table import Table
    from rich.text import Text
    drawn = Table(title=title, show_header=header, box=None if not header else Table().box)
    for column in columns:
        drawn.add_column(Text(visible(column)), no_wrap=no_wrap)
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            style = (styles or {}).get(i, lambda v: None)(value)
            cells.append(Text(visible(_shown(value)), style=style or ""))
        drawn.add_row(*cells)
    console("out").print(drawn)


class TsvLines:
    """Tab-separated lines on stdout as they come, written a chunk at a time: a pipe gets a long
    result while it is read, in constant memory."""

    def __init__(self, chunk: int = 1000) -> None:
        self.chunk = chunk
        self.pending: list[str] = []

    def row(self, values: Sequence[Any]) -> None:
        self.pending.append("\t".join(tsv_cell(v) for v in values))
        if len(self.pending) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            lines, self.pending = self.pending, []
            write("\n".join(lines) + "\n")  # (its own newline: a last line may be empty)


def _shown(value: Any) -> str:
    """A value in a drawn table: NULL, a blob by its size, else its text."""
    if value is None:
        return "NULL"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<blob {len(bytes(value))} bytes>"
    return str(value)


def pairs(items: Sequence[tuple[str, Any]]) -> None:
    """Name/value lines (a summary): aligned on a terminal, `name<TAB>value` in a pipe."""
    table(("name", "value"), [(name, value) for name, value in items], header=False)


class StderrHandler(logging.Handler):
    """Log records on stderr through the rich console, so they print above a live progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = visible(self.format(record)).replace("\n", "\\n")  # one line per record (see report)
        except Exception:  # noqa: BLE001 - logging must never fail the command
            self.handleError(record)
            return
        _print_err(text)


def setup_logging(level: str | None, *, quiet: bool = False, verbose: bool = False) -> None:
    """The "vecmigrate" logger's level: --log-level (or VECMIGRATE_LOG_LEVEL), else -v (info),
    -q (errors only), else warnings (notes). Below warning, lines carry a time and level."""
    name = (level or ("error" if quiet else "info" if verbose else "warning")).lower()
    numeric = getattr(logging, name.upper())
    handler = StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s") if numeric >= logging.WARNING else
                         logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    for old in [h for h in logger.handlers if isinstance(h, StderrHandler)]:
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(numeric)
    logger.propagate = False


def is_quiet() -> bool:
    return logger.getEffectiveLevel() > logging.WARNING


class Progress:
    """Labelled phases with a bar (done/total, rate, time left) on stderr, when stderr is a
    terminal and the command is not quiet; also under --json (stdout stays one JSON object).

    `phase(label)` starts a phase without a count (a spinner and the time spent);
    `update(done, total)` counts the current phase (its rate from the phase's first count).
    The log lines of each phase are the migrator's.
    """

    def __init__(self, label: str) -> None:
        self.enabled = console("err").is_terminal and not is_quiet() and not os.environ.get("VECMIGRATE_NO_PROGRESS")
        self.label = label
        self._progress = None
        self._task = None
        self._counting_from: tuple[int, float] | None = None  # rows done and when, at the phase's first count

    def __enter__(self) -> "Progress":
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                SpinnerColumn,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress
            self._progress = rich_progress = RichProgress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TaskProgressColumn(), TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                console=console("err"), transient=True, redirect_stdout=False)
            # (rich would send what is written to stdout meanwhile through the stderr console: a
            # result lost with stderr, and stdout left so when a failed drawing never stops it)
            self._task = rich_progress.add_task(self.label, total=None, rate="")
            self._safely(rich_progress.start)
        return self

    def _safely(self, action, *args, **kwargs) -> None:
        """Drawing fails only when stderr went away (a closed terminal, a closed pipe): the
        command's work goes on, undrawn."""
        try:
            action(*args, **kwargs)
        except OSError:
            progress, self._progress = self._progress, None
            try:  # stopped all the same: its refresh thread ends, and sys.stderr is given back
                progress.stop()
            except OSError:
                pass

    def phase(self, label: str) -> None:
        """Each phase is drawn at least twice, however fast: its last counts as it ends and its
        label as it starts (the bar's own refresh, ten a second, would skip a short phase)."""
        self._counting_from = None
        if self._progress is not None:
            self._safely(self._progress.refresh)
        if self._progress is not None:  # a new task: rich's reset() keeps the last phase's total
            self._safely(self._progress.remove_task, self._task)
        if self._progress is not None:
            self._task = self._progress.add_task(label, total=None, rate="")
            self._safely(self._progress.refresh)

    def update(self, done: int, total: int | None) -> None:
        if self._progress is None:
            return
        if self._counting_from is None:  # (a resume starts above 0)
            self._counting_from = (done, time.monotonic())
        counted, spent = done - self._counting_from[0], time.monotonic() - self._counting_from[1]
        rate = f"{counted / spent:,.0f} rows/s" if spent > 0.5 and counted else ""
        self._safely(self._progress.update, self._task, completed=done, total=total, rate=rate)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._safely(self._progress.stop)
            self._progress = None


def report(text: str) -> None:
    """A line of the command's report on stderr (a sync pass, a conflict, a quarantined row),
    shown under -q too: stdout stays for the result (and for --json). One line: a newline in
    it (an id or a table name from the source) is shown as \\n, so no line can be forged."""
    _print_err(visible(text).replace("\n", "\\n"))
