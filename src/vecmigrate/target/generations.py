"""Generations of a target's files, and the atomic switch between them.

    <target>/gen-000001/patterns.sqlite, patterns.usearch   one generation per migration
    <target>/gen-000002/...
    <target>/current -> gen-000002                          the live generation (a symlink)
    <target>/patterns.sqlite -> current/patterns.sqlite     what users open
    <target>/patterns.usearch -> current/patterns.usearch

A migration builds a new generation beside the live one (starting from a copy of it) and
makes it live by replacing the `current` symlink: one atomic rename, so a crash leaves either
the old pair or the new pair in place, never a mix. The previous generation's files are never
touched again, so a rollback, which points `current` back, restores them byte for byte.

Files in a generation directory say what it is:
    PARENT        the generation it was built from (0: the target's first); written before
                  the directory gets its gen-* name, so every generation has one
    BUILDING      a migration is writing it, or finished it but did not make it live yet: the
                  same migrate command resumes it (removed once the generation is live)

A rollback first writes its intent (`<target>/.rollback`: from which generation to which),
then swaps and deletes; a killed rollback is finished by the next command, never repeated.
A generation is deleted by renaming it to `.trash-*` (atomic) before its files are removed.

vecmigrate writes only inside its target: every entry it would follow, replace or delete is
checked first (`check_shape`), and a target holding a link that leads elsewhere, or a file
vecmigrate did not make where its own would go, is refused, not repaired.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from ..db import copy_database, open_target
from ..errors import TargetError
from ..faults import crash_point
from ..files import fsync_dir, fsync_file, write_new

GEN_PREFIX = "gen-"
CURRENT = "current"
BUILDING = "BUILDING"
PARENT = "PARENT"
ROLLBACK_INTENT = ".rollback"
TRASH_PREFIX = ".trash-"
DB_NAME = "patterns.sqlite"
INDEX_NAME = "patterns.usearch"
LOCK_NAME = ".lock"
_GEN_NAME = re.compile(r"gen-[0-9]{6,}")
# what SQLite and vecmigrate create inside a generation: none of them may be a link
_GEN_FILES = (DB_NAME, INDEX_NAME, BUILDING, PARENT, DB_NAME + "-wal", DB_NAME + "-shm", DB_NAME + "-journal",
              INDEX_NAME + ".tmp")


class UnsafeTarget(TargetError):
    """The target directory holds something vecmigrate did not make where its own files go."""


class LostGeneration(TargetError):
    """`current` names a generation that is not there."""


@dataclass(frozen=True)
class Generation:
    path: Path

    @property
    def number(self) -> int:
        return int(self.path.name[len(GEN_PREFIX):])

    @property
    def db(self) -> Path:
        return self.path / DB_NAME

    @property
    def index(self) -> Path:
        return self.path / INDEX_NAME

    @property
    def building(self) -> bool:
        return (self.path / BUILDING).exists()

    @property
    def parent(self) -> int | None:
        """The generation this one was built from (0 for a target's first; None if unknown)."""
        return self._number_in(PARENT)

    def building_run(self) -> int | None:
        """The run a BUILDING generation was started for (None until its run is recorded)."""
        return self._number_in(BUILDING)

    def _number_in(self, marker: str) -> int | None:
        try:
            text = (self.path / marker).read_text().strip()
        except (OSError, UnicodeDecodeError):
            return None
        return int(text) if text.isascii() and text.isdigit() else None

    def record_building_run(self, run_id: int) -> None:
        write_new(self.path / BUILDING, str(run_id).encode())

    def unmark(self, marker: str) -> None:
        (self.path / marker).unlink(missing_ok=True)
        fsync_dir(self.path)


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def db(self) -> Path:
        return self.root / DB_NAME

    @property
    def index(self) -> Path:
        return self.root / INDEX_NAME

    def generation(self, number: int) -> Generation:
        return Generation(self.root / f"{GEN_PREFIX}{number:06d}")

    def generations(self) -> list[Generation]:
        if not self.root.is_dir():
            return []
        check_shape(self)
        found = [Generation(p) for p in self.root.iterdir() if _GEN_NAME.fullmatch(p.name)]
        return sorted(found, key=lambda g: g.number)

    def current(self) -> Generation | None:
        """The live generation: the one the `current` symlink names (what every reader, ours or
        the sqlite3 shell through <target>/patterns.sqlite, sees). None before a first migration;
        an error when `current` names a generation that is not there: nothing is guessed."""
        if not self.root.is_dir():
            return None
        check_shape(self)
        link = self.root / CURRENT
        if not link.is_symlink():
            finished = [g.path.name for g in self.generations() if not g.building]
            if finished and read_intent(self) is not None:
                raise LostGeneration(f"a rollback of {self.root} was interrupted: run `vecmigrate rollback --target "
                                     f"{self.root}` to finish it")
            if finished:  # vecmigrate never leaves this: `current` was removed or moved by hand
                raise LostGeneration(
                    f"{self.root} holds finished generations ({', '.join(finished)}) but no `current` link saying "
                    f"which is live: vecmigrate will not guess; make the live one current by hand "
                    f"(ln -s {finished[-1]} {link})")
            return None
        generation = Generation(self.root / os.readlink(link))
        if not generation.path.is_dir():
            kept = [g.path.name for g in self.generations()]
            raise LostGeneration(
                f"the live generation {generation.path.name} of {self.root} is missing (`current` names it, "
                f"it was deleted by hand?): vecmigrate will not guess which generation holds your data; restore "
                f"it, or make a kept generation live by hand"
                + (f" (ln -sfn {kept[-1]} {link}; kept: {', '.join(kept)})" if kept else " (none is kept)"))
        return generation

    def exists(self) -> bool:
        current = self.current()
        return current is not None and current.db.exists()

    def being_removed(self) -> list[Path]:
        """Generations a killed command was removing (`.trash-gen-*` folders; never a link)."""
        return [p for p in sorted(self.root.glob(f"{TRASH_PREFIX}{GEN_PREFIX}*"))
                if _GEN_NAME.fullmatch(p.name[len(TRASH_PREFIX):]) and p.is_dir() and not p.is_symlink()]

    def holds_a_target(self) -> bool:
        """Whether vecmigrate made anything here (the live link, a generation, one being removed),
        whole or half done: only a migrate locks a folder that holds none of it."""
        try:
            names = os.listdir(self.root)
        except OSError:
            return False
        return any(n == CURRENT or _GEN_NAME.fullmatch(n) or n.startswith(TRASH_PREFIX) for n in names)

    def newer_than_current(self) -> list[Generation]:
        current = self.current()
        floor = current.number if current else 0
        return [g for g in self.generations() if g.number > floor]


def check_root(root: Path) -> None:
    """A target path must be a directory (or not exist yet)."""
    if root.is_symlink() and not root.exists():
        raise UnsafeTarget(f"--target {root} is a dangling link")
    if root.exists() and not root.is_dir():
        raise UnsafeTarget(f"--target {root} is a file, not a target directory: name a directory "
                           f"(vecmigrate creates it)")


def check_shape(layout: Layout) -> None:
    """Refuse a target in which following, replacing or deleting vecmigrate's own entries would
    touch anything outside it, or replace a file vecmigrate did not make."""
    root = layout.root
    check_root(root)
    link = root / CURRENT
    if os.path.lexists(link):
        if not link.is_symlink():
            raise UnsafeTarget(f"{link} is not the link vecmigrate makes; refusing to use {root} as a target "
                               f"(move it away, or choose another --target)")
        if not _GEN_NAME.fullmatch(os.readlink(link)):
            raise UnsafeTarget(f"{link} points to {os.readlink(link)!r}, not to a generation inside the target; "
                               f"vecmigrate never follows a link outside its target: refusing {root}")
    for name in (DB_NAME, INDEX_NAME):
        entry = root / name
        if os.path.lexists(entry) and not (entry.is_symlink() and os.readlink(entry) == f"{CURRENT}/{name}"):
            what = "a link to somewhere else" if entry.is_symlink() else "a file vecmigrate did not make"
            raise UnsafeTarget(f"{entry} is {what}; vecmigrate will not replace it: move it away, or choose "
                               f"another --target")
    temp_link = root / (CURRENT + ".tmp")
    if os.path.lexists(temp_link) and not (temp_link.is_symlink() and _GEN_NAME.fullmatch(os.readlink(temp_link))):
        raise UnsafeTarget(f"{temp_link} is not a link vecmigrate made; remove it (vecmigrate replaces it)")
    for name in (LOCK_NAME, ROLLBACK_INTENT, ROLLBACK_INTENT + ".tmp"):
        entry = root / name
        if entry.is_symlink():
            raise UnsafeTarget(f"{entry} is a link; vecmigrate never writes through a link: remove it")
        if os.path.lexists(entry) and not entry.is_file():
            raise UnsafeTarget(f"{entry} is not a regular file; vecmigrate writes it: remove it")
    for entry in root.iterdir():
        if not _GEN_NAME.fullmatch(entry.name):
            continue
        if entry.is_symlink() or not entry.is_dir():
            raise UnsafeTarget(f"{entry} is {'a link' if entry.is_symlink() else 'not a directory'}; a generation "
                               f"must be a directory inside the target: refusing {root}")
        for name in _GEN_FILES:
            _refuse_links(entry / name, root)


def _refuse_links(path: Path, root: Path) -> None:
    """A file vecmigrate writes in place must be its own: not a symlink, not a hard link shared
    with a name elsewhere (writing it would change that file too)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode) or (stat.S_ISREG(info.st_mode) and info.st_nlink > 1):
        kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "a hard link shared with another name"
        raise UnsafeTarget(f"{path} is {kind}; vecmigrate never writes through a link: refusing {root}")


def point_current(layout: Layout, generation: Generation) -> None:
    """Make `generation` live: replace the `current` symlink in one rename."""
    temp = layout.root / (CURRENT + ".tmp")
    temp.unlink(missing_ok=True)
    os.symlink(generation.path.name, temp)
    os.replace(temp, layout.root / CURRENT)
    for name in (DB_NAME, INDEX_NAME):
        link = layout.root / name
        if not os.path.lexists(link):  # check_shape refused anything else in its place
            os.symlink(f"{CURRENT}/{name}", link)
    fsync_dir(layout.root)


def clear_current(layout: Layout) -> None:
    (layout.root / CURRENT).unlink(missing_ok=True)
    fsync_dir(layout.root)


def new_generation(layout: Layout) -> Generation:
    """A new BUILDING generation holding a copy of the live one (or nothing, for a new target)."""
    layout.root.mkdir(parents=True, exist_ok=True)
    current = layout.current()
    number = max((g.number for g in layout.generations()), default=0) + 1
    # Made under a temporary name and renamed once marked, so that a gen-* directory always
    # carries its markers: a half-made one is never mistaken for a finished generation.
    temp = layout.root / f".{GEN_PREFIX}{number:06d}.tmp"
    _remove_tree(temp)
    temp.mkdir()
    write_new(temp / BUILDING, b"")
    write_new(temp / PARENT, str(current.number if current else 0).encode())
    generation = layout.generation(number)
    os.rename(temp, generation.path)
    fsync_dir(layout.root)
    if current is not None and current.db.exists():
        _copy_database(current.db, generation.db)
        if current.index.exists():
            _copy_file(current.index, generation.index)
    return generation


def _copy_database(source: Path, dest: Path) -> None:
    src = open_target(source, readonly=True)  # (rolls back a dead writer's journal first)
    try:
        copy_database(src, dest)
    finally:
        src.close()


def _copy_file(source: Path, dest: Path) -> None:
    shutil.copyfile(source, dest)
    fsync_file(dest)


def _remove_tree(path: Path) -> None:
    """Delete a directory of ours (never a link: rmtree refuses to follow one at the top, and
    check_shape refused links inside)."""
    if path.is_symlink():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, ignore_errors=True)


def remove_generation(generation: Generation) -> None:
    """Delete a generation: first renamed out of the gen-* names in one step, so that a kill in
    the middle never leaves a half-deleted directory that looks like a generation."""
    trash = generation.path.with_name(TRASH_PREFIX + generation.path.name)
    _remove_tree(trash)
    if not generation.path.is_dir():
        return
    os.rename(generation.path, trash)
    fsync_dir(generation.path.parent)
    crash_point("generation-renamed-to-trash")
    _remove_tree(trash)


# -- rollback, as an intent that any later command finishes ------------------------------------

@dataclass(frozen=True)
class RollbackIntent:
    undo: int             # the generation being rolled back
    restore: int | None   # the generation made live again (None: the target's first migration is undone)


def read_intent(layout: Layout) -> RollbackIntent | None:
    path = layout.root / ROLLBACK_INTENT
    try:
        data = json.loads(path.read_text())
        return RollbackIntent(undo=int(data["undo"]), restore=None if data["restore"] is None else int(data["restore"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        raise UnsafeTarget(f"{path} (an interrupted rollback's record) cannot be read; inspect the target by hand") from None


def write_intent(layout: Layout, intent: RollbackIntent) -> None:
    path = layout.root / ROLLBACK_INTENT
    temp = path.with_name(path.name + ".tmp")
    write_new(temp, json.dumps({"undo": intent.undo, "restore": intent.restore}).encode())
    os.replace(temp, path)
    fsync_dir(layout.root)


def finish_rollback(layout: Layout, intent: RollbackIntent) -> bool:
    """Carry out (or finish) a recorded rollback; safe to repeat after a kill at any point.
    False, with nothing changed but the record dropped, when the generation it would restore is
    no longer there and the swap had not happened: a rollback never leaves nothing live."""
    link = layout.root / CURRENT
    live = os.readlink(link) if link.is_symlink() else None
    if intent.restore is not None:
        restore = layout.generation(intent.restore)
        if live != restore.path.name:
            if not restore.path.is_dir() or restore.building or not restore.db.exists():
                (layout.root / ROLLBACK_INTENT).unlink(missing_ok=True)
                fsync_dir(layout.root)
                return False
            point_current(layout, restore)
    elif live is not None:
        clear_current(layout)
    crash_point("rollback-swapped")
    remove_generation(layout.generation(intent.undo))
    (layout.root / ROLLBACK_INTENT).unlink(missing_ok=True)
    fsync_dir(layout.root)
    if intent.restore is None:
        drop_empty_target(layout)
    return True


def recover(layout: Layout) -> list[str]:
    """Finish what a killed process left half done (call with the target's lock held).

    Returns what was done, for the user. A recorded rollback is finished; deleted generations'
    leftovers are removed; a live generation still marked BUILDING (killed just after its swap)
    is unmarked; older BUILDING leftovers are deleted (the newest is kept for resuming)."""
    notes: list[str] = []
    if not layout.root.is_dir():
        return notes
    check_shape(layout)
    intent = read_intent(layout)
    if intent is not None:
        if finish_rollback(layout, intent):
            notes.append(f"finished an interrupted rollback of generation {intent.undo}")
        else:
            notes.append(f"dropped an interrupted rollback of generation {intent.undo}: generation {intent.restore}, "
                         f"which it would restore, is no longer there (generation {intent.undo} stays live)")
        if not layout.root.is_dir():
            return notes
    for leftover in [*layout.root.glob(f"{TRASH_PREFIX}*"), *layout.root.glob(f".{GEN_PREFIX}*.tmp")]:
        _remove_tree(leftover)
    current = layout.current()
    if current is not None and current.building:  # killed between its swap and its unmarking: it is live
        current.unmark(BUILDING)
    # (a finished generation newer than the live one is left alone: only a user moving `current`
    # back by hand makes one, and it is theirs to keep)
    building = [g for g in layout.newer_than_current() if g.building]
    for stale in building[:-1]:
        remove_generation(stale)
    return notes


def prune(layout: Layout, keep: int) -> list[int]:
    """Delete the oldest finished generations so that at most `keep` remain (the live one included)."""
    current = layout.current()
    finished = [g for g in layout.generations()
                if not g.building and current is not None and g.number <= current.number]
    doomed = finished[:-keep] if keep > 0 and len(finished) > keep else []
    for generation in doomed:
        remove_generation(generation)
    return [g.number for g in doomed]


def finish(layout: Layout, generation: Generation) -> None:
    """Make a finished BUILDING generation live. It stays marked BUILDING until it is live, so a
    kill before the swap leaves it to the same migrate command, which resumes it (its run is
    complete: it only goes live), rather than to a recovery that would then migrate again."""
    crash_point("before-swap")
    point_current(layout, generation)
    crash_point("after-swap")
    generation.unmark(BUILDING)


def drop_empty_target(layout: Layout) -> None:
    """Remove a target directory that holds no generation any more (the state before its first migration)."""
    if not layout.root.is_dir() or layout.generations():
        return
    for name in (CURRENT, DB_NAME, INDEX_NAME, CURRENT + ".tmp", LOCK_NAME, ROLLBACK_INTENT):
        path = layout.root / name
        if path.is_symlink() or path.is_file():
            path.unlink()
    try:
        layout.root.rmdir()
    except OSError:
        pass
