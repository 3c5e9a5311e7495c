"""LegacyStore: a pattern store over the legacy AgentDB-family database itself, written in its
own schema, so the old application keeps reading every pattern written through a dual write
(and could take over again at any moment).

A pattern is written by its layout's reverse mapping (sources/reverse.py): into the table of
its kind, laid over the row that is there (only the columns its change touches are written
again), its vector in the source's own format and side table. Searches are exact (a scan of
the stored vectors): this store is the secondary of a dual write, not a search path.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import apsw
import numpy as np

from ..db import atomic, quote_identifier
from ..errors import SourceError, TargetError, UsageError
from ..models import Pattern, SearchHit, StoredPattern, StoreStats
from ..sources import SourceReader, Variant, detect
from ..sources.reverse import decoded, part_for, row_for
from ..sources.writer import RowWriter


class LegacyStore:
    def __init__(self, path: str | Path, *, layout: str | None = None, table: str | None = None,
                 model: str | None = None, busy_timeout_ms: int = 5000) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise TargetError(f"no legacy database at {self.path} (the write-back store writes an existing "
                              f"AgentDB-family file)")
        try:
            self.conn = apsw.Connection(str(self.path), flags=apsw.SQLITE_OPEN_READWRITE)
            self.conn.setbusytimeout(busy_timeout_ms)  # (then the write fails and a dual write journals it)
            self.plan = detect(self.conn, table, layout=layout, survey_rest=False)
        except apsw.Error as exc:
            raise SourceError(f"{self.path} cannot be opened for writing ({type(exc).__name__}: {exc})") from None
        if any(part.to_row is None for part in self.plan.parts):
            raise UsageError(f"the {self.plan.layout} layout of {self.path} has no reverse mapping to write with")
        self.parts = {part.kind: part for part in self.plan.parts}
        self.writers = {part.kind: RowWriter(self.conn, part) for part in self.plan.parts}
        # vectors are written back only into tables whose application keeps them (agentic-qe's
        # agentdb.db never does: its rows are embedded by whoever reads them)
        self.keeps_vectors = {part.kind: self._keeps_vectors(part) for part in self.plan.parts}
        self.backend = f"legacy:{self.plan.layout}"
        self.model = model
        self.notices: list[str] = []

    def _keeps_vectors(self, part: Variant) -> bool:
        if part.embedding_column is None:
            return False
        reader = SourceReader(self.conn, part)
        column = reader.column_sql(part.embedding_column)
        if column == "NULL":
            return False
        return bool(self.conn.execute(f"SELECT 1 {reader.from_clause()} WHERE {column} IS NOT NULL LIMIT 1").fetchall())

    # -- which table and row a pattern is ------------------------------------------------
    def _part(self, pattern_id: str, kind: str | None = None) -> Variant:
        return part_for(list(self.parts.values()), pattern_id, kind)

    def _where(self, part: Variant, pattern: Pattern) -> dict[str, Any]:
        row = part.to_row(pattern)
        return {c: row[c] for c in part.id_columns}

    def _current(self, part: Variant, where: dict[str, Any]):
        return SourceReader(self.conn, part).find(where)

    # -- writes ------------------------------------------------------------------------------
    def store(self, pattern: Pattern, vector: Sequence[float]) -> int:
        return self.store_batch([pattern], np.asarray(vector, dtype=np.float32).reshape(1, -1))[0]

    def store_batch(self, patterns: Sequence[Pattern], vectors: np.ndarray, *,
                    previous: Sequence[StoredPattern | None] | None = None) -> list[int]:
        """Write each pattern into its table in the legacy schema, in one transaction.
        `previous`: each pattern as it was before this write (a dual write reads it from the
        primary): then only the columns (and the vector) the write changed are written, and the
        legacy application's own edits to the others stay."""
        vectors = np.asarray(vectors, dtype=np.float32)
        previous = list(previous) if previous is not None else [None] * len(patterns)
        keys = []
        with atomic(self.conn):
            for pattern, vector, was in zip(patterns, vectors, previous):
                part = self._part(pattern.id, pattern.kind)
                vector = vector if self.keeps_vectors[part.kind] else None
                where = self._where(part, pattern)
                current = self._current(part, where)
                if current is None:
                    self.writers[part.kind].insert(row_for(part, pattern, vector, None, model=self.model), fresh=True)
                    keys.append(self._current(part, where).rowid)  # (the main row's: a side row came after it)
                else:
                    moved = was is None or was.vector.tobytes() != np.asarray(vector, dtype="<f4").tobytes() \
                        if vector is not None else False
                    row = row_for(part, pattern, vector, current.values, model=self.model, vector_changed=moved,
                                  was=was.pattern if was is not None else None)
                    self.writers[part.kind].replace(where, row, current.values)
                    keys.append(current.rowid)
        return keys

    def delete(self, pattern_id: str) -> bool:
        part = self._part(pattern_id)
        where = self._where(part, Pattern(id=pattern_id, content="", kind=part.kind))
        with atomic(self.conn):
            return self.writers[part.kind].delete(where)

    def record_usage(self, pattern_id: str, *, when_ms: int | None = None) -> bool:
        """One more use and the time of it, in the layout's own usage columns (where it has them)."""
        part = self._part(pattern_id)
        where = self._where(part, Pattern(id=pattern_id, content="", kind=part.kind))
        with atomic(self.conn):
            current = self._current(part, where)
            if current is None:
                return False
            before = part.finish(part.map_row(current.values))
            used = replace(before, usage_count=(before.usage_count or 0) + 1,
                           last_used=int(time.time() * 1000) if when_ms is None else when_ms)
            self.writers[part.kind].replace(where, row_for(part, used, None, current.values, vector_changed=False),
                                            current.values)
        return True

    def clear(self) -> None:
        with atomic(self.conn):
            for writer in self.writers.values():
                if writer.side is not None:
                    self.conn.execute(f"DELETE FROM {quote_identifier(writer.side.table)}")
                self.conn.execute(f"DELETE FROM {quote_identifier(writer.main.table)}")

    def build_index(self) -> None:
        """Nothing to build: the legacy database has no index of vecmigrate's."""

    def optimize(self) -> None:
        """Nothing to compact here (the legacy application owns its file)."""

    # -- reads -----------------------------------------------------------------------------
    def get(self, pattern_id: str) -> StoredPattern | None:
        try:
            part = self._part(pattern_id)
            where = self._where(part, Pattern(id=pattern_id, content="", kind=part.kind))
        except Exception:  # noqa: BLE001 - an id this layout cannot hold is not here
            return None
        current = self._current(part, where)
        if current is None:
            return None
        return StoredPattern(key=current.rowid, pattern=part.finish(part.map_row(current.values)),
                             vector=_vector(current.embedding))

    def _all(self):
        for part in self.parts.values():
            with SourceReader(self.conn, part) as reader:
                for batch in reader.batches(1000):
                    for row in batch:
                        try:
                            pattern = part.finish(part.map_row(row.values))
                        except Exception:  # noqa: BLE001 - a row the mapping refuses is not searchable
                            continue
                        yield row.rowid, pattern, _vector(row.embedding)

    def search(self, vector: Sequence[float], *, k: int = 10, threshold: float | None = None,
               filters: dict[str, str] | None = None, mmr_lambda: float | None = None,
               exact: bool = False) -> list[SearchHit]:
        """Exact cosine search over the stored vectors (filters before the top-k)."""
        query = np.asarray(vector, dtype=np.float32)
        scored = []
        for rowid, pattern, stored in self._all():
            if stored.size != query.size or (filters and any(
                    (getattr(pattern, c) or "unknown") != v for c, v in filters.items())):
                continue
            norm = float(np.linalg.norm(stored) * np.linalg.norm(query)) or 1.0
            distance = 1.0 - float(stored @ query) / norm
            scored.append((distance, rowid, pattern))
        scored.sort(key=lambda item: item[0])
        hits = [SearchHit(key=rowid, id=p.id, score=1.0 - d, distance=d, type=p.type, domain=p.domain,
                          framework=p.framework, content=p.content, kind=p.kind) for d, rowid, p in scored[:k]]
        return [h for h in hits if threshold is None or h.score >= threshold]

    def count(self) -> int:
        return sum(self.conn.execute(f"SELECT count(*) FROM {quote_identifier(w.main.table)}").fetchall()[0][0]
                   for w in self.writers.values())

    def stats(self) -> StoreStats:
        dimension = next((v.size for _, _, v in self._all() if v.size), 0)
        return StoreStats(backend=self.backend, count=self.count(), dimension=dimension, metric="cos", dtype="f32",
                          memory_bytes=0)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def __enter__(self) -> "LegacyStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _vector(embedding: Any) -> np.ndarray:
    blob = decoded(embedding) if embedding is not None else None
    return np.frombuffer(blob, dtype="<f4").copy() if blob else np.zeros(0, dtype=np.float32)
