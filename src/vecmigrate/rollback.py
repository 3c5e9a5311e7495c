"""`rollback`: make the previous generation live again (its files were never touched since),
or remove the target when the last migration was its first. Atomic: one symlink rename."""

from __future__ import annotations

import time
from pathlib import Path

from .errors import TargetError
from .faults import crash_point
from .generations import (ROLLED_BACK, Layout, clear_current, drop_empty_target, point_current, recover,
                          remove_generation)
from .lock import TargetLock
from .models import RollbackResult


class NothingToRollBack(TargetError):
    """The target has no migration to undo."""


def rollback(target: str | Path) -> RollbackResult:
    layout = Layout(Path(target))
    if not layout.root.is_dir():
        raise NothingToRollBack(f"nothing to roll back: no vecmigrate target at {layout.root}")
    started = time.perf_counter()
    with TargetLock(layout.root) as lock:
        interrupted = [g.number for g in layout.generations() if g.rolled_back]
        notes = recover(layout)
        if lock.took_over_from:
            notes.append(f"took over a lock left by PID {lock.took_over_from}, which is no longer running")
        if interrupted:
            # A rollback was killed after its commit point: finishing it is what this call does.
            now = layout.current()
            if now is None:
                drop_empty_target(layout)
            return RollbackResult(rolled_back=max(interrupted), now_at=now.number if now else None,
                                  target_removed=now is None, notes=notes, target=str(layout.root),
                                  duration_ms=round((time.perf_counter() - started) * 1000, 3))
        current = layout.current()
        if current is None:
            raise NothingToRollBack(f"nothing to roll back: {layout.root} has no migrated generation")
        previous = layout.previous(current)
        # An interrupted migration was building on top of the generation being undone: drop it.
        for building in layout.newer_than_current():
            remove_generation(building)
        current.mark(ROLLED_BACK)  # from here on, any writer that finds the mark finishes this rollback
        crash_point("rollback-marked")
        if previous is not None:
            point_current(layout, previous)
        else:
            clear_current(layout)
        crash_point("rollback-swapped")
        remove_generation(current)
        if previous is None:
            drop_empty_target(layout)
    return RollbackResult(rolled_back=current.number, now_at=previous.number if previous else None,
                          target_removed=previous is None, duration_ms=round((time.perf_counter() - started) * 1000, 3),
                          notes=notes, target=str(layout.root))
