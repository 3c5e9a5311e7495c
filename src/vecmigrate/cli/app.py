"""The `vecmigrate` command line: parse, call one function of `commands`, render the result.

No SQL, APSW or USearch here. Every command takes `--json` (exactly one JSON object on
stdout); errors are one line on stderr, never a traceback for a user mistake.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from typer.core import TyperCommand, TyperGroup

try:  # typer >= 0.2x carries its own copy of click
    from typer._click import exceptions as click_errors
except ImportError:  # older typer runs on click itself
    from click import exceptions as click_errors

from ..defaults import (
    DEFAULT_CHECKPOINT_SECONDS,
    DEFAULT_KEEP_BACKUPS,
    DEFAULT_KEEP_GENERATIONS,
    DEFAULT_SOURCE,
    DEFAULT_TARGET,
    VEC0_MAX_K,
)
from ..errors import StrictModeError, UsageError, VecmigrateError
from . import output
from .output import OutputFailed, emit_json, note


def _unescaped(formatter) -> None:
    """Typer before 0.2x writes its own `[default: 1000]` as `\\[default: 1000]` (escaped for rich)
    even in plain help: shown as the user reads it."""
    formatter.buffer[:] = [part.replace("\\[", "[") for part in formatter.buffer]


class Command(TyperCommand):
    def format_help(self, ctx, formatter) -> None:  # noqa: D102
        super().format_help(ctx, formatter)
        _unescaped(formatter)


class Vecmigrate(TyperGroup):
    """The command group: a usage error the parser finds (an unknown option, `--batch-size lots`,
    a missing value) is one line on stderr, a JSON object on stdout under --json, and exit 2,
    like the usage errors vecmigrate finds itself."""

    def format_help(self, ctx, formatter) -> None:  # noqa: D102
        super().format_help(ctx, formatter)
        _unescaped(formatter)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # noqa: D102
        argv = list(sys.argv[1:] if args is None else args)
        as_json = "--json" in (argv[: argv.index("--")] if "--" in argv else argv)
        output.errors_shown, output.stdout_used = 0, False
        try:
            try:
                code = super().main(args=argv, prog_name=prog_name or "vecmigrate", complete_var=complete_var,
                                    standalone_mode=False, **extra)
            except click_errors.ClickException as exc:  # usage errors (exit 2), a file click could not open, ...
                code = usage_failure(exc, as_json)
            except typer.Abort as exc:  # a declined prompt, or Ctrl-C while the parser ran
                interrupted = isinstance(exc.__cause__, KeyboardInterrupt)
                code = 130 if interrupted else 1
                tell_failure("interrupted" if interrupted else "aborted", code, as_json)
        except (OSError, OutputFailed) as exc:  # --help, --version, completion: stdout cannot be written
            _drop_stdout()
            output.error_line(f"cannot write to stdout ({exc})")
            code = 1
        if code == 130 and not output.errors_shown:  # Ctrl-C while typer parsed: it exits 130 and says nothing
            tell_failure("interrupted", 130, as_json)
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


def usage_failure(exc: "click_errors.ClickException", as_json: bool) -> int:
    """One line for a parser's usage error: what is wrong, in which command, and where help is."""
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:  # `vecmigrate` alone (click >= 8.2)
        output.write(ctx.get_help())
        return 0
    where = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
    message = " ".join(exc.format_message().split()) + where
    output.error_line(message)
    if as_json:
        try:
            emit_json({"error": message, "exit_code": exc.exit_code})
        except OutputFailed:
            _drop_stdout()
    return exc.exit_code


app = typer.Typer(
    cls=Vecmigrate,
    no_args_is_help=True, add_completion=True, pretty_exceptions_enable=False, rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]})


def show_version(value: bool) -> None:
    if value:
        from .. import __version__
        output.write(f"vecmigrate {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", callback=show_version, is_eager=True,
                                          help="Print vecmigrate's version and exit.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print results and errors only (no notes, no progress).")] = False,
    log_level: Annotated[Optional[str], typer.Option("--log-level", envvar="VECMIGRATE_LOG_LEVEL", metavar="LEVEL",
                                                     help="debug, info (a line per phase and batch), warning (notes; the default) or error.")] = None,
) -> None:
    """Migrate AgentDB-family SQLite memories onto a USearch HNSW index and sqlite-vec tables,
    without losing a row.

    Settings may also come from the environment: VECMIGRATE_SOURCE, VECMIGRATE_TARGET,
    VECMIGRATE_EMBEDDER, VECMIGRATE_LOG_LEVEL.
    """
    if quiet and log_level is not None and ctx.get_parameter_source("log_level").name == "ENVIRONMENT":
        log_level = None  # a flag wins over VECMIGRATE_LOG_LEVEL
    if log_level is not None and log_level.lower() not in output.LOG_LEVELS:
        raise typer.BadParameter(f"expected one of {', '.join(output.LOG_LEVELS)}, got {log_level!r}",
                                 param_hint="'--log-level'")
    output.setup_logging(log_level, quiet=quiet)


JsonFlag = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]
TargetOpt = Annotated[Path, typer.Option("--target", readable=False, envvar="VECMIGRATE_TARGET",
                                         help="Target store directory.")]
SourceOpt = Annotated[Path, typer.Option("--source", readable=False, envvar="VECMIGRATE_SOURCE",
                                         help="Source AgentDB-style SQLite database.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log each phase and batch on stderr (--log-level info).")]


# Commands whose output is all they do: when it cannot be written they failed (exit 1), as --help
# and --version do; a command that changed something did its work, and says only that the report is lost.
ANSWERS_ONLY = frozenset({"status", "search", "verify", "sql_command", "bench"})


def handle_errors(func: Callable) -> Callable:
    """Catch vecmigrate's base error (and low-level I/O errors) once: one line, right exit code."""
    @functools.wraps(func)
    def run(*args, **kwargs):
        as_json = kwargs.get("as_json", False)
        if kwargs.get("verbose") and output.logger.getEffectiveLevel() > output.logging.INFO:
            output.setup_logging("info")  # (-v never hides what --log-level debug asked for)
        import signal
        import threading
        global ctrl_c_seen
        ctrl_c_seen = False
        noted = (signal.getsignal(signal.SIGINT) is signal.default_int_handler
                 and threading.current_thread() is threading.main_thread())
        if noted:  # Ctrl-C as ever, but remembered: USearch turns it into "RuntimeError: Operation has been terminated"
            signal.signal(signal.SIGINT, _note_ctrl_c)
        try:
            _refuse_undecodable(kwargs)
            return func(*args, **kwargs)
        except VecmigrateError as exc:
            from ..models import jsonable
            fail(str(exc), exc.exit_code, as_json,
                 bad_rows=[jsonable(vars(r)) for r in exc.bad_rows] if isinstance(exc, StrictModeError) else None)
        except OutputFailed as exc:
            _drop_stdout()
            if func.__name__ in ANSWERS_ONLY:  # its output is all it does: that failed (a closed pipe is let be)
                if exc.errno == errno.EPIPE:
                    raise typer.Exit(0) from None
                fail(f"cannot write to stdout ({exc})", 1, False)
            # the command did its work; only printing its result failed
            output.report(f"vecmigrate: the command finished, but its output could not be written to stdout ({exc})")
            raise typer.Exit(0) from None
        except OSError as exc:
            fail(f"{type(exc).__name__}: {exc}", 1, as_json)
        except MemoryError as exc:
            fail(f"{type(exc).__name__}: {exc}", 1, as_json)
        except KeyboardInterrupt:
            fail("interrupted; run the same command again (a migration resumes from its committed batches)", 130,
                 as_json)
        except UnicodeError as exc:  # (text from a file that is not UTF-8, past what was checked)
            fail(f"{type(exc).__name__}: {exc}", 2, as_json)
        except Exception as exc:  # apsw.Error and friends from disk/full/IO faults
            if caused_by_ctrl_c(exc) or ctrl_c_seen:  # e.g. "ImportError: initialization failed" from a C module
                fail("interrupted; run the same command again (a migration resumes from its committed batches)",
                     130, as_json)
            if type(exc).__module__ == "apsw":
                from ..db import describe
                fail(describe(exc), 1, as_json)
            raise
        finally:
            if noted and signal.getsignal(signal.SIGINT) is _note_ctrl_c:
                signal.signal(signal.SIGINT, signal.default_int_handler)
    return run


ctrl_c_seen = False


def _note_ctrl_c(_signum, _frame) -> None:
    """Python's own Ctrl-C (a KeyboardInterrupt), remembered: a compiled library that catches it
    (USearch ends a search with "RuntimeError: Operation has been terminated") still ends the
    command as an interrupt."""
    global ctrl_c_seen
    ctrl_c_seen = True
    raise KeyboardInterrupt


_FLAG_OF = {"query": "the query", "pattern_id": "--id", "type_": "--type"}  # (parameters named apart from their flag)


def load_commands():
    """vecmigrate.commands (and with it numpy, APSW, USearch), loaded with Ctrl-C held back until
    it is: a KeyboardInterrupt in the middle of a compiled module's initialisation comes out as
    something else (pybind11's "ImportError: initialization failed"; numpy prints the traceback
    itself and raises "numpy.core.multiarray failed to import"), where a Ctrl-C is one line."""
    import signal
    import threading
    if threading.current_thread() is not threading.main_thread():
        from .. import commands
        return commands
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
    if previous is None:  # (a handler set outside Python)
        previous = signal.default_int_handler
    try:
        from .. import commands
    except BaseException as exc:
        if caught:
            raise KeyboardInterrupt from exc
        raise
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught and previous is not signal.SIG_IGN:
        raise KeyboardInterrupt
    return commands


def caused_by_ctrl_c(exc: BaseException) -> bool:
    """Whether a Ctrl-C lies under this exception: a KeyboardInterrupt that cut short the loading
    of a compiled module (usearch's, numpy's) surfaces as the ImportError it caused."""
    seen: set[int] = set()
    cause: Optional[BaseException] = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def _refuse_undecodable(options: dict[str, Any]) -> None:
    """A path or value given in bytes that are not UTF-8 (Python keeps them as surrogates) cannot
    reach SQLite, which takes UTF-8 text: a usage error naming the option, before any work."""
    for name, value in options.items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, (str, Path)):
                try:
                    str(item).encode("utf-8")
                except UnicodeEncodeError:
                    given = _FLAG_OF.get(name) or f"--{name.replace('_', '-')}"
                    raise UsageError(f"{given} {str(item)!r} is not valid UTF-8; rename it or use a path or value "
                                     f"that is") from None


def fail(message: str, code: int, as_json: bool, **extra: Any) -> None:
    tell_failure(message, code, as_json, **extra)
    raise typer.Exit(code)


def tell_failure(message: str, code: int, as_json: bool, **extra: Any) -> None:
    """The error line on stderr and, under --json, the error as the one JSON object on stdout."""
    output.error_line(message)
    if as_json:
        try:
            emit_json({"error": message, "exit_code": code, **{k: v for k, v in extra.items() if v is not None}})
        except OutputFailed:  # stdout is gone (a closed pipe, a full disk): the error line on stderr stands
            _drop_stdout()


def _drop_stdout() -> None:
    """Send further output (and the interpreter's final flush) nowhere, so a stdout that cannot
    be written ends in one line on stderr, not in tracebacks."""
    import os
    try:
        sys.stdout = open(os.devnull, "w")
    except OSError:
        pass


@app.command(cls=Command)
@handle_errors
def migrate(
    source: SourceOpt = Path(DEFAULT_SOURCE),
    target: TargetOpt = Path(DEFAULT_TARGET),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate every row; write nothing at all.")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Rows per batch (one transaction each).")] = 1000,
    no_backup: Annotated[bool, typer.Option("--no-backup", help="Skip the source backup.")] = False,
    keep_backups: Annotated[int, typer.Option("--keep-backups", help="Source backups vecmigrate made that are kept (this run's included); older ones are removed. 0 keeps them all.")] = DEFAULT_KEEP_BACKUPS,
    dimension: Annotated[Optional[int], typer.Option("--dimension", help="Vector dimension (default: the stored vectors', else 384; an existing target's).")] = None,
    verbose: VerboseOpt = False,
    embedder: Annotated[Optional[str], typer.Option("--embedder", envvar="VECMIGRATE_EMBEDDER", help="'lexical', 'minilm' or module:function for rows without a stored embedding. Where the source stores vectors, rows without one get the same model's vectors when vecmigrate has it, else they are quarantined unless --embedder accepts another model (recorded as a mix). Default: the stored vectors' model; lexical for a source without vectors.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Refuse the whole migration if any row is bad; write nothing.")] = False,
    metric: Annotated[Optional[str], typer.Option("--metric", help="cos or l2sq [default: cos].")] = None,
    dtype: Annotated[Optional[str], typer.Option("--dtype", help="USearch scalar type: f32, f16, bf16 or i8 [default: f32].")] = None,
    connectivity: Annotated[Optional[int], typer.Option("--connectivity", help="HNSW M [default: 16].")] = None,
    expansion_add: Annotated[Optional[int], typer.Option("--expansion-add", help="HNSW efConstruction [default: 128].")] = None,
    expansion_search: Annotated[Optional[int], typer.Option("--expansion-search", help="HNSW efSearch [default: 64].")] = None,
    table: Annotated[Optional[str], typer.Option("--table", help="Read only this table (one of the layout's tables, a renamed copy, or with --id-column/--text-columns any table).")] = None,
    id_column: Annotated[Optional[str], typer.Option("--id-column", help="Generic mapping: the id column(s), comma-separated (several are joined with ':').")] = None,
    text_columns: Annotated[Optional[str], typer.Option("--text-columns", help="Generic mapping: the text column(s), comma-separated; col->$.key reads a key of a JSON column.")] = None,
    embedding_column: Annotated[Optional[str], typer.Option("--embedding-column", help="Generic mapping: the stored vector's column (float32 BLOB or JSON array text).")] = None,
    embedding_table: Annotated[Optional[str], typer.Option("--embedding-table", help="Generic mapping: a side table holding the vectors.")] = None,
    embedding_key: Annotated[Optional[str], typer.Option("--embedding-key", help="Generic mapping: the side table's column holding the row's id.")] = None,
    kind: Annotated[Optional[str], typer.Option("--kind", help="Generic mapping: what the rows are (search --kind filters on it); default: the table name.")] = None,
    source_float64: Annotated[bool, typer.Option("--source-float64", help="Blobs of 8 x dimension bytes are float64: convert them to float32.")] = False,
    keep_generations: Annotated[int, typer.Option("--keep-generations", help="Generations kept for rollback (the live one included); older ones are pruned.")] = DEFAULT_KEEP_GENERATIONS,
    checkpoint_seconds: Annotated[float, typer.Option("--checkpoint-seconds", help="Save the USearch index this often while migrating, so a resume re-adds little.")] = DEFAULT_CHECKPOINT_SECONDS,
    keep_deleted: Annotated[bool, typer.Option("--keep-deleted", help="Keep patterns whose source rows were deleted since the target last read the source.")] = False,
    on_conflict: Annotated[str, typer.Option("--on-conflict", help="A pattern written through a store since the source last wrote it, and changed (or deleted) in the source too: 'fail' refuses and lists them, 'source' takes the source's values, 'target' keeps the store's.")] = "fail",
    namespace: Annotated[Optional[str], typer.Option("--namespace", help="Store this source's pattern ids as NAME/id, apart from another source's same ids.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Migrate a source database into a target store (USearch index + sqlite-vec tables).

    The migration builds a new generation beside the live one and makes it live at the end;
    a killed run is resumed by running the same command again. Run again over a source the
    target holds, it is incremental: only new and changed rows are mapped, embedded and
    indexed, and patterns whose source rows are gone are deleted. Exit codes: 0 done; 1 failed
    with the target unchanged; 2 usage error; 3 done but some rows were quarantined (listed).
    """
    commands = load_commands()
    from ..verbs.migrate import MigrateOptions
    mapping = generic_mapping(table, id_column, text_columns, embedding_column, embedding_table, embedding_key, kind)
    options = MigrateOptions(batch_size=batch_size, dry_run=dry_run, backup=not no_backup, strict=strict,
                             keep_backups=keep_backups,
                             table=table, mapping=mapping, source_float64=source_float64, dimension=dimension,
                             embedder=embedder,
                             metric=metric, dtype=dtype, connectivity=connectivity, expansion_add=expansion_add,
                             expansion_search=expansion_search, keep_generations=keep_generations,
                             checkpoint_seconds=checkpoint_seconds, keep_deleted=keep_deleted,
                             on_conflict=on_conflict, namespace=namespace)
    with output.Progress("starting") as progress:
        result = commands.migrate(source, target, options, on_progress=progress.update, on_phase=progress.phase)
    if as_json:
        emit_json(result.to_dict())
    else:
        show_migration(result)
    raise typer.Exit(result.exit_code)


@app.command(cls=Command)
@handle_errors
def sync(
    source: Annotated[Path, typer.Option("--source", readable=False, envvar="VECMIGRATE_SOURCE", help="The source database the application keeps writing.")] = Path(DEFAULT_SOURCE),
    target: TargetOpt = Path(DEFAULT_TARGET),
    follow: Annotated[bool, typer.Option("--follow", help="Repeat a pass every --interval seconds until Ctrl-C (a clean stop, exit 0).")] = False,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between passes with --follow.")] = 2.0,
    on_conflict: Annotated[str, typer.Option("--on-conflict", help="A pattern written through a store since the source last wrote it, and changed (or deleted) in the source too: 'fail' refuses the pass and lists them, 'source' takes the source's values, 'target' keeps the store's.")] = "fail",
    keep_deleted: Annotated[bool, typer.Option("--keep-deleted", help="Keep patterns whose source rows were deleted.")] = False,
    table: Annotated[Optional[str], typer.Option("--table", help="Read only this table (default: what the target recorded for this source).")] = None,
    namespace: Annotated[Optional[str], typer.Option("--namespace", help="The source's namespace (default: the one recorded for it).")] = None,
    embedder: Annotated[Optional[str], typer.Option("--embedder", envvar="VECMIGRATE_EMBEDDER", help="For rows without a stored embedding: as for migrate (default: the target's).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Rows read per batch (each pass commits once).")] = 1000,
    verbose: VerboseOpt = False,
    as_json: JsonFlag = False,
) -> None:
    """Apply what changed in the source (new, changed and deleted rows) to the live target, in
    place, while the application and pattern stores in other processes keep writing it.

    One transaction per pass, through the change log. A source file unchanged since the last
    pass is not read. The target must hold the source already (`vecmigrate migrate` first);
    the mapping, tables and namespace it recorded for the source are used. Exit codes: 0 done
    (or stopped with Ctrl-C); 1 failed with the target unchanged by that pass (a conflict
    under --on-conflict fail, an unreadable source); 2 usage error; 3 done but rows were
    quarantined.
    """
    commands = load_commands()
    from ..verbs.migrate import MigrateOptions
    options = MigrateOptions(batch_size=batch_size, table=table, namespace=namespace, embedder=embedder,
                             on_conflict=on_conflict, keep_deleted=keep_deleted)
    on_pass = (lambda result: show_pass(result, quiet=not verbose)) if follow else None
    passes = commands.sync(source, target, options, follow=follow, interval=interval, on_pass=on_pass)
    last = passes[-1] if passes else None
    quarantined = sum(len(p.quarantined) for p in passes)
    if as_json:
        total = {k: sum(getattr(p, k) for p in passes) for k in ("inserted", "updated", "unchanged", "deleted")}
        emit_json({**(last.to_dict() if last else {}), "passes": len(passes), "totals": total,
                   "refused_passes": sum(1 for p in passes if p.refused),
                   "quarantined": [q for p in passes for q in p.quarantined],
                   "conflicts": [c for p in passes for c in p.conflicts]})
    elif not follow and last is not None:
        show_pass(last)
    raise typer.Exit(3 if quarantined else 0)


def show_pass(result, *, quiet: bool = False) -> None:
    """One line per pass, on stderr (stdout stays for --json); `quiet`: only passes that changed something."""
    when = time.strftime("%H:%M:%S", time.localtime(result.applied_at / 1000))
    if quiet and not (result.changes or result.conflicts or result.quarantined or result.refused):
        return
    if result.refused:
        line = f"{when} pass refused, nothing written: {result.refused}"
    elif not result.read:
        line = f"{when} in step: the source is unchanged since the last pass (change log at {result.seq})"
    else:
        line = (f"{when} applied {result.changes} change(s): {result.inserted} inserted, {result.updated} updated, "
                f"{result.deleted} deleted, {result.unchanged} unchanged; lag {result.lag_ms / 1000:.2f} s; "
                f"change log at {result.seq}")
        if result.kept_deleted:
            line += f"; {result.kept_deleted} deleted rows kept (--keep-deleted)"
        if result.deferred:
            line += (f"; {result.deferred} row(s) written through a store after this pass read the source: "
                     f"read again next pass")
    output.report(line)
    for conflict in [] if result.refused else result.conflicts:
        output.report(f"conflict {conflict['id']} ({conflict['source_table']}:{conflict['source_rowid']}): "
                      f"{conflict['what']}; {conflict['resolution']}")
    for row in result.quarantined[:50]:
        output.report(f"quarantined {row['id']} (source rowid {row['source_rowid']}): {row['reason']}")


def generic_mapping(table: Optional[str], id_column: Optional[str], text_columns: Optional[str],
                    embedding_column: Optional[str], embedding_table: Optional[str], embedding_key: Optional[str],
                    kind: Optional[str]):
    """The generic mapping the flags describe, or None when none of its flags is given."""
    from ..sources import GenericMapping
    given = {"--id-column": id_column, "--text-columns": text_columns, "--embedding-column": embedding_column,
             "--embedding-table": embedding_table, "--embedding-key": embedding_key, "--kind": kind}
    if not any(v is not None for v in given.values()):
        return None
    if table is None:
        raise UsageError(f"{', '.join(k for k, v in given.items() if v is not None)} need(s) --table")
    split = lambda text: tuple(p.strip() for p in (text or "").split(",") if p.strip())  # noqa: E731
    mapping = GenericMapping(table=table, id_columns=split(id_column), text_columns=split(text_columns),
                             embedding_column=embedding_column, embedding_table=embedding_table,
                             embedding_key=embedding_key, kind=kind)
    mapping.check()
    return mapping


def show_migration(result) -> None:
    rows = []
    verb = "would migrate" if result.dry_run else "migrated"
    rows.append(("layout", f"{result.schema} (table{'s' if len(result.tables) > 1 else ''} {result.source_table})"))
    rows.append((verb, f"{result.migrated_count} of {result.total_patterns} patterns"
                 + (f" ({result.skipped_count} committed before a resume)"
                    if result.skipped_count and not result.unchanged else "")))
    if not result.dry_run:
        rows.append(("changes", f"{result.inserted} inserted, {result.updated} updated, {result.unchanged} unchanged, "
                     f"{result.deleted} deleted" + (f" ({result.kept_deleted} kept: --keep-deleted)"
                                                    if result.kept_deleted else "")))
    if result.conflicts:
        rows.append(("conflicts", f"{len(result.conflicts)} (--on-conflict)"))
    rows.append(("quarantined", len(result.quarantined)))
    rows.append(("embeddings generated", f"{result.generated_embeddings} ({result.embedder})"))
    if result.model:
        rows.append(("model", result.model))
    if len(result.vector_models) > 1:
        rows.append(("vectors by model", ", ".join(f"{k}: {v}" for k, v in result.vector_models.items())))
    if result.history:
        rows.append(("history tables", ", ".join(f"{k}: {v}" for k, v in result.history.items())))
    if not result.dry_run:
        rows.append(("target", f"{result.target_db} (generation {result.generation})"))
        if result.pruned_generations:
            rows.append(("pruned", "generation(s) " + ", ".join(map(str, result.pruned_generations))))
        rows.append(("index", result.index_path))
        rows.append(("backup", result.backup_path or "none (--no-backup)"))
        if result.pruned_backups:
            rows.append(("backups removed", ", ".join(result.pruned_backups) + " (--keep-backups)"))
        rows.append(("valid", "yes" if result.validation.target_valid else f"NO: {result.validation.integrity_checks}"))
    rows.append(("duration", f"{result.duration_ms / 1000:.2f} s"))
    output.pairs(rows)
    for text in result.notes:
        note(text)
    for conflict in result.conflicts[:50]:
        output.report(f"conflict {conflict['id']} ({conflict['source_table']}:{conflict['source_rowid']}): "
                      f"{conflict['what']}; {conflict['resolution']}")
    for row in result.quarantined[:50]:
        output.report(f"quarantined {row.id} (source rowid {row.source_rowid}): {row.reason}")
    if len(result.quarantined) > 50:
        output.report(f"... and {len(result.quarantined) - 50} more (see: vecmigrate sql --file example_quarantine)")
    if result.source_rows_added:
        note(f"{result.source_rows_added} rows were added to the source after its snapshot; "
             f"run the same command again to bring them over")
    for error in result.errors:
        output.error_line(f"check failed: {error}")


@app.command(cls=Command)
@handle_errors
def status(
    ctx: typer.Context,
    target: TargetOpt = Path(DEFAULT_TARGET),
    source: Annotated[Optional[Path], typer.Option("--source", readable=False, envvar="VECMIGRATE_SOURCE", help="Source to compare with [default: the one the target was fed from].")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show source count, target count, coverage and whether the migration is complete, the
    generations and backups with the disk they take. Writes nothing. Exit 1 when the path is
    no target (with --source given, a target not made yet shows the source's count)."""
    commands = load_commands()
    from_environment = source is not None and ctx.get_parameter_source("source").name == "ENVIRONMENT"
    result = commands.status(target, source, require_target=from_environment)
    if as_json:
        emit_json(result.to_dict())
        return
    rows: list[tuple[str, Any]] = []
    rows.append(("source", f"{result.source or '-'}" + (f" ({result.schema})" if result.schema else "")))
    rows.append(("source count", "-" if result.source_count is None else result.source_count))
    rows.append(("target count", result.target_count))
    rows.append(("quarantined", result.quarantined_count))
    rows.append(("coverage", percent(result.coverage)))
    rows.append(("complete", "yes" if result.migration_complete else "no"))
    if result.generation is None:
        rows.append(("target", f"{result.target_db} (none yet: no generation is live)"))
    else:
        rows.append(("target", result.target_db))
        rows.append(("index", f"{result.index_path} ({result.index_count if result.index_count is not None else 'no'} vectors)"))
    if result.dimension:
        rows.append(("settings", f"{result.dimension}-d {result.metric} {result.dtype}"))
        rows.append(("model", f"{result.model or 'unknown'}" + (f" (text queries and new rows: {result.embedder})"
                                                                  if result.embedder else
                                                                  " (no embedder for it here: search by --id or --vector)")))
    if len(result.vector_models) > 1:
        rows.append(("vectors by model", ", ".join(f"{k}: {v}" for k, v in result.vector_models.items()) + " (a mix)"))
    if len(result.kinds) > 1 or (result.kinds and "pattern" not in result.kinds):
        rows.append(("kinds", ", ".join(f"{k}: {v}" for k, v in result.kinds.items())))
    rows.append(("generation", "none" if result.generation is None else result.generation))
    for g in result.generations:
        rows.append(("generations" if g is result.generations[0] else "", f"{g['generation']}: {g['state']}, "
                     f"{size(g['bytes'])}"))
    if not result.generations:
        rows.append(("generations", "none"))
    for b in result.backups:
        rows.append(("backups" if b == result.backups[0] else "", f"{b}, {size(result.disk_use['backups'][b])}"))
    if not result.backups:
        rows.append(("backups", "none"))
    rows.append(("disk use", f"{size(result.disk_use['total_bytes'])} ({len(result.generations)} generation(s), "
                 f"{len(result.backups)} backup(s); --keep-generations and --keep-backups of migrate bound it)"))
    for fed in result.sources:
        step = ("file gone" if fed["in_step"] is None else "in step" if fed["in_step"]
                else f"behind: changed since the last pass ({fed['behind_seconds']:.0f} s)")
        rows.append(("fed from", f"{fed['path']} ({fed['layout']}, {fed['tables']}"
                     + (f", namespace {fed['namespace']}" if fed["namespace"] else "")
                     + f"): {fed['patterns']} patterns, last read {fed['snapshot_at']}, {step}"))
    if result.change_log:
        log = result.change_log
        rows.append(("change log", f"at {log['position']} (index file at {log['index_seq']}, "
                     f"live since {log['live_seq']})"))
        since = result.writes_since_live
        rows.append(("writes since live", ", ".join(f"{n} from {o}" for o, n in since.items()) if since else "none"))
    written = result.versions.get("written_by") or {}
    if written:
        rows.append(("written by", ", ".join(f"{k} {v}" for k, v in written.items() if v and k != "embedder")))
        if written.get("embedder"):
            rows.append(("embedder", written["embedder"]))
    output.pairs(rows)
    for text in result.notes:
        note(text)


def percent(share: Optional[float]) -> str:
    """A share as a percentage that never rounds up to 100 % (4999 of 5000 is 99.98 %)."""
    if share is None:
        return "-"
    if share >= 1:
        return "100 %"
    digits = 1
    while digits < 6 and round(share * 100, digits) >= 100:
        digits += 1
    return f"{round(share * 100, digits):.{digits}f} %"


def size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


@app.command(cls=Command)
@handle_errors
def rollback(
    target: TargetOpt = Path(DEFAULT_TARGET),
    keep_writes: Annotated[bool, typer.Option("--keep-writes", help="Replay the writes made since the live generation went live (stores, sync) onto the restored one.")] = False,
    discard_writes: Annotated[bool, typer.Option("--discard-writes", help="Drop the writes made since the live generation went live.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Undo the last migration: make the previous generation live again (byte-identical files).

    Atomic and crash-safe; a second rollback steps one generation further back; rolling back
    the first migration removes the target. With nothing to roll back: exit 1. When stores or
    `sync` wrote the live generation since it went live, it refuses (exit 1, saying how many
    writes and from where) unless --keep-writes or --discard-writes says what to do with them.
    """
    commands = load_commands()
    result = commands.rollback(target, keep_writes=keep_writes, discard_writes=discard_writes)
    if as_json:
        emit_json(result.to_dict())
        return
    for text in result.notes:
        note(text)
    now = "the target is removed (as before its first migration)" if result.target_removed else \
        f"generation {result.now_at} is live"
    output.say(f"rolled back generation {result.rolled_back}: {now} ({result.duration_ms:.1f} ms)")


@app.command(cls=Command)
@handle_errors
def export(
    target: TargetOpt = Path(DEFAULT_TARGET),
    to: Annotated[Path, typer.Option("--to", readable=False, help="The database file to write (must not exist).")] = ...,
    layout: Annotated[Optional[str], typer.Option("--layout", help="The AgentDB-family layout to write (default: the layout of the source the target was fed from).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Write the target out as an AgentDB-family database, the way back after cut-over.

    Tables are created as the source had them. A pattern unchanged since it came from the
    source comes back as that very row (same columns, same rowid, the vector byte for byte);
    a changed one, or one written through a store, is written by the layout's reverse mapping.
    The file appears whole or not at all.
    """
    commands = load_commands()
    result = commands.export(target, to, layout=layout)
    if as_json:
        emit_json(result.to_dict())
        return
    for text in result.notes:
        note(text)
    tables = ", ".join(f"{t} {n}" for t, n in {**result.tables, **result.history}.items())
    output.say(f"exported {result.exact + result.rewritten} pattern(s) to {result.path} ({result.layout}: {tables}); "
               f"{result.exact} verbatim, {result.rewritten} through the reverse mapping, {len(result.skipped)} skipped")
    if result.skipped:
        raise typer.Exit(3)


@app.command(cls=Command)
@handle_errors
def repair(
    target: TargetOpt = Path(DEFAULT_TARGET),
    source: Annotated[Optional[Path], typer.Option("--source", readable=False, envvar="VECMIGRATE_SOURCE", help="The source the target was fed from: lost vectors and pattern rows are taken from its rows.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Bring one target back to consistency: patterns, vec0 mirror, USearch index, change log.

    A vector missing from vec0 is taken from the index file (when exact, f32), else from
    --source, else re-embedded with the target's own model; what cannot be recovered is listed
    and left as it is (exit 3). The index is rebuilt when it disagrees with vec0. Holds the
    target alone while it works, in one transaction.
    """
    commands = load_commands()
    report = commands.repair(target, source=source)
    if as_json:
        emit_json(report.to_dict())
    else:
        for text in report.notes:
            note(text)
        for item in report.restored:
            output.say(f"restored: {item['what']} for {item['id']} (key {item['key']}) from {item['from']}")
        for item in report.unrecoverable:
            output.say(f"unrecoverable: {item['what']}: {item['id'] or 'key ' + str(item['key'])} ({item['why']})")
        output.say(f"repaired generation {report.generation}: {report.restored_count} restored, "
                   f"{report.unrecoverable_count} unrecoverable, {report.log_entries_added} change-log entries added; "
                   f"index {report.index} ({report.duration_ms:.0f} ms)")
    if report.exit_code:
        raise typer.Exit(report.exit_code)


@app.command(cls=Command)
@handle_errors
def search(
    target: TargetOpt = Path(DEFAULT_TARGET),
    pattern_id: Annotated[Optional[str], typer.Option("--id", help="Search with this pattern's own vector.")] = None,
    text: Annotated[Optional[str], typer.Option("--text", help="Search with this text, through the target's embedder.")] = None,
    vector: Annotated[Optional[str], typer.Option("--vector", help="Search with this vector: a JSON array or comma-separated numbers.")] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="Number of results.")] = 10,
    type_: Annotated[Optional[str], typer.Option("--type", help="Only patterns of this type.")] = None,
    domain: Annotated[Optional[str], typer.Option("--domain", help="Only patterns of this domain.")] = None,
    framework: Annotated[Optional[str], typer.Option("--framework", help="Only patterns of this framework.")] = None,
    kind: Annotated[Optional[str], typer.Option("--kind", help="Only patterns of this kind (pattern, episode, skill, note, memory, ...).")] = None,
    embedder: Annotated[Optional[str], typer.Option("--embedder", envvar="VECMIGRATE_EMBEDDER", help="For --text on a target made with your module:function embedder: name it to run it.")] = None,
    threshold: Annotated[Optional[float], typer.Option("--threshold", help="Drop hits whose score is below this.")] = None,
    backend: Annotated[str, typer.Option("--backend", help="usearch (HNSW) or sqlite-vec (exact).")] = "usearch",
    mmr: Annotated[Optional[float], typer.Option("--mmr", help="Re-rank for diversity with MMR; lambda in [0, 1] (1 = relevance only).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Find the patterns most similar to a pattern, a text or a vector."""
    commands = load_commands()
    result = commands.search(target, pattern_id=pattern_id, text=text, vector=parse_vector(vector), k=k,
                             filters={"type": type_, "domain": domain, "framework": framework, "kind": kind},
                             threshold=threshold, backend=backend, mmr_lambda=mmr, embedder=embedder)
    for notice in result.notices:
        note(notice)
    if as_json:
        emit_json(result.to_dict())
        return
    if not output.stdout_is_terminal():  # a pipe: every value whole, the content too
        output.table(("rank", "id", "score", "distance", "type", "content"),
                     [(rank, h.id, h.score, h.distance, h.type, h.content) for rank, h in enumerate(result.hits, 1)])
        return
    width = output.console("out").width
    id_width = max((len(h.id) for h in result.hits), default=2)
    type_width = max((len(h.type or "") for h in result.hits), default=4)
    room = max(20, width - id_width - type_width - 26)  # what the other columns and borders leave
    rows = []
    for rank, hit in enumerate(result.hits, start=1):
        excerpt = " ".join(hit.content.split())
        excerpt = excerpt if len(excerpt) <= room else excerpt[: room - 1] + "…"
        rows.append((rank, hit.id, f"{hit.score:.4f}", hit.type or "", excerpt))
    output.table(("#", "id", "score", "type", "excerpt"), rows, title=f"{len(result.hits)} hit(s), {result.backend}",
                 no_wrap=True)


@app.command(cls=Command)
@handle_errors
def verify(
    target: TargetOpt = Path(DEFAULT_TARGET),
    source: Annotated[Optional[Path], typer.Option("--source", readable=False, help="Also check ids and stored embeddings against this source.")] = None,
    against: Annotated[Optional[Path], typer.Option("--against", readable=False, help="Also check ids and vectors against another target (e.g. a dual-write secondary).")] = None,
    sample: Annotated[Optional[int], typer.Option("--sample", help="Compare this many vectors (default: all).")] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="k for the exact-search and recall checks.")] = 10,
    queries: Annotated[int, typer.Option("--queries", help="Sample queries for the exact-search and recall checks.")] = 50,
    min_recall: Annotated[float, typer.Option("--min-recall", help="Lowest acceptable ANN recall@k of USearch against vec0.")] = 0.9,
    model: Annotated[bool, typer.Option("--model", help="Re-embed a sample of rows with the model their vectors are labelled with and count how many match (cosine >= 0.99).")] = False,
    model_sample: Annotated[int, typer.Option("--model-sample", help="Rows per model label re-embedded by --model.")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Cross-check a target's USearch index against its exact vec0 mirror.

    Counts, key sets of patterns / vec0 / USearch, vectors byte for byte, exact search,
    ANN recall, and optionally the source or another target. Exit 0 when every check holds, 1 otherwise (the first differences are listed).
    """
    if sample is not None and sample < 1:
        raise UsageError(f"--sample must be a positive integer, got {sample}")
    if model_sample < 1:
        raise UsageError(f"--model-sample must be a positive integer, got {model_sample}")
    if not 1 <= k <= VEC0_MAX_K:
        raise UsageError(f"-k must be a positive integer up to sqlite-vec's limit of {VEC0_MAX_K}, got {k}")
    if queries < 1:
        raise UsageError(f"--queries must be a positive integer, got {queries}")
    if not 0 <= min_recall <= 1:  # (nan too: no recall would pass)
        raise UsageError(f"--min-recall must be a share between 0 and 1, got {min_recall}")
    commands = load_commands()
    report = commands.verify(target, source=source, against=against, sample=sample, k=k, queries=queries,
                             min_recall=min_recall, model=model, model_sample=model_sample)
    verdict = 0 if report.ok else 1
    try:
        _show_verify(report, as_json)
    except OutputFailed as exc:  # (a reader gone: the verdict is still the exit code)
        if exc.errno != errno.EPIPE:
            raise
        _drop_stdout()
    raise typer.Exit(verdict)


def _show_verify(report, as_json: bool) -> None:
    if as_json:
        emit_json(report.to_dict())
    else:
        output.table(("check", "ok", "figures"),
                     [(name, "yes" if check["ok"] else "NO",
                       ", ".join(f"{key}={value}" for key, value in check.items() if key != "ok"))
                      for name, check in report.checks.items()],
                     styles={1: lambda v: "red" if v == "NO" else None})
        for difference in report.differences:
            output.report(f"difference: {difference}")


@app.command(cls=Command)
@handle_errors
def reconcile(
    primary: Annotated[Path, typer.Option("--primary", readable=False, envvar="VECMIGRATE_TARGET", help="The primary target of the dual write (holds the journal).")] = Path(DEFAULT_TARGET),
    secondary: Annotated[Path, typer.Option("--secondary", readable=False, help="The secondary of the dual write: another target, or the legacy AgentDB-family database written back in its own schema.")] = ...,
    primary_backend: Annotated[str, typer.Option("--primary-backend", help="usearch or sqlite-vec.")] = "usearch",
    secondary_backend: Annotated[str, typer.Option("--secondary-backend", help="usearch or sqlite-vec.")] = "sqlite-vec",
    as_json: JsonFlag = False,
) -> None:
    """Replay the dual-write journal and repair every difference between primary and secondary.

    With a legacy database as the secondary, each journaled write is done again from the
    primary as it is now (written back in the legacy schema, or deleted).

    Missing patterns are copied in either direction; where both have an id, the primary's
    row and vector win. An index that disagrees with its own vec0 mirror is rebuilt.
    """
    commands = load_commands()
    report = commands.reconcile(primary, secondary, primary_backend=primary_backend,
                                secondary_backend=secondary_backend)
    if as_json:
        emit_json(report.to_dict())
    else:
        output.pairs([(name.replace("_", " "), ", ".join(map(str, value)) if isinstance(value, list) else value)
                      for name, value in report.to_dict().items()])
    if report.still_failing:  # (they stay journaled for the next reconcile)
        raise typer.Exit(3)


def _sql_to_pipe(stream) -> None:
    """Each statement's rows as SQLite reads them: a header line per statement that has columns,
    a blank line between statements. A reader that stops early (`| head`) ends the query quietly."""
    lines = output.TsvLines()
    shown = 0
    try:
        with contextlib.closing(stream):
            try:
                for statement, row in stream:
                    if row is not None:
                        lines.row(row)
                    elif statement.columns:
                        if shown:
                            lines.pending.append("")  # a blank line between the statements' tables
                        lines.row(statement.columns)
                        shown += 1
            except Exception:  # a statement failed midway: the rows SQLite gave before it stand, as in sqlite3
                lines.flush()
                raise
            if not shown:
                lines.pending.append("")
            lines.flush()
    except OutputFailed as exc:
        _drop_stdout()
        if exc.errno == errno.EPIPE:
            raise typer.Exit(0) from None
        fail(f"cannot write to stdout ({exc})", 1, False)


@app.command(cls=Command)
@handle_errors
def shell(
    target: TargetOpt = Path(DEFAULT_TARGET),
    write: Annotated[bool, typer.Option("--write", help="Open the target read-write (takes the writer lock).")] = False,
) -> None:
    """APSW's interactive SQL shell on the target, with sqlite-vec already loaded.

    Read-only unless --write. Try: SELECT vec_version(); .tables; .help
    A script fed on stdin exits 2 when a statement in it failed (as `vecmigrate sql` does).
    No --json: use `vecmigrate sql --json` (or .mode json).
    """
    commands = load_commands()
    from ..verbs.shell import OutputLost
    try:
        commands.shell(target, write=write)
    except OutputLost as exc:
        _drop_stdout()
        if exc.errno == errno.EPIPE:  # (`| head`: the rest is not wanted)
            return
        if write:  # every statement ran; only their output is lost (as for a migrate)
            output.report(f"vecmigrate: the script ran, but its output could not be written to stdout ({exc})")
            return
        fail(f"cannot write to stdout ({exc})", 1, False)


@app.command(cls=Command)
@handle_errors
def bench(
    target: TargetOpt = Path(DEFAULT_TARGET),
    queries: Annotated[int, typer.Option("--queries", help="Queries for the fast backends (each answers its own share).")] = 300,
    slow_queries: Annotated[int, typer.Option("--slow-queries", help="Queries for sqlite-vec and the AgentDB-style baseline (p99 is shown from 100 queries on).")] = 100,
    k: Annotated[int, typer.Option("-k", "--k", help="Neighbours per query.")] = 10,
    chart: Annotated[Optional[Path], typer.Option("--chart", dir_okay=False, help="Also draw the comparison into this PNG file (needs the charts extra: pip install 'vecmigrate[charts]').")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Compare the backends on your target: AgentDB-style baseline, sqlite-vec, numpy, USearch.

    Single-query p50 and p99 latency (p99 only from 100 queries on), batch QPS (every query in
    one call: the USearch rows on all cores and on one), recall@k against exact brute force,
    and each backend's speed-up over the baseline at p50, on near-duplicates of stored vectors.
    Reads only (the baseline table is a temp file).
    """
    commands = load_commands()
    if chart is not None:
        from ..verbs.bench_chart import check_chart_support
        check_chart_support(chart)
    report = commands.bench(target, queries=queries, slow_queries=slow_queries, k=k)
    if chart is not None:
        from ..verbs.bench_chart import draw
        draw(report, chart)
    if as_json:
        emit_json({**report.to_dict(), "chart": str(chart) if chart else None})
        return
    output.table(("backend", "p50 ms", "p99 ms", "speed-up", "batch QPS", f"recall@{report.k}", "queries", "note"),
                 [(r.backend, f"{r.p50_ms:.4f}", "-" if r.p99_ms is None else f"{r.p99_ms:.4f}",
                   "-" if r.speedup is None else f"{r.speedup:,.1f}x", f"{r.qps:,.0f}", f"{r.recall_at_k:.4f}",
                   r.queries, r.note) for r in report.rows],
                 title=f"{report.count} patterns, {report.dimension}-d, k={report.k}")
    output.report(report.summary())
    if chart is not None:
        output.report(f"chart written to {chart}")


def parse_vector(text: Optional[str]) -> Optional[list[float]]:
    if text is None:
        return None
    import json
    try:
        values = json.loads(text) if text.strip().startswith("[") else [float(x) for x in text.split(",")]
        return [float(x) for x in values]
    except (ValueError, TypeError):
        raise UsageError("--vector: expected a JSON array or comma-separated numbers") from None


@app.command("sql", cls=Command)
@handle_errors
def sql_command(
    query: Annotated[Optional[str], typer.Argument(help="SQL to run (read-only); several statements separated by ';' each print their own table.")] = None,
    target: TargetOpt = Path(DEFAULT_TARGET),
    file: Annotated[Optional[str], typer.Option("--file", help="Run a named file from sql/ (see --list).")] = None,
    param: Annotated[Optional[list[str]], typer.Option("--param", help="Bind :name to value (repeatable).")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Print at most this many rows of each statement (a pipe gets rows as they are read; a terminal table and --json hold them all first).")] = None,
    list_files: Annotated[bool, typer.Option("--list", help="List the named SQL files with what each does (the examples first, then the statements vecmigrate runs itself) and exit.")] = False,
    show_extension_path: Annotated[bool, typer.Option("--extension-path", help="Print the sqlite-vec extension path for `.load` in the sqlite3 shell, and exit.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Run SQL against the target with sqlite-vec loaded (the target is opened read-only)."""
    commands = load_commands()
    from ..db import extension_path
    from ..verbs.sql import described_files, parse_params
    if show_extension_path:
        if as_json:
            emit_json({"extension_path": extension_path()})
        else:
            output.write(extension_path())
        return
    if list_files:
        files = described_files()
        if as_json:
            emit_json({"files": files})
        else:
            output.table(("name", "kind", "description"), [(f["name"], f["kind"], f["description"]) for f in files])
        return
    params = parse_params(param or [])
    if not as_json and not output.stdout_is_terminal():
        _sql_to_pipe(commands.sql_stream(target, query, file=file, params=params, limit=limit))
        return
    result = commands.sql(target, query, file=file, params=params, limit=limit)
    if as_json:
        emit_json(result.to_dict())
        return
    for n, statement in enumerate(result.statements):
        if n:
            output.write("")  # a blank line between the statements' tables
        many = len(result.statements) > 1
        output.table(statement.columns, statement.rows, title=statement.statement if many else None)
