"""`rollback`: make the generation the live one was built from live again (its files were never
touched since), or remove the target when the live generation is its first migration.

Atomic and finished, never repeated: the rollback's intent is written first, then one symlink
rename makes the restored generation live; a killed rollback is completed by the next command.
A rollback never guesses: when the generation to restore is no longer kept, nothing changes."""

from __future__ import annotations

import time
from pathlib import Path

from .errors import TargetError
from .faults import crash_point
from .generations import Layout, RollbackIntent, check_root, finish_rollback, read_intent, recover, remove_generation, write_intent
from .lock import TargetLock
from .models import RollbackResult


class NothingToRollBack(TargetError):
    """The target has no migration to undo (the target is unchanged)."""


def rollback(target: str | Path) -> RollbackResult:
    layout = Layout(Path(target))
    check_root(layout.root)
    if not layout.root.is_dir():
        raise NothingToRollBack(f"nothing to roll back: no vecmigrate target at {layout.root}")
    started = time.perf_counter()
    with TargetLock(layout.root) as lock:
        notes = [f"took over a lock left by PID {lock.took_over_from}, which is no longer running"] \
            if lock.took_over_from else []
        intent = read_intent(layout)
        if intent is not None:
            # A rollback was killed after recording what it does: finishing it is what this call does.
            if not finish_rollback(layout, intent):
                raise NothingToRollBack(f"nothing to roll back: an interrupted rollback of generation {intent.undo} "
                                        f"would restore generation {intent.restore}, which is no longer there; "
                                        f"generation {intent.undo} stays live, unchanged")
            notes.append(f"finished an interrupted rollback of generation {intent.undo}")
            return _result(layout, intent, notes, started)
        notes += recover(layout)
        current = layout.current()
        if current is None:
            raise NothingToRollBack(f"nothing to roll back: {layout.root} has no migrated generation")
        intent = RollbackIntent(undo=current.number, restore=_restore_point(layout, current))
        # An interrupted migration was building on top of the generation being undone: drop it.
        for building in [g for g in layout.newer_than_current() if g.building]:
            remove_generation(building)
        write_intent(layout, intent)
        crash_point("rollback-marked")
        finish_rollback(layout, intent)
    return _result(layout, intent, notes, started)


def _restore_point(layout: Layout, current) -> int | None:
    """The generation `current` was built from, if it is still kept (None: `current` is the first)."""
    parent = current.parent
    if parent is None:  # made before generations recorded their parent: the newest finished one below
        older = [g.number for g in layout.generations() if g.number < current.number and not g.building]
        if not older:
            raise NothingToRollBack(f"nothing to roll back: generation {current.number} of {layout.root} does not "
                                    f"record which generation it was built from; the target is unchanged")
        parent = older[-1]
    if parent == 0:
        others = [g.path.name for g in layout.generations() if g.number != current.number and not g.building]
        if others:
            raise NothingToRollBack(f"nothing to roll back: generation {current.number} of {layout.root} was its first "
                                    f"migration, but other generations are kept ({', '.join(others)}): vecmigrate "
                                    f"will not remove the target; the target is unchanged")
        return None
    previous = layout.generation(parent)
    if not previous.path.is_dir() or previous.building or not previous.db.exists():
        raise NothingToRollBack(
            f"nothing to roll back: generation {current.number} of {layout.root} was built on generation {parent}, "
            f"which is no longer kept (--keep-generations, or deleted); the target is unchanged")
    return parent


def _result(layout: Layout, intent: RollbackIntent, notes: list[str], started: float) -> RollbackResult:
    return RollbackResult(rolled_back=intent.undo, now_at=intent.restore, target_removed=intent.restore is None,
                          duration_ms=round((time.perf_counter() - started) * 1000, 3), notes=notes,
                          target=str(layout.root))
