"""What both search backends share: payload lookup, scores, thresholds, query vectors."""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from typing import Any, Sequence

import apsw
import numpy as np

from .. import target as tgt
from ..generations import Generation
from ..codec import VectorError, encode
from ..db import sql
from ..embedders import embed, load_embedder
from ..errors import UsageError
from ..models import SearchHit
from .usearch_index import IndexSettings

FILTER_COLUMNS = ("type", "domain", "framework")


class StoreBase(ABC):
    backend = "base"

    def __init__(self, conn: apsw.Connection, meta: dict[str, str], where: Generation) -> None:
        self.conn = conn
        self.meta = meta
        self.where = where
        self.settings: IndexSettings = tgt.settings_of(meta)
        self.notices: list[str] = []
        self._embedder = None

    # -- queries -----------------------------------------------------------------------
    def search(self, vector: Sequence[float], *, k: int = 10, filters: dict[str, str] | None = None,
               threshold: float | None = None, exact: bool = False) -> list[SearchHit]:
        """The k nearest patterns that pass `filters`; `exact` asks for brute force (USearch)."""
        if k < 1:
            raise UsageError(f"-k must be a positive integer, got {k}")
        query = self.query_vector(vector)
        filters = check_filters(filters)
        keys, distances = self._knn(query, k, filters, exact)
        hits = self._hits(keys, distances)
        if threshold is not None:
            hits = [h for h in hits if h.score >= threshold]
        return hits

    def search_text(self, text: str, **kwargs: Any) -> list[SearchHit]:
        return self.search(self.embed_text(text), **kwargs)

    def search_id(self, pattern_id: str, **kwargs: Any) -> list[SearchHit]:
        return self.search(self.vector_of(pattern_id), **kwargs)

    @abstractmethod
    def _knn(self, query: np.ndarray, k: int, filters: dict[str, str],
             exact: bool = False) -> tuple[list[int], list[float]]:
        """Keys and distances (vec0 units) of the k nearest vectors that pass `filters`."""

    # -- helpers -------------------------------------------------------------------------
    def count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM patterns").fetchall()[0][0]

    def vector_of(self, pattern_id: str) -> np.ndarray:
        row = self.conn.execute(sql("vector_for_id"), {"id": pattern_id}).fetchall()
        if not row:
            raise UsageError(f"no pattern with id {pattern_id!r} in {self.where.db}")
        return np.frombuffer(row[0][0], dtype="<f4").copy()

    def embed_text(self, text: str) -> np.ndarray:
        if self._embedder is None:
            self._embedder = load_embedder(self.meta.get("embedder", "lexical"), self.settings.dimension)
        vector = embed(self._embedder, [text], self.settings.dimension)[0]
        if not np.any(vector):
            raise UsageError(f"--text {text!r} has nothing the embedder {self._embedder.spec!r} can use")
        return vector

    def query_vector(self, vector: Sequence[float]) -> np.ndarray:
        array = np.asarray(vector, dtype=np.float32).reshape(-1)
        try:
            encode(array, self.settings.dimension)
        except VectorError as exc:
            raise UsageError(f"query {exc}") from None
        return array

    def _hits(self, keys: list[int], distances: list[float]) -> list[SearchHit]:
        if not keys:
            return []
        rows = {r[0]: r for r in self.conn.execute(sql("fetch_hits"), {"keys": json.dumps(keys)})}
        hits = []
        for key, distance in zip(keys, distances):
            row = rows.get(key)
            if row is None:  # a vector without its pattern row: never reported as a hit
                continue
            hits.append(SearchHit(key=key, id=row[1], score=self.score(distance), distance=float(distance),
                                  type=row[2], domain=row[3], framework=row[4], content=row[5] or ""))
        return hits

    def score(self, distance: float) -> float:
        """Similarity in [0, 1] for cosine (1 - distance); 1 / (1 + distance) for L2."""
        if self.settings.metric == "cos":
            return 1.0 - float(distance)
        return 1.0 / (1.0 + float(distance))

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_filters(filters: dict[str, str] | None) -> dict[str, str]:
    clean = {k: v for k, v in (filters or {}).items() if v is not None}
    unknown = set(clean) - set(FILTER_COLUMNS)
    if unknown:
        raise UsageError(f"unknown filter(s) {', '.join(sorted(unknown))}; use {', '.join(FILTER_COLUMNS)}")
    return clean


def l2_from_l2sq(distances: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(distances, 0))


def oversample(k: int, total: int, matching: int) -> int:
    return min(total, max(k, math.ceil(k * total / max(matching, 1) * 2)))
