"""`rollback`: make the generation the live one was built from live again (its files were never
touched since), or remove the target when the live generation is its first migration.

Atomic and finished, never repeated: the rollback's intent is written first, then one symlink
rename makes the restored generation live; a killed rollback is completed by the next command.
A rollback never guesses: when the generation to restore is no longer kept, nothing changes.

Nor does it drop writes silently: changes logged in the live generation after it went live
(store writes, sync passes) make it refuse, saying how many and from where, unless told to
discard them or to keep them (replayed onto the restored generation, by pattern id, in one
transaction, before the swap)."""

from __future__ import annotations

import time
from pathlib import Path

from ..db import atomic, open_target, table_names
from ..errors import TargetError, UsageError
from ..faults import crash_point
from ..models import RollbackResult
from ..target import changelog
from ..target import database as tgt
from ..target.generations import (
    Layout,
    RollbackIntent,
    check_root,
    finish_rollback,
    read_intent,
    recover,
    remove_generation,
    write_intent,
)
from ..target.lineage import SOURCE_COLUMNS
from ..target.lock import TargetLock


class NothingToRollBack(TargetError):
    """The target has no migration to undo (the target is unchanged)."""


class WritesWouldBeLost(TargetError):
    """The live generation holds writes made since it went live (the target is unchanged)."""


def rollback(target: str | Path, *, keep_writes: bool = False, discard_writes: bool = False) -> RollbackResult:
    if keep_writes and discard_writes:
        raise UsageError("give --keep-writes or --discard-writes, not both")
    layout = Layout(Path(target))
    check_root(layout.root)
    if not layout.root.is_dir() or not layout.holds_a_target():
        raise NothingToRollBack(f"nothing to roll back: no vecmigrate target at {layout.root}")
    started = time.perf_counter()
    with TargetLock(layout.root, what="rollback") as lock:
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
            return _result(layout, intent, notes, started, {}, {})
        notes += recover(layout)
        current = layout.current()
        if current is None:
            raise NothingToRollBack(f"nothing to roll back: {layout.root} has no migrated generation")
        intent = RollbackIntent(undo=current.number, restore=_restore_point(layout, current))
        writes = _writes_since_live(current)
        if writes and not (keep_writes or discard_writes):
            raise WritesWouldBeLost(
                f"generation {current.number} of {layout.root} took {changelog.describe_writes(writes)} since "
                f"it went live; rolling back would lose them: pass --keep-writes to replay them onto "
                + (f"generation {intent.restore}" if intent.restore else "nothing (there is no earlier generation)")
                + ", or --discard-writes to drop them; the target is unchanged")
        if writes and keep_writes:
            lost = _vectors_lost(current)
            if lost:
                raise WritesWouldBeLost(f"generation {current.number} of {layout.root} has {lost} pattern(s) with no "
                                        f"vector in its vec0 mirror: their writes cannot be replayed as they are; run "
                                        f"`vecmigrate repair --target {layout.root}` first; the target is unchanged")
            if intent.restore is None:
                raise WritesWouldBeLost(f"generation {current.number} was the first migration of {layout.root}: there "
                                        f"is no earlier generation to keep its {sum(writes.values())} write(s) in; "
                                        f"the target is unchanged")
            kept = _replay(current, layout.generation(intent.restore))
            notes.append(f"kept {changelog.describe_writes(writes)}: {kept} pattern(s) replayed onto "
                         f"generation {intent.restore}")
        elif writes:
            notes.append(f"discarded {changelog.describe_writes(writes)} made since generation "
                         f"{current.number} went live (--discard-writes)")
        # An interrupted migration was building on top of the generation being undone: drop it.
        for building in [g for g in layout.newer_than_current() if g.building]:
            remove_generation(building)
        write_intent(layout, intent)
        crash_point("rollback-marked")
        finish_rollback(layout, intent)
    return _result(layout, intent, notes, started, writes if keep_writes else {}, writes if discard_writes else {})


def _vectors_lost(generation) -> int:
    conn = open_target(generation.db, readonly=True)
    try:
        return tgt.patterns_without_vectors(conn)
    finally:
        conn.close()


def _writes_since_live(generation) -> dict[str, int]:
    conn = open_target(generation.db, readonly=True)
    try:
        return changelog.writes_since(conn, int(tgt.read_meta(conn).get("live_seq") or 0))
    finally:
        conn.close()


def _replay(live, restored) -> int:
    """Bring every pattern changed in `live` since it went live into `restored` as it is in
    `live` now (written, or deleted), in one transaction of `restored`, logged as 'rollback'.
    A replayed pattern keeps its lineage (which source row it came from, and whether a store
    wrote it since), so the next sync neither takes it for a store's write nor loses one."""
    source = open_target(live.db, readonly=True)
    dest = open_target(restored.db)
    try:
        ids = changelog.changed_ids_since(source, int(tgt.read_meta(source).get("live_seq") or 0))
        tgt.upgrade_if_older(dest)
        with atomic(dest):
            gone: list[int] = []
            for pattern_id in ids:
                stored = tgt.read_stored(source, pattern_id=pattern_id)
                if stored is None:
                    gone += [r[0] for r in dest.execute("SELECT key FROM patterns WHERE id = ?", (pattern_id,))]
                    continue
                keys, replaced, _ = tgt.assign_keys(dest, [pattern_id], tgt.next_key(dest))
                tgt.write_patterns(dest, keys, [stored.pattern], stored.vector.reshape(1, -1), replaced,
                                   changelog.ROLLBACK)
                _carry_lineage(source, dest, stored.key, keys[0])
            tgt.delete_patterns(dest, gone, changelog.ROLLBACK)
    finally:
        source.close()
        dest.close()
    return len(ids)


def _carry_lineage(source, dest, live_key: int, key: int) -> None:
    """The lineage of a replayed pattern, from the live generation into the restored one."""
    for source_id, table, rowid, digest, synced in source.execute(
            "SELECT source_id, source_table, source_rowid, row_hash, synced_seq FROM vecmigrate_lineage WHERE key = ?",
            (live_key,)).fetchall():
        fed = source.execute(f"SELECT {', '.join(SOURCE_COLUMNS)} FROM vecmigrate_sources WHERE source_id = ?",
                             (source_id,)).fetchall()[0]
        values = dict(zip(SOURCE_COLUMNS, fed))
        there = dest.execute("SELECT source_id FROM vecmigrate_sources WHERE path = ? AND tables = ?",
                             (values["path"], values["tables"])).fetchall()
        if there:
            dest_source = there[0][0]
        else:
            names = [c for c in SOURCE_COLUMNS if c != "source_id"]
            dest.execute(f"INSERT INTO vecmigrate_sources({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                         [values[c] for c in names])
            dest_source = dest.last_insert_rowid()
        in_step = not changelog.written_since(source, live_key, synced)
        dest.execute("INSERT INTO vecmigrate_lineage(source_id, source_table, source_rowid, key, row_hash, synced_seq)"
                     " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET key = excluded.key, row_hash ="
                     " excluded.row_hash, synced_seq = excluded.synced_seq",
                     (dest_source, table, rowid, key, digest, changelog.position(dest) if in_step else 0))
        images = source.execute("SELECT image FROM vecmigrate_source_rows WHERE source_id = ? AND source_table = ? AND "
                                "source_rowid = ?", (source_id, table, rowid)).fetchall() \
            if "vecmigrate_source_rows" in table_names(source, internal=True) else []
        for (image,) in images:
            dest.execute("INSERT INTO vecmigrate_source_rows(source_id, source_table, source_rowid, image) VALUES "
                         "(?, ?, ?, ?) ON CONFLICT DO UPDATE SET image = excluded.image", (dest_source, table, rowid, image))


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


def _result(layout: Layout, intent: RollbackIntent, notes: list[str], started: float, kept: dict[str, int],
            discarded: dict[str, int]) -> RollbackResult:
    return RollbackResult(rolled_back=intent.undo, now_at=intent.restore, target_removed=intent.restore is None,
                          duration_ms=round((time.perf_counter() - started) * 1000, 3), notes=notes,
                          target=str(layout.root), writes_kept=kept, writes_discarded=discarded)
