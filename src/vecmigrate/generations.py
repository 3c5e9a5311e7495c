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

Marker files in a generation directory say what a non-live generation is:
    BUILDING      a migration is writing it (resumable)
    ROLLED_BACK   it was rolled back (deleted by the next command that holds the lock)
A generation newer than `current` with neither marker finished but was not yet made live:
`recover` makes it live.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import apsw

from .db import copy_database
from .faults import crash_point
from .files import fsync_dir, fsync_file

GEN_PREFIX = "gen-"
CURRENT = "current"
BUILDING = "BUILDING"
ROLLED_BACK = "ROLLED_BACK"
DB_NAME = "patterns.sqlite"
INDEX_NAME = "patterns.usearch"


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
    def rolled_back(self) -> bool:
        return (self.path / ROLLED_BACK).exists()

    def building_run(self) -> int | None:
        """The run a BUILDING generation was started for (None until its run is recorded)."""
        try:
            text = (self.path / BUILDING).read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def record_building_run(self, run_id: int) -> None:
        marker = self.path / BUILDING
        marker.write_text(str(run_id))
        fsync_file(marker)

    def mark(self, marker: str) -> None:
        (self.path / marker).write_bytes(b"")
        fsync_dir(self.path)

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

    def generations(self) -> list[Generation]:
        if not self.root.is_dir():
            return []
        found = [Generation(p) for p in self.root.iterdir()
                 if p.is_dir() and p.name.startswith(GEN_PREFIX) and p.name[len(GEN_PREFIX):].isdigit()]
        return sorted(found, key=lambda g: g.number)

    def current(self) -> Generation | None:
        """The live generation: the one the `current` symlink names (what every reader, ours or
        the sqlite3 shell through <target>/patterns.sqlite, sees)."""
        link = self.root / CURRENT
        if not link.is_symlink():
            return None
        target = self.root / os.readlink(link)
        return Generation(target) if target.is_dir() else None

    def exists(self) -> bool:
        current = self.current()
        return current is not None and current.db.exists()

    def newer_than_current(self) -> list[Generation]:
        current = self.current()
        floor = current.number if current else 0
        return [g for g in self.generations() if g.number > floor]

    def previous(self, generation: Generation) -> Generation | None:
        older = [g for g in self.generations()
                 if g.number < generation.number and not g.building and not g.rolled_back]
        return older[-1] if older else None


def point_current(layout: Layout, generation: Generation) -> None:
    """Make `generation` live: replace the `current` symlink in one rename."""
    temp = layout.root / (CURRENT + ".tmp")
    temp.unlink(missing_ok=True)
    os.symlink(generation.path.name, temp)
    os.replace(temp, layout.root / CURRENT)
    for name in (DB_NAME, INDEX_NAME):
        link = layout.root / name
        if not link.is_symlink():
            link.unlink(missing_ok=True)
            os.symlink(f"{CURRENT}/{name}", link)
    fsync_dir(layout.root)


def clear_current(layout: Layout) -> None:
    (layout.root / CURRENT).unlink(missing_ok=True)
    fsync_dir(layout.root)


def new_generation(layout: Layout) -> Generation:
    """A new BUILDING generation holding a copy of the live one (or nothing, for a new target)."""
    layout.root.mkdir(parents=True, exist_ok=True)
    number = max((g.number for g in layout.generations()), default=0) + 1
    # Made under a temporary name and renamed once marked, so that a gen-* directory always
    # carries its marker: a half-made one is never mistaken for a finished generation.
    temp = layout.root / f".{GEN_PREFIX}{number:06d}.tmp"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir()
    (temp / BUILDING).write_bytes(b"")
    generation = Generation(layout.root / f"{GEN_PREFIX}{number:06d}")
    os.rename(temp, generation.path)
    fsync_dir(layout.root)
    current = layout.current()
    if current is not None and current.db.exists():
        _copy_database(current.db, generation.db)
        if current.index.exists():
            _copy_file(current.index, generation.index)
    return generation


def _copy_database(source: Path, dest: Path) -> None:
    src = apsw.Connection(str(source), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        copy_database(src, dest)
    finally:
        src.close()


def _copy_file(source: Path, dest: Path) -> None:
    shutil.copyfile(source, dest)
    fsync_file(dest)


def remove_generation(generation: Generation) -> None:
    shutil.rmtree(generation.path, ignore_errors=True)
    if generation.path.parent.exists():
        fsync_dir(generation.path.parent)


def recover(layout: Layout) -> list[str]:
    """Finish what a killed process left half done (call with the target's lock held).

    Returns what was done, for the user. A rolled-back generation that is still live is
    rolled back to completion; rolled-back generations are deleted; a finished generation
    that was not yet made live is made live; older BUILDING leftovers are deleted (the newest
    is kept for resuming)."""
    notes: list[str] = []
    linked = current = layout.current()
    while current is not None and current.rolled_back:  # a rollback killed before its swap: finish it
        current = layout.previous(current)
    if linked is not None and linked != current:
        if current is not None:
            point_current(layout, current)
        else:
            clear_current(layout)
    rolled_back = [g for g in layout.generations() if g.rolled_back]
    for generation in rolled_back:
        remove_generation(generation)
        notes.append(f"finished an interrupted rollback of generation {generation.number}")
    for leftover in layout.root.glob(f".{GEN_PREFIX}*.tmp"):
        shutil.rmtree(leftover, ignore_errors=True)
    pending = [g for g in layout.newer_than_current() if not g.building and g.db.exists()]
    if pending:
        point_current(layout, pending[-1])
        notes.append(f"made generation {pending[-1].number} live (its migration had finished)")
    building = [g for g in layout.newer_than_current() if g.building]
    for stale in building[:-1]:
        remove_generation(stale)
    return notes


def prune(layout: Layout, keep: int) -> list[int]:
    """Delete the oldest finished generations so that at most `keep` remain (the live one included)."""
    current = layout.current()
    finished = [g for g in layout.generations()
                if not g.building and not g.rolled_back and current is not None and g.number <= current.number]
    doomed = finished[:-keep] if keep > 0 and len(finished) > keep else []
    for generation in doomed:
        remove_generation(generation)
    return [g.number for g in doomed]


def finish(layout: Layout, generation: Generation) -> None:
    """Make a finished BUILDING generation live."""
    generation.unmark(BUILDING)
    crash_point("before-swap")
    point_current(layout, generation)


def drop_empty_target(layout: Layout) -> None:
    """Remove a target directory that holds no generation any more (the state before its first migration)."""
    if layout.generations():
        return
    for name in (CURRENT, DB_NAME, INDEX_NAME, CURRENT + ".tmp", ".lock"):
        (layout.root / name).unlink(missing_ok=True)
    try:
        layout.root.rmdir()
    except OSError:
        pass
