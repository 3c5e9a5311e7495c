"""The pattern-store interface users of the original system rely on, as a Protocol."""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from ..models import Pattern, SearchHit, StoredPattern, StoreStats


@runtime_checkable
class PatternStore(Protocol):
    backend: str

    def store(self, pattern: Pattern, vector: Sequence[float]) -> int:
        """Insert or update one pattern (by id) with its vector; returns its key."""

    def store_batch(self, patterns: Sequence[Pattern], vectors: np.ndarray) -> list[int]:
        """Insert or update many patterns in one transaction; returns their keys."""

    def search(self, vector: Sequence[float], *, k: int = 10, threshold: float | None = None,
               filters: dict[str, str] | None = None, mmr_lambda: float | None = None,
               exact: bool = False) -> list[SearchHit]:
        """The k most similar patterns (filters apply before the top-k; MMR re-ranks for diversity)."""

    def get(self, pattern_id: str) -> StoredPattern | None:
        """One pattern and its vector, or None."""

    def delete(self, pattern_id: str) -> bool:
        """Remove a pattern everywhere; False when there was none."""

    def record_usage(self, pattern_id: str, *, when_ms: int | None = None) -> bool:
        """Count one use and set last_used; False when there is no such pattern."""

    def build_index(self) -> None:
        """Rebuild the search index from the vec0 mirror and save it."""

    def optimize(self) -> None:
        """Compact deleted slots and VACUUM the database."""

    def stats(self) -> StoreStats:
        """Count, dimension, metric, backend, memory and (with metrics on) recent search latencies."""

    def clear(self) -> None:
        """Remove every pattern."""

    def close(self) -> None:
        """Persist what is pending and release the target."""
